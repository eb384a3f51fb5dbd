import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, createInbox, credsAuthenticator, nkeys, usernamePasswordAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { retrying } from '../../kernel/index.ts';
import { RequestFailed, Requester, sameTurn, type ResponderCheck } from './nats-requests.ts';

/**
 * The realm's one door to NATS: the only module that imports the NATS client (core, JetStream and
 * KV, the maintained v3 line). Everything else in the realm speaks to this small surface of bytes
 * and subjects, so the placement, routing and inbox logic stays independent of the client.
 */

export interface LinkOptions {
  /** `nats://host:port` URLs; user and password may be given in a URL (`nats://user:pass@host:port`). */
  servers: string[];
  /** The contents of a NATS credentials file (JWT and nkey seed). */
  creds?: Uint8Array;
  /** Connection name, shown by nats-server's monitoring. */
  name: string;
  /**
   * TLS to the NATS servers (PEM text): `ca`, the certificate authority their certificates must
   * verify against (default: the system's); `cert` and `key`, this host's own, when the servers ask
   * for client certificates. Given, or with a `tls://` URL, the connection is TLS or nothing.
   */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** What Node's TLS says of a certificate that does not verify (its error codes). */
const UNVERIFIED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME/;

/** A KV entry as the realm sees it. */
export interface BucketEntry {
  key: string;
  /** null for a deleted or purged key. */
  value: string | null;
  revision: number;
}

/** A key-value bucket (a JetStream KV) with compare-and-set. */
export interface Bucket {
  get(key: string): Promise<BucketEntry | null>;
  /** Create a key that must not exist: its revision, or null when it exists already. */
  create(key: string, value: string): Promise<number | null>;
  /** Update a key at an expected revision: the new revision, or null when it moved on. */
  update(key: string, value: string, revision: number): Promise<number | null>;
  put(key: string, value: string): Promise<number>;
  delete(key: string): Promise<void>;
  /** Watch every key: the current values first, then changes. Resolves once the current values are in. */
  watch(fn: (e: BucketEntry) => void): Promise<() => void>;
}

/** A message of a durable consumer. */
export interface Delivery {
  readonly subject: string;
  /** Unique in the stream, the same at every delivery: its sequence number and the time it was stored. */
  readonly id: string;
  readonly data: Uint8Array;
  /** How many times it was delivered (1 the first time). */
  readonly deliveries: number;
  ack(): void;
  /** Ask for it again after `ms`. */
  nak(ms?: number): void;
  /** Still working on it: do not redeliver yet. */
  working(): void;
}

export { RequestFailed, type RequestFailure, type ResponderCheck } from './nats-requests.ts';

/** An nkey (ed25519) of NATS decentralized authentication: an operator's, an account's or a user's. */
export interface NatsKey {
  /** The public key (`O…`, `A…`, `U…`). */
  readonly publicKey: string;
  /** The seed (`SO…`, `SA…`, `SU…`): the secret. */
  readonly seed: string;
  sign(data: Uint8Array): Uint8Array;
}

function natsKeyOf(kp: ReturnType<typeof nkeys.fromSeed>): NatsKey {
  return { publicKey: kp.getPublicKey(), seed: text.decode(kp.getSeed()), sign: (data) => kp.sign(data) };
}

/** A new random nkey of a kind. */
export function newNatsKey(kind: 'operator' | 'account' | 'user'): NatsKey {
  return natsKeyOf(kind === 'operator' ? nkeys.createOperator() : kind === 'account' ? nkeys.createAccount() : nkeys.createUser());
}

/** The nkey of a seed (`S…`); throws for anything else. */
export function natsKeyFromSeed(seed: string): NatsKey {
  return natsKeyOf(nkeys.fromSeed(new TextEncoder().encode(seed.trim())));
}

/** How long one pull of a consumer waits for messages, and how long after a failed one the next is made. */
const PULL_EXPIRES_MS = 1_000;
const PULL_RETRY_MS = 200;
/** How long a durable publish that JetStream refuses for not being ready is tried again. */
const PUBLISH_RETRY_MS = 10_000;

/** A connection to the realm's NATS system. */
export class NatsLink {
  private up = true;
  private readonly watchers = new Set<(connected: boolean) => void>();
  private readonly js: JetStreamClient;
  private readonly requests: Requester;
  /** Requests and answers to requests, sent together at the end of each turn of the event loop. */
  private readonly soon = sameTurn();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
  ) {
    this.js = jetstream(nc);
    this.requests = new Requester(nc, createInbox(), this.soon);
    void this.followStatus();
  }

  /** Connect, and keep reconnecting for ever when the connection drops. */
  static async connect(opts: LinkOptions): Promise<NatsLink> {
    let user: string | undefined;
    let pass: string | undefined;
    const servers = opts.servers.map((s) => {
      const u = new URL(s.includes('://') ? s : `nats://${s}`);
      if (u.username) {
        user = decodeURIComponent(u.username);
        pass = decodeURIComponent(u.password);
      }
      return `${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || 4222}`;
    });
    const authenticator = opts.creds ? credsAuthenticator(opts.creds) : user !== undefined ? usernamePasswordAuthenticator(user, pass) : undefined;
    // noAsyncTraces: the client would otherwise build two Error objects (stack traces) for every request.
    const tls = opts.tls ?? (opts.servers.some((s) => s.startsWith('tls://')) ? {} : undefined);
    const nc = await connect({ servers, name: opts.name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true, ...(authenticator ? { authenticator } : {}), ...(tls ? { tls } : {}) }).catch((err: unknown) => {
      const code = (err as { code?: unknown; cause?: { code?: unknown } }).cause?.code ?? (err as { code?: unknown }).code;
      if (typeof code === 'string' && UNVERIFIED.test(code)) throw new Error(`the NATS server's certificate does not verify (${code}): give the certificate authority that signed it (kumo serve --nats-ca FILE)`, { cause: err });
      throw err;
    });
    // No API check here: a cluster may still be electing its JetStream leader (joinRealm waits for it).
    return new NatsLink(nc, await jetstreamManager(nc, { checkAPI: false }));
  }

  /** Is the connection up right now? */
  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  /** Hear about the connection going down and coming back. */
  onStatus(fn: (connected: boolean) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /**
   * Create a work-queue stream (a message is kept until a consumer acknowledges it), or bring its
   * settings up to date: the hosts' durable inboxes (de-duplicated by message id within
   * `duplicateWindowMs`), and the devices' events (at most `maxBytes`; past it, new messages are refused).
   */
  async ensureStream(name: string, subjects: string[], o: { replicas: number; duplicateWindowMs?: number; maxBytes?: number }): Promise<void> {
    const settings = {
      subjects,
      ...(o.duplicateWindowMs !== undefined ? { duplicate_window: o.duplicateWindowMs * 1_000_000 } : {}),
      ...(o.maxBytes !== undefined ? { max_bytes: o.maxBytes, discard: DiscardPolicy.New } : {}),
    };
    const config = { name, retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: o.replicas, ...settings };
    try {
      const { config: now } = await this.jsm.streams.info(name);
      // Updated only when a setting differs: an update is a write to JetStream's metadata (through
      // its leader, in a cluster), and a host restarting on the same settings needs none.
      const same = Object.entries(settings).every(([k, v]) => JSON.stringify((now as unknown as Record<string, unknown>)[k]) === JSON.stringify(v));
      if (!same) await this.jsm.streams.update(name, settings);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.jsm.streams.add(config);
    }
  }

  /** Open (creating if needed) a KV bucket. */
  async bucket(name: string, replicas: number): Promise<Bucket> {
    const kv = await new Kvm(this.js).create(name, { replicas, history: 1 });
    return bucketOf(kv);
  }

  /** Store a message in a stream; resolves once JetStream has it (a repeated `msgId` within the window is stored once). */
  async publishDurable(subject: string, data: Uint8Array, msgId: string): Promise<void> {
    // A cluster node that is back, its JetStream not caught up yet, refuses at once for a few
    // seconds (seen with nats-server 2.9): tried again here every 100 to 250 ms (the message id
    // makes a repeat harmless), sooner than the caller's own back-off would.
    await retrying(
      async () => {
        if (!this.connected) throw new RequestFailed('disconnected');
        await this.js.publish(subject, data, { msgID: msgId, timeout: 5_000 });
      },
      { firstMs: 100, maxMs: 250, deadline: Date.now() + PUBLISH_RETRY_MS, final: (err) => !notReady(err) },
    );
  }

  /**
   * Consume a durable pull consumer (created if missing) on one subject of a stream, handing each
   * message to `handle`. Processes consuming one durable share its messages: a queue across them.
   * What a consumer took and did not acknowledge comes back `ackWaitMs` later (default 10 s).
   * When `handle` returns a promise, the next message waits for it (the consumer then stops
   * pulling once its buffer is full). Returns the function that stops.
   */
  async consume(stream: string, durable: string, subject: string, handle: (d: Delivery) => void | Promise<void>, ackWaitMs = 10_000): Promise<() => Promise<void>> {
    await this.jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs * 1_000_000,
      max_ack_pending: 2_000,
    });
    const consumer = await this.js.consumers.get(stream, durable);
    let stopped = false;
    const running = (): boolean => !stopped; // read afresh after each await
    let current: ConsumerMessages | null = null;
    const done = (async () => {
      while (running()) {
        // One pull at a time, each made afresh and expiring after a second: a pull lost with a
        // cluster node (the consumer's leader moved, or a node came back) costs at most that second.
        // consume(), which keeps pulling on one subscription, was seen to stall for 30 s and more
        // with nats-server 2.9 (issue 21). A small batch: a consumer that waits (see `handle`)
        // leaves the rest in the stream, for itself later or for another process of the same durable.
        try {
          const messages = await consumer.fetch({ max_messages: 64, expires: PULL_EXPIRES_MS });
          current = messages;
          for await (const m of messages) {
            const wait = handle(deliveryOf(m));
            if (wait) await wait;
          }
        } catch {
          // A pull refused or broken off (no JetStream yet, a leadership change): pull again shortly.
          if (running()) await new Promise((r) => setTimeout(r, PULL_RETRY_MS));
        }
      }
    })();
    return async () => {
      stopped = true;
      await current?.close().catch(() => undefined);
      await done.catch(() => undefined);
    };
  }

  /**
   * A request with a time limit; fails with RequestFailed for no responders, a timeout, no
   * connection (not sent) or a lost one (sent). `probe`: a check of responders (see {@link watchRequests}).
   */
  async request(subject: string, data: Uint8Array, timeoutMs: number, probe = false): Promise<Uint8Array> {
    if (!this.connected) throw new RequestFailed('disconnected');
    return this.requests.request(subject, data, timeoutMs, probe);
  }

  /** Check the responders of requests waiting longer than a second (see Requester.watch). */
  watchRequests(check: ResponderCheck): void {
    this.requests.watch(check);
  }

  /** Answer requests on `subject` (`reply`: the request's reply subject, which names it). Returns the function that stops. */
  serve(subject: string, answer: (data: Uint8Array, reply: string) => Promise<Uint8Array>): () => void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        void answer(msg.data, msg.reply ?? '').then(
          (reply) => this.soon(() => msg.respond(reply)),
          () => undefined,
        );
      },
    });
    return () => sub.unsubscribe();
  }

  /** Fire and forget (dropped while disconnected). */
  publish(subject: string, data: Uint8Array): void {
    if (this.connected) this.nc.publish(subject, data);
  }

  /** Hear what is published on `subject`. Returns the function that stops. */
  subscribe(subject: string, fn: (data: Uint8Array) => void): () => void {
    const sub: Subscription = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) fn(msg.data);
      },
    });
    return () => sub.unsubscribe();
  }

  /** Resolves once the server has everything sent so far (an unsubscription included). */
  async flush(): Promise<void> {
    if (this.connected) await this.nc.flush().catch(() => undefined);
  }

  /** Flush what is buffered and close. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
    this.requests.failAll();
  }

  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      const up = s.type === 'disconnect' ? false : s.type === 'reconnect' ? true : this.up;
      if (up !== this.up) {
        this.up = up;
        // Answers to what was asked before the drop are lost with the connection.
        if (!up) this.requests.failAll();
        for (const fn of this.watchers) fn(up);
      }
    }
  }
}

/** JetStream refused at once because it is not ready (a node just back, a leader being elected). */
function notReady(err: unknown): boolean {
  return err instanceof Error && /jetstream is not enabled|no responders|leadership|not available/i.test(err.message);
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

function deliveryOf(m: JsMsg): Delivery {
  return {
    subject: m.subject,
    id: `${m.info.streamSequence}.${m.info.timestampNanos}`,
    data: m.data,
    deliveries: m.info.deliveryCount,
    ack: () => m.ack(),
    nak: (ms) => m.nak(ms),
    working: () => m.working(),
  };
}

const text = new TextDecoder();

function entryOf(key: string, value: Uint8Array, revision: number, operation: string): BucketEntry {
  return { key, value: operation === 'PUT' ? text.decode(value) : null, revision };
}

/** How long a bucket's watch may take to read the current values. */
const WATCH_LOAD_MS = 10_000;

/** A KV of the NATS client as a {@link Bucket}. */
export function bucketOf(kv: KV): Bucket {
  const conflict = (err: unknown): boolean => err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
  return {
    async get(key) {
      const e = await kv.get(key);
      return e ? entryOf(e.key, e.value, e.revision, e.operation) : null;
    },
    async create(key, value) {
      try {
        return await kv.create(key, value);
      } catch (err) {
        if (conflict(err)) return null;
        throw err;
      }
    },
    async update(key, value, revision) {
      try {
        return await kv.update(key, value, revision);
      } catch (err) {
        if (conflict(err)) return null;
        throw err;
      }
    },
    put: (key, value) => kv.put(key, value),
    delete: (key) => kv.delete(key),
    async watch(fn) {
      const [status, iter] = await Promise.all([kv.status(), kv.watch()]);
      let ready!: () => void;
      let failed!: (err: Error) => void;
      const initialized = new Promise<void>((resolve, reject) => {
        ready = resolve;
        failed = reject;
      });
      if (status.values === 0) ready();
      void (async () => {
        for await (const e of iter) {
          fn(entryOf(e.key, e.value, e.revision, e.operation));
          if (e.delta === 0) ready();
        }
      })().then(
        () => failed(new Error(`the watch of bucket ${status.bucket} ended before its current values were in`)),
        (err: unknown) => failed(err instanceof Error ? err : new Error(String(err))),
      );
      // Never a hang: current values that do not arrive in time fail the watch (the caller may try again).
      const timer = setTimeout(() => failed(new Error(`the current values of bucket ${status.bucket} did not arrive within ${WATCH_LOAD_MS / 1000} s`)), WATCH_LOAD_MS);
      try {
        await initialized;
      } catch (err) {
        iter.stop();
        throw err;
      } finally {
        clearTimeout(timer);
      }
      return () => iter.stop();
    },
  };
}
