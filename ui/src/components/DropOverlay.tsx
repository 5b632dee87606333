import { UploadIcon } from "./icons";

export function DropOverlay() {
  return (
    <div class="drop-overlay" data-testid="drop-overlay" aria-hidden="true">
      <div class="drop-overlay-inner">
        <UploadIcon size={64} />
        <p class="drop-title">Drop to add to your library</p>
        <p class="muted">Documents are indexed on this computer. A .gguf file becomes the answer model.</p>
      </div>
    </div>
  );
}
