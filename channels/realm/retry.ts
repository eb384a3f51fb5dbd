import { KumoError } from '../../kernel/index.ts';

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 5_000;

/**
 * Worth trying again: a full mailbox, a host stopping, a store or realm failure, or anything
 * unexpected. A refusal for good (unknown ECI, policy, bad attrs, a rule that failed) is not.
 */
export function transient(err: unknown): boolean {
  if (!(err instanceof KumoError)) return true;
  return err.status >= 503 || err.code === 'STORE_FAILED';
}

/** Wait before try number `attempt` + 1: exponential from 50 ms, at most 5 s. */
export function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(10, attempt - 1))));
}
