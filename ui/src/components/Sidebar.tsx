import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Conversation } from "../ipc";
import { useStore } from "../hooks";
import { isActive } from "../stores/library";
import { chat, conversations, library, ui } from "../stores";
import type { View } from "../stores/ui";
import { ChatIcon, LibraryIcon, PencilIcon, PlusIcon, SettingsIcon, TrashIcon } from "./icons";

export const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);

export function newChat(): void {
  chat.reset();
  ui.closePanel();
  ui.show("chat");
}

export function openConversation(id: number): void {
  void chat.open(id);
  ui.show("chat");
}

function ConversationItem({ c, active }: { c: Conversation; active: boolean }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(c.title);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (editing) {
      input.current?.focus();
      input.current?.select();
    }
  }, [editing]);

  function startEdit() {
    setDraft(c.title);
    setEditing(true);
  }
  function commit() {
    if (!editing) return;
    setEditing(false);
    void conversations.rename(c.id, draft);
  }

  return (
    <li class={`conversation ${active ? "active" : ""}`} data-testid="conversation-item" data-id={c.id}>
      {editing ? (
        <input
          ref={input}
          class="rename"
          aria-label="Conversation title"
          value={draft}
          maxLength={200}
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") commit();
            if (e.key === "Escape") {
              e.stopPropagation();
              setEditing(false);
            }
          }}
          onBlur={commit}
        />
      ) : (
        <>
          <button
            type="button"
            class="conversation-open"
            aria-current={active ? "page" : undefined}
            onClick={() => openConversation(c.id)}
            onDblClick={startEdit}
            title={c.title}
          >
            {c.title || "Untitled"}
          </button>
          <span class="conversation-actions">
            <button type="button" class="icon-button tiny" title="Rename" aria-label="Rename" onClick={startEdit}>
              <PencilIcon />
            </button>
            <button
              type="button"
              class="icon-button tiny"
              title="Delete"
              aria-label="Delete"
              onClick={() => conversations.remove(c.id)}
            >
              <TrashIcon />
            </button>
          </span>
        </>
      )}
    </li>
  );
}

interface NavButtonProps {
  view: View;
  label: string;
  icon: JSX.Element;
  testid: string;
  extra?: ComponentChildren;
}

function NavButton({ view, label, icon, testid, extra }: NavButtonProps) {
  const current = useStore(ui.store).view;
  return (
    <button
      type="button"
      class={`nav-item ${current === view ? "active" : ""}`}
      data-testid={testid}
      aria-current={current === view ? "page" : undefined}
      onClick={() => ui.show(view)}
    >
      {icon}
      <span>{label}</span>
      {extra}
    </button>
  );
}

export function Sidebar() {
  const convState = useStore(conversations.store);
  const { conversationId } = useStore(chat.store);
  const { progress } = useStore(library.store);
  const items = conversations.visible(convState);
  const running = isActive(progress);

  return (
    <aside class="sidebar" aria-label="Sidebar">
      <div class="brand">
        <span class="brand-mark" aria-hidden="true">D</span>
        <span>Docent</span>
      </div>
      <button type="button" class="new-chat" data-testid="new-chat" onClick={newChat}>
        <PlusIcon />
        <span>New chat</span>
        <kbd>{isMac ? "⌘N" : "Ctrl+N"}</kbd>
      </button>
      <nav class="nav">
        <NavButton view="chat" label="Chat" icon={<ChatIcon />} testid="nav-chat" />
        <NavButton
          view="library"
          label="Library"
          icon={<LibraryIcon />}
          testid="nav-library"
          extra={
            running && progress ? (
              <span class="nav-badge" title="Indexing">
                {progress.filesDone}/{progress.filesTotal}
              </span>
            ) : null
          }
        />
        <NavButton view="settings" label="Settings" icon={<SettingsIcon />} testid="nav-settings" />
      </nav>
      <h2 class="sidebar-heading">Conversations</h2>
      <ul class="conversations">
        {items.map((c) => (
          <ConversationItem key={c.id} c={c} active={c.id === conversationId} />
        ))}
        {convState.loaded && items.length === 0 && <li class="muted small pad">No conversations yet</li>}
      </ul>
    </aside>
  );
}
