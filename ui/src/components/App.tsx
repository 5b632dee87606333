import { useStore } from "../hooks";
import { ui } from "../stores";
import { ChatView } from "./ChatView";
import { CitationPanel } from "./CitationPanel";
import { DropOverlay } from "./DropOverlay";
import { LibraryView } from "./LibraryView";
import { LinkDialog } from "./LinkDialog";
import { SettingsView } from "./SettingsView";
import { Sidebar } from "./Sidebar";
import { Toasts } from "./Toasts";
import { WelcomeView } from "./WelcomeView";

function Main() {
  const s = useStore(ui.store);
  if (s.bootError) {
    return (
      <section class="view boot-error">
        <h1>Docent could not start</h1>
        <p>{s.bootError}</p>
      </section>
    );
  }
  if (!s.appInfo) {
    return (
      <section class="view">
        <p class="muted center">Starting…</p>
      </section>
    );
  }
  switch (s.view) {
    case "welcome":
      return <WelcomeView />;
    case "library":
      return <LibraryView />;
    case "settings":
      return <SettingsView />;
    default:
      return <ChatView />;
  }
}

export function App() {
  const s = useStore(ui.store);
  return (
    <div class={`app ${s.panel ? "with-panel" : ""}`}>
      <Sidebar />
      <main class="main">
        <Main />
      </main>
      {s.panel && (
        <CitationPanel passage={s.panel.passage} terms={s.panel.terms} onClose={() => ui.closePanel()} />
      )}
      <Toasts />
      {s.dragging && <DropOverlay />}
      {s.confirmLink && <LinkDialog url={s.confirmLink} onClose={() => ui.closeLinkDialog()} />}
    </div>
  );
}
