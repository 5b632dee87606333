import { useStore } from "../hooks";
import { ui } from "../stores";
import { CodeBlock } from "./CodeBlock";
import { AlertIcon, CheckIcon, UploadIcon } from "./icons";
import { AddButtons } from "./LibraryView";

function Check({ ok, label, detail }: { ok: boolean; label: string; detail: string }) {
  return (
    <li class={`check ${ok ? "ok" : "missing"}`}>
      {ok ? <CheckIcon /> : <AlertIcon />}
      <span>
        <strong>{label}</strong> <span class="muted">{detail}</span>
      </span>
    </li>
  );
}

export function WelcomeView() {
  const info = useStore(ui.store).appInfo;
  if (!info) return null;
  const m = info.model;
  const modelOk = m.present && !m.error;
  return (
    <section class="view welcome-view" aria-label="Welcome">
      <div class="welcome">
        <h1>Welcome to Docent</h1>
        <p class="lead">
          Ask questions about your own documents — PDFs, Word files, web pages, Markdown, text and
          code. Docent indexes them on this computer, and every answer cites the passages it comes
          from: the file, the page, the lines.
        </p>
        <p class="muted">Your files stay on this machine. Nothing is uploaded, and Docent works offline.</p>

        <ul class="checks" aria-label="Models">
          <Check ok={modelOk} label="Answer model" detail={modelOk ? m.name : (m.error ?? `${m.name} is missing`)} />
          <Check
            ok={info.embedModelPresent}
            label="Embedding model"
            detail={info.embedModelPresent ? "ready" : `missing from ${info.modelsDir}`}
          />
        </ul>
        {(!modelOk || !info.embedModelPresent) && (
          <div class="notice-box warning">
            <p>Get the default models (a one-time download) by running:</p>
            <CodeBlock text={info.setupCommand} />
            <p class="muted small">
              Or choose a .gguf answer model in{" "}
              <button type="button" class="link-button" onClick={() => ui.show("settings")}>
                Settings
              </button>
              , or drop it onto this window.
            </p>
          </div>
        )}

        <div class="drop-target">
          <UploadIcon />
          <p class="drop-title">Drop files or folders here</p>
          <p class="muted small">They are indexed in the background; you can start asking right away.</p>
          <AddButtons />
        </div>
      </div>
    </section>
  );
}
