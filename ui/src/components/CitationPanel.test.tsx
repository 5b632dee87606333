import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as ipc from "../ipc";
import { passage } from "../stores/test-fixtures";
import { CitationPanel } from "./CitationPanel";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return { toApiError: orig.toApiError, openPath: vi.fn(), revealPath: vi.fn() };
});

let root: HTMLElement;
beforeEach(() => {
  root = document.createElement("div");
  document.body.appendChild(root);
  vi.mocked(ipc.openPath).mockResolvedValue(null);
  vi.mocked(ipc.revealPath).mockResolvedValue(null);
});
afterEach(() => {
  render(null, root);
  root.remove();
});

function show(p: ReturnType<typeof passage>, terms: string[] = []) {
  act(() => {
    render(<CitationPanel passage={p} terms={terms} onClose={() => undefined} />, root);
  });
  return root.querySelector<HTMLElement>("[data-testid=citation-panel]")!;
}

describe("CitationPanel", () => {
  it("opens a PDF passage at its page", () => {
    const panel = show(passage(3, { page: 7, text: "Indexing runs in the background. indexing!" }), ["indexing"]);
    const open = panel.querySelector<HTMLButtonElement>("[data-testid=citation-open]")!;
    expect(open.textContent).toBe("Open at page 7");
    act(() => open.click());
    expect(ipc.openPath).toHaveBeenCalledWith("/docs/file3.pdf", 7, null);
    expect(Array.from(panel.querySelectorAll("mark")).map((m) => m.textContent)).toEqual(["Indexing", "indexing"]);
    expect(panel.textContent).toContain("file3.pdf");
    expect(panel.textContent).toContain("page 7");
  });

  it("opens a text passage at its first line", () => {
    const panel = show(passage(1, { page: null, lineStart: 40, lineEnd: 52, path: "/src/a.rs", name: "a.rs" }));
    const open = panel.querySelector<HTMLButtonElement>("[data-testid=citation-open]")!;
    expect(open.textContent).toBe("Open at line 40");
    act(() => open.click());
    expect(ipc.openPath).toHaveBeenCalledWith("/src/a.rs", null, 40);
    expect(panel.textContent).toContain("lines 40–52");
  });

  it("opens a passage without location plainly, and reveals in the folder", () => {
    const panel = show(passage(1, { page: null }));
    const open = panel.querySelector<HTMLButtonElement>("[data-testid=citation-open]")!;
    expect(open.textContent).toBe("Open");
    act(() => open.click());
    expect(ipc.openPath).toHaveBeenCalledWith("/docs/file1.pdf", null, null);
    const reveal = Array.from(panel.querySelectorAll("button")).find((b) => b.textContent === "Show in folder")!;
    act(() => reveal.click());
    expect(ipc.revealPath).toHaveBeenCalledWith("/docs/file1.pdf");
  });
});
