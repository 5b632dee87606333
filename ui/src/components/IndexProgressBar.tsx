import type { IndexProgress } from "../ipc";
import { isActive, progressCounts, progressFraction, progressText } from "../stores/library";

export interface IndexProgressBarProps {
  progress: IndexProgress | null;
  onPause: () => void;
  onResume: () => void;
  onCancel: () => void;
}

/** The current (or last) indexing run. */
export function IndexProgressBar({ progress: p, onPause, onResume, onCancel }: IndexProgressBarProps) {
  if (!p) {
    return (
      <div class="progress-card idle" data-testid="index-progress" data-state="idle">
        <span class="muted">No indexing in progress.</span>
      </div>
    );
  }
  const text = progressText(p);
  const active = isActive(p);
  const pct = Math.round(progressFraction(p) * 100);
  return (
    <div class={`progress-card state-${p.state}`} data-testid="index-progress" data-state={p.state}>
      <div class="progress-head">
        <strong>{text.title}</strong>
        <span class="progress-files">{text.files}</span>
        {active && (
          <span class="progress-buttons">
            {p.state === "paused" ? (
              <button type="button" class="small" onClick={onResume}>
                Resume
              </button>
            ) : (
              <button type="button" class="small" onClick={onPause} disabled={p.state === "committing"}>
                Pause
              </button>
            )}
            <button type="button" class="small danger-ghost" onClick={onCancel}>
              Cancel
            </button>
          </span>
        )}
      </div>
      <div
        class={`bar ${p.state === "scanning" ? "indeterminate" : ""}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-label="Indexing progress"
      >
        <div class="bar-fill" style={{ width: `${p.state === "scanning" ? 100 : pct}%` }} />
      </div>
      {text.detail && <div class="progress-detail title-ellipsis">{text.detail}</div>}
      <div class="progress-counts">{progressCounts(p)}</div>
    </div>
  );
}
