// Highlighting the query's words in passages and picking a snippet around the first match.

export interface Part {
  text: string;
  match: boolean;
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}_]/u.test(c);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function termsRegExp(terms: readonly string[]): RegExp | null {
  const words = [...new Set(terms.map((t) => t.trim().toLowerCase()).filter((t) => t.length >= 2))];
  if (words.length === 0) return null;
  words.sort((a, b) => b.length - a.length);
  return new RegExp(words.map(escapeRegExp).join("|"), "giu");
}

/**
 * Splits `text` into parts, marking case-insensitive occurrences of `terms` that start a word
 * (so "index" marks "Indexing" but not "reindex"; the engine stems, so prefixes are what match).
 */
export function highlightParts(text: string, terms: readonly string[]): Part[] {
  const re = termsRegExp(terms);
  if (!re) return text ? [{ text, match: false }] : [];
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const start = m.index ?? 0;
    if (isWordChar(text[start - 1])) continue;
    if (start > last) parts.push({ text: text.slice(last, start), match: false });
    parts.push({ text: m[0], match: true });
    last = start + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last), match: false });
  return parts;
}

/** About `max` characters of `text` around the first match, with ellipses where cut. */
export function snippet(text: string, terms: readonly string[], max = 260): string {
  const clean = text.replace(/\s+/g, " ").trim();
  if (clean.length <= max) return clean;
  const first = highlightParts(clean, terms).findIndex((p) => p.match);
  let start = 0;
  if (first > 0) {
    const offset = highlightParts(clean, terms)
      .slice(0, first)
      .reduce((n, p) => n + p.text.length, 0);
    start = Math.max(0, offset - Math.floor(max / 3));
    const space = clean.lastIndexOf(" ", start);
    if (space > 0 && start - space < 20) start = space + 1;
  }
  let end = Math.min(clean.length, start + max);
  const space = clean.indexOf(" ", end);
  if (space > 0 && space - end < 20) end = space;
  return `${start > 0 ? "… " : ""}${clean.slice(start, end)}${end < clean.length ? " …" : ""}`;
}

/** Lower-cased words of a question, for highlighting when the engine gave no terms. */
export function questionTerms(q: string): string[] {
  const stop = new Set(
    "the a an and or of to in on for is are was were be what which who how why when where does do did with from by about this that these those it its as at can i my me you your".split(
      " ",
    ),
  );
  return [...new Set((q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length >= 2 && !stop.has(w)))];
}
