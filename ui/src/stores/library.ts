// The library: documents, folders, the indexing run's progress, and search as you type.

import * as ipc from "../ipc";
import type { Document, FolderInfo, IndexProgress, IndexState, Passage, PickKind } from "../ipc";
import { baseName, formatEta } from "../format";
import { Store } from "../store";
import type { Toasts } from "./toasts";

export const SEARCH_DEBOUNCE_MS = 150;
export const SEARCH_LIMIT = 20;
/** How long a removal can be undone from its toast. */
export const UNDO_REMOVE_MS = 8000;

export type DocFilter = "all" | "problems";

export interface SearchState {
  query: string;
  terms: string[];
  results: Passage[];
  loading: boolean;
  error: string | null;
  /** The query the results belong to (results stay while the next query runs). */
  shownFor: string;
}

export interface LibraryState {
  documents: Document[];
  folders: FolderInfo[];
  progress: IndexProgress | null;
  loaded: boolean;
  filter: DocFilter;
  search: SearchState;
}

const ACTIVE: readonly IndexState[] = ["scanning", "indexing", "paused", "committing"];

export function isActive(p: IndexProgress | null | undefined): boolean {
  return !!p && ACTIVE.includes(p.state);
}

export function isProblem(d: Document): boolean {
  return d.status === "failed" || d.status === "skipped";
}

export function visibleDocuments(s: Pick<LibraryState, "documents" | "filter">): Document[] {
  return s.filter === "problems" ? s.documents.filter(isProblem) : s.documents;
}

/** "12 indexed · 3 unchanged · 1 skipped · 2 failed", leaving out zero counts (but never empty). */
export function progressCounts(p: IndexProgress): string {
  const parts: string[] = [];
  if (p.indexed) parts.push(`${p.indexed} indexed`);
  if (p.unchanged) parts.push(`${p.unchanged} unchanged`);
  if (p.skipped) parts.push(`${p.skipped} skipped`);
  if (p.failed) parts.push(`${p.failed} failed`);
  return parts.length ? parts.join(" · ") : "nothing indexed yet";
}

const STATE_TEXT: Record<IndexState, string> = {
  scanning: "Looking for files",
  indexing: "Indexing",
  paused: "Paused",
  committing: "Saving",
  done: "Done",
  cancelled: "Cancelled",
  failed: "Indexing failed",
};

/** The progress bar's headline and detail lines. */
export function progressText(p: IndexProgress): { title: string; files: string; detail: string } {
  const files = `${p.filesDone} / ${p.filesTotal} files`;
  const title = `${STATE_TEXT[p.state]}${p.label ? ` — ${p.label}` : ""}`;
  const detail: string[] = [];
  if (isActive(p)) {
    if (p.currentFile) detail.push(baseName(p.currentFile));
    const eta = p.state === "indexing" ? formatEta(p.etaSeconds) : null;
    if (eta) detail.push(eta);
    if (p.queued > 0) detail.push(`${p.queued} more ${p.queued === 1 ? "run" : "runs"} queued`);
  }
  if (p.state === "failed" && p.message) detail.push(p.message);
  return { title, files, detail: detail.join(" · ") };
}

/** 0..1 for the bar (bytes are the better measure when known). */
export function progressFraction(p: IndexProgress): number {
  if (p.state === "done") return 1;
  if (p.bytesTotal > 0) return Math.min(1, p.bytesDone / p.bytesTotal);
  if (p.filesTotal > 0) return Math.min(1, p.filesDone / p.filesTotal);
  return 0;
}

export interface LibraryDeps {
  toasts: Toasts;
  /** A run started (used to leave the welcome screen). */
  onRunStarted?: () => void;
}

export type Library = ReturnType<typeof createLibrary>;

export function createLibrary(deps: LibraryDeps) {
  const store = new Store<LibraryState>({
    documents: [],
    folders: [],
    progress: null,
    loaded: false,
    filter: "all",
    search: { query: "", terms: [], results: [], loading: false, error: null, shownFor: "" },
  });
  const toastError = (e: unknown) =>
    deps.toasts.push({ level: "error", message: ipc.toApiError(e).message });

  async function reload(): Promise<void> {
    try {
      const [documents, folders] = await Promise.all([ipc.listDocuments(), ipc.listFolders()]);
      store.set({ documents, folders, loaded: true });
    } catch (e) {
      store.set({ loaded: true });
      toastError(e);
    }
  }

  async function load(): Promise<void> {
    const [, progress] = await Promise.all([reload(), ipc.indexState().catch(() => null)]);
    if (progress && !store.get().progress) store.set({ progress });
  }

  /** An `index-progress` event. */
  function onProgress(p: IndexProgress): void {
    const prev = store.get().progress;
    if (prev && p.job < prev.job) return; // a late event of an older run
    store.set({ progress: p });
    const started = isActive(p) && (!prev || prev.job !== p.job || !isActive(prev));
    if (started) deps.onRunStarted?.();
    const finished = !isActive(p) && (!prev || prev.job !== p.job || isActive(prev));
    if (finished) void reload();
  }

  // library-changed events come in bursts while a run commits documents: coalesce them.
  let reloadTimer: ReturnType<typeof setTimeout> | undefined;
  function onLibraryChanged(): void {
    if (reloadTimer !== undefined) return;
    reloadTimer = setTimeout(() => {
      reloadTimer = undefined;
      void reload();
    }, 200);
  }

  /** "Add folder…" / "Add files…": resolves to the added paths ([] when cancelled). */
  async function add(kind: PickKind): Promise<string[]> {
    try {
      const paths = await ipc.pickAndAdd(kind);
      if (paths.length > 0) deps.onRunStarted?.();
      return paths;
    } catch (e) {
      toastError(e);
      return [];
    }
  }

  /** Removes files or folders from the library, with an Undo that indexes them again. */
  async function remove(paths: string[], label: string): Promise<number | null> {
    if (paths.length === 0) return 0;
    const roots = paths.map((p) => p.replace(/[\\/]+$/, ""));
    const under = (doc: string) =>
      roots.some((r) => doc === r || doc.startsWith(`${r}/`) || doc.startsWith(`${r}\\`));
    const before = store.get();
    store.set({
      documents: before.documents.filter((d) => !under(d.path)),
      folders: before.folders.filter((f) => !paths.includes(f.path)),
    });
    try {
      const n = await ipc.removePaths(paths);
      deps.toasts.push({
        message: `Removed ${label}${n > 1 ? ` (${n} documents)` : ""}`,
        action: { label: "Undo", run: () => void reindex(paths) },
        timeoutMs: UNDO_REMOVE_MS,
      });
      return n;
    } catch (e) {
      store.set({ documents: before.documents, folders: before.folders });
      toastError(e);
      return null;
    } finally {
      void reload();
    }
  }

  async function reindex(paths: string[]): Promise<void> {
    try {
      await ipc.reindex(paths);
    } catch (e) {
      toastError(e);
    }
  }

  async function setWatching(path: string, watching: boolean): Promise<void> {
    const flip = (w: boolean) =>
      store.set((s) => ({ folders: s.folders.map((f) => (f.path === path ? { ...f, watching: w } : f)) }));
    flip(watching);
    try {
      await ipc.setWatching(path, watching);
    } catch (e) {
      flip(!watching);
      toastError(e);
    }
  }

  const control = (f: () => Promise<null>) => async () => {
    try {
      await f();
    } catch (e) {
      toastError(e);
    }
  };

  function setFilter(filter: DocFilter): void {
    store.set({ filter });
  }

  // Search as you type: debounced, and only the newest query's results are shown.
  let searchTimer: ReturnType<typeof setTimeout> | undefined;
  let searchSeq = 0;
  const setSearch = (patch: Partial<SearchState>) =>
    store.set((s) => ({ search: { ...s.search, ...patch } }));

  async function runSearch(query: string): Promise<void> {
    const seq = ++searchSeq;
    setSearch({ loading: true });
    try {
      const r = await ipc.search(query, SEARCH_LIMIT);
      if (seq !== searchSeq) return;
      setSearch({ results: r.results, terms: r.terms, loading: false, error: null, shownFor: query });
    } catch (e) {
      if (seq !== searchSeq) return;
      setSearch({ results: [], loading: false, error: ipc.toApiError(e).message, shownFor: query });
    }
  }

  function setQuery(query: string): void {
    setSearch({ query });
    if (searchTimer !== undefined) clearTimeout(searchTimer);
    searchTimer = undefined;
    if (query.trim() === "") {
      searchSeq++;
      setSearch({ results: [], terms: [], loading: false, error: null, shownFor: "" });
      return;
    }
    searchTimer = setTimeout(() => {
      searchTimer = undefined;
      void runSearch(query.trim());
    }, SEARCH_DEBOUNCE_MS);
  }

  return {
    store,
    load,
    reload,
    onProgress,
    onLibraryChanged,
    add,
    remove,
    reindex,
    setWatching,
    setFilter,
    setQuery,
    pause: control(() => ipc.pauseIndexing()),
    resume: control(() => ipc.resumeIndexing()),
    cancel: control(() => ipc.cancelIndexing()),
  };
}
