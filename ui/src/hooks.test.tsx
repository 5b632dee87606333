import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { useStore } from "./hooks";
import { Store } from "./store";

const root = document.createElement("div");
afterEach(() => render(null, root));

function View({ store }: { store: Store<{ n: number }> }) {
  return <p>{useStore(store).n}</p>;
}

describe("useStore", () => {
  it("re-renders on changes", () => {
    const store = new Store({ n: 1 });
    act(() => render(<View store={store} />, root));
    act(() => store.set({ n: 2 }));
    expect(root.textContent).toBe("2");
  });

  it("does not miss a change made before its effect subscribed", () => {
    const store = new Store({ n: 1 });
    act(() => {
      render(<View store={store} />, root);
      // Effects run when act ends: this change happens before the subscription exists.
      store.set({ n: 5 });
    });
    expect(root.textContent).toBe("5");
  });
});
