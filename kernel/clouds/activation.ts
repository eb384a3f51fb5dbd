import { cloudRecords, loadCloud, recordEcis, type CloudState } from './cloud-state.ts';
import type { Clock } from '../clock.ts';
import { isFull, SYSTEM_TAG } from '../capabilities/authority.ts';
import { PolicyDeniedError, UnknownCloudError, UnknownEciError } from '../errors.ts';
import type { EciInfo } from '../ruleset.ts';
import type { CloudId } from '../ids.ts';
import type { Doomed } from './deletions.ts';
import { dueKeyOf, keys } from '../store/keys.ts';
import { describe } from '../validate.ts';
import type { Limits } from '../limits.ts';
import { Mailbox } from './mailbox.ts';
import type { Publish } from '../observe.ts';
import type { Ruleset } from '../ruleset.ts';
import type { Apps } from '../apps/apps.ts';

import { del, erase, type Store, type WriteOp } from '../store/store.ts';

/** A cloud in memory, behind its mailbox. */
export interface Active {
  state: CloudState;
  mailbox: Mailbox;
  evicted: boolean;
  /** Set once the cloud is being deleted: messages still queued fail instead of writing. */
  closed: boolean;
  lastUsed: number;
  /** ECIs of this cloud held in the ECI cache; dropped from it when the cloud is evicted. */
  cachedEcis: Set<string>;
}

export type EvictReason = 'idle' | 'pressure' | 'deleted';

/** Work on an active cloud: what it answers, now or later. */
export type CloudTask<T> = (a: Active) => T | Promise<T>;

/**
 * The virtual-actor table: clouds activated on demand (one range read), at most one activation
 * per cloud at a time, evicted when idle or when there are too many (least recently used first).
 * It also keeps the ECI → cloud cache of active clouds, and deletes whole subtrees of clouds:
 * quiescing each (no new work gets in, what is queued runs first) before one batch removes them.
 */
export class ActiveClouds {
  private readonly active = new Map<CloudId, Active>();
  private readonly loading = new Map<CloudId, Promise<Active>>();
  /** Clouds whose deletion is being committed: nothing new may reach them. */
  private readonly deleting = new Set<CloudId>();
  /** Clouds on hold: work for them waits until they are released. */
  private readonly holds = new Map<CloudId, { released: Promise<void>; release: () => void; fail: (err: unknown) => void }>();
  /**
   * ECI → cloud for ECIs resolved while their cloud was active, so events to an active cloud skip
   * the index read. Only ECIs the active cloud has are used or added; entries leave with their cloud,
   * and deleted ECIs are pruned, so it holds at most about one entry per ECI of an active cloud.
   */
  private readonly eciCache = new Map<string, CloudId>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly limits: Limits,
    private readonly publish: Publish,
    /** The rulesets every cloud has (see `loadCloud`). */
    private readonly builtins: readonly Ruleset[] = [],
    /** Where a cloud's apps are started when it is activated. */
    private readonly apps?: Apps,
  ) {}

  get size(): number {
    return this.active.size;
  }

  values(): IterableIterator<Active> {
    return this.active.values();
  }

  get(id: CloudId): Active | undefined {
    return this.active.get(id);
  }

  /**
   * Put clouds on hold: new work for them waits (it is not refused) until they are released. What
   * is already in their mailboxes still runs: {@link quiesce} waits for it. A cloud released after
   * it left this host makes the waiting work look for it again (it is unknown here by then).
   */
  hold(ids: Iterable<CloudId>): void {
    for (const id of ids) {
      if (this.holds.has(id)) continue;
      let release!: () => void;
      let fail!: (err: unknown) => void;
      const released = new Promise<void>((resolve, reject) => {
        release = resolve;
        fail = reject;
      });
      released.catch(() => undefined);
      this.holds.set(id, { released, release, fail });
    }
  }

  release(ids: Iterable<CloudId>): void {
    for (const id of ids) {
      this.holds.get(id)?.release();
      this.holds.delete(id);
    }
  }

  /** The host is closing: work waiting for held clouds fails with `err` (the holds stay). */
  failWaiters(err: unknown): void {
    for (const h of this.holds.values()) h.fail(err);
  }

  /** Clouds on hold right now. */
  get held(): number {
    return this.holds.size;
  }

  /** Wait until a held cloud has no work in flight: its activation done, its mailbox empty. */
  async quiesce(id: CloudId): Promise<void> {
    await this.loading.get(id)?.catch(() => undefined);
    const a = this.active.get(id);
    if (a) await a.mailbox.barrier();
  }

  /** Is the cloud's deletion being committed? (It may yet fail, and the cloud survive.) */
  isDeleting(id: CloudId): boolean {
    return this.deleting.has(id);
  }

  /**
   * The cloud an ECI reaches on this host: the cache for active clouds, else one index read.
   * Undefined when this host's index does not have the ECI; UNKNOWN_ECI when it cannot be an ECI
   * or its cloud is being deleted.
   */
  async lookup(eci: string): Promise<CloudId | undefined> {
    if (typeof eci !== 'string' || eci.length === 0 || eci.length > 100) throw new UnknownEciError(typeof eci === 'string' ? eci.slice(0, 100) : describe(eci));
    const cached = this.cached(eci);
    if (cached !== undefined) return cached;
    const id = await this.store.get(keys.eciIndex(eci));
    if (id === undefined) return undefined;
    // A cloud on hold (moving away) is waited for in `with`, never refused.
    if (this.deleting.has(id) && !this.holds.has(id)) throw new UnknownEciError(eci);
    const a = this.active.get(id);
    if (a && !a.evicted && a.state.ecis.has(eci) && !a.cachedEcis.has(eci)) this.cache(eci, id, a);
    return id;
  }

  /** The active cloud an ECI reaches, when the cache has it (no store read, no waiting). */
  cached(eci: string): CloudId | undefined {
    const id = this.eciCache.get(eci);
    return id !== undefined && !this.deleting.has(id) && this.active.get(id)?.state.ecis.has(eci) ? id : undefined;
  }

  /** Cache an ECI of an active cloud, first pruning ECIs the cloud no longer has once the cache holds as many as the cloud. */
  private cache(eci: string, id: CloudId, a: Active): void {
    if (a.cachedEcis.size >= a.state.ecis.size) {
      for (const old of a.cachedEcis) {
        if (!a.state.ecis.has(old)) {
          a.cachedEcis.delete(old);
          this.eciCache.delete(old);
        }
      }
    }
    this.eciCache.set(eci, id);
    a.cachedEcis.add(eci);
  }

  /** ECIs held in the cache (for tests of its bound). */
  get cachedEcis(): number {
    return this.eciCache.size;
  }

  /** Activate `id` if needed and hand its Active to `post` (which must enqueue synchronously; a throw becomes a rejection). */
  with<T>(id: CloudId, post: CloudTask<T>): Promise<T> {
    const a = this.active.get(id);
    // An active cloud that is neither held nor being deleted: hand it over now, no waiting.
    if (a === undefined || a.evicted || this.holds.has(id) || this.deleting.has(id)) return this.withWaiting(id, post);
    this.touch(id, a);
    try {
      return Promise.resolve(post(a));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async withWaiting<T>(id: CloudId, post: CloudTask<T>): Promise<T> {
    for (;;) {
      const held = this.holds.get(id);
      if (held) {
        await held.released;
        continue;
      }
      if (this.deleting.has(id)) throw new UnknownCloudError(id);
      const a = this.active.get(id) ?? (await this.activate(id));
      if (a.evicted) continue;
      this.touch(id, a);
      return await post(a);
    }
  }

  /** Mark a cloud used now: the most recently used, the last evicted. */
  private touch(id: CloudId, a: Active): void {
    a.lastUsed = this.clock.now();
    this.active.delete(id);
    this.active.set(id, a);
  }

  /** Evict clouds idle longer than `limits.idleMs`. Returns how many were evicted. */
  evictIdle(): number {
    const cutoff = this.clock.now() - this.limits.idleMs;
    let n = 0;
    for (const [id, a] of this.active) {
      if (a.lastUsed <= cutoff && a.mailbox.idle) {
        this.evict(id, a, 'idle');
        n++;
      }
    }
    return n;
  }

  evict(id: CloudId, a: Active, reason: EvictReason): void {
    a.evicted = true;
    this.active.delete(id);
    for (const eci of a.cachedEcis) this.eciCache.delete(eci);
    this.publish('evict', { cloudId: id, reason });
  }

  /**
   * Delete every cloud of the subtrees under `roots`: quiesce each cloud, then hand the delete ops
   * (every record and the index entries pointing at them) to `write`, which commits them with the
   * episode that asked, with the parent's ECIs on the clouds of the subtrees that are not on this
   * host (moved away: see deletions.ts). If the write fails, every cloud comes back as it was.
   */
  async deleteSubtrees(roots: readonly Doomed[], write: (ops: WriteOp[], elsewhere: string[]) => Promise<void>): Promise<void> {
    const doomed = new Set<CloudId>();
    try {
      const ops: WriteOp[] = [];
      const elsewhere: string[] = [];
      for (const root of roots) for (const op of await this.subtreeDeletes(root, doomed, elsewhere)) ops.push(op);
      await write(ops, elsewhere);
    } catch (err) {
      for (const id of doomed) {
        this.deleting.delete(id);
        const a = this.active.get(id);
        if (a) a.closed = false;
      }
      throw err;
    }
    for (const id of doomed) {
      const a = this.active.get(id);
      if (a) this.evict(id, a, 'deleted');
      this.deleting.delete(id);
    }
  }

  private async subtreeDeletes(root: Doomed, doomed: Set<CloudId>, elsewhere: string[]): Promise<WriteOp[]> {
    const ops: WriteOp[] = [];
    const queue: Doomed[] = [root];
    for (let next = queue.shift(); next; next = queue.shift()) {
      const { id } = next;
      if (doomed.has(id)) continue;
      // Quiesce the cloud: no new activation or message gets in, a load in flight finishes, and
      // everything already queued runs; whatever is queued after the barrier finds it closed.
      this.deleting.add(id);
      doomed.add(id);
      await this.loading.get(id)?.catch(() => undefined);
      const a = this.active.get(id);
      if (a) {
        await a.mailbox.barrier();
        a.closed = true;
      }
      const records = await cloudRecords(this.store, id);
      // No record here: the cloud moved to another host of the realm, where the parent's ECI on it reaches it.
      if (records.length === 0 && next.eci !== undefined) elsewhere.push(next.eci);
      else ops.push(erase(id));
      for (const r of records) {
        ops.push(del(r.key));
        for (const eci of recordEcis(r)) ops.push(del(keys.eciIndex(eci)));
        if (r.kind === 'kid') queue.push({ id: r.childId, eci: r.value.eci });
        else if (r.kind === 'sch') ops.push(del(dueKeyOf(id, r.value)));
        else if (r.kind === 'claim') ops.push(del(keys.claimIndex(r.hash)));
      }
    }
    return ops;
  }

  private activate(id: CloudId): Promise<Active> {
    let p = this.loading.get(id);
    if (!p) {
      const start = performance.now();
      const register = (state: CloudState): Active => {
        const a: Active = { state, mailbox: new Mailbox(id, this.limits.mailbox), evicted: false, closed: false, lastUsed: this.clock.now(), cachedEcis: new Set() };
        this.active.set(id, a);
        this.publish('activate', { cloudId: id, ms: performance.now() - start });
        this.evictOverLimit(id);
        return a;
      };
      p = loadCloud(this.store, id, this.builtins)
        .then((state) => {
          if (!state) throw new UnknownCloudError(id);
          // Registered in the turn its records were read in, unless it has apps to start first.
          const starting = this.apps?.ensure(state.installs);
          return starting ? starting.then(() => register(state)) : register(state);
        })
        .finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  /** Evict least recently used idle clouds over the limit, never `keep` (the one just activated). */
  private evictOverLimit(keep: CloudId): void {
    if (this.active.size <= this.limits.activeClouds) return;
    for (const [id, a] of this.active) {
      if (this.active.size <= this.limits.activeClouds) break;
      if (id !== keep && a.mailbox.idle) this.evict(id, a, 'pressure');
    }
  }
}

/**
 * The one ECI lookup in a cloud: the record of `eci` in the active cloud `a`, or UNKNOWN_ECI (for a
 * cloud being deleted too). With `needs`, the ECI must also carry the cloud's full authority
 * (`full`: its owner's or its parent's ECI) or the `system` tag (`system`: reading its log), else
 * POLICY_DENIED names `what` it was for.
 */
export function eciOf(a: Active, eci: string, needs?: { full?: string; system?: string }): EciInfo {
  const info = eciIn(a, eci);
  if (!info) throw new UnknownEciError(eci);
  if (needs?.full !== undefined && !isFull(info)) throw new PolicyDeniedError(`${needs.full} (that needs the cloud's full authority: its owner's ECI or its parent's)`, eci);
  if (needs?.system !== undefined && !info.tags.includes(SYSTEM_TAG)) throw new PolicyDeniedError(`${needs.system} (needs the "${SYSTEM_TAG}" tag)`, eci);
  return info;
}

/** The record of `eci` in the active cloud `a`; undefined when it has none, or is being deleted (see {@link eciOf}). */
export function eciIn(a: Active, eci: string): EciInfo | undefined {
  return a.closed ? undefined : a.state.ecis.get(eci);
}
