import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as ipc from "../ipc";
import { createConversations, UNDO_DELETE_MS } from "./conversations";
import { conversation } from "./test-fixtures";
import { createToasts } from "./toasts";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return {
    toApiError: orig.toApiError,
    listConversations: vi.fn(),
    renameConversation: vi.fn(),
    deleteConversation: vi.fn(),
  };
});

async function setup() {
  vi.mocked(ipc.listConversations).mockResolvedValue([conversation(3), conversation(2), conversation(1)]);
  vi.mocked(ipc.renameConversation).mockResolvedValue(null);
  vi.mocked(ipc.deleteConversation).mockResolvedValue(null);
  const toasts = createToasts();
  const onDeleted = vi.fn();
  const convs = createConversations({ toasts, onDeleted });
  await convs.load();
  return { toasts, convs, onDeleted };
}

const ids = (c: { visible: () => { id: number }[] }) => c.visible().map((x) => x.id);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("conversations store", () => {
  it("loads the list newest first", async () => {
    const { convs } = await setup();
    expect(ids(convs)).toEqual([3, 2, 1]);
    expect(convs.store.get().loaded).toBe(true);
  });

  it("renames with a trimmed title", async () => {
    const { convs } = await setup();
    await convs.rename(2, "  Tax   questions ");
    expect(ipc.renameConversation).toHaveBeenCalledWith(2, "Tax questions");
    expect(convs.visible().find((c) => c.id === 2)?.title).toBe("Tax questions");
  });

  it("ignores empty or unchanged titles", async () => {
    const { convs } = await setup();
    await convs.rename(2, "   ");
    await convs.rename(2, "Chat 2");
    expect(ipc.renameConversation).not.toHaveBeenCalled();
  });

  it("puts the old title back when renaming fails", async () => {
    const { convs, toasts } = await setup();
    vi.mocked(ipc.renameConversation).mockRejectedValue({ kind: "io", message: "disk full" });
    await convs.rename(2, "New");
    expect(convs.visible().find((c) => c.id === 2)?.title).toBe("Chat 2");
    expect(toasts.store.get().toasts.map((t) => t.message)).toEqual(["disk full"]);
  });

  it("deletes only after the undo delay", async () => {
    const { convs, onDeleted, toasts } = await setup();
    convs.remove(2);
    expect(ids(convs)).toEqual([3, 1]);
    expect(onDeleted).toHaveBeenCalledWith(2);
    const toast = toasts.store.get().toasts[0];
    expect(toast?.message).toContain("Chat 2");
    expect(toast?.action?.label).toBe("Undo");

    await vi.advanceTimersByTimeAsync(UNDO_DELETE_MS - 1);
    expect(ipc.deleteConversation).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(ipc.deleteConversation).toHaveBeenCalledWith(2);
    expect(ipc.deleteConversation).toHaveBeenCalledTimes(1);
    expect(convs.store.get().items.map((c) => c.id)).toEqual([3, 1]);
    expect(convs.store.get().pendingDelete).toEqual([]);
  });

  it("undo from the toast cancels the deletion", async () => {
    const { convs, toasts } = await setup();
    convs.remove(2);
    await vi.advanceTimersByTimeAsync(3000);
    toasts.store.get().toasts[0]!.action!.run();
    expect(ids(convs)).toEqual([3, 2, 1]);
    expect(toasts.store.get().toasts).toEqual([]);
    await vi.advanceTimersByTimeAsync(UNDO_DELETE_MS * 2);
    expect(ipc.deleteConversation).not.toHaveBeenCalled();
    expect(ids(convs)).toEqual([3, 2, 1]);
  });

  it("shows the conversation again when the real deletion fails", async () => {
    const { convs, toasts } = await setup();
    vi.mocked(ipc.deleteConversation).mockRejectedValue({ kind: "internal", message: "locked" });
    convs.remove(1);
    await vi.advanceTimersByTimeAsync(UNDO_DELETE_MS);
    expect(ids(convs)).toEqual([3, 2, 1]);
    expect(toasts.store.get().toasts.some((t) => t.message === "locked")).toBe(true);
  });

  it("flush deletes pending conversations at once", async () => {
    const { convs } = await setup();
    convs.remove(3);
    convs.remove(1);
    convs.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.mocked(ipc.deleteConversation).mock.calls.map((c) => c[0]).sort()).toEqual([1, 3]);
    await vi.advanceTimersByTimeAsync(UNDO_DELETE_MS);
    expect(ipc.deleteConversation).toHaveBeenCalledTimes(2);
    expect(ids(convs)).toEqual([2]);
  });
});
