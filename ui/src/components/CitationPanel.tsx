import { useEffect, useRef } from "preact/hooks";
import type { Passage } from "../ipc";
import * as ipc from "../ipc";
import { passageLocation } from "../format";
import { toasts } from "../stores";
import { Highlighted } from "./Highlighted";
import { CloseIcon, OpenIcon, RevealIcon } from "./icons";

export function openLabel(p: Passage): string {
  if (p.page != null) return `Open at page ${p.page}`;
  if (p.lineStart != null) return `Open at line ${p.lineStart}`;
  return "Open";
}

async function attempt(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    toasts.push({ level: "error", message: ipc.toApiError(e).message });
  }
}

export interface CitationPanelProps {
  passage: Passage;
  terms: readonly string[];
  onClose: () => void;
}

/** The side panel with one passage: its text, where it is, and buttons to open the file there. */
export function CitationPanel({ passage: p, terms, onClose }: CitationPanelProps) {
  const ref = useRef<HTMLElement>(null);
  const loc = passageLocation(p);

  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>("[data-testid=citation-open]")?.focus();
    ref.current?.querySelector(".passage-text")?.scrollTo?.(0, 0);
  }, [p]);

  return (
    <aside class="panel" data-testid="citation-panel" aria-label="Passage" ref={ref}>
      <header class="panel-head">
        <div class="panel-title">
          {p.n >= 1 && <span class="chip static">{p.n}</span>}
          <h2 title={p.path}>{p.name}</h2>
        </div>
        <button type="button" class="icon-button" aria-label="Close" title="Close (Esc)" onClick={onClose}>
          <CloseIcon />
        </button>
      </header>
      {(p.title || loc) && (
        <p class="panel-sub">
          {p.title && <span>{p.title}</span>}
          {p.title && loc && " · "}
          {loc && <span>{loc}</span>}
        </p>
      )}
      <div class="panel-actions">
        <button
          type="button"
          class="primary"
          data-testid="citation-open"
          onClick={() => void attempt(() => ipc.openPath(p.path, p.page, p.page == null ? p.lineStart : null))}
        >
          <OpenIcon />
          {openLabel(p)}
        </button>
        <button type="button" onClick={() => void attempt(() => ipc.revealPath(p.path))}>
          <RevealIcon />
          Show in folder
        </button>
      </div>
      <blockquote class="passage-text">
        <Highlighted text={p.text} terms={terms} />
      </blockquote>
      <p class="panel-path muted small" title={p.path}>
        {p.path}
      </p>
    </aside>
  );
}
