import { useStore } from "../hooks";
import { toasts } from "../stores";
import { CloseIcon } from "./icons";

export function Toasts() {
  const { toasts: list } = useStore(toasts.store);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} class={`toast ${t.level}`} data-testid="toast">
          <div class="toast-body">
            <p>{t.message}</p>
            {t.detail && <code class="toast-detail">{t.detail}</code>}
          </div>
          {t.action && (
            <button type="button" class="toast-action" onClick={t.action.run}>
              {t.action.label}
            </button>
          )}
          <button type="button" class="icon-button tiny" aria-label="Dismiss" onClick={() => toasts.dismiss(t.id)}>
            <CloseIcon size={14} />
          </button>
        </div>
      ))}
    </div>
  );
}
