/**
 * A signal that aborts, with its reason, as soon as any of `signals` does; `dispose` removes the
 * listeners it added. Not AbortSignal.any: its dependents of a long-lived signal leak in Node.
 */
export function eitherSignal(...signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const either = new AbortController();
  const onAbort = (e: Event) => either.abort((e.target as AbortSignal).reason);
  for (const s of signals) {
    if (s.aborted) {
      either.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: either.signal,
    dispose: () => {
      for (const s of signals) s.removeEventListener('abort', onAbort);
    },
  };
}
