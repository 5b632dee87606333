// Transient messages in the corner: notices from Rust, errors, and "Undo" offers.

import { Store } from "../store";

export type ToastLevel = "info" | "success" | "warning" | "error";

export interface ToastAction {
  label: string;
  run: () => void;
}

export interface Toast {
  id: number;
  level: ToastLevel;
  message: string;
  /** Extra lines in a smaller type (e.g. a command to run). */
  detail?: string;
  action?: ToastAction;
}

export interface ToastInput {
  level?: ToastLevel;
  message: string;
  detail?: string;
  action?: ToastAction;
  /** Milliseconds before it goes away by itself; 0 keeps it until dismissed. */
  timeoutMs?: number;
}

const DEFAULT_MS: Record<ToastLevel, number> = {
  info: 5000,
  success: 4000,
  warning: 8000,
  error: 10000,
};

export type Toasts = ReturnType<typeof createToasts>;

export function createToasts() {
  const store = new Store<{ toasts: Toast[] }>({ toasts: [] });
  const timers = new Map<number, ReturnType<typeof setTimeout>>();
  let nextId = 1;

  function dismiss(id: number): void {
    const t = timers.get(id);
    if (t !== undefined) clearTimeout(t);
    timers.delete(id);
    store.set((s) => ({ toasts: s.toasts.filter((x) => x.id !== id) }));
  }

  function push(input: ToastInput): number {
    const level = input.level ?? "info";
    const id = nextId++;
    const toast: Toast = { id, level, message: input.message };
    if (input.detail !== undefined) toast.detail = input.detail;
    if (input.action) {
      const action = input.action;
      toast.action = {
        label: action.label,
        run: () => {
          dismiss(id);
          action.run();
        },
      };
    }
    // At most five on screen: the oldest goes first.
    store.set((s) => ({ toasts: [...s.toasts, toast].slice(-5) }));
    const ms = input.timeoutMs ?? DEFAULT_MS[level];
    if (ms > 0) timers.set(id, setTimeout(() => dismiss(id), ms));
    return id;
  }

  return { store, push, dismiss };
}
