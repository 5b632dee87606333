import { useEffect, useState } from "preact/hooks";
import type { Store } from "./store";

/** Re-renders the component whenever `store` changes. */
export function useStore<T extends object>(store: Store<T>): T {
  const state = store.get();
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((t) => t + 1);
    const unsubscribe = store.subscribe(update);
    // Effects run after paint: catch a change made between render and subscription.
    if (store.get() !== state) update();
    return unsubscribe;
  }, [store]);
  return state;
}
