import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { emptyTurn, type Turn } from "../stores/chat";
import { passage } from "../stores/test-fixtures";
import { AnswerView } from "./AnswerView";

let root: HTMLElement;

beforeEach(() => {
  root = document.createElement("div");
  document.body.appendChild(root);
});
afterEach(() => {
  render(null, root);
  root.remove();
});

function turn(over: Partial<Turn> = {}): Turn {
  return { ...emptyTurn("How does indexing work?"), key: 1, terms: ["indexing"], ...over };
}

function show(t: Turn) {
  const onOpenPassage = vi.fn();
  const onOpenLink = vi.fn();
  act(() => {
    render(
      <AnswerView turn={t} onOpenPassage={onOpenPassage} onOpenLink={onOpenLink} setupCommand="scripts/get-models" />,
      root,
    );
  });
  const answer = root.querySelector<HTMLElement>("[data-testid=answer]")!;
  return { onOpenPassage, onOpenLink, answer };
}

function click(el: Element | null | undefined) {
  expect(el).toBeTruthy();
  act(() => {
    (el as HTMLElement).click();
  });
}

describe("AnswerView citation chips", () => {
  const sources = [passage(1), passage(2, { lineStart: 10, lineEnd: 20, page: null })];

  it("renders chips for known sources and opens the right passage", () => {
    const { onOpenPassage, answer } = show(
      turn({ answer: "Files are parsed [1], then embedded **[2]**. Not [5].", sources, citations: sources }),
    );
    const inText = answer.querySelectorAll(".md button.chip[data-testid=citation-chip]");
    expect(Array.from(inText).map((b) => b.getAttribute("data-n"))).toEqual(["1", "2"]);
    expect(answer.querySelector(".md")?.textContent).toContain("Not [5].");

    click(answer.querySelector('.md button.chip[data-n="2"]'));
    expect(onOpenPassage).toHaveBeenCalledTimes(1);
    expect(onOpenPassage).toHaveBeenCalledWith(sources[1], ["indexing"]);

    click(answer.querySelector('.md button.chip[data-n="1"]'));
    expect(onOpenPassage).toHaveBeenLastCalledWith(sources[0], ["indexing"]);
  });

  it("lists the sources below the answer, numbered as the model saw them", () => {
    const { onOpenPassage, answer } = show(turn({ answer: "See [2].", sources, citations: [sources[1]!] }));
    const section = answer.querySelector(".sources")!;
    expect(section.querySelector("h4")?.textContent).toBe("Sources");
    const items = section.querySelectorAll("button.source[data-testid=source-item]");
    expect(Array.from(items).map((b) => b.getAttribute("data-n"))).toEqual(["1", "2"]);
    // Source-list items and the chips in the answer text have their own test ids, so a count of
    // chips never counts the list.
    expect(section.querySelector("[data-testid=citation-chip]")).toBeNull();
    expect(Array.from(answer.querySelectorAll("[data-testid=citation-chip]")).map((b) => b.getAttribute("data-n"))).toEqual(["2"]);
    expect(answer.getAttribute("data-cited")).toBe("true");
    expect(items[1]?.classList.contains("cited")).toBe(true);
    expect(items[0]?.classList.contains("cited")).toBe(false);
    expect(items[1]?.textContent).toContain("lines 10–20");
    click(items[0]);
    expect(onOpenPassage).toHaveBeenCalledWith(sources[0], ["indexing"]);
  });

  it("labels uncited context distinctly", () => {
    const { answer } = show(
      turn({ answer: "Some answer.", sources, citations: [], cited: false, citationMode: "none" }),
    );
    expect(answer.querySelector(".sources h4")?.textContent).toBe("Context used (not cited)");
    expect(answer.getAttribute("data-cited")).toBe("false");
    expect(answer.querySelector("[data-testid=citation-chip]")).toBeNull();
    expect(answer.querySelectorAll("[data-testid=source-item]").length).toBe(2);
  });

  it("labels sources Docent matched to an uncited answer, marking the matched ones", () => {
    const { answer } = show(
      turn({
        answer: "Some answer.",
        sources,
        citations: [sources[1]!],
        cited: false,
        citationMode: "attributed",
      }),
    );
    expect(answer.querySelector(".sources h4")?.textContent).toBe(
      "Sources (matched to the answer by Docent)",
    );
    const marked = answer.querySelectorAll(".sources .source.cited");
    expect(marked.length).toBe(1);
    expect(marked[0]?.textContent).toContain(sources[1]!.name);
  });

  it("shows a not-found answer with the closest passages", () => {
    const { answer, onOpenPassage } = show(
      turn({ answer: "I couldn't find this in your documents.", found: false, cited: false, sources }),
    );
    expect(answer.getAttribute("data-found")).toBe("false");
    expect(answer.querySelector(".not-found-title")?.textContent).toBe("Not found in your documents");
    expect(answer.querySelector(".sources h4")?.textContent).toBe("Closest passages");
    click(answer.querySelectorAll(".sources button")[1]);
    expect(onOpenPassage).toHaveBeenCalledWith(sources[1], ["indexing"]);
  });

  it("shows the stage while waiting, then streams text without chips", () => {
    let { answer } = show(turn({ streaming: true, stage: "loadingModel" }));
    expect(answer.getAttribute("data-streaming")).toBe("true");
    expect(answer.textContent).toContain("Loading the model…");
    ({ answer } = show(turn({ streaming: true, stage: "generating", answer: "Partial [1]" })));
    expect(answer.querySelector("button.chip")).toBeNull();
    expect(answer.querySelector(".md")?.textContent?.trim()).toBe("Partial [1]");
    expect(answer.querySelector(".sources")).toBeNull();
  });

  it("shows inert chips while streaming when a bound is given", () => {
    const onOpenPassage = vi.fn();
    act(() => {
      render(
        <AnswerView
          turn={turn({ streaming: true, answer: "Partial [1] and [9]" })}
          onOpenPassage={onOpenPassage}
          onOpenLink={() => undefined}
          streamingChips={6}
        />,
        root,
      );
    });
    const chips = root.querySelectorAll(".md button.chip");
    expect(Array.from(chips).map((c) => c.getAttribute("data-n"))).toEqual(["1"]);
    click(chips[0]);
    expect(onOpenPassage).not.toHaveBeenCalled();
  });

  it("opens https links only through the confirm callback", () => {
    const { answer, onOpenLink } = show(turn({ answer: "[docs](https://example.com/x) [bad](javascript:alert(1))" }));
    const links = answer.querySelectorAll("a");
    expect(links).toHaveLength(1);
    const ev = new MouseEvent("click", { bubbles: true, cancelable: true });
    act(() => {
      links[0]!.dispatchEvent(ev);
    });
    expect(ev.defaultPrevented).toBe(true);
    expect(onOpenLink).toHaveBeenCalledWith("https://example.com/x");
  });

  it("shows a model-missing error inline with the setup command", () => {
    const { answer } = show(turn({ error: { kind: "modelMissing", message: "No answer model." } }));
    expect(answer.querySelector("[role=alert]")?.textContent).toContain("No answer model.");
    expect(answer.querySelector(".codeblock code")?.textContent).toBe("scripts/get-models");
  });

  it("says what Docent removed from the answer, and nothing when it removed nothing", () => {
    const { answer } = show(
      turn({
        answer: "The code is 4821 [1].",
        removed: [
          { kind: "image", text: "![x](https://evil.example/p.png)" },
          { kind: "link", text: "[a](https://evil.example)" },
          { kind: "link", text: "https://evil.example/x" },
        ],
      }),
    );
    expect(answer.querySelector("[data-testid=removed-note]")?.textContent).toBe(
      "Docent removed 1 image and 2 links from this answer.",
    );
    expect(answer.querySelector("img")).toBeNull();
    const { answer: clean } = show(turn({ answer: "The code is 4821 [1]." }));
    expect(clean.querySelector("[data-testid=removed-note]")).toBeNull();
  });

  it("shows speed and a stopped mark after the answer", () => {
    const { answer } = show(
      turn({
        answer: "Half",
        stopped: true,
        timings: { retrieveMs: 5, promptTokens: 10, firstTokenMs: 100, tokensPerS: 12.34 },
      }),
    );
    expect(answer.querySelector(".answer-meta")?.textContent).toContain("Stopped");
    expect(answer.querySelector(".answer-meta")?.textContent).toContain("12 tok/s");
  });
});
