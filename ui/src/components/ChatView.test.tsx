import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AnswerEvent } from "../ipc";
import * as ipc from "../ipc";
import { chat } from "../stores";
import { answer, passage } from "../stores/test-fixtures";
import { ChatView } from "./ChatView";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return {
    toApiError: orig.toApiError,
    ask: vi.fn(),
    stopAnswer: vi.fn(),
    listConversations: vi.fn(),
  };
});

let root: HTMLElement;
let emit: (e: AnswerEvent) => void;
let finish: (a: ReturnType<typeof answer>) => void;

beforeEach(() => {
  root = document.createElement("div");
  document.body.appendChild(root);
  chat.reset(); // may stop the previous test's answer
  vi.clearAllMocks();
  vi.mocked(ipc.stopAnswer).mockResolvedValue(null);
  vi.mocked(ipc.listConversations).mockResolvedValue([]);
  vi.mocked(ipc.ask).mockImplementation((_q, _c, onEvent) => {
    emit = onEvent;
    return new Promise((resolve) => (finish = resolve));
  });
  act(() => render(<ChatView />, root));
});
afterEach(() => {
  act(() => render(null, root));
  root.remove();
});

const q = <T extends Element>(sel: string) => root.querySelector<T>(sel);

function type(text: string) {
  const ta = q<HTMLTextAreaElement>("[data-testid=chat-input]")!;
  act(() => {
    ta.value = text;
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  });
  return ta;
}

function key(ta: HTMLTextAreaElement, init: KeyboardEventInit) {
  act(() => {
    ta.dispatchEvent(new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init }));
  });
}

describe("ChatView", () => {
  it("Enter sends, Shift+Enter does not", () => {
    const ta = type("First question");
    key(ta, { key: "Enter", shiftKey: true });
    expect(ipc.ask).not.toHaveBeenCalled();
    key(ta, { key: "Enter" });
    expect(ipc.ask).toHaveBeenCalledWith("First question", null, expect.any(Function));
    expect(ta.value).toBe("");
  });

  it("keeps the input usable while streaming, disables sending, offers Stop", async () => {
    const ta = type("Question");
    key(ta, { key: "Enter" });
    act(() => emit({ kind: "stage", stage: "retrieving" }));
    const a = q<HTMLElement>("[data-testid=answer]")!;
    expect(a.getAttribute("data-streaming")).toBe("true");
    expect(a.textContent).toContain("Searching your documents…");

    type("next one");
    expect(ta.disabled).toBe(false);
    expect(ta.value).toBe("next one");
    expect(q<HTMLButtonElement>("[data-testid=chat-send]")!.disabled).toBe(true);
    key(ta, { key: "Enter" });
    expect(ipc.ask).toHaveBeenCalledTimes(1);

    act(() => emit({ kind: "token", text: "Hello " }));
    act(() => emit({ kind: "token", text: "world [1]" }));
    expect(q("[data-testid=answer] .md")!.textContent?.trim()).toBe("Hello world [1]");

    act(() => q<HTMLButtonElement>("[data-testid=chat-stop]")!.click());
    expect(ipc.stopAnswer).toHaveBeenCalledTimes(1);

    const sources = [passage(1)];
    await act(async () => {
      finish(answer({ answer: "Hello world [1]", sources, citations: sources, stopped: true }));
    });
    expect(q("[data-testid=answer]")!.getAttribute("data-streaming")).toBe("false");
    expect(q("[data-testid=chat-stop]")).toBeNull();
    expect(q<HTMLButtonElement>("[data-testid=chat-send]")!.disabled).toBe(false);
    expect(q('[data-testid=answer] .md [data-testid=citation-chip][data-n="1"]')).not.toBeNull();
    expect(q(".question")!.textContent).toBe("Question");
  });
});
