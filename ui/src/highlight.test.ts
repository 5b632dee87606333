import { describe, expect, it } from "vitest";
import { highlightParts, questionTerms, snippet } from "./highlight";

const marked = (text: string, terms: string[]) =>
  highlightParts(text, terms)
    .filter((p) => p.match)
    .map((p) => p.text);

describe("highlight", () => {
  it("marks terms case-insensitively at word starts only", () => {
    expect(marked("Indexing and reindex; INDEX.", ["index"])).toEqual(["Index", "INDEX"]);
  });

  it("keeps the text intact and prefers longer terms", () => {
    const text = "neural networks and net gains";
    const parts = highlightParts(text, ["net", "networks"]);
    expect(parts.map((p) => p.text).join("")).toBe(text);
    expect(parts.filter((p) => p.match).map((p) => p.text)).toEqual(["networks", "net"]);
  });

  it("treats terms as text, not patterns, and skips one-letter terms", () => {
    expect(marked("a (b) c++ a", ["c++", "a", "(b"])).toEqual(["(b", "c++"]);
  });

  it("returns one plain part without terms", () => {
    expect(highlightParts("abc", [])).toEqual([{ text: "abc", match: false }]);
  });

  it("cuts a snippet around the first match", () => {
    const text = `${"lorem ipsum ".repeat(60)}the needle is here ${"dolor sit ".repeat(60)}`;
    const s = snippet(text, ["needle"], 120);
    expect(s).toContain("needle");
    expect(s.startsWith("… ")).toBe(true);
    expect(s.endsWith(" …")).toBe(true);
    expect(s.length).toBeLessThan(160);
  });

  it("derives question words", () => {
    expect(questionTerms("What is the chunk size of Docent?")).toEqual(["chunk", "size", "docent"]);
  });
});
