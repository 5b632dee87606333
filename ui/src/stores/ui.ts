// Which view is shown, the side panel, dialogs, the drag overlay and the start-up data.

import type { AppInfo, ModelInfo, Passage } from "../ipc";
import { Store } from "../store";

export type View = "welcome" | "library" | "chat" | "settings";

export interface PanelState {
  passage: Passage;
  /** Words to highlight in the passage. */
  terms: string[];
}

export interface UiState {
  view: View;
  appInfo: AppInfo | null;
  bootError: string | null;
  dragging: boolean;
  panel: PanelState | null;
  /** An https link waiting for the user's confirmation. */
  confirmLink: string | null;
}

export type Ui = ReturnType<typeof createUi>;

export function createUi() {
  const store = new Store<UiState>({
    view: "chat",
    appInfo: null,
    bootError: null,
    dragging: false,
    panel: null,
    confirmLink: null,
  });

  return {
    store,
    show(view: View): void {
      store.set({ view });
    },
    setAppInfo(appInfo: AppInfo): void {
      store.set({ appInfo });
    },
    setModel(model: ModelInfo): void {
      const info = store.get().appInfo;
      if (!info) return;
      store.set({ appInfo: { ...info, model } });
    },
    openPanel(passage: Passage, terms: string[]): void {
      store.set({ panel: { passage, terms } });
    },
    closePanel(): void {
      store.set({ panel: null });
    },
    setDragging(dragging: boolean): void {
      if (store.get().dragging !== dragging) store.set({ dragging });
    },
    askOpenLink(url: string): void {
      store.set({ confirmLink: url });
    },
    closeLinkDialog(): void {
      store.set({ confirmLink: null });
    },
  };
}
