import { useState } from "preact/hooks";
import type { Document, FolderInfo } from "../ipc";
import * as ipc from "../ipc";
import { formatBytes, passageLocation } from "../format";
import { snippet } from "../highlight";
import { useStore } from "../hooks";
import { library, toasts, ui } from "../stores";
import { isProblem, visibleDocuments } from "../stores/library";
import { Highlighted } from "./Highlighted";
import { IndexProgressBar } from "./IndexProgressBar";
import { CloseIcon, FileIcon, FolderIcon, OpenIcon, RefreshIcon, RevealIcon, SearchIcon, TrashIcon } from "./icons";

const PAGE = 200;

const TYPE_LABEL: Record<string, string> = {
  pdf: "PDF",
  docx: "Word",
  html: "HTML",
  markdown: "Markdown",
  text: "Text",
  code: "Code",
};

const STATUS_LABEL: Record<Document["status"], string> = {
  pending: "Pending",
  indexed: "Indexed",
  skipped: "Skipped",
  failed: "Failed",
};

async function attempt(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    toasts.push({ level: "error", message: ipc.toApiError(e).message });
  }
}

export function AddButtons() {
  return (
    <div class="add-buttons">
      <button type="button" onClick={() => void library.add("folder")}>
        <FolderIcon />
        Add folder…
      </button>
      <button type="button" onClick={() => void library.add("files")}>
        <FileIcon />
        Add files…
      </button>
    </div>
  );
}

function SearchResults() {
  const { search } = useStore(library.store);
  if (search.query.trim() === "") return null;
  return (
    <section class="search-results" aria-label="Search results" aria-busy={search.loading}>
      <h2 class="section-title">
        {search.loading && search.shownFor !== search.query.trim()
          ? "Searching…"
          : `${search.results.length} ${search.results.length === 1 ? "passage" : "passages"}`}
      </h2>
      {search.error && <p class="error-text">{search.error}</p>}
      {!search.loading && !search.error && search.results.length === 0 && search.shownFor !== "" && (
        <p class="muted">Nothing in your documents matches “{search.shownFor}”.</p>
      )}
      <ul class="result-list">
        {search.results.map((p, i) => (
          <li key={`${i}:${p.path}:${p.page ?? ""}:${p.lineStart ?? ""}`}>
            <button
              type="button"
              class="result"
              data-testid="search-result"
              onClick={() => ui.openPanel(p, search.terms)}
            >
              <span class="result-head">
                <span class="result-name">{p.title || p.name}</span>
                {passageLocation(p) && <span class="result-loc">{passageLocation(p)}</span>}
              </span>
              {p.title && p.title !== p.name && <span class="result-file">{p.name}</span>}
              <span class="result-snippet">
                <Highlighted text={snippet(p.text, search.terms)} terms={search.terms} />
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function FolderRow({ f }: { f: FolderInfo }) {
  return (
    <li class="folder">
      <FolderIcon />
      <div class="folder-main">
        <span class="folder-path" title={f.path}>
          {f.path}
        </span>
        <span class="muted small">
          {f.documents} {f.documents === 1 ? "document" : "documents"}
          {!f.exists && <span class="badge failed">Missing on disk</span>}
        </span>
      </div>
      <label class="switch" title="Pick up changes in this folder automatically">
        <input
          type="checkbox"
          checked={f.watching}
          onChange={(e) => void library.setWatching(f.path, (e.target as HTMLInputElement).checked)}
        />
        <span>Watch for changes</span>
      </label>
      <button type="button" class="icon-button" title="Re-index folder" aria-label="Re-index folder" onClick={() => void library.reindex([f.path])}>
        <RefreshIcon />
      </button>
      <button
        type="button"
        class="icon-button"
        title="Remove folder from library"
        aria-label="Remove folder from library"
        onClick={() => void library.remove([f.path], `folder “${f.path}”`)}
      >
        <TrashIcon />
      </button>
    </li>
  );
}

function DocRow({ d }: { d: Document }) {
  return (
    <tr data-testid="doc-row" data-status={d.status} class={`doc status-${d.status}`}>
      <td class="doc-name">
        <div class="doc-name-inner">
          <span class="name" title={d.path}>
            {d.name}
          </span>
          {d.title && d.title !== d.name && <span class="doc-title">{d.title}</span>}
          {d.reason && (d.status === "failed" || d.status === "skipped") && (
            <span class={`reason ${d.status}`}>{d.reason}</span>
          )}
        </div>
      </td>
      <td>{d.docType ? (TYPE_LABEL[d.docType] ?? d.docType) : "—"}</td>
      <td class="num">{formatBytes(d.sizeBytes)}</td>
      <td class="num">{d.pages > 0 ? d.pages : "—"}</td>
      <td class="num">{d.chunks}</td>
      <td>
        <span class={`badge ${d.status}`}>{STATUS_LABEL[d.status]}</span>
      </td>
      <td class="row-actions">
        <button type="button" class="icon-button" title="Open" aria-label={`Open ${d.name}`} onClick={() => void attempt(() => ipc.openPath(d.path, null, null))}>
          <OpenIcon />
        </button>
        <button type="button" class="icon-button" title="Show in folder" aria-label={`Show ${d.name} in folder`} onClick={() => void attempt(() => ipc.revealPath(d.path))}>
          <RevealIcon />
        </button>
        <button type="button" class="icon-button" title="Re-index" aria-label={`Re-index ${d.name}`} onClick={() => void library.reindex([d.path])}>
          <RefreshIcon />
        </button>
        <button type="button" class="icon-button" title="Remove from library" aria-label={`Remove ${d.name}`} onClick={() => void library.remove([d.path], `“${d.name}”`)}>
          <TrashIcon />
        </button>
      </td>
    </tr>
  );
}

function Documents() {
  const s = useStore(library.store);
  const [limit, setLimit] = useState(PAGE);
  const docs = visibleDocuments(s);
  const problems = s.documents.filter(isProblem).length;
  return (
    <section class="documents" aria-label="Documents">
      <div class="section-bar">
        <h2 class="section-title">Documents</h2>
        <div class="segmented" role="group" aria-label="Filter documents">
          <button type="button" class={s.filter === "all" ? "on" : ""} aria-pressed={s.filter === "all"} onClick={() => library.setFilter("all")}>
            All <span class="count">{s.documents.length}</span>
          </button>
          <button type="button" class={s.filter === "problems" ? "on" : ""} aria-pressed={s.filter === "problems"} onClick={() => library.setFilter("problems")}>
            Failed or skipped <span class="count">{problems}</span>
          </button>
        </div>
      </div>
      {s.loaded && docs.length === 0 ? (
        <p class="muted pad">
          {s.filter === "problems" ? "Every document was indexed." : "No documents yet. Add a folder or drop files onto this window."}
        </p>
      ) : (
        <div class="table-wrap">
          <table class="doc-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th class="num">Size</th>
                <th class="num">Pages</th>
                <th class="num">Chunks</th>
                <th>Status</th>
                <th>
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {docs.slice(0, limit).map((d) => (
                <DocRow key={d.id} d={d} />
              ))}
            </tbody>
          </table>
          {docs.length > limit && (
            <button type="button" class="ghost more" onClick={() => setLimit(limit + PAGE)}>
              Show {Math.min(PAGE, docs.length - limit)} more of {docs.length - limit}
            </button>
          )}
        </div>
      )}
    </section>
  );
}

export function LibraryView() {
  const s = useStore(library.store);
  const searching = s.search.query.trim() !== "";
  return (
    <section class="view library-view" aria-label="Library">
      <header class="view-header">
        <h1>Library</h1>
        <div class="search-box">
          <SearchIcon />
          <input
            type="search"
            data-testid="search-input"
            placeholder="Search your documents"
            aria-label="Search your documents"
            value={s.search.query}
            onInput={(e) => library.setQuery((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Escape" && s.search.query) {
                e.stopPropagation();
                library.setQuery("");
              }
            }}
          />
          {s.search.query && (
            <button type="button" class="icon-button tiny" aria-label="Clear search" onClick={() => library.setQuery("")}>
              <CloseIcon size={14} />
            </button>
          )}
        </div>
        <AddButtons />
      </header>
      <div class="view-body">
        <IndexProgressBar progress={s.progress} onPause={() => void library.pause()} onResume={() => void library.resume()} onCancel={() => void library.cancel()} />
        {searching ? (
          <SearchResults />
        ) : (
          <>
            {s.folders.length > 0 && (
              <section class="folders" aria-label="Folders">
                <h2 class="section-title">Folders</h2>
                <ul class="folder-list">
                  {s.folders.map((f) => (
                    <FolderRow key={f.path} f={f} />
                  ))}
                </ul>
              </section>
            )}
            <Documents />
          </>
        )}
      </div>
    </section>
  );
}
