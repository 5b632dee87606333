// Docent's desktop app in a real window (under Xvfb), driven through WebDriver: a real native
// drop of a folder, indexing progress to done, a question with a streamed, cited answer, and
// the citation panel. Saves screenshots to $E2E_ARTIFACTS.
//
// Run through scripts/test-desktop, which starts Xvfb and provides:
//   DOCENT_DESKTOP_BIN  the app binary          TAURI_DRIVER  the tauri-driver binary
//   E2E_DOCS            the folder to drop      E2E_ARTIFACTS where screenshots go
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { remote } from "webdriverio";

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run scripts/test-desktop)`);
  return value;
};
const BIN = env("DOCENT_DESKTOP_BIN");
const DRIVER = env("TAURI_DRIVER");
const DOCS = env("E2E_DOCS");
const ARTIFACTS = env("E2E_ARTIFACTS");
const PORT = 4444;
mkdirSync(ARTIFACTS, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log("desktop e2e:", ...a);
let failures = 0;
function check(ok, what) {
  log(`${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      socket.once("connect", () => { socket.destroy(); resolve(true); });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on port ${port}`);
}

function xdotool(...args) {
  return execFileSync("xdotool", args.map(String), { encoding: "utf8" }).trim();
}

/** Drags `folder` from a GTK drag source onto the app's window with real X pointer events. */
async function nativeDrop(folder, target) {
  const source = spawn("/usr/bin/python3", [path.join(here, "drag-source.py"), "1400", "100", folder], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    source.stdout.on("data", (d) => d.toString().includes("ready") && resolve());
    source.once("exit", (code) => reject(new Error(`drag source exited (${code})`)));
  });
  try {
    const id = xdotool("search", "--sync", "--name", "^drag-source$").split("\n")[0];
    const geometry = Object.fromEntries(
      xdotool("getwindowgeometry", "--shell", id).split("\n").map((l) => l.split("=")),
    );
    const sx = Number(geometry.X) + 40;
    const sy = Number(geometry.Y) + 40;
    xdotool("mousemove", sx, sy);
    await sleep(200);
    xdotool("mousedown", "1");
    await sleep(200);
    const steps = 20;
    for (let i = 1; i <= steps; i++) {
      const x = Math.round(sx + ((target.x - sx) * i) / steps);
      const y = Math.round(sy + ((target.y - sy) * i) / steps);
      xdotool("mousemove", x, y);
      await sleep(50);
    }
    await sleep(300);
    xdotool("mouseup", "1");
    await sleep(500);
  } finally {
    source.kill();
  }
}

async function waitFor(what, fn, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

const driver = spawn(DRIVER, ["--port", String(PORT), "--native-driver", "/usr/bin/WebKitWebDriver"], {
  stdio: ["ignore", "inherit", "inherit"],
});
let browser;
try {
  await waitForPort(PORT, 30_000);
  browser = await remote({
    hostname: "127.0.0.1",
    port: PORT,
    logLevel: "warn",
    capabilities: {
      "tauri:options": { application: BIN },
      "wdio:enforceWebDriverClassic": true,
    },
  });
  const byId = (id) => browser.$(`[data-testid="${id}"]`);

  // 1. The window opens on the welcome screen.
  await waitFor("the page", async () => (await browser.$("body").getText()).includes("Docent"), 30_000);
  check(true, "the window shows Docent");
  await browser.saveScreenshot(path.join(ARTIFACTS, "welcome.png"));

  // 2. A real drop of a folder starts indexing with visible progress, which reaches done.
  await nativeDrop(DOCS, { x: 600, y: 400 });
  const progress = await byId("index-progress");
  await waitFor("indexing to start", () => progress.isExisting(), 30_000);
  const states = new Set();
  await waitFor(
    "indexing to finish",
    async () => {
      const state = await progress.getAttribute("data-state");
      states.add(state);
      return state === "done";
    },
    300_000,
    100,
  );
  log(`progress states seen: ${[...states].join(", ")}`);
  check(states.has("done"), "dropping a folder indexed it to done");
  const progressText = await progress.getText();
  check(/4 \/ 4/.test(progressText), `progress shows 4 / 4 files ("${progressText.replace(/\s+/g, " ")}")`);

  await (await byId("nav-library")).click();
  const rows = await waitFor("4 documents", async () => {
    const found = await browser.$$('[data-testid="doc-row"]');
    return found.length === 4 ? found : null;
  }, 30_000);
  const statuses = [];
  for (const row of rows) statuses.push(await row.getAttribute("data-status"));
  check(statuses.every((s) => s === "indexed"), `library lists 4 indexed documents (${statuses})`);
  await browser.saveScreenshot(path.join(ARTIFACTS, "library.png"));

  // Instant search in the library.
  await (await byId("search-input")).setValue("how often to feed the starter");
  const results = await waitFor("search results", async () => {
    const found = await browser.$$('[data-testid="search-result"]');
    return found.length > 0 ? found : null;
  }, 30_000);
  const firstResult = await results[0].getText();
  check(/sourdough\.md/.test(firstResult), `search finds the sourdough notes first ("${firstResult.replace(/\s+/g, " ").slice(0, 80)}")`);
  check((await results[0].$$("mark")).length > 0, "search results highlight the matched words");
  await browser.saveScreenshot(path.join(ARTIFACTS, "search.png"));

  // Settings show the model.
  await (await byId("nav-settings")).click();
  const settingsText = await waitFor("the settings page", async () => {
    const text = await browser.$("main").getText().catch(() => browser.$("body").getText());
    return text.includes("Q4_1") ? text : null;
  }, 10_000);
  check(settingsText.includes("SmolLM2-135M-Instruct.Q4_1.gguf"), "settings show the answer model");
  await browser.saveScreenshot(path.join(ARTIFACTS, "settings.png"));

  // 3. A question gets a streamed answer with citations; a chip opens the passage.
  await (await byId("nav-chat")).click();
  const input = await byId("chat-input");
  await input.waitForDisplayed({ timeout: 10_000 });
  await input.setValue("How often should I feed a sourdough starter?");
  await (await byId("chat-send")).click();
  let sawStreaming = false;
  const answer = await waitFor(
    "the answer to complete",
    async () => {
      const answers = await browser.$$('[data-testid="answer"]');
      if (answers.length === 0) return null;
      const last = answers[answers.length - 1];
      const streaming = await last.getAttribute("data-streaming");
      if (streaming === "true") sawStreaming = true;
      return streaming === "false" ? last : null;
    },
    180_000,
    50,
  );
  check(sawStreaming, "the answer was shown while it streamed");
  const answerText = await answer.getText();
  log(`answer: ${answerText.replace(/\s+/g, " ").slice(0, 300)}`);
  check(answerText.trim().length > 0, "the answer has text");
  check((await answer.getAttribute("data-found")) === "true", "the answer was found in the documents");
  // Chips in the answer text and items of the source list have their own test ids: counting
  // chips never counts the list, which is there whether or not the model cited.
  const chips = await answer.$$('.md [data-testid="citation-chip"]');
  const sourceItems = await answer.$$('[data-testid="source-item"]');
  check(sourceItems.length > 0, `the answer lists ${sourceItems.length} source(s)`);
  const cited = (await answer.getAttribute("data-cited")) === "true";
  log(`the model ${cited ? "cited" : "did not cite"}; ${chips.length} chip(s) in the answer text`);
  if (cited) {
    check(chips.length > 0, `a cited answer carries ${chips.length} citation chip(s) in its text`);
  }
  const target = chips[0] ?? sourceItems[0];
  if (target) {
    await target.click();
    const panel = await byId("citation-panel");
    await panel.waitForDisplayed({ timeout: 10_000 });
    const panelText = await panel.getText();
    check(/sourdough\.md/.test(panelText), "the citation panel shows the cited file");
    check(await (await byId("citation-open")).isExisting(), "the panel offers to open the file");
  }
  await browser.saveScreenshot(path.join(ARTIFACTS, "chat.png"));

  // 4. In a new chat, a question the documents cannot answer says so, without calling the model.
  await (await byId("new-chat")).click();
  await waitFor("an empty chat", async () => (await browser.$$('[data-testid="answer"]')).length === 0, 10_000);
  await input.setValue("What is the boiling point of tungsten?");
  await (await byId("chat-send")).click();
  const notFound = await waitFor(
    "the not-found answer",
    async () => {
      const answers = await browser.$$('[data-testid="answer"]');
      if (answers.length < 1) return null;
      const last = answers[answers.length - 1];
      return (await last.getAttribute("data-streaming")) === "false" ? last : null;
    },
    120_000,
    100,
  );
  check((await notFound.getAttribute("data-found")) === "false", "an unanswerable question is marked not found");
  check(/couldn't find/i.test(await notFound.getText()), "it says it could not find the answer");
  await browser.saveScreenshot(path.join(ARTIFACTS, "not-found.png"));
} catch (error) {
  failures += 1;
  log(`FAIL ${error.stack || error}`);
  if (browser) await browser.saveScreenshot(path.join(ARTIFACTS, "failure.png")).catch(() => {});
} finally {
  if (browser) await browser.deleteSession().catch(() => {});
  driver.kill();
}
log(failures === 0 ? "all checks passed" : `${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
