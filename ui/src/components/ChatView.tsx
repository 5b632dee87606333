import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { useStore } from "../hooks";
import { chat, conversations, library, ui } from "../stores";
import { AnswerView } from "./AnswerView";
import { CodeBlock } from "./CodeBlock";
import { SendIcon, StopIcon } from "./icons";

function EmptyChat() {
  const info = useStore(ui.store).appInfo;
  const lib = useStore(library.store);
  const modelOk = !!info && info.model.present && !info.model.error;
  return (
    <div class="chat-empty">
      <h2>Ask about your documents</h2>
      <p class="muted">
        Answers come only from the files in your library, with the passages they cite. Everything
        runs on this computer.
      </p>
      {lib.loaded && lib.documents.length === 0 && (
        <p class="notice-line">
          Your library is empty.{" "}
          <button type="button" class="link-button" onClick={() => ui.show("library")}>
            Add documents
          </button>{" "}
          first, or drop files onto this window.
        </p>
      )}
      {info && !modelOk && (
        <div class="notice-box warning">
          <p>
            {info.model.error ?? "The answer model is missing."} Get the default models with:
          </p>
          <CodeBlock text={info.setupCommand} />
        </div>
      )}
    </div>
  );
}

function Composer() {
  const { streaming } = useStore(chat.store);
  const [text, setText] = useState("");
  const ref = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    ref.current?.focus();
  }, []);

  // Grow with the text up to a limit.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, 200)}px`;
  }, [text]);

  const canSend = !streaming && text.trim() !== "";

  function send() {
    if (!canSend) return;
    const q = text;
    setText("");
    void chat.ask(q);
  }

  function onKeyDown(e: KeyboardEvent) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  }

  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      <textarea
        ref={ref}
        data-testid="chat-input"
        rows={1}
        placeholder="Ask a question about your documents…"
        aria-label="Question"
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        onKeyDown={onKeyDown}
      />
      {streaming ? (
        <button
          type="button"
          class="icon-button stop"
          data-testid="chat-stop"
          title="Stop"
          aria-label="Stop"
          onClick={() => void chat.stop()}
        >
          <StopIcon />
        </button>
      ) : null}
      <button
        type="submit"
        class="icon-button primary"
        data-testid="chat-send"
        title="Send (Enter)"
        aria-label="Send"
        disabled={!canSend}
      >
        <SendIcon />
      </button>
    </form>
  );
}

export function ChatView() {
  const c = useStore(chat.store);
  const convs = useStore(conversations.store);
  const info = useStore(ui.store).appInfo;
  const listRef = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  const title =
    c.conversationId === null
      ? "New chat"
      : (convs.items.find((x) => x.id === c.conversationId)?.title ?? "Chat");

  // Follow the streaming answer unless the user scrolled up.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  function onScroll() {
    const el = listRef.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  }

  return (
    <section class="view chat-view" aria-label="Chat">
      <header class="view-header">
        <h1 class="title-ellipsis">{title || "Untitled"}</h1>
      </header>
      <div class="messages" ref={listRef} onScroll={onScroll}>
        {c.loading && <p class="muted center">Loading…</p>}
        {!c.loading && c.turns.length === 0 && <EmptyChat />}
        {c.turns.map((t) => (
          <div class="turn" key={t.key}>
            {t.question && (
              <div class="question" data-testid="question">
                {t.question}
              </div>
            )}
            <AnswerView
              turn={t}
              onOpenPassage={(p, terms) => ui.openPanel(p, terms)}
              onOpenLink={(url) => ui.askOpenLink(url)}
              setupCommand={info?.setupCommand}
              onOpenSettings={() => ui.show("settings")}
              streamingChips={info?.settings.topK ?? 0}
            />
          </div>
        ))}
      </div>
      <Composer />
    </section>
  );
}
