import { beforeEach, describe, expect, it, vi } from "vitest";
import type { AnswerEvent } from "../ipc";
import * as ipc from "../ipc";
import { chipNumbers, createChat, passageFor, turnsFromMessages } from "./chat";
import { answer, passage } from "./test-fixtures";

vi.mock("../ipc", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../ipc")>();
  return {
    toApiError: orig.toApiError,
    ask: vi.fn(),
    stopAnswer: vi.fn(),
    conversationMessages: vi.fn(),
  };
});

const askMock = vi.mocked(ipc.ask);

/** An `ask` whose events and result the test drives by hand. */
function controlledAsk() {
  let emit: (e: AnswerEvent) => void = () => undefined;
  let resolve: (a: ReturnType<typeof answer>) => void = () => undefined;
  let reject: (e: unknown) => void = () => undefined;
  askMock.mockImplementation((_q, _id, onEvent) => {
    emit = onEvent;
    return new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
  });
  return {
    emit: (e: AnswerEvent) => emit(e),
    resolve: (a: ReturnType<typeof answer>) => resolve(a),
    reject: (e: unknown) => reject(e),
  };
}

beforeEach(() => {
  vi.mocked(ipc.stopAnswer).mockResolvedValue(null);
});

describe("chat store", () => {
  it("appends streamed tokens in order and shows the stage before the first token", async () => {
    const c = controlledAsk();
    const chat = createChat();
    const done = chat.ask("  What is Docent?  ");
    expect(askMock).toHaveBeenCalledWith("What is Docent?", null, expect.any(Function));
    let turn = chat.store.get().turns[0]!;
    expect(turn.streaming).toBe(true);
    expect(chat.store.get().streaming).toBe(true);

    c.emit({ kind: "stage", stage: "retrieving" });
    expect(chat.store.get().turns[0]!.stage).toBe("retrieving");
    c.emit({ kind: "stage", stage: "loadingModel" });
    expect(chat.store.get().turns[0]!.stage).toBe("loadingModel");

    for (const text of ["Docent ", "is ", "an ", "offline ", "app [1]."]) c.emit({ kind: "token", text });
    turn = chat.store.get().turns[0]!;
    expect(turn.answer).toBe("Docent is an offline app [1].");
    expect(turn.stage).toBe("generating");

    const sources = [passage(1), passage(2)];
    c.resolve(
      answer({
        answer: "Docent is an offline app [1].",
        sources,
        citations: [sources[0]!],
        terms: ["docent"],
      }),
    );
    await expect(done).resolves.toBe(true);
    turn = chat.store.get().turns[0]!;
    expect(turn.streaming).toBe(false);
    expect(turn.sources).toEqual(sources);
    expect(turn.terms).toEqual(["docent"]);
    expect(turn.timings?.tokensPerS).toBe(12.5);
    expect(chat.store.get().streaming).toBe(false);
    expect(passageFor(turn, 2)).toEqual(sources[1]);
    expect(passageFor(turn, 3)).toBeUndefined();
    expect([...chipNumbers(turn)].sort()).toEqual([1, 2]);
  });

  it("refuses to send while an answer streams, and empty questions", async () => {
    const c = controlledAsk();
    const chat = createChat();
    await expect(chat.ask("   ")).resolves.toBe(false);
    const first = chat.ask("one");
    await expect(chat.ask("two")).resolves.toBe(false);
    expect(askMock).toHaveBeenCalledTimes(1);
    expect(chat.store.get().turns).toHaveLength(1);
    c.resolve(answer({ answer: "ok" }));
    await first;
    expect(chat.store.get().streaming).toBe(false);
  });

  it("stop asks the engine to stop and keeps the partial answer", async () => {
    const c = controlledAsk();
    const chat = createChat();
    const done = chat.ask("long question");
    c.emit({ kind: "token", text: "Partial" });
    await chat.stop();
    expect(ipc.stopAnswer).toHaveBeenCalledTimes(1);
    c.resolve(answer({ answer: "Partial", stopped: true }));
    await done;
    const turn = chat.store.get().turns[0]!;
    expect(turn.stopped).toBe(true);
    expect(turn.answer).toBe("Partial");
    expect(turn.streaming).toBe(false);
  });

  it("stop does nothing when no answer is running", async () => {
    const chat = createChat();
    await chat.stop();
    expect(ipc.stopAnswer).not.toHaveBeenCalled();
  });

  it("records a not-found answer with its closest passages", async () => {
    const closest = [passage(1, { score: 0 }), passage(2)];
    askMock.mockResolvedValue(
      answer({ answer: "I couldn't find this in your documents.", found: false, cited: false, sources: closest }),
    );
    const chat = createChat();
    await chat.ask("Who won the 1950 world cup?");
    const turn = chat.store.get().turns[0]!;
    expect(turn.found).toBe(false);
    expect(turn.sources).toEqual(closest);
    expect(turn.answer).toBe("I couldn't find this in your documents.");
  });

  it("adopts the conversation id the first answer created, and keeps it", async () => {
    const created = vi.fn();
    const answered = vi.fn();
    askMock.mockResolvedValueOnce(answer({ conversationId: 42, answer: "a" }));
    const chat = createChat({ onConversationCreated: created, onAnswered: answered });
    await chat.ask("first");
    expect(chat.store.get().conversationId).toBe(42);
    expect(created).toHaveBeenCalledWith(42);

    askMock.mockResolvedValueOnce(answer({ conversationId: 42, answer: "b" }));
    await chat.ask("second");
    expect(askMock).toHaveBeenLastCalledWith("second", 42, expect.any(Function));
    expect(created).toHaveBeenCalledTimes(1);
    expect(answered).toHaveBeenCalledTimes(2);
  });

  it("shows an error inline on the turn", async () => {
    askMock.mockRejectedValue({ kind: "modelMissing", message: "The answer model is missing." });
    const onError = vi.fn();
    const chat = createChat({ onError });
    await chat.ask("q");
    const turn = chat.store.get().turns[0]!;
    expect(turn.error).toEqual({ kind: "modelMissing", message: "The answer model is missing." });
    expect(turn.streaming).toBe(false);
    expect(chat.store.get().streaming).toBe(false);
    expect(chat.store.get().conversationId).toBeNull();
    expect(onError).toHaveBeenCalledTimes(1);
  });

  it("drops late events of a conversation the user left", async () => {
    const c = controlledAsk();
    const chat = createChat();
    const done = chat.ask("q");
    chat.reset();
    expect(ipc.stopAnswer).toHaveBeenCalled();
    c.emit({ kind: "token", text: "late" });
    c.resolve(answer({ conversationId: 9, answer: "late" }));
    await done;
    expect(chat.store.get().turns).toEqual([]);
    expect(chat.store.get().conversationId).toBeNull();
  });

  it("opens a stored conversation as turns", async () => {
    const cites = [passage(1)];
    vi.mocked(ipc.conversationMessages).mockResolvedValue([
      { id: 1, role: "user", content: "What?", citations: [], found: null, createdAt: 1 },
      { id: 2, role: "assistant", content: "This [1].", citations: cites, found: true, createdAt: 2 },
      { id: 3, role: "user", content: "And?", citations: [], found: null, createdAt: 3 },
      { id: 4, role: "assistant", content: "Not found.", citations: [passage(2)], found: false, createdAt: 4 },
    ]);
    const chat = createChat();
    await chat.open(5);
    expect(ipc.conversationMessages).toHaveBeenCalledWith(5);
    const s = chat.store.get();
    expect(s.conversationId).toBe(5);
    expect(s.turns.map((t) => [t.question, t.answer, t.found])).toEqual([
      ["What?", "This [1].", true],
      ["And?", "Not found.", false],
    ]);
    expect(passageFor(s.turns[0]!, 1)).toEqual(cites[0]);
    expect(s.turns[1]!.sources).toHaveLength(1);
  });

  it("pairs answers without a question into their own turn", () => {
    const turns = turnsFromMessages([
      { id: 1, role: "assistant", content: "Hello", citations: [], found: true, createdAt: 1 },
    ]);
    expect(turns).toHaveLength(1);
    expect(turns[0]!.answer).toBe("Hello");
  });
});
