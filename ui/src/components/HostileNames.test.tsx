// File names, PDF titles and passage text are written by whoever wrote the documents: the
// page shows them as text, never as markup (SECURITY.md: "filenames and PDF titles carrying
// HTML").

import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { emptyTurn } from "../stores/chat";
import { passage } from "../stores/test-fixtures";
import { AnswerView } from "./AnswerView";
import { CitationPanel } from "./CitationPanel";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return { toApiError: orig.toApiError, openPath: vi.fn(), revealPath: vi.fn() };
});

const HOSTILE_NAME = `<img src=x onerror="window.pwned=1">.pdf`;
const HOSTILE_TITLE = `Report <svg onload="window.pwned=2"></svg><script>window.pwned=3</script>`;
const HOSTILE_TEXT = `Quarterly numbers <iframe src="https://evil.example/"></iframe> <a href="javascript:x()">here</a>`;

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement("div");
  document.body.appendChild(root);
});
afterEach(() => {
  render(null, root);
  root.remove();
  delete (window as { pwned?: number }).pwned;
});

function expectNoMarkupFromDocuments() {
  for (const tag of ["img", "script", "iframe", "a"]) {
    expect(root.querySelector(tag), `a <${tag}> element was created`).toBeNull();
  }
  // The app's own icons are SVG; none carries an event handler, as the hostile one would.
  for (const el of Array.from(root.querySelectorAll("*"))) {
    const handlers = el.getAttributeNames().filter((name) => name.startsWith("on"));
    expect(handlers, `<${el.tagName.toLowerCase()}> has ${handlers.join(", ")}`).toEqual([]);
  }
  expect((window as { pwned?: number }).pwned).toBeUndefined();
}

describe("names and titles from documents", () => {
  const sources = [
    passage(1, { name: HOSTILE_NAME, path: `/docs/${HOSTILE_NAME}`, text: HOSTILE_TEXT }),
    passage(2, { name: "plain.pdf", title: HOSTILE_TITLE, text: HOSTILE_TEXT }),
  ];

  it("are text in the source list under an answer", () => {
    const turn = { ...emptyTurn("What are the numbers?"), key: 1, answer: "See [1] and [2].", sources, citations: sources };
    act(() => {
      render(<AnswerView turn={turn} onOpenPassage={vi.fn()} onOpenLink={vi.fn()} setupCommand="scripts/get-models" />, root);
    });
    const names = Array.from(root.querySelectorAll(".source-name")).map((s) => s.textContent);
    expect(names).toEqual([HOSTILE_NAME, HOSTILE_TITLE]);
    expect(root.querySelectorAll("button.chip")).toHaveLength(2);
    expectNoMarkupFromDocuments();
  });

  it("are text in the citation panel, with the passage", () => {
    for (const p of sources) {
      act(() => {
        render(<CitationPanel passage={p} terms={["numbers"]} onClose={() => undefined} />, root);
      });
      const panel = root.querySelector<HTMLElement>("[data-testid=citation-panel]")!;
      expect(panel.textContent).toContain(p.title ?? p.name);
      expect(panel.textContent).toContain(`<iframe src="https://evil.example/"></iframe>`);
      expectNoMarkupFromDocuments();
    }
  });
});
