/**
 * What the client rejects with. `code` is the host's stable error code when the host answered
 * (`UNKNOWN_ECI`, `POLICY_DENIED`, `INVALID_ATTRS`, …, see the README's table), or one of the
 * client's own:
 *
 * | code | when |
 * |---|---|
 * | `DISCONNECTED` | the connection was lost before the answer came (an event is sent again; a query is not) |
 * | `TIMEOUT` | no answer within `timeoutMs`; the connection is dropped and made again |
 * | `OFFLINE` | a query while the client has no connection |
 * | `QUEUE_FULL` | an event pushed out of (or refused by) the full offline queue |
 * | `PAYLOAD_TOO_LARGE` | an event over `maxFrameBytes`, refused before sending |
 * | `CLOSED` | the client was closed before the event could be sent |
 */
export class KumoClientError extends Error {
  override name = 'KumoClientError';

  constructor(
    readonly code: string,
    message: string,
    /** The HTTP status when the host answered over HTTP. */
    readonly status?: number,
    /** The rest of the host's error object (`rid`, `rule`, `retryAfter`, …). */
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Rebuild the host's wire error `{code, message, ...details}`. */
export function fromWire(error: unknown, status?: number): KumoClientError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message, ...details } = error as Record<string, unknown>;
  if (typeof code !== 'string') return undefined;
  return new KumoClientError(code, typeof message === 'string' ? message : code, status, details);
}

/**
 * Errors after which an event is sent again once the client has reconnected: the host did not take
 * it (busy, stopping, its realm or the cloud's host unreachable), or it may have (the answer was
 * lost: `OUTCOME_UNKNOWN`, a lost connection, a time limit). The client retries only events, and
 * every event it sends carries an idempotency key that each retry reuses, so what was applied is
 * not applied again: the retry gets the first answer back.
 */
const RETRYABLE = new Set(['DISCONNECTED', 'TIMEOUT', 'OUTCOME_UNKNOWN', 'MAILBOX_FULL', 'OUTBOX_FULL', 'SHUTTING_DOWN', 'NO_RESPONDERS', 'REALM_UNAVAILABLE', 'HOST_FENCED']);

/** Is this worth sending again later, with the same idempotency key (see {@link RETRYABLE})? */
export function retryable(err: KumoClientError): boolean {
  return RETRYABLE.has(err.code);
}

/** Anything thrown, as a KumoClientError (an unexpected failure counts as a lost connection). */
export function asClientError(err: unknown): KumoClientError {
  if (err instanceof KumoClientError) return err;
  return new KumoClientError('DISCONNECTED', err instanceof Error ? err.message : String(err), undefined, {}, { cause: err });
}
