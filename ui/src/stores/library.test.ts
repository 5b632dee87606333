import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as ipc from "../ipc";
import { formatBytes, formatEta } from "../format";
import {
  createLibrary,
  isActive,
  progressCounts,
  progressFraction,
  progressText,
  SEARCH_DEBOUNCE_MS,
  visibleDocuments,
} from "./library";
import { doc, passage, progress } from "./test-fixtures";
import { createToasts } from "./toasts";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return {
    toApiError: orig.toApiError,
    listDocuments: vi.fn(),
    listFolders: vi.fn(),
    indexState: vi.fn(),
    pickAndAdd: vi.fn(),
    removePaths: vi.fn(),
    reindex: vi.fn(),
    setWatching: vi.fn(),
    search: vi.fn(),
    pauseIndexing: vi.fn(),
    resumeIndexing: vi.fn(),
    cancelIndexing: vi.fn(),
  };
});

function setup() {
  vi.mocked(ipc.listDocuments).mockResolvedValue([
    doc(1),
    doc(2, { status: "failed", reason: "The PDF is encrypted." }),
    doc(3, { status: "skipped", reason: "Not a supported type." }),
    doc(4, { path: "/papers/x.pdf", name: "x.pdf" }),
  ]);
  vi.mocked(ipc.listFolders).mockResolvedValue([
    { path: "/docs", watching: true, documents: 3, exists: true },
    { path: "/papers", watching: false, documents: 1, exists: true },
  ]);
  vi.mocked(ipc.indexState).mockResolvedValue(null);
  vi.mocked(ipc.reindex).mockResolvedValue(null);
  vi.mocked(ipc.removePaths).mockResolvedValue(1);
  vi.mocked(ipc.setWatching).mockResolvedValue(null);
  const toasts = createToasts();
  const onRunStarted = vi.fn();
  const lib = createLibrary({ toasts, onRunStarted });
  return { lib, toasts, onRunStarted };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("index progress", () => {
  it("events update the state, and a new run is reported once", () => {
    const { lib, onRunStarted } = setup();
    lib.onProgress(progress({ state: "scanning", filesTotal: 0 }));
    lib.onProgress(progress({ state: "indexing", filesDone: 3, filesTotal: 10, indexed: 3 }));
    const p = lib.store.get().progress!;
    expect(p.filesDone).toBe(3);
    expect(isActive(p)).toBe(true);
    expect(onRunStarted).toHaveBeenCalledTimes(1);
    lib.onProgress(progress({ job: 2, state: "scanning" }));
    expect(onRunStarted).toHaveBeenCalledTimes(2);
  });

  it("ignores late events of an older run", () => {
    const { lib } = setup();
    lib.onProgress(progress({ job: 2, filesDone: 1 }));
    lib.onProgress(progress({ job: 1, filesDone: 9 }));
    expect(lib.store.get().progress).toMatchObject({ job: 2, filesDone: 1 });
  });

  it("reloads the documents when a run finishes", async () => {
    const { lib } = setup();
    lib.onProgress(progress({ state: "indexing" }));
    expect(ipc.listDocuments).not.toHaveBeenCalled();
    lib.onProgress(progress({ state: "done", filesDone: 10, indexed: 10 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(ipc.listDocuments).toHaveBeenCalledTimes(1);
    expect(lib.store.get().documents).toHaveLength(4);
  });

  it("describes the run: files, current file, ETA, queue and counts", () => {
    const p = progress({
      filesDone: 4,
      filesTotal: 12,
      currentFile: "/home/me/Papers/attention.pdf",
      etaSeconds: 125,
      queued: 2,
      indexed: 3,
      unchanged: 1,
      skipped: 0,
      failed: 2,
    });
    const t = progressText(p);
    expect(t.title).toBe("Indexing — Papers");
    expect(t.files).toBe("4 / 12 files");
    expect(t.detail).toBe("attention.pdf · about 2 min left · 2 more runs queued");
    expect(progressCounts(p)).toBe("3 indexed · 1 unchanged · 2 failed");
    expect(progressCounts(progress())).toBe("nothing indexed yet");
  });

  it("shows the error of a failed run and no ETA once it stopped", () => {
    const t = progressText(progress({ state: "failed", etaSeconds: 30, message: "Disk full" }));
    expect(t.title).toBe("Indexing failed — Papers");
    expect(t.detail).toBe("Disk full");
  });

  it("measures the bar by bytes when known, else by files", () => {
    expect(progressFraction(progress({ filesDone: 1, filesTotal: 4 }))).toBe(0.25);
    expect(progressFraction(progress({ filesDone: 1, filesTotal: 4, bytesDone: 300, bytesTotal: 400 }))).toBe(0.75);
    expect(progressFraction(progress({ state: "done", filesTotal: 0 }))).toBe(1);
    expect(progressFraction(progress({ filesTotal: 0 }))).toBe(0);
  });

  it("formats ETAs and sizes for people", () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(3)).toBe("a few seconds left");
    expect(formatEta(42)).toBe("about 42 s left");
    expect(formatEta(150)).toBe("about 3 min left");
    expect(formatEta(3600)).toBe("about 1 h left");
    expect(formatEta(3900)).toBe("about 1 h 5 min left");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5.0 MB");
    expect(formatBytes(300 * 1024 * 1024)).toBe("300 MB");
    expect(formatBytes(null)).toBe("—");
  });

  it("pause, resume and cancel call the engine and report errors", async () => {
    const { lib, toasts } = setup();
    vi.mocked(ipc.pauseIndexing).mockResolvedValue(null);
    vi.mocked(ipc.cancelIndexing).mockRejectedValue({ kind: "invalid", message: "Nothing to cancel." });
    await lib.pause();
    await lib.cancel();
    expect(ipc.pauseIndexing).toHaveBeenCalledTimes(1);
    expect(toasts.store.get().toasts.map((t) => t.message)).toEqual(["Nothing to cancel."]);
  });
});

describe("library", () => {
  it("loads documents, folders and the last run", async () => {
    const { lib } = setup();
    vi.mocked(ipc.indexState).mockResolvedValue(progress({ state: "done" }));
    await lib.load();
    const s = lib.store.get();
    expect(s.documents).toHaveLength(4);
    expect(s.folders).toHaveLength(2);
    expect(s.progress?.state).toBe("done");
  });

  it("filters failed and skipped documents", async () => {
    const { lib } = setup();
    await lib.load();
    lib.setFilter("problems");
    expect(visibleDocuments(lib.store.get()).map((d) => d.id)).toEqual([2, 3]);
    lib.setFilter("all");
    expect(visibleDocuments(lib.store.get())).toHaveLength(4);
  });

  it("coalesces library-changed bursts into one reload", async () => {
    const { lib } = setup();
    for (let i = 0; i < 5; i++) lib.onLibraryChanged();
    await vi.advanceTimersByTimeAsync(500);
    expect(ipc.listDocuments).toHaveBeenCalledTimes(1);
  });

  it("removing a folder hides its documents; Undo re-indexes it", async () => {
    const { lib, toasts } = setup();
    await lib.load();
    const done = lib.remove(["/docs"], "folder “/docs”");
    expect(lib.store.get().documents.map((d) => d.id)).toEqual([4]);
    expect(lib.store.get().folders.map((f) => f.path)).toEqual(["/papers"]);
    await done;
    expect(ipc.removePaths).toHaveBeenCalledWith(["/docs"]);
    const toast = toasts.store.get().toasts[0]!;
    expect(toast.action?.label).toBe("Undo");
    toast.action!.run();
    expect(ipc.reindex).toHaveBeenCalledWith(["/docs"]);
  });

  it("puts documents back when removing fails", async () => {
    const { lib, toasts } = setup();
    await lib.load();
    vi.mocked(ipc.removePaths).mockRejectedValue({ kind: "notAllowed", message: "No." });
    vi.mocked(ipc.listDocuments).mockClear();
    await lib.remove(["/docs/d1.pdf"], "d1.pdf");
    expect(lib.store.get().documents).toHaveLength(4);
    expect(toasts.store.get().toasts.map((t) => t.message)).toEqual(["No."]);
  });

  it("watch toggle is optimistic and reverts on error", async () => {
    const { lib } = setup();
    await lib.load();
    vi.mocked(ipc.setWatching).mockRejectedValue({ kind: "io", message: "x" });
    await lib.setWatching("/papers", true);
    expect(ipc.setWatching).toHaveBeenCalledWith("/papers", true);
    expect(lib.store.get().folders.find((f) => f.path === "/papers")?.watching).toBe(false);
  });

  it("add reports a started run only when something was added", async () => {
    const { lib, onRunStarted } = setup();
    vi.mocked(ipc.pickAndAdd).mockResolvedValueOnce([]);
    expect(await lib.add("folder")).toEqual([]);
    expect(onRunStarted).not.toHaveBeenCalled();
    vi.mocked(ipc.pickAndAdd).mockResolvedValueOnce(["/new"]);
    expect(await lib.add("files")).toEqual(["/new"]);
    expect(ipc.pickAndAdd).toHaveBeenLastCalledWith("files");
    expect(onRunStarted).toHaveBeenCalledTimes(1);
  });
});

describe("search as you type", () => {
  it("debounces keystrokes into one search of the last query", async () => {
    const { lib } = setup();
    vi.mocked(ipc.search).mockResolvedValue({ query: "neural", terms: ["neural"], results: [passage(0)] });
    lib.setQuery("n");
    lib.setQuery("neu");
    lib.setQuery("neural");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS - 1);
    expect(ipc.search).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(ipc.search).toHaveBeenCalledTimes(1);
    expect(ipc.search).toHaveBeenCalledWith("neural", 20);
    const s = lib.store.get().search;
    expect(s.results).toHaveLength(1);
    expect(s.terms).toEqual(["neural"]);
    expect(s.shownFor).toBe("neural");
  });

  it("shows only the newest query's results", async () => {
    const { lib } = setup();
    let resolveOld: (v: Awaited<ReturnType<typeof ipc.search>>) => void = () => undefined;
    vi.mocked(ipc.search)
      .mockImplementationOnce(() => new Promise((r) => (resolveOld = r)))
      .mockResolvedValueOnce({ query: "new", terms: ["new"], results: [passage(2)] });
    lib.setQuery("old");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS);
    lib.setQuery("new");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS);
    resolveOld({ query: "old", terms: ["old"], results: [passage(1)] });
    await vi.advanceTimersByTimeAsync(0);
    expect(lib.store.get().search.results.map((p) => p.n)).toEqual([2]);
    expect(lib.store.get().search.terms).toEqual(["new"]);
  });

  it("clearing the box clears the results without searching", async () => {
    const { lib } = setup();
    vi.mocked(ipc.search).mockResolvedValue({ query: "a", terms: ["ab"], results: [passage(1)] });
    lib.setQuery("ab");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS);
    lib.setQuery("  ");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS);
    expect(ipc.search).toHaveBeenCalledTimes(1);
    expect(lib.store.get().search.results).toEqual([]);
  });

  it("shows a search error", async () => {
    const { lib } = setup();
    vi.mocked(ipc.search).mockRejectedValue({ kind: "modelMissing", message: "The embedding model is missing." });
    lib.setQuery("x y");
    await vi.advanceTimersByTimeAsync(SEARCH_DEBOUNCE_MS);
    expect(lib.store.get().search.error).toBe("The embedding model is missing.");
  });
});
