// Builders for test data (used by the *.test.ts files only).

import type { Answer, Conversation, Document, IndexProgress, Passage } from "../ipc";

export function passage(n: number, over: Partial<Passage> = {}): Passage {
  return {
    n,
    path: `/docs/file${n}.pdf`,
    name: `file${n}.pdf`,
    title: null,
    page: n,
    lineStart: null,
    lineEnd: null,
    text: `Passage number ${n} about indexing documents.`,
    score: 0,
    ...over,
  };
}

export function answer(over: Partial<Answer> = {}): Answer {
  return {
    conversationId: 7,
    question: "q",
    answer: "",
    citations: [],
    sources: [],
    cited: true,
    citationMode: "model",
    found: true,
    stopped: false,
    terms: [],
    timings: { retrieveMs: 12, promptTokens: 300, firstTokenMs: 800, tokensPerS: 12.5 },
    removed: [],
    ...over,
  };
}

export function progress(over: Partial<IndexProgress> = {}): IndexProgress {
  return {
    job: 1,
    queued: 0,
    state: "indexing",
    label: "Papers",
    filesDone: 0,
    filesTotal: 10,
    bytesDone: 0,
    bytesTotal: 0,
    currentFile: null,
    etaSeconds: null,
    indexed: 0,
    unchanged: 0,
    skipped: 0,
    failed: 0,
    message: null,
    ...over,
  };
}

export function conversation(id: number, title = `Chat ${id}`): Conversation {
  return { id, title, createdAt: 1_700_000_000 + id, updatedAt: 1_700_000_000 + id };
}

export function doc(id: number, over: Partial<Document> = {}): Document {
  return {
    id,
    path: `/docs/d${id}.pdf`,
    name: `d${id}.pdf`,
    title: null,
    docType: "pdf",
    sizeBytes: 1000 * id,
    pages: 2,
    chunks: 4,
    status: "indexed",
    reason: null,
    indexedAt: 1_700_000_000,
    ...over,
  };
}
