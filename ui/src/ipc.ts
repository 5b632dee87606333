// Typed wrappers over the Tauri commands and events (the contract is in ./bindings, generated
// from Rust by ts-rs). Every command rejects with an ApiError; `toApiError` turns anything a
// promise may reject with into one, so the page can always show `message`.

import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import type { AnswerEvent } from "./bindings/AnswerEvent";
import type { AnswerResult } from "./bindings/AnswerResult";
import type { ApiError } from "./bindings/ApiError";
import type { AppInfo } from "./bindings/AppInfo";
import type { ConversationInfo } from "./bindings/ConversationInfo";
import type { DocumentInfo } from "./bindings/DocumentInfo";
import type { FolderInfo } from "./bindings/FolderInfo";
import type { IndexProgress } from "./bindings/IndexProgress";
import type { LibraryChanged } from "./bindings/LibraryChanged";
import type { MessageInfo } from "./bindings/MessageInfo";
import type { ModelInfo } from "./bindings/ModelInfo";
import type { Notice } from "./bindings/Notice";
import type { PickKind } from "./bindings/PickKind";
import type { SearchResponse } from "./bindings/SearchResponse";
import type { Settings } from "./bindings/Settings";

export type { AnswerEvent, ApiError, AppInfo, FolderInfo, IndexProgress, ModelInfo, Notice };
export type { PickKind, Settings };
export type { AnswerStage } from "./bindings/AnswerStage";
export type { Device } from "./bindings/Device";
export type { DocStatus } from "./bindings/DocStatus";
export type { ErrorKind } from "./bindings/ErrorKind";
export type { IndexState } from "./bindings/IndexState";
export type { Passage } from "./bindings/Passage";

/**
 * ts-rs writes Rust's i64 as `bigint`, but the values cross the bridge as JSON numbers (ids and
 * Unix seconds fit a double exactly). The page works with what actually arrives.
 */
export type Wire<T> = T extends bigint
  ? number
  : T extends Array<infer U>
    ? Array<Wire<U>>
    : T extends object
      ? { [K in keyof T]: Wire<T[K]> }
      : T;

export type Answer = Wire<AnswerResult>;
export type Conversation = Wire<ConversationInfo>;
export type Document = Wire<DocumentInfo>;
export type Message = Wire<MessageInfo>;

/** Turns whatever a command rejected with into an ApiError. */
export function toApiError(e: unknown): ApiError {
  if (e && typeof e === "object" && "message" in e) {
    const o = e as { kind?: unknown; message?: unknown };
    const kind = typeof o.kind === "string" ? (o.kind as ApiError["kind"]) : "internal";
    return { kind, message: String(o.message) };
  }
  if (typeof e === "string") return { kind: "internal", message: e };
  return { kind: "internal", message: "Something went wrong." };
}

function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  return invoke<T>(cmd, args).catch((e: unknown) => {
    throw toApiError(e);
  });
}

export const appInfo = (): Promise<AppInfo> => call("app_info");

/** Shows the native picker; resolves to the added paths ([] when cancelled). */
export const pickAndAdd = (kind: PickKind): Promise<string[]> => call("pick_and_add", { kind });

export const listDocuments = (): Promise<Document[]> => call("list_documents");
export const listFolders = (): Promise<FolderInfo[]> => call("list_folders");
export const setWatching = (path: string, watching: boolean): Promise<null> =>
  call("set_watching", { path, watching });
/** Resolves to the number of documents removed. */
export const removePaths = (paths: string[]): Promise<number> => call("remove_paths", { paths });
export const reindex = (paths: string[]): Promise<null> => call("reindex", { paths });
export const pauseIndexing = (): Promise<null> => call("pause_indexing");
export const resumeIndexing = (): Promise<null> => call("resume_indexing");
export const cancelIndexing = (): Promise<null> => call("cancel_indexing");
export const indexState = (): Promise<IndexProgress | null> => call("index_state");

export const openPath = (path: string, page: number | null, line: number | null): Promise<null> =>
  call("open_path", { path, page, line });
export const revealPath = (path: string): Promise<null> => call("reveal_path", { path });
/** Only after the user confirmed the link in the page. */
export const openLink = (url: string): Promise<null> => call("open_link", { url });

export const search = (query: string, limit: number): Promise<SearchResponse> =>
  call("search", { query, limit });

/** Asks a question; `onEvent` receives the stages and tokens as they come. */
export function ask(
  question: string,
  conversationId: number | null,
  onEvent: (e: AnswerEvent) => void,
): Promise<Answer> {
  const channel = new Channel<AnswerEvent>();
  channel.onmessage = onEvent;
  return call("ask", { question, conversationId, onEvent: channel });
}
export const stopAnswer = (): Promise<null> => call("stop_answer");

export const listConversations = (): Promise<Conversation[]> => call("list_conversations");
export const conversationMessages = (id: number): Promise<Message[]> =>
  call("conversation_messages", { id });
export const newConversation = (): Promise<Conversation> => call("new_conversation");
export const renameConversation = (id: number, title: string): Promise<null> =>
  call("rename_conversation", { id, title });
export const deleteConversation = (id: number): Promise<null> =>
  call("delete_conversation", { id });

export const saveSettings = (settings: Settings): Promise<AppInfo> =>
  call("save_settings", { settings });
/** Native dialog for a .gguf; null when cancelled. */
export const pickModel = (): Promise<ModelInfo | null> => call("pick_model");

// Broadcast events.

function on<T>(event: string, handler: (payload: T) => void): Promise<UnlistenFn> {
  return listen<T>(event, (e) => handler(e.payload));
}

export const onIndexProgress = (h: (p: IndexProgress) => void) => on("index-progress", h);
export const onLibraryChanged = (h: (p: LibraryChanged) => void) => on("library-changed", h);
export const onModelChanged = (h: (p: ModelInfo) => void) => on("model-changed", h);
export const onNotice = (h: (p: Notice) => void) => on("notice", h);

export type DragKind = "enter" | "over" | "drop" | "leave";

/** The OS drag and drop over the window (Rust receives the drop itself). */
export function onDragDrop(h: (kind: DragKind) => void): Promise<UnlistenFn> {
  return getCurrentWebview().onDragDropEvent((e) => h(e.payload.type));
}

/** True inside the Tauri window (false in a plain browser, e.g. `npm run dev` alone). */
export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}
