// The open conversation: its turns, and the answer being streamed.

import * as ipc from "../ipc";
import type { AnswerStage, ApiError, Message, Passage } from "../ipc";
import type { AnswerTimings } from "../bindings/AnswerTimings";
import type { CitationMode } from "../bindings/CitationMode";
import type { RemovedItem } from "../bindings/RemovedItem";
import { questionTerms } from "../highlight";
import { Store } from "../store";

export interface Turn {
  /** Local key for rendering. */
  key: number;
  question: string;
  /** The answer so far (tokens appended as they stream), then the final text. */
  answer: string;
  streaming: boolean;
  /** What the engine is doing before the first token. */
  stage: AnswerStage | null;
  found: boolean;
  cited: boolean;
  /** "model": the model's own [n]; "attributed": Docent matched the answer to sources. */
  citationMode: CitationMode;
  stopped: boolean;
  /** Every passage the model was given, numbered as it saw them. */
  sources: Passage[];
  /** The passages the answer cites. */
  citations: Passage[];
  terms: string[];
  timings: AnswerTimings | null;
  /** What Docent took out of the model's output (images, links, HTML, special tokens). */
  removed: RemovedItem[];
  error: ApiError | null;
}

export interface ChatState {
  conversationId: number | null;
  turns: Turn[];
  /** An answer is being produced: sending is disabled (typing is not). */
  streaming: boolean;
  loading: boolean;
}

export interface ChatDeps {
  /** The first answer of a new chat created this conversation. */
  onConversationCreated?: (id: number) => void;
  /** An answer finished (the conversation's title or order may have changed). */
  onAnswered?: (conversationId: number) => void;
  onError?: (e: ApiError) => void;
}

export const STAGE_TEXT: Record<AnswerStage, string> = {
  retrieving: "Searching your documents…",
  loadingModel: "Loading the model…",
  generating: "Writing…",
};

/** The passage behind chip `n` of a turn, if any. */
export function passageFor(turn: Pick<Turn, "sources" | "citations">, n: number): Passage | undefined {
  return turn.sources.find((p) => p.n === n) ?? turn.citations.find((p) => p.n === n);
}

/** The numbers chips may carry in a turn's answer. */
export function chipNumbers(turn: Pick<Turn, "sources" | "citations">): Set<number> {
  return new Set([...turn.sources, ...turn.citations].map((p) => p.n).filter((n) => n >= 1));
}

let nextKey = 1;

/** A turn for `question` with no answer yet. */
export function emptyTurn(question: string): Turn {
  return {
    key: nextKey++,
    question,
    answer: "",
    streaming: false,
    stage: null,
    found: true,
    cited: true,
    citationMode: "model",
    stopped: false,
    sources: [],
    citations: [],
    terms: questionTerms(question),
    timings: null,
    removed: [],
    error: null,
  };
}

/** Rebuilds turns from stored messages (a user message, then its answer). */
export function turnsFromMessages(messages: Message[]): Turn[] {
  const turns: Turn[] = [];
  for (const m of messages) {
    if (m.role === "user") {
      turns.push(emptyTurn(m.content));
      continue;
    }
    let turn = turns[turns.length - 1];
    if (!turn || turn.answer !== "" || turn.error) {
      turn = emptyTurn("");
      turns.push(turn);
    }
    turn.answer = m.content;
    turn.found = m.found !== false;
    turn.citations = m.citations;
    // Stored turns keep only the passages given with the answer; show them as its sources.
    turn.sources = m.found === false ? m.citations : [];
  }
  return turns;
}

export type Chat = ReturnType<typeof createChat>;

export function createChat(deps: ChatDeps = {}) {
  const store = new Store<ChatState>({
    conversationId: null,
    turns: [],
    streaming: false,
    loading: false,
  });
  // Bumped whenever the shown conversation changes: late events of an old one are dropped.
  let generation = 0;

  function updateTurn(gen: number, key: number, patch: (t: Turn) => Partial<Turn>): void {
    if (gen !== generation) return;
    store.set((s) => ({ turns: s.turns.map((t) => (t.key === key ? { ...t, ...patch(t) } : t)) }));
  }

  /** Sends a question. Resolves false when it was not sent (empty, or an answer is running). */
  async function ask(question: string): Promise<boolean> {
    const q = question.trim();
    const s = store.get();
    if (q === "" || s.streaming) return false;
    const gen = generation;
    const turn = { ...emptyTurn(q), streaming: true };
    const conversationId = s.conversationId;
    store.set({ turns: [...s.turns, turn], streaming: true });
    try {
      const r = await ipc.ask(q, conversationId, (e) => {
        if (e.kind === "stage") updateTurn(gen, turn.key, () => ({ stage: e.stage }));
        else updateTurn(gen, turn.key, (t) => ({ answer: t.answer + e.text, stage: "generating" }));
      });
      updateTurn(gen, turn.key, (t) => ({
        answer: r.answer !== "" ? r.answer : t.answer,
        streaming: false,
        found: r.found,
        cited: r.cited,
        citationMode: r.citationMode,
        stopped: r.stopped,
        sources: r.sources,
        citations: r.citations,
        terms: r.terms.length > 0 ? r.terms : t.terms,
        timings: r.timings,
        removed: r.removed,
      }));
      if (gen === generation && conversationId === null) {
        store.set({ conversationId: r.conversationId });
        deps.onConversationCreated?.(r.conversationId);
      }
      deps.onAnswered?.(r.conversationId);
    } catch (e) {
      const error = ipc.toApiError(e);
      updateTurn(gen, turn.key, () => ({ streaming: false, stage: null, error }));
      deps.onError?.(error);
    } finally {
      if (gen === generation) store.set({ streaming: false });
    }
    return true;
  }

  /** Asks the engine to stop; `ask` then resolves with what was written so far. */
  async function stop(): Promise<void> {
    if (!store.get().streaming) return;
    try {
      await ipc.stopAnswer();
    } catch (e) {
      deps.onError?.(ipc.toApiError(e));
    }
  }

  function leave(): void {
    generation++;
    if (store.get().streaming) void ipc.stopAnswer().catch(() => undefined);
  }

  /** An empty chat; the first question creates the conversation. */
  function reset(): void {
    leave();
    store.set({ conversationId: null, turns: [], streaming: false, loading: false });
  }

  async function open(id: number): Promise<void> {
    if (store.get().conversationId === id && !store.get().loading) return;
    leave();
    const gen = generation;
    store.set({ conversationId: id, turns: [], streaming: false, loading: true });
    try {
      const messages = await ipc.conversationMessages(id);
      if (gen !== generation) return;
      store.set({ turns: turnsFromMessages(messages), loading: false });
    } catch (e) {
      if (gen !== generation) return;
      store.set({ loading: false });
      deps.onError?.(ipc.toApiError(e));
    }
  }

  return { store, ask, stop, reset, open };
}
