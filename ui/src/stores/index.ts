// The app's store instances, wired together. Components import from here; tests build their own
// with the create* functions.

import { createChat } from "./chat";
import { createConversations } from "./conversations";
import { createLibrary } from "./library";
import { createToasts } from "./toasts";
import { createUi } from "./ui";

export const toasts = createToasts();
export const ui = createUi();

export const chat = createChat({
  onConversationCreated: () => void conversations.load(),
  onAnswered: () => void conversations.load(),
});

export const conversations = createConversations({
  toasts,
  onDeleted: (id) => {
    if (chat.store.get().conversationId === id) chat.reset();
  },
});

export const library = createLibrary({
  toasts,
  onRunStarted: () => {
    if (ui.store.get().view === "welcome") ui.show("library");
  },
});
