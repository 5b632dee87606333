import { beforeEach, describe, expect, it, vi } from "vitest";
import { invoke } from "@tauri-apps/api/core";
import * as ipc from "./ipc";

vi.mock("@tauri-apps/api/core", () => {
  class Channel<T> {
    onmessage: (m: T) => void = () => undefined;
  }
  return { invoke: vi.fn(), Channel };
});

const invokeMock = vi.mocked(invoke);

beforeEach(() => {
  invokeMock.mockResolvedValue(null);
});

describe("ipc wrappers", () => {
  it("call the commands by name with camelCase arguments", async () => {
    await ipc.openPath("/a.pdf", 4, null);
    expect(invokeMock).toHaveBeenLastCalledWith("open_path", { path: "/a.pdf", page: 4, line: null });
    await ipc.setWatching("/d", false);
    expect(invokeMock).toHaveBeenLastCalledWith("set_watching", { path: "/d", watching: false });
    await ipc.search("q", 20);
    expect(invokeMock).toHaveBeenLastCalledWith("search", { query: "q", limit: 20 });
    await ipc.renameConversation(3, "T");
    expect(invokeMock).toHaveBeenLastCalledWith("rename_conversation", { id: 3, title: "T" });
    await ipc.pickAndAdd("folder");
    expect(invokeMock).toHaveBeenLastCalledWith("pick_and_add", { kind: "folder" });
    await ipc.removePaths(["/x"]);
    expect(invokeMock).toHaveBeenLastCalledWith("remove_paths", { paths: ["/x"] });
    await ipc.appInfo();
    expect(invokeMock).toHaveBeenLastCalledWith("app_info", undefined);
  });

  it("ask passes a channel that delivers events to the callback", async () => {
    const events: unknown[] = [];
    invokeMock.mockImplementation(async (_cmd, args) => {
      const ch = (args as { onEvent: { onmessage: (m: unknown) => void } }).onEvent;
      ch.onmessage({ kind: "stage", stage: "retrieving" });
      ch.onmessage({ kind: "token", text: "Hi" });
      return { conversationId: 1 };
    });
    const r = await ipc.ask("Why?", null, (e) => events.push(e));
    expect(invokeMock).toHaveBeenCalledWith("ask", expect.objectContaining({ question: "Why?", conversationId: null }));
    expect(events).toEqual([
      { kind: "stage", stage: "retrieving" },
      { kind: "token", text: "Hi" },
    ]);
    expect(r.conversationId).toBe(1);
  });

  it("rejects with an ApiError whatever the command threw", async () => {
    invokeMock.mockRejectedValueOnce({ kind: "notAllowed", message: "Outside the library." });
    await expect(ipc.reindex(["/etc"])).rejects.toEqual({ kind: "notAllowed", message: "Outside the library." });
    invokeMock.mockRejectedValueOnce("plain string");
    await expect(ipc.reindex([])).rejects.toEqual({ kind: "internal", message: "plain string" });
    invokeMock.mockRejectedValueOnce(new Error("boom"));
    await expect(ipc.reindex([])).rejects.toEqual({ kind: "internal", message: "boom" });
  });
});
