import { randomBytes } from 'node:crypto';
import {
  fromWire,
  KumoError,
  NoRespondersError,
  OutcomeUnknownError,
  RealmUnavailableError,
  RemoteTimeoutError,
  UnknownClaimCodeError,
  SessionInvalidError,
  SignInFailedError,
  UnknownEciError,
  type Answer,
  type EpisodeLogEntry,
  type Op,
  type PushMessage,
  type RequestOf,
  type Router,
} from '../../kernel/index.ts';
import { RequestFailed, type NatsLink } from './nats-link.ts';
import type { Placement } from './placement.ts';
import { Parcels } from './parcels.ts';
import { devicePush } from './device-gateway.ts';
import { CHANGES, pack, subjects, unpack, type InboxMessage, type PushWire, type RealmAnswers, type Reply, type Request } from './wire.ts';

export interface RealmRouterOptions {
  realm: string;
  /** This host's id. */
  self: string;
  link: NatsLink;
  placement: Placement;
  /** How long to wait for another host's answer (ms) before REMOTE_TIMEOUT (or OUTCOME_UNKNOWN). */
  requestMs: number;
  /** Also publish pushes for MQTT devices (the realm serves them). */
  mqtt?: boolean;
}

/** How long a host asked whether it still has a request may take to say (ms). */
const CHECK_MS = 1_000;

/**
 * The kernel's Router for a realm: it finds the host of an ECI in the placement map and carries the
 * request value there (docs/realm.md). Requests are NATS requests to that host (no responders, a
 * time-out and a lost connection become NO_RESPONDERS, REMOTE_TIMEOUT or OUTCOME_UNKNOWN, and
 * REALM_UNAVAILABLE, never a hang); outgoing events of the outbox go to that host's durable inbox in
 * JetStream (in parcels, see Parcels), de-duplicated by eid; pushes are published for sockets held
 * on any host and for MQTT devices. A move goes to the host that has the cloud, this one included:
 * the realm service there runs it (mover.ts).
 */
export class RealmRouter implements Router {
  private readonly parcels: Parcels;

  constructor(private readonly o: RealmRouterOptions) {
    this.parcels = new Parcels((subject, data, msgId) => o.link.publishDurable(subject, data, msgId));
    // A request that waits: its host is asked whether it still has it (gone, or restarted without it: lost at once).
    o.link.watchRequests(async (subject, replies) => {
      try {
        const reply = unpack<Reply>(await o.link.request(subject, pack({ op: 'ping', working: replies } satisfies Request), CHECK_MS, true));
        return new Set(reply.ok ? (reply.value as RealmAnswers['ping']).working : []);
      } catch (err) {
        if (err instanceof RequestFailed && err.reason === 'no-responders') return null;
        throw err;
      }
    });
  }

  async forward<K extends Op>(request: RequestOf<K>): Promise<Answer<K>> {
    const req = request as RequestOf<Op>;
    switch (req.op) {
      case 'deliver': {
        // Taken once stored on the way to its host; applied there at most once per eid.
        const { eci, event, idempotencyKey, from } = req;
        const message: InboxMessage = { op: 'receive', eci, event, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}), from: { host: this.o.self, cloudId: from } };
        await this.durable(this.hostOf(eci), message, `${eci}.${event.eid}`);
        return undefined as Answer<K>;
      }
      case 'claim':
      case 'signin':
      case 'passkey': {
        // To the host that owns the code's (or cloud's) partition; no host owns it: no cloud waits for it.
        const host = this.o.placement.ownerOf(req.partition);
        if (host === undefined || host === this.o.self) throw req.op === 'claim' ? new UnknownClaimCodeError() : new SignInFailedError('no cloud of this realm waits for this sign-in');
        return (await this.ask(host, `(${req.op})`, req)) as Answer<K>;
      }
      case 'adopt':
        // Clouds brought in from elsewhere: those whose partition another host owns are entered in the moved table.
        for (const eci of req.ecis) if (this.o.placement.hostOf(eci) !== this.o.self) await this.o.placement.setMoved(eci, this.o.self);
        return undefined as Answer<K>;
      case 'move': {
        const host = this.o.placement.hostOf(req.eci);
        if (host === undefined) throw new UnknownEciError(req.eci);
        return (await this.ask(host, req.eci, req)) as Answer<K>;
      }
      case 'access':
        if ('token' in req) {
          const host = this.o.placement.ownerOf(req.partition);
          if (host === undefined || host === this.o.self) throw new SessionInvalidError('no cloud of this realm has this session: sign in again');
          return (await this.ask(host, '(session)', req)) as Answer<K>;
        }
        return (await this.ask(this.hostOf(req.eci), req.eci, req)) as Answer<K>;
      default:
        if (!('eci' in req)) throw new TypeError(`a request ${req.op} is not for another host`);
        return (await this.ask(this.hostOf(req.eci), req.eci, req)) as Answer<K>;
    }
  }

  /** Follow a log held elsewhere: its host publishes entries while this host renews a lease. */
  async follow(eci: string, fn: (entry: EpisodeLogEntry) => void): Promise<() => void> {
    const lease = randomBytes(12).toString('base64url');
    const host = this.hostOf(eci);
    const { subject, leaseMs } = (await this.ask(host, eci, { op: 'follow', eci, lease })) as RealmAnswers['follow'];
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

  publish(m: PushMessage): void {
    const wire: PushWire = { origin: this.o.self, push: m };
    this.o.link.publish(subjects.push(this.o.realm, m.eci), pack(wire));
    if (this.o.mqtt) devicePush(this.o.link, this.o.realm, m);
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
