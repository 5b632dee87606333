// The sidebar's conversations: load, rename, and delete with a grace period for Undo.

import * as ipc from "../ipc";
import type { Conversation } from "../ipc";
import { Store } from "../store";
import type { Toasts } from "./toasts";

/** How long a deleted conversation can be brought back before it is really deleted. */
export const UNDO_DELETE_MS = 6000;

export interface ConversationsState {
  items: Conversation[];
  /** Deleted by the user, hidden, and deleted for real when the Undo delay ends. */
  pendingDelete: number[];
  loaded: boolean;
}

export interface ConversationsDeps {
  toasts: Toasts;
  /** The conversation was deleted (hidden); e.g. leave it if it is open. */
  onDeleted?: (id: number) => void;
}

export type Conversations = ReturnType<typeof createConversations>;

export function createConversations(deps: ConversationsDeps) {
  const store = new Store<ConversationsState>({ items: [], pendingDelete: [], loaded: false });
  const timers = new Map<number, ReturnType<typeof setTimeout>>();

  const error = (e: unknown) => deps.toasts.push({ level: "error", message: ipc.toApiError(e).message });

  async function load(): Promise<void> {
    try {
      const items = await ipc.listConversations();
      store.set({ items, loaded: true });
    } catch (e) {
      store.set({ loaded: true });
      error(e);
    }
  }

  /** The conversations to show: newest first, without those waiting to be deleted. */
  function visible(s: ConversationsState = store.get()): Conversation[] {
    return s.items.filter((c) => !s.pendingDelete.includes(c.id));
  }

  async function rename(id: number, title: string): Promise<void> {
    const t = title.trim().replace(/\s+/g, " ");
    const before = store.get().items.find((c) => c.id === id);
    if (!before || t === "" || t === before.title) return;
    const setTitle = (title: string) =>
      store.set((s) => ({ items: s.items.map((c) => (c.id === id ? { ...c, title } : c)) }));
    setTitle(t);
    try {
      await ipc.renameConversation(id, t);
    } catch (e) {
      setTitle(before.title);
      error(e);
    }
  }

  function unhide(id: number): void {
    store.set((s) => ({ pendingDelete: s.pendingDelete.filter((x) => x !== id) }));
  }

  async function commitDelete(id: number): Promise<void> {
    timers.delete(id);
    try {
      await ipc.deleteConversation(id);
      store.set((s) => ({
        items: s.items.filter((c) => c.id !== id),
        pendingDelete: s.pendingDelete.filter((x) => x !== id),
      }));
    } catch (e) {
      unhide(id);
      error(e);
    }
  }

  /** Hides the conversation now; deletes it after UNDO_DELETE_MS unless `undo` is called. */
  function remove(id: number): void {
    const conv = store.get().items.find((c) => c.id === id);
    if (!conv || timers.has(id)) return;
    store.set((s) => ({ pendingDelete: [...s.pendingDelete, id] }));
    timers.set(
      id,
      setTimeout(() => void commitDelete(id), UNDO_DELETE_MS),
    );
    deps.onDeleted?.(id);
    deps.toasts.push({
      message: `Deleted “${conv.title || "Untitled"}”`,
      action: { label: "Undo", run: () => undo(id) },
      timeoutMs: UNDO_DELETE_MS,
    });
  }

  function undo(id: number): void {
    const t = timers.get(id);
    if (t === undefined) return;
    clearTimeout(t);
    timers.delete(id);
    unhide(id);
  }

  /** Deletes everything waiting for its Undo delay now (the window is closing). */
  function flush(): void {
    for (const [id, t] of [...timers]) {
      clearTimeout(t);
      void commitDelete(id);
    }
  }

  return { store, load, visible, rename, remove, undo, flush };
}
