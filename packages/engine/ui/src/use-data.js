import { useEffect, useState } from 'preact/hooks';

/** Loads `fn()` on mount and whenever deps change (and every refreshMs if given). */
export function useData(fn, deps, refreshMs) {
  const [state, set] = useState({ loading: true });
  useEffect(() => {
    let live = true;
    const load = () =>
      fn().then(
        (data) => live && set({ data }),
        (error) => live && set((s) => ({ data: s.data, error })),
      );
    load();
    const t = refreshMs ? setInterval(load, refreshMs) : undefined;
    return () => {
      live = false;
      if (t) clearInterval(t);
    };
  }, deps);
  return state;
}
