const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 5_000;

/** Wait before try number `attempt` + 1: exponential from 50 ms, at most 5 s. */
export function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(10, attempt - 1))));
}
