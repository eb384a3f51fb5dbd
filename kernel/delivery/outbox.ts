import type { CloudState } from '../clouds/cloud-state.ts';
import type { Committer } from '../store/committer.ts';
import type { EpisodeLog } from '../episodes/episode-log.ts';
import { CloudMovedError, InvalidArgsError, KumoError, messageOf, OutboxFullError, UnknownCloudError } from '../errors.ts';
import { newEid, type CloudId, type IdGenerator } from '../ids.ts';
import { keys, ranges, seqOf, type DeadLetter, type Key, type OutboxEntry } from '../store/keys.ts';
import type { Publish } from '../observe.ts';
import type { KumoEvent } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from '../episodes/tx.ts';
import type { Refusal } from '../requests/request.ts';
import { DELETE_CLOUD, isDeletion } from '../clouds/deletions.ts';
import { backoffMs, type Backoff } from '../backoff.ts';
import { checkAttrs, checkSentEventName } from '../validate.ts';

export interface OutboxDeps {
  store: Store;
  committer: Committer;
  ids: IdGenerator;
  now(): number;
  publish: Publish;
  log: EpisodeLog;
  limits: {
    /** Undelivered events the host may hold before `send` is refused with OUTBOX_FULL. */
    outbox: number;
    /** An event not delivered after this long (ms) becomes a dead letter. */
    outboxTtlMs: number;
    /** Dead letters kept per cloud (the oldest go first). */
    deadLetters: number;
    attrsBytes: number;
  };
  /**
   * Hand entry `seq` to its receiver; rejects when it was not taken. Whoever delivers it deletes it
   * (`keys.outbox(seq)`): the receiving episode in its own batch (so a local delivery happens
   * exactly once), or the host once another host has stored the event.
   */
  deliver(entry: OutboxEntry, seq: number): Promise<void>;
  /** Is this failure worth another try (the receiver is busy, unreachable or stopping)? */
  transient(err: unknown, entry: OutboxEntry): Promise<boolean>;
  /** Stage changes to a cloud inside its mailbox and commit them; rejects with UNKNOWN_CLOUD when it is gone. */
  commitIn<T>(cloudId: CloudId, stage: (tx: Tx, cloud: CloudState) => T | Promise<T>): Promise<T>;
  /**
   * Where to send what a forwarding address points at: undefined for this host (or its realm), else
   * the destination as entries keep it; throws when the operator does not allow it.
   */
  destination(location: string): string | undefined;
  /** Tell the sending cloud that `eci` now answers at `host` (null: here), so its rules can keep it. */
  moved(cloudId: CloudId, eci: string, host: string | null): void;
}

export type { Refusal };

interface Pending {
  seq: number;
  entry: OutboxEntry;
  attempts: number;
  /** When to try again (ms). */
  nextAt: number;
  busy: boolean;
}

/** How an entry not delivered is tried again: from 100 ms to 30 s, each wait up to a quarter longer at random. */
const RETRY: Backoff = { firstMs: 100, maxMs: 30_000, jitter: 0.25 };
/** Forwarding addresses an event follows at most (a cloud moved on again and again, or a loop). */
const MAX_MOVES = 5;

/**
 * Events leaving clouds (`ctx.send`). Each is written to the host-wide outbox in its episode's batch
 * and handed over only after that batch commits; it stays in the outbox until the receiver has it,
 * so it is delivered at least once (and applied at most once, by eid, at the other end). A failure
 * worth retrying is tried again with exponential backoff; one that can never succeed (unknown ECI,
 * a policy that refuses it) or one still undelivered after `outboxTtlMs` becomes a dead letter:
 * kept in the sending cloud, entered in its episode log, counted, listable by its owner. Events
 * from one cloud to one ECI are handed over one at a time, in the order they were sent. An event
 * for a cloud that moved (410 CLOUD_MOVED) follows the forwarding address, and the sending cloud
 * hears of it (`wrangler:eci_moved`).
 */
export class Outbox {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  /** Entries by sender and receiving ECI, oldest first: only the head of a lane is delivered, so order holds. */
  private readonly lanes = new Map<string, Pending[]>();
  private readonly attempts = new Set<Promise<void>>();
  /** Sending clouds whose entries are not delivered from here for now (they are moving away). */
  private readonly paused = new Set<string>();
  private stopped = false;

  constructor(private readonly deps: OutboxDeps) {}

  /** Load what a previous run left undelivered and start delivering it. */
  async resume(): Promise<void> {
    const rows = await this.deps.store.entries(ranges.outbox());
    for (const [k, entry] of rows) this.add(seqOf(k), entry);
    const last = rows[rows.length - 1];
    this.seq = last ? seqOf(last[0]) : 0;
  }

  /**
   * Stage an event to `eci` in the episode's batch; delivery starts once the batch commits. `host`:
   * the base URL of another provider's host that has the ECI (already checked by the host's remote).
   */
  stage(tx: Tx, cloud: CloudState, eci: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>, host?: string): void {
    if (typeof eci !== 'string' || eci === '') throw new InvalidArgsError('send needs an ECI');
    checkSentEventName(event);
    checkAttrs(event.attrs, this.deps.limits.attrsBytes);
    if (this.pending.size >= this.deps.limits.outbox) throw new OutboxFullError(this.deps.limits.outbox);
    const now = this.deps.now();
    const seq = ++this.seq;
    const entry: OutboxEntry = { cloudId: cloud.id, eci, event: { eid: newEid(this.deps.ids), ...event, time: now }, since: now, ...(host === undefined ? {} : { host }) };
    tx.stage([put(keys.outbox(seq), entry)]);
    tx.release(() => this.add(seq, entry));
  }

  /**
   * Stop delivering the entries of `clouds` and hand them over (they are leaving this host): waits
   * for their attempts under way, then returns what is still undelivered, with each entry's key.
   * {@link giveUp} forgets them once they are gone; {@link unpause} delivers them again.
   */
  async take(clouds: ReadonlySet<string>): Promise<Array<{ key: Key<OutboxEntry>; entry: OutboxEntry }>> {
    for (const id of clouds) this.paused.add(id);
    while ([...this.pending.values()].some((p) => p.busy && clouds.has(p.entry.cloudId))) await Promise.allSettled([...this.attempts]);
    return [...this.pending.values()].filter((p) => clouds.has(p.entry.cloudId)).map((p) => ({ key: keys.outbox(p.seq), entry: p.entry }));
  }

  /** The entries of `clouds` left this host with them (their keys were deleted in that batch). */
  giveUp(clouds: ReadonlySet<string>): void {
    for (const [lane, queue] of this.lanes) {
      if (!clouds.has(queue[0]!.entry.cloudId)) continue;
      for (const p of queue) this.pending.delete(p.seq);
      this.lanes.delete(lane);
    }
    for (const id of clouds) this.paused.delete(id);
  }

  /** The clouds stay after all: deliver their entries again. */
  unpause(clouds: ReadonlySet<string>): void {
    for (const id of clouds) this.paused.delete(id);
    for (const [p] of this.lanes.values()) if (p && clouds.has(p.entry.cloudId) && !p.busy) this.attempt(p);
  }

  /**
   * Entries that came with clouds from elsewhere, under new keys: the writes to commit, and what to
   * call once they are committed (delivery starts then).
   */
  adopt(entries: readonly OutboxEntry[]): { ops: WriteOp[]; start: () => void } {
    const seqs = entries.map(() => ++this.seq);
    return {
      ops: entries.map((entry, i) => put(keys.outbox(seqs[i]!), entry)),
      start: () => entries.forEach((entry, i) => this.add(seqs[i]!, entry)),
    };
  }

  /**
   * The kernel's deletions of clouds on other hosts (see deletions.ts), sent by `cloudId` to the
   * parent's ECIs on them: batch ops for the episode that deletes, and what starts their delivery
   * once it has committed. Never refused for a full outbox: a deletion is not to be half done.
   */
  deletions(cloudId: CloudId, ecis: readonly string[]): { ops: WriteOp[]; start: () => void } {
    const now = this.deps.now();
    return this.adopt(ecis.map((eci) => ({ cloudId, eci, event: { eid: newEid(this.deps.ids), ...DELETE_CLOUD, attrs: {}, time: now }, since: now })));
  }

  /** Undelivered events held. */
  get size(): number {
    return this.pending.size;
  }

  /** Try again every entry whose retry time has come. Called by the host's timer. */
  tick(): void {
    const now = this.deps.now();
    for (const [p] of this.lanes.values()) if (p && !p.busy && p.nextAt <= now) this.attempt(p);
  }

  /** Stop delivering (the host is closing); what is pending stays in the store for the next start. */
  stop(): void {
    this.stopped = true;
  }

  /** Is a delivery attempt under way? */
  get busy(): boolean {
    return this.attempts.size > 0;
  }

  /** Resolves once the attempts under way have settled. */
  async idle(): Promise<void> {
    while (this.attempts.size > 0) await Promise.allSettled([...this.attempts]);
  }

  /** A cloud's dead letters, newest first. */
  async deadLetters(cloudId: string, limit = this.deps.limits.deadLetters): Promise<DeadLetter[]> {
    const rows = await this.deps.store.entries({ ...ranges.deadLetters(cloudId), reverse: true, limit });
    return rows.map(([, v]) => v);
  }

  private add(seq: number, entry: OutboxEntry): void {
    const p: Pending = { seq, entry, attempts: 0, nextAt: this.deps.now(), busy: false };
    this.pending.set(seq, p);
    const lane = laneOf(entry);
    const queue = this.lanes.get(lane);
    if (queue) queue.push(p);
    else {
      this.lanes.set(lane, [p]);
      this.attempt(p);
    }
  }

  /** The head of its lane is delivered or buried: the next one may go. */
  private done(p: Pending): void {
    this.pending.delete(p.seq);
    const lane = laneOf(p.entry);
    const queue = this.lanes.get(lane);
    if (queue?.[0] !== p) return;
    queue.shift();
    const next = queue.at(0);
    if (next) this.attempt(next);
    else this.lanes.delete(lane);
  }

  private attempt(p: Pending): void {
    if (this.stopped || this.paused.has(p.entry.cloudId)) return;
    p.busy = true;
    p.attempts++;
    const attempt = this.deps
      .deliver(p.entry, p.seq)
      .then(
        () => this.done(p),
        async (err: unknown) => {
          if (err instanceof CloudMovedError) return this.follow(p, err);
          const expired = this.deps.now() - p.entry.since >= this.deps.limits.outboxTtlMs;
          if (!expired && (await this.deps.transient(err, p.entry))) return this.retry(p, err);
          return this.bury(p, err, expired);
        },
      )
      .catch((err: unknown) => this.retry(p, err))
      .finally(() => this.attempts.delete(attempt));
    this.attempts.add(attempt);
  }

  private retry(p: Pending, err: unknown): void {
    p.nextAt = this.deps.now() + backoffMs(p.attempts, RETRY, () => this.deps.ids.bytes(1)[0]! / 256);
    p.busy = false;
    this.deps.publish('retry', { cloudId: p.entry.cloudId, eid: p.entry.event.eid, code: codeOf(err), attempts: p.attempts });
  }

  /**
   * The cloud of `p`'s ECI moved: send `p`, and what waits behind it for the same address, to the
   * forwarding address at once; a dead letter when it leads nowhere new, is not allowed, or after
   * {@link MAX_MOVES} moves.
   */
  private async follow(p: Pending, err: CloudMovedError): Promise<void> {
    const from = p.entry.host;
    let to: string | undefined;
    try {
      if ((p.entry.moves ?? 0) >= MAX_MOVES) throw err;
      to = this.deps.destination(String(err.details['location']));
      if (to === from) throw err;
    } catch (e) {
      return this.bury(p, e, false);
    }
    const queue = this.lanes.get(laneOf(p.entry)) ?? [p];
    const following = queue.filter((q) => q.entry.host === from);
    const entries = following.map(({ entry: { host: _, ...entry } }): OutboxEntry => ({ ...entry, ...(to === undefined ? {} : { host: to }), moves: (entry.moves ?? 0) + 1 }));
    try {
      await this.deps.committer.commit(following.map((q, i) => put(keys.outbox(q.seq), entries[i]!)));
    } catch (e) {
      return this.retry(p, e);
    }
    following.forEach((q, i) => (q.entry = entries[i]!));
    this.deps.moved(p.entry.cloudId, p.entry.eci, to ?? null);
    p.busy = false;
    this.attempt(p);
  }

  /** Turn an entry into a dead letter of its sending cloud. */
  private async bury(p: Pending, err: unknown, expired: boolean): Promise<void> {
    const reason = { code: codeOf(err), message: expired ? `not delivered after ${p.attempts} attempts: ${messageOf(err)}` : messageOf(err) };
    try {
      await this.keep(p.entry.cloudId, { eci: p.entry.eci, event: p.entry.event }, reason, p.attempts, p.seq, { host: p.entry.host });
    } catch (e) {
      return this.retry(p, e);
    }
    this.done(p);
  }

  /**
   * An event the cloud sent that the host of its ECI refused for good: a dead letter too; unless its
   * cloud moved, when it is sent again to the forwarding address (as a new entry).
   */
  async bounce(cloudId: CloudId, routed: { eci: string; event: KumoEvent }, reason: Refusal): Promise<void> {
    if (reason.code === 'CLOUD_MOVED' && reason.location !== undefined) {
      let host: string | undefined;
      try {
        host = this.deps.destination(reason.location);
      } catch (err) {
        return this.keep(cloudId, routed, { code: codeOf(err), message: messageOf(err) }, 1, ++this.seq, { once: true });
      }
      const seq = ++this.seq;
      const entry: OutboxEntry = { cloudId, eci: routed.eci, event: routed.event, since: this.deps.now(), moves: 1, ...(host === undefined ? {} : { host }) };
      // Sent on once, whatever the realm redelivers: across providers the eid does not travel, so
      // a second copy would be applied again there. What was sent on is remembered in the cloud.
      let again: boolean;
      try {
        again = await this.deps.commitIn(cloudId, async (tx, cloud) => {
          const marker = keys.forwarded(cloud.id, routed.eci, routed.event.eid);
          if ((await this.deps.store.get(marker)) !== undefined) return true;
          // Kept as many as dead letters are, the oldest forgotten first.
          const kept = (await this.deps.store.entries(ranges.forwarded(cloud.id))).sort((a, b) => b[1] - a[1]);
          tx.stage([put(keys.outbox(seq), entry), put(marker, this.deps.now()), ...kept.slice(Math.max(0, this.deps.limits.deadLetters - 1)).map(([k]) => del(k))]);
          return false;
        });
      } catch (e) {
        if (e instanceof UnknownCloudError) return; // the sender is gone: nobody to send for
        throw e;
      }
      if (again) return;
      this.add(seq, entry);
      this.deps.moved(cloudId, routed.eci, host ?? null);
      return;
    }
    await this.keep(cloudId, routed, reason, 1, ++this.seq, { once: true });
  }

  /**
   * Keep a dead letter in the sending cloud's mailbox and log, removing its outbox entry (if any) in
   * the same batch. A sender that is gone keeps nothing; any other failure is thrown. `host`: the
   * other provider's host it was for; `once`: a letter for the same event and ECI kept already is
   * not kept again (a bounce heard twice, as when the parcel that carried it is delivered again).
   */
  private async keep(cloudId: CloudId, routed: { eci: string; event: KumoEvent }, reason: { code: string; message: string }, attempts: number, seq: number, opts: { host?: string | undefined; once?: boolean } = {}): Promise<void> {
    const { host, once = false } = opts;
    // A deletion of a cloud that is gone already has done its work.
    if (isDeletion(routed.event) && reason.code === 'UNKNOWN_ECI') return this.deps.committer.commit([del(keys.outbox(seq))]);
    const letter: DeadLetter = { seq, eci: routed.eci, ...(host === undefined ? {} : { host }), event: routed.event, reason, attempts, time: this.deps.now() };
    let again = false;
    try {
      again = await this.deps.commitIn(cloudId, async (tx, cloud) => {
        const kept = await this.deps.store.entries({ ...ranges.deadLetters(cloud.id), reverse: true });
        if (once && kept.some(([, l]) => l.eci === routed.eci && l.event.eid === routed.event.eid)) return true;
        const ops: WriteOp[] = [del(keys.outbox(seq)), put(keys.deadLetter(cloud.id, seq), letter)];
        for (const [old] of kept.slice(Math.max(0, this.deps.limits.deadLetters - 1))) ops.push(del(old));
        tx.stage(ops);
        const { eid, domain, type, time } = routed.event;
        this.deps.log.stage(tx, cloud, { eid, domain, type, time, selected: [], fired: [], directives: [], raised: 0, error: reason, deadLetter: { eci: routed.eci, seq } }, 0);
        return false;
      });
    } catch (e) {
      if (!(e instanceof UnknownCloudError)) throw e;
      await this.deps.committer.commit([del(keys.outbox(seq))]);
    }
    if (!again) this.deps.publish('deadLetter', { cloudId, eid: routed.event.eid, code: reason.code });
  }
}

/** Events from one cloud to one ECI are delivered in the order they were sent. */
function laneOf(entry: OutboxEntry): string {
  return `${entry.cloudId}\u0000${entry.eci}`;
}

function codeOf(err: unknown): string {
  return err instanceof KumoError ? err.code : 'INTERNAL';
}
