import { KumoClientError, fromWire } from './errors.ts';
import type { EventResult, OutgoingEvent, Push, Timers, Transport, WebSocketConstructor, WebSocketLike } from './types.ts';

/** A WebSocket's OPEN readyState (the same number in every implementation). */
const OPEN = 1;

export interface WebSocketOptions {
  /** The constructor to use; default the platform's, or `ws` in Node (loaded only then). */
  WebSocket?: WebSocketConstructor;
  timers: Timers;
  timeoutMs: number;
  onPush(push: Push): void;
  /** The socket closed after it was ready; `error` says why (a 4xxx close is final, e.g. UNKNOWN_ECI). */
  onClose(error: KumoClientError): void;
}

async function webSocketClass(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given) return given;
  const native = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (native) return native;
  // Node 20 has no WebSocket of its own. Imported here and only then, so a browser bundle never needs `ws`.
  const ws = await import('ws');
  return ws.default as unknown as WebSocketConstructor;
}

/** `http(s)://host[:port][/base]` → `ws(s)://…/ws/:eci`. */
export function webSocketUrl(base: string, eci: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/$/, '')}/ws/${encodeURIComponent(eci)}`;
  return url.toString();
}

/**
 * Open a socket on `eci` and resolve once the host says it is ready. Rejects with `DISCONNECTED`
 * when it cannot connect, or with the host's error when the host refuses the ECI (close 4xxx).
 * Requests carry numeric ids and are answered in any order; a lost socket fails every request
 * still waiting with `DISCONNECTED`.
 */
export async function openWebSocket(base: string, eci: string, opts: WebSocketOptions): Promise<Transport> {
  const Ctor = await webSocketClass(opts.WebSocket);
  const ws: WebSocketLike = new Ctor(webSocketUrl(base, eci));
  const pending = new Map<number, { resolve(value: unknown): void; reject(err: KumoClientError): void; timer: unknown }>();
  let nextId = 1;
  let refusal: KumoClientError | undefined;

  const settle = (id: number): { resolve(value: unknown): void; reject(err: KumoClientError): void } | undefined => {
    const p = pending.get(id);
    if (!p) return undefined;
    pending.delete(id);
    opts.timers.clearTimeout(p.timer);
    return p;
  };

  const request = (frame: Record<string, unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== OPEN) {
        reject(new KumoClientError('DISCONNECTED', 'the WebSocket is not open'));
        return;
      }
      const id = nextId++;
      // No answer in time: the connection is suspect; dropping it makes the client reconnect and resend.
      const timer = opts.timers.setTimeout(() => {
        settle(id)?.reject(new KumoClientError('TIMEOUT', `no answer within ${opts.timeoutMs} ms`));
        ws.close(4000, 'timeout');
      }, opts.timeoutMs);
      pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, id }));
    });

  const transport: Transport = {
    event: (e: OutgoingEvent) => request({ op: 'event', ...e }) as Promise<EventResult>,
    query: (rid, name, args) => request({ op: 'query', rid, name, args }),
    close: () => ws.close(1000),
  };

  return new Promise<Transport>((resolve, reject) => {
    let ready = false;
    ws.onmessage = (ev) => {
      let frame: Record<string, unknown>;
      try {
        frame = JSON.parse(String(ev.data)) as Record<string, unknown>;
      } catch {
        return; // not from a kumo host; nothing to match it with
      }
      if (frame['op'] === 'ready') {
        ready = true;
        resolve(transport);
      } else if (frame['op'] === 'push') {
        opts.onPush({ eci: frame['eci'] as string, name: frame['name'] as string, data: frame['data'] as Record<string, unknown> });
      } else if (typeof frame['id'] === 'number') {
        const p = settle(frame['id']);
        if (frame['ok'] === true) p?.resolve(frame['result']);
        else p?.reject(fromWire(frame['error']) ?? new KumoClientError('INTERNAL', 'a malformed error frame'));
      } else if (frame['ok'] === false) {
        // An error for no request: why the host is about to close the socket (e.g. UNKNOWN_ECI).
        refusal = fromWire(frame['error']);
      }
    };
    ws.onerror = () => undefined; // onclose follows, with the code
    ws.onclose = (ev) => {
      // 4000 + an HTTP status in 4xx: the host refused this socket for good (not the client's own timeout close).
      const final = ev.code >= 4400 && ev.code < 4500;
      const error = final ? (refusal ?? new KumoClientError(ev.reason || 'CLOSED', `the host closed the socket (${ev.code})`)) : new KumoClientError('DISCONNECTED', `the WebSocket closed (${ev.code}${ev.reason ? ` ${ev.reason}` : ''})`);
      for (const id of [...pending.keys()]) settle(id)?.reject(new KumoClientError('DISCONNECTED', error.message));
      if (ready) opts.onClose(error);
      else reject(error);
    };
  });
}
