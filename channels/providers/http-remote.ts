import { fromWire, RemoteRefusedError, RemoteUnavailableError, type Remote, type RoutedEvent } from '../../kernel/index.ts';
import { Destinations, type DestinationRules } from './destinations.ts';
import { readAnswer } from './answer.ts';

/**
 * The kernel's `Remote` over HTTP(S): an event for an ECI at another provider's host is posted the
 * way a pico engine posts it, `POST {base}/c/{eci}/event/{domain}/{type}` with the attrs as JSON,
 * so the other side may be kumo or a pico engine. The answer decides what the outbox does next:
 * taken (kumo's 202, a pico engine's 200), worth another try (unreachable, timed out, 429, 5xx:
 * REMOTE_UNAVAILABLE), or never (404 UNKNOWN_ECI, 403 POLICY_DENIED and other kumo codes as they
 * are; a pico engine's `200 {"error"}` and anything else: REMOTE_REFUSED), which makes a dead letter.
 *
 * The event's eid does not travel (the pico engine's route has none), so across providers an event
 * is delivered at least once and may, after a lost answer, be applied twice.
 */
export interface HttpRemoteOptions extends DestinationRules {
  /** Longest wait for an answer (ms); then the attempt counts as unreachable. Default 10 s. */
  timeoutMs?: number;
}

export class HttpRemote implements Remote {
  private readonly destinations: Destinations;
  private readonly timeoutMs: number;

  constructor(opts: HttpRemoteOptions = {}) {
    this.destinations = new Destinations(opts);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  destination(url: string): string {
    return this.destinations.check(url);
  }

  async deliver(url: string, { eci, event }: RoutedEvent): Promise<void> {
    // Checked again: the operator may have changed the list since the event was staged.
    const base = this.destinations.check(url);
    const target = `${base}/c/${enc(eci)}/event/${enc(event.domain)}/${enc(event.type)}`;
    let status: number;
    let text: string;
    try {
      // Redirects are not followed: they could lead past the operator's list.
      const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event.attrs), redirect: 'manual', signal: AbortSignal.timeout(this.timeoutMs) });
      status = res.status;
      text = await head(res, ANSWER_BYTES);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new RemoteUnavailableError(`${base} could not be reached (${cause})`, { url: base });
    }
    const answer = readAnswer(status, text);
    if (answer.ok) return;
    if (answer.transient) throw new RemoteUnavailableError(`${base} answered ${status}${answer.code ? ` ${answer.code}` : ''}: ${answer.message}`, { url: base, status });
    // With its details: a 410 CLOUD_MOVED carries the forwarding address (`location`) the outbox follows.
    const error = (answer.body as { error?: unknown } | null)?.error;
    const known = answer.code === undefined ? undefined : fromWire({ ...(typeof error === 'object' ? error : {}), code: answer.code, message: answer.message });
    if (known) throw known.withContext(`${base}: ${known.message}`, { url: base });
    throw new RemoteRefusedError(`${base} refused the event (${status}): ${answer.message}`, { url: base, status });
  }
}

const enc = encodeURIComponent;

/** What of an answer is read: an event's answer is small; a host that sends more is not waited for. */
const ANSWER_BYTES = 64 * 1024;

async function head(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break; // leaving the loop cancels the rest of the body
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}
