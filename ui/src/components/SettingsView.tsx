import { useEffect, useState } from "preact/hooks";
import type { Device, ModelInfo, Settings } from "../ipc";
import * as ipc from "../ipc";
import { formatBytes } from "../format";
import { useStore } from "../hooks";
import { toasts, ui } from "../stores";
import { CodeBlock } from "./CodeBlock";

const DEVICE_LABEL: Record<Device, string> = {
  auto: "Automatic",
  cpu: "CPU",
  cuda: "NVIDIA GPU (CUDA)",
  metal: "Apple GPU (Metal)",
};

function ModelCard({ model, setupCommand }: { model: ModelInfo; setupCommand: string }) {
  const ok = model.present && !model.error;
  const [busy, setBusy] = useState(false);

  async function choose() {
    setBusy(true);
    try {
      const m = await ipc.pickModel();
      if (m) {
        ui.setModel(m);
        toasts.push({ level: m.error ? "warning" : "success", message: m.error ?? `Answer model: ${m.name}` });
      }
    } catch (e) {
      toasts.push({ level: "error", message: ipc.toApiError(e).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class={`card model-card ${ok ? "" : "has-error"}`} aria-label="Answer model">
      <div class="card-head">
        <h2>Answer model</h2>
        <button type="button" onClick={() => void choose()} disabled={busy}>
          Choose model…
        </button>
      </div>
      <p class="model-name">{model.name}</p>
      <dl class="facts">
        <dt>Size</dt>
        <dd>{formatBytes(model.sizeBytes)}</dd>
        <dt>Quantization</dt>
        <dd>{model.quantization ?? "—"}</dd>
        <dt>Architecture</dt>
        <dd>{model.architecture ?? "—"}</dd>
        <dt>Context length</dt>
        <dd>{model.contextLength != null ? `${model.contextLength.toLocaleString()} tokens` : "—"}</dd>
        <dt>Estimated memory</dt>
        <dd>{formatBytes(model.estimatedRamBytes)}</dd>
        <dt>File</dt>
        <dd class="path" title={model.path}>
          {model.path}
        </dd>
      </dl>
      {!ok && (
        <div class="notice-box warning">
          <p>{model.error ?? "The model file is missing."}</p>
          <p class="muted small">Get the default models with:</p>
          <CodeBlock text={setupCommand} />
        </div>
      )}
    </section>
  );
}

function numberField(
  label: string,
  value: number,
  onChange: (n: number) => void,
  opts: { min: number; max: number; step?: number; hint?: string },
) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      <input
        type="number"
        min={opts.min}
        max={opts.max}
        step={opts.step ?? 1}
        value={value}
        onInput={(e) => {
          const n = (e.target as HTMLInputElement).valueAsNumber;
          if (Number.isFinite(n)) onChange(n);
        }}
      />
      {opts.hint && <span class="field-hint">{opts.hint}</span>}
    </label>
  );
}

/** The ranges the app accepts (`validate_settings` in src-tauri/src/app.rs). */
export const LIMITS = {
  threads: { min: 0, max: 256 },
  temperature: { min: 0, max: 2 },
  topK: { min: 1, max: 20 },
  chunkTokens: { min: 64, max: 254 },
} as const;

/** Clamps and rounds the form's values to what the app accepts. */
export function normalizeSettings(s: Settings): Settings {
  const clamp = (n: number, { min, max }: { min: number; max: number }) => Math.min(max, Math.max(min, n));
  return {
    ...s,
    threads: Math.round(clamp(s.threads, LIMITS.threads)),
    temperature: Math.round(clamp(s.temperature, LIMITS.temperature) * 100) / 100,
    topK: Math.round(clamp(s.topK, LIMITS.topK)),
    chunkTokens: Math.round(clamp(s.chunkTokens, LIMITS.chunkTokens)),
  };
}

export function SettingsView() {
  const info = useStore(ui.store).appInfo;
  const [form, setForm] = useState<Settings | null>(info?.settings ?? null);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    if (info) setForm((f) => f ?? info.settings);
  }, [info]);

  if (!info || !form) return null;
  const saved = info.settings;
  const dirty = JSON.stringify(normalizeSettings(form)) !== JSON.stringify(saved);
  const set = (patch: Partial<Settings>) => setForm({ ...form, ...patch });

  async function save() {
    if (!form) return;
    setSaving(true);
    try {
      const next = await ipc.saveSettings(normalizeSettings(form));
      ui.setAppInfo(next);
      setForm(next.settings);
      toasts.push({ level: "success", message: "Settings saved" });
    } catch (e) {
      toasts.push({ level: "error", message: ipc.toApiError(e).message });
    } finally {
      setSaving(false);
    }
  }

  return (
    <section class="view settings-view" aria-label="Settings">
      <header class="view-header">
        <h1>Settings</h1>
      </header>
      <div class="view-body narrow">
        <ModelCard model={info.model} setupCommand={info.setupCommand} />
        <form
          class="card settings-form"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <h2>Answers</h2>
          <label class="field">
            <span class="field-label">Run the model on</span>
            <select value={form.device} onChange={(e) => set({ device: (e.target as HTMLSelectElement).value as Device })}>
              {info.devices.map((d) => (
                <option key={d} value={d}>
                  {DEVICE_LABEL[d]}
                </option>
              ))}
            </select>
          </label>
          {numberField("CPU threads", form.threads, (threads) => set({ threads }), {
            ...LIMITS.threads,
            hint: `0 uses all ${info.cores} cores.`,
          })}
          {numberField("Temperature", form.temperature, (temperature) => set({ temperature }), {
            ...LIMITS.temperature,
            step: 0.1,
            hint: "0 always picks the most likely word; higher values vary the wording.",
          })}
          {numberField("Passages given to the model", form.topK, (topK) => set({ topK }), LIMITS.topK)}
          <h2>Indexing</h2>
          {numberField("Chunk size (tokens)", form.chunkTokens, (chunkTokens) => set({ chunkTokens }), {
            ...LIMITS.chunkTokens,
            hint: "Applies to files indexed after the change; re-index a folder to apply it there.",
          })}
          <div class="form-actions">
            <button type="button" class="ghost" disabled={!dirty || saving} onClick={() => setForm(saved)}>
              Revert
            </button>
            <button type="submit" class="primary" disabled={!dirty || saving}>
              {saving ? "Saving…" : "Save"}
            </button>
          </div>
        </form>
        <p class="muted small about">
          Docent {info.version} · data in <span class="path">{info.dataDir}</span>
        </p>
      </div>
    </section>
  );
}
