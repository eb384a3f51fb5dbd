import { KumoClientError, fromWire } from './errors.ts';
import type { EventResult, Transport } from './types.ts';

export type Fetch = typeof fetch;

/** The platform's fetch, called without a receiver (a browser's fetch refuses any other `this`). */
export const platformFetch: Fetch = (input, init) => fetch(input, init);

const enc = encodeURIComponent;
const join = (base: string, path: string): string => `${base.replace(/\/$/, '')}${path}`;

/**
 * POST JSON to the host and read its JSON answer. A network failure, or an answer that is not the
 * host's (a proxy's 502 page), is `DISCONNECTED`; a host error keeps its code and status.
 */
export async function postJson(fetchFn: Fetch, base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  let text: string;
  let status: number;
  try {
    const res = await fetchFn(join(base, path), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    status = res.status;
    text = await res.text();
  } catch (err) {
    throw new KumoClientError('DISCONNECTED', `cannot reach ${base}: ${err instanceof Error ? err.message : String(err)}`, undefined, {}, { cause: err });
  }
  let json: unknown;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    throw new KumoClientError('DISCONNECTED', `${base} answered ${status} with something other than JSON`, status);
  }
  if (status >= 200 && status < 300) return json;
  throw fromWire((json as { error?: unknown } | null)?.error, status) ?? new KumoClientError('DISCONNECTED', `${base} answered ${status}`, status);
}

/** Can the host be reached over HTTP at all (it answers /healthz, and is not stopping)? */
export async function reachable(fetchFn: Fetch, base: string): Promise<boolean> {
  try {
    const res = await fetchFn(join(base, '/healthz'));
    await res.text();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * The HTTP fallback: events to `/c/:eci/event-wait/…` (or `/sky/event/…` with the caller's eid) with
 * an `Idempotency-Key` header, queries to `/c/:eci/query/…`. No pushes: they need a WebSocket.
 */
export function httpTransport(fetchFn: Fetch, base: string, eci: string): Transport {
  return {
    event: (e) => {
      const path = e.eid === undefined ? `/c/${enc(eci)}/event-wait/${enc(e.domain)}/${enc(e.type)}` : `/sky/event/${enc(eci)}/${enc(e.eid)}/${enc(e.domain)}/${enc(e.type)}`;
      return postJson(fetchFn, base, path, e.attrs, { 'idempotency-key': e.idempotencyKey }) as Promise<EventResult>;
    },
    query: (rid, name, args) => postJson(fetchFn, base, `/c/${enc(eci)}/query/${enc(rid)}/${enc(name)}`, args),
    close: () => undefined,
  };
}
