import { describe, expect, it } from "vitest";
import { isSafeLink, renderAnswer } from "./markdown";

/** Parses the rendered HTML into a detached element, as the page would insert it. */
function dom(markdown: string, sources = 2): HTMLElement {
  const el = document.createElement("div");
  el.innerHTML = renderAnswer(markdown, sources);
  return el;
}

/** Every attribute name in the tree, lower-cased. */
function attributeNames(root: Element): string[] {
  const names: string[] = [];
  for (const el of root.querySelectorAll("*")) {
    for (const a of Array.from(el.attributes)) names.push(a.name.toLowerCase());
  }
  return names;
}

function assertInert(root: HTMLElement): void {
  expect(root.querySelector("script, img, iframe, object, embed, style, link, svg, form")).toBeNull();
  const names = attributeNames(root);
  expect(names.filter((n) => n.startsWith("on"))).toEqual([]);
  expect(names).not.toContain("style");
  expect(names).not.toContain("src");
  for (const a of root.querySelectorAll("a")) {
    expect(a.getAttribute("href")).toBe("#");
    expect(a.classList.contains("inert-link")).toBe(true);
    expect(isSafeLink(a.getAttribute("data-href") ?? "")).toBe(true);
  }
}

describe("renderAnswer: hostile model output", () => {
  it("escapes a script tag into visible text", () => {
    const el = dom("Hello <script>alert(1)</script> there");
    assertInert(el);
    expect(el.textContent).toContain("<script>alert(1)</script>");
  });

  it("escapes raw img tags with event handlers", () => {
    const el = dom('<img src=x onerror=alert(1)>\n\ntext <img src="x" onerror="alert(2)">');
    assertInert(el);
    expect(el.textContent).toContain("<img src=x onerror=alert(1)>");
  });

  it("never loads markdown images: they become their alt text", () => {
    const el = dom("Look: ![x](https://evil.example/a.png) done");
    assertInert(el);
    expect(el.textContent).toContain("[image: x]");
    expect(el.innerHTML).not.toContain("evil.example");
  });

  it("renders an image without alt as a placeholder", () => {
    const el = dom("![](https://evil.example/b.png)");
    assertInert(el);
    expect(el.textContent?.trim()).toBe("[image]");
  });

  it("makes javascript: links plain text", () => {
    const el = dom("[click](javascript:alert(1))");
    assertInert(el);
    expect(el.querySelector("a")).toBeNull();
    expect(el.textContent?.trim()).toBe("click");
  });

  it("makes data:, file: and http: links plain text", () => {
    const el = dom(
      "[a](data:text/html,<script>alert(1)</script>) [b](file:///etc/passwd) [c](http://plain.example/) [d](JAVASCRIPT:alert(1)) <javascript:alert(1)>",
    );
    assertInert(el);
    expect(el.querySelectorAll("a")).toHaveLength(0);
    expect(el.textContent).toContain("a b c d");
    expect(el.innerHTML).not.toMatch(/data:text|file:\/\/|http:\/\/plain/);
  });

  it("turns https links into inert anchors carrying the URL in data-href", () => {
    const el = dom("See [the docs](https://example.com/a?b=1&c=2) and <https://example.org/x>.");
    assertInert(el);
    const links = el.querySelectorAll("a");
    expect(links).toHaveLength(2);
    expect(links[0]?.getAttribute("data-href")).toBe("https://example.com/a?b=1&c=2");
    expect(links[0]?.textContent).toBe("the docs");
    expect(links[1]?.getAttribute("data-href")).toBe("https://example.org/x");
  });

  it("drops link titles that carry HTML", () => {
    const el = dom('[x](https://example.com "<img src=x onerror=alert(1)>") and [y](https://example.com \'" onmouseover="alert(1)\')');
    assertInert(el);
    const links = el.querySelectorAll("a");
    expect(links).toHaveLength(2);
    for (const a of links) expect(a.getAttribute("title")).toBe("https://example.com");
  });

  it("refuses https links with credentials", () => {
    const el = dom("[x](https://user:pw@example.com/)");
    assertInert(el);
    expect(el.querySelector("a")).toBeNull();
  });

  it("keeps table alignment as a class, never a style attribute", () => {
    const el = dom("| a | b |\n|--:|:-:|\n| 1 | 2 |");
    assertInert(el);
    expect(el.querySelector("th")?.className).toBe("align-right");
    expect(el.querySelectorAll("td")[1]?.className).toBe("align-center");
  });

  it("does not take a class from a fence info string", () => {
    const el = dom('```js" onclick="alert(1)\ncode()\n```');
    assertInert(el);
    expect(el.querySelector("code")?.getAttribute("class")).toBeNull();
    expect(el.querySelector("pre code")?.textContent).toBe("code()\n");
  });
});

describe("renderAnswer: citation chips", () => {
  const chips = (el: Element) =>
    Array.from(el.querySelectorAll("button.chip")).map((b) => b.getAttribute("data-n"));

  it("turns [n] markers into chip buttons with the right numbers", () => {
    const el = dom("Docent runs offline [1]. It cites passages [2].", 2);
    assertInert(el);
    expect(chips(el)).toEqual(["1", "2"]);
    const b = el.querySelector('button.chip[data-n="2"]');
    expect(b?.textContent).toBe("2");
    expect(b?.getAttribute("data-testid")).toBe("citation-chip");
    expect(b?.getAttribute("type")).toBe("button");
  });

  it("leaves numbers beyond the sources as text", () => {
    const el = dom("Known [1], unknown [9], zero [0].", 2);
    expect(chips(el)).toEqual(["1"]);
    expect(el.textContent).toContain("unknown [9]");
    expect(el.textContent).toContain("zero [0]");
  });

  it("leaves every marker as text when there are no sources", () => {
    const el = dom("Nothing [1].", 0);
    expect(chips(el)).toEqual([]);
    expect(el.textContent).toContain("[1]");
  });

  it("never makes chips inside code spans or code blocks", () => {
    const el = dom("Use `arr[1]` here [1].\n\n```\nx = y[1]\n```\n\n    indented[2]\n", 2);
    expect(chips(el)).toEqual(["1"]);
    expect(el.querySelector("p code")?.textContent).toBe("arr[1]");
    expect(el.querySelector("pre")?.querySelector("button")).toBeNull();
  });

  it("makes chips inside nested emphasis", () => {
    const el = dom("***strongly [2] supported*** and _see [1]_", 2);
    expect(chips(el)).toEqual(["2", "1"]);
    const chip2 = el.querySelector('button.chip[data-n="2"]');
    expect(chip2?.closest("strong")).not.toBeNull();
    expect(chip2?.closest("em")).not.toBeNull();
    expect(el.querySelector('button.chip[data-n="1"]')?.closest("em")).not.toBeNull();
  });

  it("splits grouped markers like [1, 2] and adjacent [1][2]", () => {
    expect(chips(dom("Both [1, 2].", 2))).toEqual(["1", "2"]);
    expect(chips(dom("Both [1][2].", 2))).toEqual(["1", "2"]);
    expect(chips(dom("Mixed [1, 3].", 2))).toEqual([]);
  });

  it("is not fooled by a reference definition for a marker", () => {
    const el = dom("Fact [1].\n\n[1]: https://evil.example/", 2);
    expect(el.querySelector("a")).toBeNull();
    expect(chips(el)).toEqual(["1", "1"]);
  });

  it("puts no chip inside a link label", () => {
    const el = dom("[see [1]](https://example.com) and [2]", 2);
    assertInert(el);
    expect(el.querySelector("a button")).toBeNull();
    expect(chips(el)).toEqual(["2"]);
  });
});

describe("renderAnswer: chips from a set of passage numbers", () => {
  it("makes chips only for numbers that have a passage", () => {
    const el = document.createElement("div");
    el.innerHTML = renderAnswer("a [1] b [2] c [3]", new Set([1, 3]));
    expect(Array.from(el.querySelectorAll("button.chip")).map((b) => b.getAttribute("data-n"))).toEqual(["1", "3"]);
    expect(el.textContent).toContain("b [2] c");
  });
});
