import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  HeadersTooLargeError,
  InvalidArgsError,
  MalformedRequestError,
  RequestTimeoutError,
  UnknownEciError,
  UnknownRouteError,
  SYSTEM_TAG,
  ShuttingDownError,
  TooManyConnectionsError,
  type EpisodeLogEntry,
  type Host,
  type KumoError,
} from '../../kernel/index.ts';
import { DEFAULT_CHANNEL_LIMITS, type ChannelLimits } from './limits.ts';
import type { ConnectionGate } from './connection-limits.ts';
import { parseParams, pathSegments, readBody, readParams } from './input.ts';
import { matchRoute, type RouteName } from './routes.ts';
import { readCloudFile, writeCloudFile } from '../cloud-file.ts';
import type { Metrics } from './metrics.ts';
import type { Realm } from '../realm/realm.ts';
import { rawErrorResponse, toWireError } from './wire-error.ts';
import { ConsoleApi } from '../console/console-api.ts';

/**
 * The HTTP sky API: the pico engine's routes with real status codes, plus health, metrics and the
 * episode log. Every route that touches a cloud needs an ECI and goes through Host; there is no
 * other way in.
 */

export interface HttpApiOptions {
  host: Host;
  metrics?: Metrics;
  limits?: Partial<ChannelLimits>;
  /** The host's realm, if it is in one. */
  realm?: Realm | null;
  /** The server's connection cap: requests on connections past it are answered 503 TOO_MANY_CONNECTIONS. */
  gate?: ConnectionGate;
  /** Where real bugs (500 INTERNAL) are reported. */
  onInternalError?: (err: unknown) => void;
}

/** The tag an ECI needs to read or follow its cloud's episode log. */
export const LOG_TAG = SYSTEM_TAG;

const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'idempotent-replayed, retry-after',
};

/** What a preflight (OPTIONS) answer adds; other answers need only {@link CORS} (node checks every header it writes). */
const PREFLIGHT: Record<string, string> = {
  ...CORS,
  'access-control-allow-methods': 'GET, HEAD, POST, OPTIONS',
  'access-control-allow-headers': 'content-type, idempotency-key, kumo-passphrase',
  'access-control-max-age': '600',
};

/** The answer to a retry found in its idempotency key's record carries this header (and `replay: true`). */
const REPLAYED: Record<string, string> = { 'idempotent-replayed': 'true' };

/**
 * The `Idempotency-Key` header, if any. The IETF draft makes it a structured-field string (quoted);
 * most clients send it bare: both are taken.
 */
function idempotencyKey(req: IncomingMessage): { idempotencyKey?: string } {
  const header = req.headers['idempotency-key'];
  if (header === undefined) return {};
  // Node joins a repeated header with ", ": not a valid key, so refused, as two keys should be.
  const raw = String(header);
  const quoted = /^"(.*)"$/.exec(raw);
  return { idempotencyKey: quoted ? quoted[1]! : raw };
}

/** The media type of a cloud file. */
export const CLOUD_FILE_TYPE = 'application/vnd.kumo.cloud';

/** The passphrase of a cloud file, from the `kumo-passphrase` header (percent-encoded, so any text fits). */
function passphraseOf(req: IncomingMessage): string | undefined {
  const raw = req.headers['kumo-passphrase'];
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(Array.isArray(raw) ? raw[0]! : raw);
  } catch {
    throw new InvalidArgsError('the kumo-passphrase header is not valid percent-encoded UTF-8');
  }
}

const JSON_HEADERS: Record<string, string> = { ...CORS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

/** A route's handler: its parameters in the order of its path (routes.ts). */
type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], search: string) => void | Promise<void>;

/** The request handler and the bookkeeping a graceful stop needs. */
export class HttpApi {
  private readonly host: Host;
  private readonly limits: ChannelLimits;
  private readonly metrics: Metrics | undefined;
  private readonly realm: Realm | null;
  private readonly gate: ConnectionGate | undefined;
  private readonly onInternalError: (err: unknown) => void;
  /**
   * Every call into the host still running, including fire-and-forget episodes that answered 202.
   * A stop waits for all of them before the host closes, so none meets a closed store.
   */
  private readonly running = new Set<Promise<unknown>>();
  /** Open log streams, ended on stop. */
  private readonly streams = new Set<ServerResponse>();
  private stopping = false;
  /** The owner's console at `/` and `/console/` (channels/console/). */
  private readonly console: ConsoleApi;

  constructor(opts: HttpApiOptions) {
    this.host = opts.host;
    this.limits = { ...DEFAULT_CHANNEL_LIMITS, ...opts.limits };
    this.metrics = opts.metrics;
    this.realm = opts.realm ?? null;
    this.gate = opts.gate;
    this.onInternalError = opts.onInternalError ?? ((err) => console.error('kumo: internal error:', err));
    const kit = {
      host: this.host,
      limits: this.limits,
      track: <T>(p: Promise<T>) => this.track(p),
      follow: (res: ServerResponse, eci: string, limit: number) => this.follow(res, eci, limit),
      counted: (status: number) => this.metrics?.response(status),
    };
    this.console = new ConsoleApi(kit);
  }

  /** Handle one request (the `request` listener of a node:http server). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A stopping host answers whatever still arrives on an open connection, and closes it after.
    if (this.stopping) res.setHeader('connection', 'close');
    if (this.gate?.refuses(req.socket)) {
      res.setHeader('connection', 'close');
      // Read what was sent before answering: closing a socket with unread bytes resets it.
      req.resume();
      req.once('end', () => this.fail(res, new TooManyConnectionsError(this.gate!.cap)));
      return;
    }
    this.route(req, res).catch((err) => this.fail(res, err));
  };

  /**
   * Node's own refusals (a request it cannot parse, headers over its limit, a client too slow)
   * answered as JSON like every other error (the `clientError` listener of a node:http server).
   */
  readonly clientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    // Node's own rule: answer only if nothing of a response went out on this socket yet.
    const res = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || res?.headersSent) {
      socket.destroy();
      return;
    }
    const error: KumoError =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? new HeadersTooLargeError('the request headers are over the limit of 16 KiB')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? new RequestTimeoutError(`the request did not arrive in time (its headers are due within ${this.limits.headersMs} ms)`)
          : new MalformedRequestError(`the request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`);
    this.metrics?.response(error.status);
    socket.end(rawErrorResponse(error));
  };

  /** Refuse new work, end log streams and wait for every running host call (202-accepted episodes too). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.streams) s.end();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q);
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      this.metrics?.response(204);
      res.writeHead(204, PREFLIGHT);
      res.end();
      return;
    }
    if (ConsoleApi.owns(pathname)) {
      this.checkOpen();
      return this.console.handle(req, res, pathname, search);
    }
    const segs = pathSegments(pathname);
    const match = segs.some((s) => s === '') ? undefined : matchRoute(method, segs);
    if (!match) throw new UnknownRouteError(`no route for ${method} ${pathname}`);
    await this.handlers[match.name](req, res, match.params, search);
  }

  /** The handler of each route of the table (routes.ts), its parameters in the order of its path. */
  private readonly handlers: Record<RouteName, Handler> = {
    skyEvent: async (req, res, [eci, eid, domain, type], search) => {
      const attrs = await readParams(req, search, this.limits, 'INVALID_EVENT', 'event attrs');
      this.checkOpen();
      this.answer(res, 200, await this.track(this.host.event({ eci: eci!, eid: eid!, domain: domain!, type: type!, attrs: { ...attrs }, ...idempotencyKey(req) })));
    },

    waitEvent: async (req, res, [eci, domain, type], search) => {
      const attrs = await readParams(req, search, this.limits, 'INVALID_EVENT', 'event attrs');
      this.checkOpen();
      this.answer(res, 200, await this.track(this.host.event({ eci: eci!, domain: domain!, type: type!, attrs: { ...attrs }, ...idempotencyKey(req) })));
    },

    /**
     * The pico engine's fire-and-forget route: 202 with the eid once the event is written to the
     * host's durable inbox (it survives a crash and is applied exactly once; the episode's outcome goes
     * to the episode log), or the refusal and its code at once (unknown ECI, policy, full mailbox, …).
     */
    acceptEvent: async (req, res, [eci, domain, type], search) => {
      const attrs = { ...(await readParams(req, search, this.limits, 'INVALID_EVENT', 'event attrs')) };
      this.checkOpen();
      this.answer(res, 202, await this.track(this.host.accept({ eci: eci!, domain: domain!, type: type!, attrs, ...idempotencyKey(req) })));
    },

    /**
     * `POST /claim` `{code}`: a device trades its one-time claim code for its ECI. POST only, so the
     * code stays out of URLs and their logs.
     */
    claim: async (req, res, _params, search) => {
      const { code } = await readParams(req, search, this.limits, 'INVALID_ARGS', 'the claim');
      this.checkOpen();
      this.send(res, 200, await this.track(this.host.claim(code)));
    },

    /**
     * `POST /c/:eci/export[?leave=true&movedTo=URL]`: the cloud behind the ECI (which needs the cloud's
     * full authority) and its subtree, as a cloud file; encrypted with the `kumo-passphrase` header's
     * passphrase when there is one. With `leave`, the clouds then leave this host, with `movedTo` as
     * their forwarding address.
     */
    exportCloud: async (req, res, [eci], search) => {
      const params = parseParams(search.slice(1), this.limits, 'INVALID_ARGS', 'query string');
      const leave = params['leave'] === 'true';
      const movedTo = params['movedTo'];
      if (leave && (typeof movedTo !== 'string' || !/^https?:\/\/[^\s]+$/.test(movedTo))) throw new InvalidArgsError("leaving needs movedTo: the base URL of the cloud's new host");
      const passphrase = passphraseOf(req);
      await readBody(req, this.limits);
      this.checkOpen();
      const bundle = await this.atOwner(req, res, eci!, () => this.track(this.host.exportCloud(eci!, leave ? { leave: { movedTo: movedTo as string } } : {})));
      if (!bundle) return;
      const file = writeCloudFile(bundle, { realm: this.realm?.name ?? null, host: this.host.id, now: Date.now() }, passphrase);
      this.metrics?.response(200);
      res.writeHead(200, { ...CORS, 'content-type': CLOUD_FILE_TYPE, 'content-length': file.length, 'content-disposition': `attachment; filename="${bundle.clouds[0]!.name.replace(/[^\w.-]/g, '_')}.kumo"` });
      res.end(file);
    },

    /** `POST /c/:eci/move?to=HOST`: move the cloud behind the ECI (full authority) and its subtree to another host of the realm. */
    moveCloud: async (req, res, [eci], search) => {
      const { to } = parseParams(search.slice(1), this.limits, 'INVALID_ARGS', 'query string');
      if (typeof to !== 'string' || to === '') throw new InvalidArgsError('a move needs ?to=HOST: the id of a host of the realm');
      await readBody(req, this.limits);
      this.checkOpen();
      this.send(res, 200, await this.track(this.host.moveCloud(eci!, to)));
    },

    /** `POST /c/:eci/import` with a cloud file as the body: its clouds become a child of the cloud behind the ECI. */
    importCloud: async (req, res, [eci]) => {
      const passphrase = passphraseOf(req);
      const file = await readBody(req, { ...this.limits, bodyBytes: this.limits.cloudFileBytes });
      this.checkOpen();
      const { header, bundle } = readCloudFile(file, passphrase);
      const child = await this.atOwner(req, res, eci!, () => this.track(this.host.importCloud(eci!, bundle)));
      if (!child) return;
      const { clouds, records } = bundle as { clouds: unknown[]; records: unknown[] }; // as the host took them
      this.send(res, 200, { ...child, clouds: clouds.length, records: records.length, from: { realm: header.realm, host: header.host } });
    },

    /** `POST /c/:eci/mqtt`: MQTT credentials for a device ECI, when the realm has MQTT (README, "MQTT devices"). */
    mqtt: async (_req, res, [eci]) => {
      const devices = this.realm?.devices;
      if (!devices?.signs) throw new UnknownRouteError('this host gives no MQTT credentials (kumo serve --nats … --mqtt-key FILE)');
      this.checkOpen();
      this.send(res, 200, await this.track(devices.credentials(eci!)));
    },

    query: async (req, res, [eci, rid, name], search) => {
      const args = await readParams(req, search, this.limits, 'INVALID_ARGS', 'query args');
      this.checkOpen();
      const result = await this.track(this.host.query({ eci: eci!, rid: rid!, name: name!, args: { ...args } }));
      this.send(res, 200, result === undefined ? null : result);
    },

    health: (_req, res) => {
      if (this.stopping) throw new ShuttingDownError();
      this.send(res, 200, { ok: true, host: this.host.id, ...this.host.stats() });
    },

    /** `GET /realm`: this host, its realm, the partitions it owns and the hosts it knows (`realm: null` alone). */
    realmInfo: (_req, res) => {
      const r = this.realm;
      this.send(res, 200, r ? { host: this.host.id, realm: r.name, connected: r.connected, partitions: r.partitions, hosts: r.knownHosts() } : { host: this.host.id, realm: null });
    },

    metricsText: async (_req, res) => {
      this.metrics?.response(200);
      const text = (await this.metrics?.render()) ?? '';
      res.writeHead(200, { ...CORS, 'content-type': this.metrics?.contentType ?? 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(text);
    },

    /** `GET /c/:eci/logs?limit=N[&follow=true]`: the episode log, for ECIs tagged `system`. */
    logs: async (req, res, [eci], search) => {
      const params = parseParams(search.slice(1), this.limits, 'INVALID_ARGS', 'query string');
      const limitText = params['limit'] ?? String(this.host.limits.logEntries);
      const limit = Number(limitText);
      if (typeof limitText !== 'string' || !/^\d{1,6}$/.test(limitText) || limit < 1 || limit > this.host.limits.logEntries) {
        throw new InvalidArgsError(`limit must be an integer from 1 to ${this.host.limits.logEntries}`);
      }
      // A HEAD of a follow would never end: it gets the head of the plain log.
      const follow = req.method !== 'HEAD' && (params['follow'] === 'true' || params['follow'] === '1' || params['follow'] === '');
      this.checkOpen();
      if (!follow) {
        this.send(res, 200, { entries: await this.track(this.host.episodeLog(eci!, limit)) });
        return;
      }
      await this.follow(res, eci!, limit);
    },

    /** `POST /c/:eci/signin-code`: a one-time code to sign in to the console as this ECI (`kumo login`; docs/console.md). */
    signinCode: async (req, res, [eci]) => {
      await readBody(req, this.limits);
      this.checkOpen();
      this.send(res, 200, await this.track(this.host.handle({ op: 'signinCode', eci: eci! })));
    },

    /** `GET /c/:eci/sessions`: the console sessions and passkeys this ECI may see (all of the cloud's with its full authority). */
    sessions: async (_req, res, [eci]) => {
      this.checkOpen();
      this.send(res, 200, await this.track(this.host.handle({ op: 'access', eci: eci!, action: { do: 'list' } })));
    },

    /** `POST /c/:eci/sessions/revoke` `{sid}` (or `"all"`): end console sessions this ECI may see. */
    revokeSessions: async (req, res, [eci], search) => {
      const { sid } = await readParams(req, search, this.limits, 'INVALID_ARGS', 'the revocation');
      if (typeof sid !== 'string' || sid === '') throw new InvalidArgsError('give the sid of the session to end, or "all"');
      this.checkOpen();
      this.send(res, 200, await this.track(this.host.handle({ op: 'access', eci: eci!, action: { do: 'revoke', sid } })));
    },

    /** `GET /c/:eci/dead-letters`: outgoing events that could never be delivered, newest first (ECIs tagged `system`). */
    deadLetters: async (_req, res, [eci]) => {
      this.checkOpen();
      this.send(res, 200, { deadLetters: await this.track(this.host.deadLetters(eci!)) });
    },
  };

  // ---- routes ----

  /**
   * Files are read and written by the host that has the cloud: asked of another host of the realm,
   * `work` finds no such ECI here, and the client is sent on to the cloud's host (307, which repeats
   * the request there, body included). Undefined when it was sent on.
   */
  private async atOwner<T>(req: IncomingMessage, res: ServerResponse, eci: string, work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (err) {
      const there = err instanceof UnknownEciError && this.realm ? this.realm.hostOf(eci) : undefined;
      const url = there === undefined || there === this.realm?.hostId ? undefined : this.realm?.knownHosts().find((h) => h.id === there)?.url;
      if (url === undefined) throw err;
      this.metrics?.response(307);
      res.writeHead(307, { ...CORS, location: `${url}${req.url ?? ''}`, 'content-length': 0 });
      res.end();
      return undefined;
    }
  }

  /**
   * Server-sent events: the newest `limit` entries (oldest first), then one `entry` event per
   * committed episode until either side stops. The watch starts before the log is read, so no
   * entry falls between history and live.
   */
  private async follow(res: ServerResponse, eci: string, limit: number): Promise<void> {
    let last = 0;
    let buffered: EpisodeLogEntry[] | null = [];
    const write = (entry: EpisodeLogEntry): void => {
      if (entry.seq <= last) return;
      last = entry.seq;
      // A follower that stops reading must not make the host buffer without bound.
      if (res.writableLength > this.limits.bufferedBytes) res.destroy();
      else res.write(`event: entry\ndata: ${JSON.stringify(entry)}\n\n`);
    };
    // The host checks the ECI may follow the log (the system tag), on this host or the one that has it.
    const stopWatch = await this.track(this.host.follow(eci, (entry: EpisodeLogEntry) => (buffered ? buffered.push(entry) : write(entry))));
    // Registered before the history read, so a client that leaves during it is still cleaned up.
    if (res.destroyed) stopWatch();
    res.on('close', () => {
      stopWatch();
      this.streams.delete(res);
    });
    let history: EpisodeLogEntry[];
    try {
      history = await this.track(this.host.episodeLog(eci, limit));
    } catch (err) {
      stopWatch();
      throw err;
    }
    if (res.destroyed || this.stopping) {
      stopWatch();
      if (!res.destroyed) res.end();
      return;
    }
    res.writeHead(200, { ...CORS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(': following the episode log\n\n');
    this.metrics?.response(200);
    for (const entry of history.reverse()) write(entry);
    for (const entry of buffered) write(entry);
    buffered = null;
    this.streams.add(res);
  }

  // ---- responses ----

  private track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => undefined);
    return p;
  }

  private checkOpen(): void {
    if (this.stopping) throw new ShuttingDownError();
  }

  /** An event's answer: a replay says so in a header too, for clients that read only headers. */
  private answer(res: ServerResponse, status: number, result: { replay?: true }): void {
    this.send(res, status, result, result.replay ? REPLAYED : undefined);
  }

  private send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
    this.metrics?.response(status);
    if (body === undefined) {
      res.writeHead(status, CORS);
      res.end();
      return;
    }
    const text = JSON.stringify(body);
    // With a content-length the head and body leave in one write; without, node frames a chunked
    // body with writev (a quarter of the server's CPU under load in a profile).
    res.writeHead(status, { ...JSON_HEADERS, ...headers, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    // The client went away mid-request (e.g. aborted its upload): nobody to answer, not a bug.
    if (res.destroyed || res.socket?.destroyed) {
      this.metrics?.aborted();
      return;
    }
    const { status, error, internal } = toWireError(err);
    if (internal) this.onInternalError(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A refused body may still be arriving; do not keep the connection for another request.
    if (error.code === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close');
    if (error.code === 'RATE_LIMITED') res.setHeader('retry-after', String(error['retryAfter']));
    this.send(res, status, { error });
  }
}
