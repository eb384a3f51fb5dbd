import { backoffDelay, DEFAULT_BACKOFF, type Backoff } from './backoff.ts';
import { asClientError, KumoClientError, retryable } from './errors.ts';
import { httpTransport, platformFetch, reachable, type Fetch } from './http-transport.ts';
import type { ConnectionState, EventResult, OutgoingEvent, Push, Timers, Transport, WebSocketConstructor } from './types.ts';
import { openWebSocket } from './ws-transport.ts';

export interface ConnectOptions {
  /** Ways to the host, in order of preference (default both): a WebSocket, else HTTP. */
  transports?: Array<'websocket' | 'http'>;
  /** Events kept while they cannot be sent (default 100). */
  queueSize?: number;
  /** When the queue is full: drop its oldest event (default) or refuse the new one; either rejects with QUEUE_FULL. */
  overflow?: 'drop-oldest' | 'refuse-new';
  /** Reconnection delays: from `initialMs` (500) times `factor` (2) per failed attempt up to `maxMs` (30,000), each randomized to between half and all of it. */
  backoff?: Partial<Backoff>;
  /** How long to wait for an answer before dropping the connection and sending again (default 30,000 ms). */
  timeoutMs?: number;
  /** The largest event frame sent (default 256 KiB, the host's own limit). */
  maxFrameBytes?: number;
  /** The WebSocket class (default the platform's; in Node 20, `ws`). */
  WebSocket?: WebSocketConstructor;
  /** The fetch function (default the global one). */
  fetch?: Fetch;
  /** Randomness for the backoff's jitter (default Math.random). */
  random?: () => number;
  /** Timers (default the global ones). */
  timers?: Timers;
  /** A new idempotency key (default 128 random bits, base64url). */
  newKey?: () => string;
}

/** Per-event options. */
export interface EventOptions {
  /** The event id (default: the host chooses). */
  eid?: string;
  /** The idempotency key (default: a new random one). Give your own to make retries across restarts of the device apply once too. */
  idempotencyKey?: string;
}

type PushListener = (data: Record<string, unknown>, push: Push) => void;

interface Queued {
  event: OutgoingEvent;
  resolve(result: EventResult): void;
  reject(err: KumoClientError): void;
}

const encoder = new TextEncoder();

function randomKey(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/**
 * Connect to the cloud behind `eci` on the host at `url` (`http(s)://host:port`). Returns at once:
 * the client connects in the background, and reconnects whenever the connection is lost.
 *
 * @example
 * const kumo = connect('http://localhost:3000', eci);
 * kumo.on('alert', (data) => console.log('alert', data));
 * const { directives } = await kumo.event('sensor', 'reading', { temperature: 21.5 });
 */
export function connect(url: string, eci: string, options: ConnectOptions = {}): KumoClient {
  return new KumoClient(url, eci, options);
}

/**
 * A device's (or a page's) connection to its cloud. Events go through a bounded queue, in order, one
 * at a time; each carries an idempotency key that every retry reuses, so an event whose answer was
 * lost with the connection is applied once, and its retry gets the first answer back (`replay`).
 * Queries are not queued: they wait for the first connection, and fail with OFFLINE while there is none.
 */
export class KumoClient {
  private readonly opts: Required<Omit<ConnectOptions, 'WebSocket' | 'backoff'>> & Pick<ConnectOptions, 'WebSocket'> & { backoff: Backoff };
  private transport: Transport | null = null;
  private current: ConnectionState = 'connecting';
  private readonly queue: Queued[] = [];
  /** The queued event being sent (it stays first in the queue until answered). */
  private sending: Queued | null = null;
  private pumping = false;
  /** Failed connection attempts since the last success: the backoff's exponent. */
  private attempts = 0;
  private timer: unknown = null;
  private failure: KumoClientError | null = null;
  private readonly pushListeners = new Map<string, Set<PushListener>>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();

  constructor(
    readonly url: string,
    readonly eci: string,
    options: ConnectOptions = {},
  ) {
    this.opts = {
      transports: options.transports ?? ['websocket', 'http'],
      queueSize: options.queueSize ?? 100,
      overflow: options.overflow ?? 'drop-oldest',
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      timeoutMs: options.timeoutMs ?? 30_000,
      maxFrameBytes: options.maxFrameBytes ?? 256 * 1024,
      fetch: options.fetch ?? platformFetch,
      random: options.random ?? Math.random,
      timers: options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
      newKey: options.newKey ?? randomKey,
      WebSocket: options.WebSocket,
    };
    if (this.opts.queueSize < 1) throw new RangeError('queueSize must be at least 1');
    void this.attempt();
  }

  /** Where the client is now. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Events waiting to be sent or answered. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Send an event; resolves with the host's answer once it has been applied, however many reconnects
   * that takes. Rejects with the host's error (INVALID_ATTRS, POLICY_DENIED, …), with QUEUE_FULL
   * when the offline queue pushed it out, or CLOSED.
   */
  event(domain: string, type: string, attrs: Record<string, unknown> = {}, options: EventOptions = {}): Promise<EventResult> {
    if (this.failure) return Promise.reject(this.failure);
    const event: OutgoingEvent = { domain, type, attrs, idempotencyKey: options.idempotencyKey ?? this.opts.newKey(), ...(options.eid !== undefined ? { eid: options.eid } : {}) };
    let bytes: number;
    try {
      bytes = encoder.encode(JSON.stringify({ id: 0, op: 'event', ...event })).length;
    } catch (err) {
      return Promise.reject(new KumoClientError('INVALID_EVENT', `the event cannot be sent as JSON: ${(err as Error).message}`));
    }
    if (bytes > this.opts.maxFrameBytes) return Promise.reject(new KumoClientError('PAYLOAD_TOO_LARGE', `the event takes ${bytes} bytes; the limit is ${this.opts.maxFrameBytes}`));
    return new Promise((resolve, reject) => {
      if (this.queue.length >= this.opts.queueSize) {
        // The event being sent stays: it may already be applied.
        const oldest = this.queue.findIndex((q) => q !== this.sending);
        if (this.opts.overflow === 'refuse-new' || oldest < 0) {
          reject(new KumoClientError('QUEUE_FULL', `${this.queue.length} events are waiting to be sent`));
          return;
        }
        this.queue.splice(oldest, 1)[0]!.reject(new KumoClientError('QUEUE_FULL', 'dropped from the full queue for a newer event'));
      }
      this.queue.push({ event, resolve, reject });
      void this.pump();
    });
  }

  /** Call a shared function of a ruleset. Waits for the first connection; OFFLINE while there is none. */
  async query(rid: string, name: string, args: Record<string, unknown> = {}): Promise<unknown> {
    if (this.current === 'connecting') {
      await new Promise<void>((resolve) => {
        const stop = this.onState((state) => {
          if (state === 'connecting') return;
          stop();
          resolve();
        });
      });
    }
    if (this.failure) throw this.failure;
    if (!this.transport) throw new KumoClientError('OFFLINE', `not connected to ${this.url}`);
    return this.transport.query(rid, name, args);
  }

  /**
   * Listen to what rules push to this ECI: `name` (or `*` for every push). Pushes come over a
   * WebSocket only. Returns the function that stops listening.
   */
  on(name: string, listener: PushListener): () => void {
    let set = this.pushListeners.get(name);
    if (!set) this.pushListeners.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Listen to connection state changes. Returns the function that stops listening. */
  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => void this.stateListeners.delete(listener);
  }

  /** Resolves once the client has a connection (WebSocket or HTTP); rejects if it is closed or refused for good. */
  ready(): Promise<void> {
    if (this.transport) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const stop = this.onState(() => {
        if (!this.transport && !this.failure) return;
        stop();
        if (this.failure) reject(this.failure);
        else resolve();
      });
    });
  }

  /** Failed for good (or closed)? A method, so that it is read afresh after an await. */
  private failed(): boolean {
    return this.failure !== null;
  }

  /** Stop: no more reconnecting; events still queued are rejected with CLOSED. */
  close(): void {
    this.fail(new KumoClientError('CLOSED', 'the client was closed'));
  }

  // ---- connection ----

  /** One connection attempt: a WebSocket, else HTTP if the host answers it; else wait and try again. */
  private async attempt(): Promise<void> {
    this.timer = null;
    if (this.failure || this.current === 'websocket') return;
    const upgrading = this.transport !== null; // on HTTP, trying for a WebSocket again
    if (!upgrading) this.setState('connecting');
    if (this.opts.transports.includes('websocket')) {
      try {
        const t = await openWebSocket(this.url, this.eci, {
          WebSocket: this.opts.WebSocket,
          timers: this.opts.timers,
          timeoutMs: this.opts.timeoutMs,
          onPush: (push) => this.pushed(push),
          onClose: (error) => this.lost(t, error),
        });
        if (this.failed()) return t.close();
        this.transport?.close();
        return this.use(t, 'websocket');
      } catch (err) {
        const error = asClientError(err);
        if (!retryable(error)) return this.fail(error);
      }
    }
    if (upgrading) return this.schedule();
    if (this.opts.transports.includes('http') && (await reachable(this.opts.fetch, this.url)) && !this.failed()) {
      this.use(httpTransport(this.opts.fetch, this.url, this.eci), 'http');
      if (this.opts.transports.includes('websocket')) this.schedule();
      return;
    }
    this.setState('offline');
    this.schedule();
  }

  private use(t: Transport, state: 'websocket' | 'http'): void {
    this.transport = t;
    this.attempts = 0;
    if (state === 'websocket' && this.timer !== null) {
      this.opts.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    this.setState(state);
    void this.pump();
  }

  /** The transport `t` failed (a lost socket, a busy host): drop it and reconnect with backoff. */
  private lost(t: Transport, error: KumoClientError): void {
    if (t !== this.transport) return;
    if (!retryable(error)) return this.fail(error);
    this.transport = null;
    t.close();
    this.setState('offline');
    this.schedule();
  }

  private schedule(): void {
    if (this.failure || this.timer !== null) return;
    const ms = backoffDelay(this.attempts++, this.opts.backoff, this.opts.random);
    this.timer = this.opts.timers.setTimeout(() => void this.attempt(), ms);
  }

  /** Give up for good: `error` is the answer to every waiting event and every later call. */
  private fail(error: KumoClientError): void {
    if (this.failure) return;
    this.failure = error;
    if (this.timer !== null) this.opts.timers.clearTimeout(this.timer);
    this.timer = null;
    this.transport?.close();
    this.transport = null;
    for (const q of this.queue.splice(0)) q.reject(error);
    this.setState('closed');
  }

  // ---- events ----

  /** Send queued events in order, one at a time, while there is a transport. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let t = this.transport, head = this.queue[0]; t && head && !this.failure; t = this.transport, head = this.queue[0]) {
        this.sending = head;
        try {
          const result = await t.event(head.event);
          this.queue.shift();
          head.resolve(result);
        } catch (err) {
          const error = asClientError(err);
          // Lost, or the host is busy: the event stays first, to be sent again with the same key.
          if (retryable(error)) return this.lost(t, error);
          this.queue.shift();
          head.reject(error);
        } finally {
          this.sending = null;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private pushed(push: Push): void {
    for (const name of [push.name, '*']) {
      for (const listener of this.pushListeners.get(name) ?? []) {
        try {
          listener(push.data, push);
        } catch (err) {
          // A listener's failure is its own: reported like an event listener's, never breaking the socket.
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.current) return;
    this.current = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }
}
