/** How reconnection waits between attempts. */
export interface Backoff {
  /** The first delay (ms). */
  initialMs: number;
  /** The longest delay (ms). */
  maxMs: number;
  /** How much each failed attempt multiplies the delay. */
  factor: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 500, maxMs: 30_000, factor: 2 };

/**
 * The delay before reconnection attempt `attempt` (0 for the first): exponential and capped, then
 * randomized to between half and all of it ("equal jitter"), so a fleet of devices that lost their
 * host together does not come back in one wave, and no device hammers it with near-zero delays.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
