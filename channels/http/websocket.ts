import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Socket } from 'node:net';
import { InvalidArgsError, LimitExceededError, PolicyDeniedError, ShuttingDownError, TooManyConnectionsError, UnknownRouteError, describe, isPlainObject, type Host, type KumoError } from '../../kernel/index.ts';
import { DEFAULT_CHANNEL_LIMITS, type ChannelLimits } from './limits.ts';
import type { ConnectionGate } from './connection-limits.ts';
import { LOG_TAG } from './api.ts';
import { pathSegments } from './input.ts';
import { rawErrorResponse, toWireError } from './wire-error.ts';

/**
 * The WebSocket channel, on the HTTP server's port at `/ws/:eci`. A socket is attached to one ECI:
 * it sends events and queries as JSON frames with a client-chosen id and gets the matching
 * responses, receives what rules push to that ECI, and (for ECIs tagged `system`) can follow the
 * cloud's episode log. A bad frame gets an error frame; the socket stays open.
 */

export interface WsChannelOptions {
  host: Host;
  /** Frame size (`bodyBytes`), slow-consumer bound and requests running per socket. */
  limits?: Partial<ChannelLimits>;
  /** The server's connection cap: upgrades on connections past it are refused 503 TOO_MANY_CONNECTIONS. */
  gate?: ConnectionGate;
}

/** Close codes: 4000 + the HTTP status of the error that ended the socket. */
const closeCode = (status: number): number => 4000 + status;

type Frame = Record<string, unknown>;

/** Attach the WebSocket channel to an HTTP server. Returns its stop function. */
export function attachWsChannel(server: Server, opts: WsChannelOptions): { stop(): Promise<void> } {
  const { host } = opts;
  const limits = { ...DEFAULT_CHANNEL_LIMITS, ...opts.limits };
  const maxInflight = limits.socketInflight;
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.bodyBytes });
  const inflight = new Set<Promise<unknown>>();
  let stopping = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    let segs: string[];
    try {
      segs = pathSegments((req.url ?? '/').split('?')[0]!);
    } catch {
      segs = [];
    }
    const refusal = stopping
      ? new ShuttingDownError()
      : opts.gate?.refuses(socket as Socket)
        ? new TooManyConnectionsError(opts.gate.cap)
        : segs.length !== 2 || segs[0] !== 'ws' || !segs[1]
          ? new UnknownRouteError(`no WebSocket route ${describe((req.url ?? '/').split('?')[0])}: use /ws/:eci`)
          : undefined;
    if (refusal) {
      socket.end(rawErrorResponse(refusal));
      return;
    }
    const eci = segs[1]!;
    wss.handleUpgrade(req, socket, head, (ws) => void attach(ws, eci));
  };
  server.on('upgrade', onUpgrade);

  const send = (ws: WebSocket, frame: Frame): void => {
    if (ws.readyState !== ws.OPEN) return;
    // A client that stops reading must not make the host buffer without bound.
    if (ws.bufferedAmount > limits.bufferedBytes) {
      ws.close(1008, 'SLOW_CONSUMER');
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      // Values are checked where rules make them; this is the last guard: one frame never ends the host.
      console.error('kumo: a WebSocket frame could not be encoded:', err);
      text = JSON.stringify({ id: typeof frame['id'] === 'string' || typeof frame['id'] === 'number' ? frame['id'] : null, ok: false, error: { code: 'INTERNAL', message: 'the answer could not be encoded as JSON' } });
    }
    ws.send(text);
  };
  const sendError = (ws: WebSocket, id: unknown, err: unknown): void => {
    const { error, internal } = toWireError(err);
    if (internal) console.error('kumo: internal error on a WebSocket:', err);
    send(ws, { id: id ?? null, ok: false, error });
  };

  async function attach(ws: WebSocket, eci: string): Promise<void> {
    // First of all: a protocol error (oversized or unmasked frame, bad UTF-8) is emitted as 'error'
    // and `ws` closes the socket itself; with no listener it would crash the whole host.
    ws.on('error', () => undefined);
    // Frames may arrive before the ECI is looked up: hold them, then handle them in order.
    const early: Array<[RawData, boolean]> = [];
    const hold = (data: RawData, isBinary: boolean): void => void early.push([data, isBinary]);
    ws.on('message', hold);
    let tags: string[];
    try {
      tags = (await host.eciInfo(eci)).tags;
    } catch (err) {
      const { status, error } = toWireError(err);
      send(ws, { id: null, ok: false, error });
      ws.close(closeCode(status), error.code);
      return;
    }
    // The client may have gone while the ECI was looked up; listening now would never be undone.
    if (ws.readyState !== ws.OPEN) return;
    const stops: Array<() => void> = [host.listen(eci, (m) => send(ws, { op: 'push', eci: m.eci, name: m.name, data: m.data }))];
    let unfollow: (() => void) | null = null;
    const following = (): boolean => unfollow !== null; // read afresh after an await
    let running = 0;
    ws.on('close', () => {
      for (const stop of stops) stop();
      unfollow?.();
    });
    const onMessage = (data: RawData, isBinary: boolean): void => {
      const { id, frame, error } = parseFrame(data, isBinary);
      if (!frame) {
        sendError(ws, id, error);
        return;
      }
      if (running >= maxInflight) {
        sendError(ws, id, new LimitExceededError('maxInflight', maxInflight, `a socket may have at most ${maxInflight} requests running`));
        return;
      }
      running++;
      const p = handle(frame).then(
        (result) => send(ws, { id, ok: true, result }),
        (err) => sendError(ws, id, err),
      );
      inflight.add(p);
      void p.finally(() => {
        running--;
        inflight.delete(p);
      });
    };
    send(ws, { op: 'ready', eci });
    ws.off('message', hold);
    ws.on('message', onMessage);
    for (const [data, isBinary] of early) onMessage(data, isBinary);

    async function handle(frame: Frame): Promise<unknown> {
      if (stopping) throw new ShuttingDownError();
      switch (frame['op']) {
        case 'event':
          return host.event({
            eci,
            domain: frame['domain'] as string,
            type: frame['type'] as string,
            attrs: frame['attrs'] ?? {},
            ...(frame['eid'] !== undefined ? { eid: frame['eid'] as string } : {}),
            ...(frame['idempotencyKey'] !== undefined ? { idempotencyKey: frame['idempotencyKey'] as string } : {}),
          });
        case 'query':
          return host.query({ eci, rid: frame['rid'] as string, name: frame['name'] as string, args: frame['args'] ?? {} });
        case 'follow':
          if (!tags.includes(LOG_TAG)) throw new PolicyDeniedError(`following the episode log (needs the "${LOG_TAG}" tag)`, eci);
          if (!unfollow) {
            const stop = await host.follow(eci, (entry) => send(ws, { op: 'log', entry }));
            // Another follow frame won the race, or the socket went while the host answered.
            if (following() || ws.readyState !== ws.OPEN) stop();
            else unfollow = stop;
          }
          return { following: true };
        case 'unfollow':
          unfollow?.();
          unfollow = null;
          return { following: false };
        case 'ping':
          return 'pong';
        default:
          throw new InvalidArgsError(`unknown op ${describe(frame['op'])}: use event, query, follow, unfollow or ping`);
      }
    }
  }

  return {
    /** Refuse new frames and connections, let running requests answer, then close every socket (1001). */
    async stop(): Promise<void> {
      stopping = true;
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      for (const ws of wss.clients) ws.close(1001, 'host shutting down');
      server.off('upgrade', onUpgrade);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** The text of a WebSocket message, however `ws` handed it over (one buffer, fragments, an ArrayBuffer). */
export function wsText(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

/**
 * A frame must be a JSON text object with a string `op` and a string or number `id`. A refused
 * frame keeps its id when it had a usable one, so the client can match the error.
 */
function parseFrame(data: RawData, isBinary: boolean): { id: unknown; frame?: Frame; error?: KumoError } {
  const bad = (message: string, id: unknown = null) => ({ id, error: new InvalidArgsError(message) });
  if (isBinary) return bad('frames must be JSON text, not binary');
  let value: unknown;
  try {
    value = JSON.parse(wsText(data));
  } catch (err) {
    return bad(`the frame is not valid JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(value)) return bad('a frame must be a JSON object {id, op, ...}');
  const id = value['id'];
  const okId = (typeof id === 'string' && id.length > 0 && id.length <= 128) || (typeof id === 'number' && Number.isFinite(id));
  if (!okId) return bad('a frame needs an id: a string of 1 to 128 characters or a number');
  if (typeof value['op'] !== 'string') return bad('a frame needs an op: event, query, follow, unfollow or ping', id);
  return { id, frame: value };
}
