// Start-up: load what the page shows first, subscribe to Rust's events, keyboard shortcuts.

import * as ipc from "./ipc";
import { chat, conversations, library, toasts, ui } from "./stores";

function shortcuts(): void {
  window.addEventListener("keydown", (e) => {
    const mod = e.ctrlKey || e.metaKey;
    if (mod && !e.shiftKey && !e.altKey && e.key.toLowerCase() === "n") {
      e.preventDefault();
      chat.reset();
      ui.closePanel();
      ui.show("chat");
      requestAnimationFrame(() => document.querySelector<HTMLTextAreaElement>("[data-testid=chat-input]")?.focus());
      return;
    }
    if (e.key === "Escape" && !e.defaultPrevented) {
      const s = ui.store.get();
      if (s.confirmLink) ui.closeLinkDialog();
      else if (s.panel) ui.closePanel();
    }
  });
}

async function subscribe(): Promise<void> {
  await Promise.all([
    ipc.onIndexProgress((p) => library.onProgress(p)),
    ipc.onLibraryChanged(() => library.onLibraryChanged()),
    ipc.onModelChanged((m) => {
      ui.setModel(m);
      toasts.push({
        level: m.error ? "warning" : "success",
        message: m.error ? `${m.name}: ${m.error}` : `Answer model: ${m.name}`,
      });
    }),
    ipc.onNotice((n) => toasts.push({ level: n.level, message: n.message })),
    ipc.onDragDrop((kind) => {
      ui.setDragging(kind === "enter" || kind === "over");
      if (kind === "drop" && ui.store.get().view === "welcome") ui.show("library");
    }),
  ]);
}

export async function boot(): Promise<void> {
  shortcuts();
  // Deletions waiting for their Undo delay happen now if the window closes.
  window.addEventListener("beforeunload", () => conversations.flush());
  if (!ipc.inTauri()) {
    ui.store.set({ bootError: "This page runs inside the Docent app. Start it with `cargo tauri dev`." });
    return;
  }
  try {
    await subscribe();
    const info = await ipc.appInfo();
    ui.store.set({ appInfo: info, view: info.firstRun ? "welcome" : "chat" });
  } catch (e) {
    ui.store.set({ bootError: ipc.toApiError(e).message });
    return;
  }
  await Promise.all([conversations.load(), library.load()]);
}
