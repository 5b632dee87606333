// Rendering the model's answer, which is untrusted text, as HTML that is safe to insert.
//
// - Raw HTML is escaped (markdown-it `html: false`), never interpreted.
// - No image is ever loaded: images render as the text "[image: alt]".
// - Links are inert: an https link becomes <a href="#" data-href="…" class="inert-link"> that the
//   page opens only after the user confirms; any other scheme renders as plain text.
// - Attributes never come from the model (table alignment becomes a class, not a style).
// - Citation markers [n] in text (not in code, not in link labels) become chip buttons when
//   1 <= n <= the number of sources (or n has a passage); others stay text.

import MarkdownIt from "markdown-it";
import type { StateCore, Token } from "markdown-it";

type RenderEnv = { linkStack?: boolean[] };

const CITATION = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

const escapeHtml = (s: string): string => md.utils.escapeHtml(s);

/** True for an absolute https URL with a host; the only kind of link the page will offer. */
export function isSafeLink(href: string): boolean {
  if (!/^https:\/\//i.test(href)) return false;
  try {
    const u = new URL(href);
    return u.protocol === "https:" && u.hostname !== "" && u.username === "" && u.password === "";
  } catch {
    return false;
  }
}

const md = new MarkdownIt("default", {
  html: false,
  linkify: false,
  typographer: false,
  breaks: false,
});

// Reference definitions ("[1]: https://…") would turn citation markers into links.
md.disable(["reference"]);
// Let every link reach the renderer, which decides (inert https link or plain text); markdown-it's
// own check would otherwise print a refused link's whole source.
md.validateLink = () => true;

function splitCitations(state: StateCore, text: string, valid: (n: number) => boolean): Token[] | null {
  CITATION.lastIndex = 0;
  const out: Token[] = [];
  let last = 0;
  let changed = false;
  for (let m = CITATION.exec(text); m !== null; m = CITATION.exec(text)) {
    const ns = (m[1] ?? "").split(",").map((x) => Number.parseInt(x.trim(), 10));
    if (!ns.every(valid)) continue;
    if (m.index > last) {
      const t = new state.Token("text", "", 0);
      t.content = text.slice(last, m.index);
      out.push(t);
    }
    for (const n of ns) {
      const c = new state.Token("citation", "", 0);
      c.meta = { n };
      out.push(c);
    }
    last = m.index + m[0].length;
    changed = true;
  }
  if (!changed) return null;
  if (last < text.length) {
    const t = new state.Token("text", "", 0);
    t.content = text.slice(last);
    out.push(t);
  }
  return out;
}

md.core.ruler.push("docent_sanitize", (state: StateCore) => {
  const valid = (state.env as { validChip?: (n: number) => boolean }).validChip ?? (() => false);
  const visit = (tokens: Token[]): void => {
    for (const tok of tokens) {
      // Table alignment arrives as style="text-align:…"; keep it as a class instead.
      if (tok.attrs) {
        const style = tok.attrGet("style");
        tok.attrs = tok.attrs.filter(([name]) => name !== "style");
        const align = String(style ?? "").match(/text-align:(left|right|center)/)?.[1];
        if (align) tok.attrSet("class", `align-${align}`);
        if (tok.attrs.length === 0) tok.attrs = null;
      }
      if (tok.type === "inline" && tok.children) {
        let linkDepth = 0;
        const children: Token[] = [];
        for (const child of tok.children) {
          if (child.type === "link_open") linkDepth++;
          if (child.type === "link_close") linkDepth = Math.max(0, linkDepth - 1);
          const split =
            child.type === "text" && linkDepth === 0
              ? splitCitations(state, child.content, valid)
              : null;
          if (split) children.push(...split);
          else children.push(child);
        }
        tok.children = children;
        visit(children);
      }
    }
  };
  visit(state.tokens);
});

const rules = md.renderer.rules;

rules.citation = (tokens, idx) => {
  const n = Number((tokens[idx]?.meta as { n: number }).n);
  return `<button type="button" class="chip" data-n="${n}" data-testid="citation-chip" title="Source ${n}">${n}</button>`;
};

rules.image = (tokens, idx, options, env, self) => {
  const alt = self.renderInlineAsText(tokens[idx]?.children ?? [], options, env).trim();
  return `<span class="image-placeholder">${escapeHtml(alt ? `[image: ${alt}]` : "[image]")}</span>`;
};

rules.link_open = (tokens, idx, _options, env) => {
  const href = String(tokens[idx]?.attrGet("href") ?? "");
  const stack = ((env as RenderEnv).linkStack ??= []);
  if (isSafeLink(href)) {
    stack.push(true);
    const h = escapeHtml(href);
    return `<a href="#" data-href="${h}" class="inert-link" title="${h}">`;
  }
  stack.push(false);
  return "";
};

rules.link_close = (_tokens, _idx, _options, env) => ((env as RenderEnv).linkStack?.pop() ? "</a>" : "");

// Unreachable with html: false; escaped anyway should that option ever change.
rules.html_block = (tokens, idx) => `<p>${escapeHtml(tokens[idx]?.content ?? "")}</p>`;
rules.html_inline = (tokens, idx) => escapeHtml(tokens[idx]?.content ?? "");

// Code blocks: no class from the model's info string.
rules.fence = (tokens, idx) => `<pre><code>${escapeHtml(tokens[idx]?.content ?? "")}</code></pre>\n`;

/**
 * The answer as safe HTML. `sources` says which [n] markers become chips: a count (1..count),
 * or the set of numbers that have a passage.
 */
export function renderAnswer(markdown: string, sources: number | ReadonlySet<number>): string {
  const validChip =
    typeof sources === "number"
      ? (n: number) => Number.isInteger(n) && n >= 1 && n <= sources
      : (n: number) => n >= 1 && sources.has(n);
  const env = { validChip, linkStack: [] as boolean[] };
  return md.render(markdown, env);
}
