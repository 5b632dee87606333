// Human-readable numbers for the page.

export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** "about 40 s", "about 3 min", "about 1 h 5 min"; null when the ETA is not known yet. */
export function formatEta(seconds: number | null | undefined): string | null {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return null;
  const s = Math.round(seconds);
  if (s < 5) return "a few seconds left";
  if (s < 60) return `about ${s} s left`;
  const min = Math.round(s / 60);
  if (min < 60) return `about ${min} min left`;
  const h = Math.floor(min / 60);
  const m = min % 60;
  return m === 0 ? `about ${h} h left` : `about ${h} h ${m} min left`;
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "page 4", "lines 10–24", "line 3", or "" when the passage has no location. */
export function passageLocation(p: {
  page: number | null;
  lineStart: number | null;
  lineEnd: number | null;
}): string {
  if (p.page != null) return `page ${p.page}`;
  if (p.lineStart != null) {
    if (p.lineEnd != null && p.lineEnd !== p.lineStart) return `lines ${p.lineStart}–${p.lineEnd}`;
    return `line ${p.lineStart}`;
  }
  return "";
}

/** The last component of a path, for either separator. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((x) => x !== "");
  return parts[parts.length - 1] ?? path;
}

export function relativeTime(unixSeconds: number, now = Date.now()): string {
  const d = Math.max(0, now / 1000 - unixSeconds);
  if (d < 60) return "just now";
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  if (d < 86400 * 7) return `${Math.floor(d / 86400)} d ago`;
  return new Date(unixSeconds * 1000).toLocaleDateString();
}
