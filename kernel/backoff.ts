/**
 * The one back-off of the kernel and its channels (kumo/client has its own: it imports nothing of
 * the kernel, for browsers). Waits grow exponentially from `firstMs` to at most `maxMs`, each
 * lengthened at random by up to `jitter` of itself, so many failing together do not retry together.
 */
export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** Share of a wait added at random (0: none). */
  jitter?: number;
}

/** The wait (ms) before try `attempt` + 1, after try `attempt` (from 1) failed. `random` in [0, 1). */
export function backoffMs(attempt: number, b: Backoff, random: () => number = Math.random): number {
  const base = Math.min(b.maxMs, b.firstMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return base + (b.jitter ? random() * b.jitter * base : 0);
}

/** Wait as long as {@link backoffMs} says. */
export function backoff(attempt: number, b: Backoff, random?: () => number): Promise<void> {
  return new Promise((r) => setTimeout(r, backoffMs(attempt, b, random)));
}

/**
 * Try `fn` until it succeeds: after a failure, wait (see {@link backoff}) and try again, unless
 * `final(err)` says the failure is for good or `deadline` (ms since the epoch) would pass: then
 * throw what failed.
 */
export async function retrying<T>(fn: () => Promise<T>, b: Backoff & { deadline?: number; final?: (err: unknown) => boolean }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (b.final?.(err) || (b.deadline !== undefined && Date.now() + backoffMs(attempt, { ...b, jitter: 0 }) > b.deadline)) throw err;
      await backoff(attempt, b);
    }
  }
}
