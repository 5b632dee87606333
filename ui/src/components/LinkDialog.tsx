import { useEffect, useRef } from "preact/hooks";
import * as ipc from "../ipc";
import { toasts } from "../stores";

/** Asks before a link from an answer is opened in the browser. */
export function LinkDialog({ url, onClose }: { url: string; onClose: () => void }) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancel.current?.focus();
  }, []);

  async function confirm() {
    onClose();
    try {
      await ipc.openLink(url);
    } catch (e) {
      toasts.push({ level: "error", message: ipc.toApiError(e).message });
    }
  }

  return (
    <div
      class="modal-backdrop"
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div class="modal" role="dialog" aria-modal="true" aria-labelledby="link-dialog-title" data-testid="link-dialog">
        <h2 id="link-dialog-title">
          Open <span class="link-url">{url}</span> in your browser?
        </h2>
        <p class="muted small">The link comes from the model's answer. Check where it leads before opening it.</p>
        <div class="form-actions">
          <button type="button" ref={cancel} onClick={onClose}>
            Cancel
          </button>
          <button type="button" class="primary" onClick={() => void confirm()}>
            Open in browser
          </button>
        </div>
      </div>
    </div>
  );
}
