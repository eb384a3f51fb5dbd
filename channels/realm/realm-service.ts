import { backoff, CloudMovedError, isTransient, KumoError, systemClock, type Refusal, type Clock, type Host, type Timer } from '../../kernel/index.ts';
import { Budget } from './budget.ts';
import type { Delivery, NatsLink } from './nats-link.ts';
import type { Mover } from './mover.ts';
import { messagesOf } from './parcels.ts';
import { RETRY } from './retry.ts';
import type { Placement } from './placement.ts';
import type { RealmRouter } from './realm-router.ts';
import { pack, resources, subjects, unpack, type InboxMessage, type Reply, type Request } from './wire.ts';

export interface RealmServiceOptions {
  realm: string;
  self: string;
  link: NatsLink;
  router: RealmRouter;
  placement: Placement;
  host: Host;
  mover: Mover;
  /** How long a remote log follower's lease lasts without renewal (ms). */
  leaseMs?: number;
  clock?: Clock;
}

/**
 * Messages of the durable inbox under way at once, at most (then the next parcel waits). Measured
 * in (f2): unbounded, a receiving host under load held thousands of episodes waiting in mailboxes,
 * spent a fifth of its time collecting garbage and fell behind (about 8,000 events/s); bounded,
 * about 10,000.
 */
export const MAX_APPLYING = 200;

/**
 * The serving half of a host in a realm: it answers other hosts' requests for its clouds, and
 * applies what arrives in its durable inbox, acknowledging each message only once its episode has
 * committed (`Host.receive`, at most once per eid). Messages for one ECI are applied in the order
 * they were stored; a failure worth retrying is retried in place, so that order holds. An event
 * for an ECI that is not here any more goes on to the host that has it now; one that can never be
 * applied goes back to its sender's host as a dead letter.
 */
export class RealmService {
  private readonly leaseMs: number;
  private readonly clock: Clock;
  private stopServing: (() => void) | null = null;
  private stopConsuming: (() => Promise<void>) | null = null;
  private readonly chains = new Map<string, Promise<boolean>>();
  private readonly leases = new Map<string, { cloudId: string; expires: number }>();
  private readonly publishers = new Map<string, { stop: () => void; leases: number }>();
  private sweep: Timer | null = null;
  private stopping = false;
  /** Messages of the durable inbox under way (see {@link take}). */
  private readonly applying = new Budget(MAX_APPLYING);
  /** The requests being answered, by reply subject: a host asking about one of them learns it is not lost. */
  private readonly working = new Set<string>();

  constructor(private readonly o: RealmServiceOptions) {
    this.leaseMs = o.leaseMs ?? 30_000;
    this.clock = o.clock ?? systemClock;
  }

  async start(): Promise<void> {
    this.stopServing = this.o.link.serve(subjects.rpc(this.o.realm, this.o.self), async (data, reply) => {
      this.working.add(reply);
      try {
        return await this.answer(unpack<Request>(data));
      } finally {
        this.working.delete(reply);
      }
    });
    this.stopConsuming = await this.o.link.consume(resources.inboxStream(this.o.realm), resources.inboxConsumer(this.o.self), subjects.inbox(this.o.realm, this.o.self), (d) => this.take(d));
    this.sweep = this.clock.interval(() => this.expireLeases(), Math.max(100, this.leaseMs / 2));
  }

  /** Stop answering (callers then get NO_RESPONDERS) and consuming; what is unacknowledged is redelivered later. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopServing?.();
    await this.o.link.flush(); // from here on, requests for this host find no responders
    this.sweep?.cancel();
    await this.stopConsuming?.();
    await Promise.allSettled([...this.chains.values()]);
    for (const p of this.publishers.values()) p.stop();
    this.publishers.clear();
  }

  private async answer(req: Request): Promise<Uint8Array> {
    let reply: Reply;
    try {
      reply = { ok: true, value: (await this.serveOrForward(req)) ?? null };
    } catch (err) {
      reply = { ok: false, error: err instanceof KumoError ? err.toJSON() : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } };
    }
    return pack(reply);
  }

  /**
   * Serve a request for a cloud of this host; one whose ECI is not here any more (its cloud moved,
   * and the asking host's map is behind) goes on, once, to the host that has it now.
   */
  private async serveOrForward(req: Request): Promise<unknown> {
    try {
      return await this.serve(req);
    } catch (err) {
      if (!(err instanceof KumoError) || err.code !== 'UNKNOWN_ECI' || !('eci' in req) || req.op === 'move' || req.forwarded) throw err;
      let host: string;
      try {
        host = this.o.router.hostOf(req.eci);
      } catch {
        throw err;
      }
      return this.o.router.ask(host, req.eci, { ...req, forwarded: true });
    }
  }

  /** The realm's own requests here; a move by the mover; every other request by the kernel, as it came. */
  private async serve(req: Request): Promise<unknown> {
    const { mover } = this.o;
    switch (req.op) {
      case 'follow':
        return this.follow(req.eci, req.lease);
      case 'renew': {
        const lease = this.leases.get(req.lease);
        if (lease) lease.expires = this.clock.now() + this.leaseMs;
        return null;
      }
      case 'unfollow':
        this.release(req.lease);
        return null;
      case 'ping':
        return { host: this.o.self, working: (req.working ?? []).filter((r) => this.working.has(r)) };
      case 'move':
        return mover.move(req);
      case 'moveChunk':
        mover.chunk(req.id, req.seq, req.data);
        return null;
      case 'moveLanding':
        await mover.land(req.id, req.from, req.chunks);
        return null;
      case 'moveDecided': {
        const decision = this.o.placement.decision(req.id);
        if (decision) await mover.decided(req.id, decision);
        return null;
      }
      default: {
        const { forwarded: _, ...request } = req;
        return this.o.host.handle(request, { local: true });
      }
    }
  }

  /** Publish a cloud's log entries for followers elsewhere while some lease on it is alive. */
  private async follow(eci: string, lease: string): Promise<{ subject: string; leaseMs: number }> {
    const { cloudId } = await this.o.host.eciInfo(eci, { local: true });
    const subject = subjects.log(this.o.realm, cloudId);
    let publisher = this.publishers.get(cloudId);
    if (!publisher) {
      const stop = await this.o.host.follow(eci, (entry) => this.o.link.publish(subject, pack(entry)), { local: true });
      publisher = this.publishers.get(cloudId) ?? { stop, leases: 0 };
      if (publisher.stop !== stop) stop();
      this.publishers.set(cloudId, publisher);
    }
    publisher.leases++;
    this.leases.set(lease, { cloudId, expires: this.clock.now() + this.leaseMs });
    return { subject, leaseMs: this.leaseMs };
  }

  private release(lease: string): void {
    const held = this.leases.get(lease);
    if (!held) return;
    this.leases.delete(lease);
    const publisher = this.publishers.get(held.cloudId);
    if (publisher && --publisher.leases === 0) {
      publisher.stop();
      this.publishers.delete(held.cloudId);
    }
  }

  private expireLeases(): void {
    const now = this.clock.now();
    for (const [lease, held] of this.leases) if (held.expires <= now) this.release(lease);
  }

  /**
   * One parcel of the durable inbox: each message in order behind the earlier ones for its ECI;
   * acknowledged once all are applied (or sent back), asked for again at once when stopping. Past
   * {@link MAX_APPLYING} messages under way, the next parcel waits (the promise returned).
   */
  private take(d: Delivery): Promise<void> | undefined {
    const messages = messagesOf(unpack(d.data));
    const wait = this.applying.take(messages.length);
    const applied = messages.map((message) => {
      const key = message.op === 'receive' ? message.eci : `bounce:${message.cloudId}`;
      const previous = this.chains.get(key) ?? Promise.resolve(true);
      const next = previous.then(() => this.apply(message, d));
      this.chains.set(key, next);
      void next.finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
        this.applying.release();
      });
      return next;
    });
    void Promise.all(applied).then((done) => (done.every(Boolean) ? d.ack() : d.nak()));
    return wait;
  }

  /** Apply one message, retrying in place what is worth it; false when stopped first. */
  private async apply(message: InboxMessage, d: Delivery): Promise<boolean> {
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        if (message.op === 'bounce') await this.o.host.handle(message, { local: true });
        else await this.receive(message);
        return true;
      } catch (err) {
        if (!isTransient(err)) {
          if (message.op === 'receive') await this.sendBack(message, err).catch(() => undefined);
          return true;
        }
        // Retried here rather than redelivered later, so later messages for the ECI stay behind it.
        d.working();
        await backoff(attempt, RETRY);
      }
    }
    return false; // stopping: the parcel is asked for again at once (what was applied is not applied twice)
  }

  /** Apply an event here, or pass it on to the host that has its ECI now. */
  private async receive(message: Extract<InboxMessage, { op: 'receive' }>): Promise<void> {
    const { from: _, ...request } = message;
    try {
      await this.o.host.handle(request, { local: true });
    } catch (err) {
      if (!(err instanceof KumoError) || err.code !== 'UNKNOWN_ECI') throw err;
      let host: string;
      try {
        host = this.o.router.hostOf(message.eci);
      } catch {
        throw err;
      }
      await this.o.router.durable(host, message, `${message.eci}.${message.event.eid}>${host}`);
    }
  }

  /** An event that can never be applied goes back to its sender's host, which keeps it as a dead letter. */
  private async sendBack(message: Extract<InboxMessage, { op: 'receive' }>, err: unknown): Promise<void> {
    const reason: Refusal = err instanceof KumoError ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: String(err) };
    // A cloud that moved to another provider: the sender's host sends the event on to it.
    if (err instanceof CloudMovedError) reason.location = String(err.details['location']);
    const bounce: InboxMessage = { op: 'bounce', cloudId: message.from.cloudId, eci: message.eci, event: message.event, reason };
    if (message.from.host === this.o.self) await this.o.host.handle(bounce, { local: true });
    else await this.o.router.durable(message.from.host, bounce, `bounce.${message.eci}.${message.event.eid}`);
  }
}
