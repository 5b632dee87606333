import type { RemovedItem } from "../bindings/RemovedItem";
import type { RemovedKind } from "../bindings/RemovedKind";
import type { Passage } from "../ipc";
import { passageLocation } from "../format";
import { chipNumbers, passageFor, STAGE_TEXT, type Turn } from "../stores/chat";
import { CodeBlock } from "./CodeBlock";
import { Markdown } from "./Markdown";

export interface AnswerViewProps {
  turn: Turn;
  onOpenPassage: (p: Passage, terms: string[]) => void;
  onOpenLink: (url: string) => void;
  /** Shown with a "model missing" error. */
  setupCommand?: string | undefined;
  onOpenSettings?: () => void;
  /** While streaming, [n] up to this number show as (inert) chips until the sources arrive. */
  streamingChips?: number;
}

function SourceList({
  title,
  passages,
  cited,
  onOpen,
}: {
  title: string;
  passages: Passage[];
  cited: ReadonlySet<number>;
  onOpen: (p: Passage) => void;
}) {
  if (passages.length === 0) return null;
  return (
    <section class="sources" aria-label={title}>
      <h4>{title}</h4>
      <ol>
        {passages.map((p) => {
          const loc = passageLocation(p);
          return (
            <li key={`${p.n}:${p.path}:${p.page ?? ""}:${p.lineStart ?? ""}`}>
              <button
                type="button"
                class={`source ${cited.has(p.n) ? "cited" : ""}`}
                data-testid="source-item"
                data-n={p.n}
                onClick={() => onOpen(p)}
                title={p.path}
              >
                <span class="chip static">{p.n >= 1 ? p.n : "•"}</span>
                <span class="source-name">{p.title || p.name}</span>
                {loc && <span class="source-loc">{loc}</span>}
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

/** What the list under an answer is: cited sources, sources Docent matched, or context. */
export function sourcesTitle(turn: Pick<Turn, "cited" | "citationMode">): string {
  if (turn.cited) return "Sources";
  if (turn.citationMode === "attributed") return "Sources (matched to the answer by Docent)";
  return "Context used (not cited)";
}

/** One assistant answer: streaming text, citation chips, sources, not-found and errors. */
export function AnswerView(props: AnswerViewProps) {
  const { turn, onOpenPassage, onOpenLink, setupCommand, onOpenSettings, streamingChips = 0 } = props;
  const chips = turn.streaming
    ? new Set(Array.from({ length: streamingChips }, (_, i) => i + 1))
    : chipNumbers(turn);
  const open = (p: Passage) => onOpenPassage(p, turn.terms);
  const openChip = (n: number) => {
    const p = passageFor(turn, n);
    if (p) open(p);
  };
  const citedNs = new Set(turn.citations.map((p) => p.n));
  const sources = turn.sources.length > 0 ? turn.sources : turn.citations;
  const waiting = turn.streaming && turn.answer === "";

  let body;
  if (turn.error) {
    body = (
      <div class="answer-error" role="alert">
        <p>{turn.error.message}</p>
        {turn.error.kind === "modelMissing" && setupCommand && (
          <>
            <p class="muted">Get the default models with:</p>
            <CodeBlock text={setupCommand} />
            {onOpenSettings && (
              <button type="button" class="link-button" onClick={onOpenSettings}>
                Or choose a model file in Settings
              </button>
            )}
          </>
        )}
      </div>
    );
  } else if (waiting) {
    body = (
      <p class="stage" aria-live="polite">
        <span class="spinner" aria-hidden="true" />
        {STAGE_TEXT[turn.stage ?? "retrieving"]}
      </p>
    );
  } else if (!turn.found && !turn.streaming) {
    body = (
      <div class="not-found">
        <p class="not-found-title">Not found in your documents</p>
        <Markdown text={turn.answer} chips={chips} onChip={openChip} onLink={onOpenLink} />
        <SourceList title="Closest passages" passages={sources} cited={citedNs} onOpen={open} />
      </div>
    );
  } else {
    body = (
      <>
        <Markdown text={turn.answer} chips={chips} onChip={openChip} onLink={onOpenLink} />
        {!turn.streaming && (
          <SourceList
            title={sourcesTitle(turn)}
            passages={sources}
            cited={citedNs}
            onOpen={open}
          />
        )}
      </>
    );
  }

  const t = turn.timings;
  return (
    <article
      class={`answer${turn.streaming ? " streaming" : ""}${turn.found ? "" : " is-not-found"}${turn.error ? " is-error" : ""}`}
      data-testid="answer"
      data-streaming={turn.streaming ? "true" : "false"}
      data-found={turn.found ? "true" : "false"}
      data-cited={turn.cited ? "true" : "false"}
      aria-busy={turn.streaming}
    >
      {body}
      {!turn.streaming && turn.removed.length > 0 && (
        <p class="removed-note" data-testid="removed-note">
          {removedNote(turn.removed)}
        </p>
      )}
      {!turn.streaming && (turn.stopped || (t && t.tokensPerS > 0)) && (
        <footer class="answer-meta">
          {turn.stopped && <span class="stopped">Stopped</span>}
          {t && t.tokensPerS > 0 && (
            <span title={`Search ${t.retrieveMs} ms · first token ${t.firstTokenMs} ms · ${t.promptTokens} prompt tokens`}>
              {t.tokensPerS.toFixed(t.tokensPerS < 10 ? 1 : 0)} tok/s
            </span>
          )}
        </footer>
      )}
    </article>
  );
}

const REMOVED_NAMES: Record<RemovedKind, [string, string]> = {
  image: ["image", "images"],
  link: ["link", "links"],
  html: ["HTML tag", "HTML tags"],
  specialToken: ["special token", "special tokens"],
};

/** "Docent removed 1 image and 2 links from this answer." */
export function removedNote(removed: readonly RemovedItem[]): string {
  const parts = (Object.keys(REMOVED_NAMES) as RemovedKind[]).flatMap((kind) => {
    const n = removed.filter((r) => r.kind === kind).length;
    const [one, many] = REMOVED_NAMES[kind];
    return n === 0 ? [] : [n === 1 ? `1 ${one}` : `${n} ${many}`];
  });
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}` : parts[0];
  return `Docent removed ${list} from this answer.`;
}
