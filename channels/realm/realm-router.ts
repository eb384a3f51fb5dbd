import { randomBytes } from 'node:crypto';
import {
  fromWire,
  KumoError,
  NoRespondersError,
  OutcomeUnknownError,
  RealmUnavailableError,
  RemoteTimeoutError,
  UnknownClaimCodeError,
  UnknownEciError,
  type Accepted,
  type DeadLetter,
  type Eci,
  type EpisodeLogEntry,
  type EventResult,
  type PushMessage,
  type RemoteEci,
  type RoutedEvent,
  type RoutedQuery,
  type Router,
} from '../../kernel/index.ts';
import { RequestFailed, type NatsLink } from './nats-link.ts';
import type { Placement } from './placement.ts';
import type { Mover } from './mover.ts';
import { Parcels } from './parcels.ts';
import { CHANGES, pack, subjects, unpack, type Answers, type InboxMessage, type MoveResult, type PushWire, type Reply, type Request } from './wire.ts';

/** How long a host asked whether it still has a request may take to say (ms). */
const CHECK_MS = 1_000;

export interface RealmRouterOptions {
  realm: string;
  /** This host's id. */
  self: string;
  link: NatsLink;
  placement: Placement;
  /** How long to wait for another host's answer (ms) before REMOTE_TIMEOUT. */
  requestMs: number;
}

/**
 * The kernel's Router for a realm: it finds the host of an ECI in the placement map and hands the
 * work there. Events that wait, queries and reads are NATS requests to that host (no responders,
 * a time-out and a lost connection become NO_RESPONDERS, REMOTE_TIMEOUT and REALM_UNAVAILABLE,
 * never a hang); outgoing events of the outbox go to that host's durable inbox in JetStream
 * (in parcels, see Parcels), de-duplicated by eid; pushes are published for sockets held on any host.
 */
export class RealmRouter implements Router {
  private mover: Mover | null = null;
  private readonly parcels: Parcels;
  /** Also hand every push made on this host here (the MQTT device gateway). */
  devicePush: ((m: PushMessage) => void) | null = null;

  constructor(private readonly o: RealmRouterOptions) {
    this.parcels = new Parcels((subject, data, msgId) => o.link.publishDurable(subject, data, msgId));
    // A request that waits: its host is asked whether it still has it (gone, or restarted without it: lost at once).
    o.link.watchRequests(async (subject, replies) => {
      try {
        const reply = unpack<Reply>(await o.link.request(subject, pack({ op: 'ping', working: replies } satisfies Request), CHECK_MS, true));
        return new Set(reply.ok ? (reply.value as Answers['ping']).working : []);
      } catch (err) {
        if (err instanceof RequestFailed && err.reason === 'no-responders') return null;
        throw err;
      }
    });
  }

  /** The host's mover, once the host is open (moves need the host). */
  useMover(mover: Mover): void {
    this.mover = mover;
  }

  /** Move the cloud behind `eci` and its subtree to host `to` (see Mover). */
  async move(eci: string, to: string): Promise<MoveResult> {
    if (!this.mover) throw new RealmUnavailableError('move clouds', 'this host is not serving its realm yet');
    return this.mover.move(eci, to);
  }

  event(routed: RoutedEvent): Promise<EventResult> {
    return this.call('event', { op: 'event', ...eventFields(routed) });
  }

  accept(routed: RoutedEvent): Promise<Accepted> {
    return this.call('accept', { op: 'accept', ...eventFields(routed) });
  }

  /** A claim goes to the host that owns the code's partition; no host owns it: no device waits for the code. */
  async claim(code: string, partition: number): Promise<{ eci: Eci }> {
    const host = this.o.placement.ownerOf(partition);
    if (host === undefined || host === this.o.self) throw new UnknownClaimCodeError();
    return (await this.ask(host, '(claim code)', { op: 'claim', code })) as { eci: Eci };
  }

  query(q: RoutedQuery): Promise<unknown> {
    return this.call('query', { op: 'query', ...q });
  }

  async deliver(routed: RoutedEvent, from: string): Promise<void> {
    const host = this.hostOf(routed.eci);
    const message: InboxMessage = { kind: 'event', eci: routed.eci, event: routed.event, ...key(routed), from: { host: this.o.self, cloudId: from } };
    await this.durable(host, message, `${routed.eci}.${routed.event.eid}`);
  }

  eciInfo(eci: string): Promise<RemoteEci> {
    return this.call('eciInfo', { op: 'eciInfo', eci }) as Promise<RemoteEci>;
  }

  episodeLog(eci: string, limit: number): Promise<EpisodeLogEntry[]> {
    return this.call('log', { op: 'log', eci, limit });
  }

  deadLetters(eci: string): Promise<DeadLetter[]> {
    return this.call('deadLetters', { op: 'deadLetters', eci });
  }

  /** Follow a log held elsewhere: its host publishes entries while this host renews a lease. */
  async follow(eci: string, fn: (entry: EpisodeLogEntry) => void): Promise<() => void> {
    const lease = randomBytes(12).toString('base64url');
    const host = this.hostOf(eci);
    const { subject, leaseMs } = await this.call('follow', { op: 'follow', eci, lease });
    const stopListening = this.o.link.subscribe(subject, (data) => fn(unpack<EpisodeLogEntry>(data)));
    // The server has the subscription before this resolves: an entry committed afterwards reaches it.
    await this.o.link.flush();
    const renew = setInterval(() => void this.ask(host, eci, { op: 'renew', lease }).catch(() => undefined), Math.max(100, leaseMs / 3));
    renew.unref();
    return () => {
      clearInterval(renew);
      stopListening();
      void this.ask(host, eci, { op: 'unfollow', lease }).catch(() => undefined);
    };
  }

  listen(eci: string, fn: (m: PushMessage) => void): () => void {
    return this.o.link.subscribe(subjects.push(this.o.realm, eci), (data) => {
      const wire = unpack<PushWire>(data);
      // This host's own pushes reached its listeners directly.
      if (wire.origin !== this.o.self) fn(wire.push);
    });
  }

  publishPush(m: PushMessage): void {
    const wire: PushWire = { origin: this.o.self, push: m };
    this.o.link.publish(subjects.push(this.o.realm, m.eci), pack(wire));
    this.devicePush?.(m);
  }

  /** ECIs of clouds brought in from elsewhere: those whose partition another host owns are entered in the moved table. */
  async adopt(ecis: string[]): Promise<void> {
    for (const eci of ecis) if (this.o.placement.hostOf(eci) !== this.o.self) await this.o.placement.setMoved(eci, this.o.self);
  }

  /** Put a message in another host's durable inbox (in a parcel with others going there). */
  async durable(host: string, message: InboxMessage, msgId: string): Promise<void> {
    try {
      await this.parcels.send(subjects.inbox(this.o.realm, host), message, msgId);
    } catch (err) {
      throw this.failure(err, message.eci, host);
    }
  }

  /** The host that has `eci`: never this one (this host's index has already said no). */
  hostOf(eci: string): string {
    const host = this.o.placement.hostOf(eci);
    if (host === undefined || host === this.o.self) throw new UnknownEciError(eci);
    return host;
  }

  private call<K extends Request['op']>(_op: K, req: Extract<Request, { op: K }> & { eci: string }): Promise<Answers[K]> {
    return this.ask(this.hostOf(req.eci), req.eci, req) as Promise<Answers[K]>;
  }

  /** Send a request to host `host` (about `eci`, for error messages) and return its answer's value. */
  async ask(host: string, eci: string, req: Request): Promise<unknown> {
    let bytes: Uint8Array;
    try {
      bytes = await this.o.link.request(subjects.rpc(this.o.realm, host), pack(req), this.o.requestMs);
    } catch (err) {
      throw this.failure(err, eci, host, CHANGES.has(req.op));
    }
    const reply = unpack<Reply>(bytes);
    if (reply.ok) return reply.value;
    throw fromWire(reply.error) ?? new Error(`host ${host} answered with an error kumo does not know: ${JSON.stringify(reply.error)}`);
  }

  /**
   * What a failed request answers. Never "not taken" (503) for what may have been taken: a request
   * that changes state, sent and then not answered (a time limit, a lost connection, a host gone),
   * is OUTCOME_UNKNOWN; a read is REMOTE_TIMEOUT or NO_RESPONDERS.
   */
  private failure(err: unknown, eci: string, host: string, changes = false): unknown {
    if (err instanceof KumoError) return err;
    if (err instanceof RequestFailed) {
      if (err.reason === 'no-responders') return new NoRespondersError(eci, host);
      if (err.reason === 'disconnected') return new RealmUnavailableError(`reach host ${host}`);
      if (changes) return new OutcomeUnknownError(eci, host, err.reason === 'timeout' ? `did not answer within ${this.o.requestMs} ms` : 'went away, or the connection to it did, before it answered');
      return err.reason === 'timeout' ? new RemoteTimeoutError(eci, host, this.o.requestMs) : new NoRespondersError(eci, host);
    }
    if (!this.o.link.connected) return new RealmUnavailableError(`reach host ${host}`);
    return err;
  }
}

const key = (routed: RoutedEvent): { idempotencyKey?: string } => (routed.idempotencyKey !== undefined ? { idempotencyKey: routed.idempotencyKey } : {});

/** An event as a request carries it: the eid, and the sender's idempotency key when there is one. */
function eventFields(routed: RoutedEvent) {
  const { eid, domain, type, attrs } = routed.event;
  return { eci: routed.eci, eid, domain, type, attrs: attrs as Record<string, unknown>, ...key(routed) };
}
