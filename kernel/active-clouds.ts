import { loadCloud, type CloudState } from './cloud.ts';
import type { Clock } from './clock.ts';
import { UnknownCloudError, UnknownEciError } from './errors.ts';
import type { CloudId, Eci } from './ids.ts';
import { keys } from './keys.ts';
import type { Limits } from './limits.ts';
import { Mailbox } from './mailbox.ts';
import { publish } from './observe.ts';
import type { Store } from './store.ts';

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

/**
 * The virtual-actor table: clouds activated on demand (one range read), at most one activation
 * per cloud at a time, evicted when idle or when there are too many (least recently used first).
 * It also keeps the ECI → cloud cache of active clouds and the set of clouds being deleted.
 */
export class ActiveClouds {
  private readonly active = new Map<CloudId, Active>();
  private readonly loading = new Map<CloudId, Promise<Active>>();
  /** Clouds whose deletion is being committed: nothing new may reach them. */
  readonly deleting = new Set<CloudId>();
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

  /** The activation of `id` in flight, if any. */
  loadingOf(id: CloudId): Promise<Active> | undefined {
    return this.loading.get(id);
  }

  /** The cloud an ECI reaches: the cache for active clouds, else one index read. */
  async resolve(eci: string): Promise<CloudId> {
    if (typeof eci !== 'string' || eci.length === 0 || eci.length > 100) throw new UnknownEciError(String(eci));
    const cached = this.eciCache.get(eci);
    if (cached !== undefined && !this.deleting.has(cached) && this.active.get(cached)?.state.ecis.has(eci as Eci)) return cached;
    const id = (await this.store.get(keys.eciIndex(eci))) as CloudId | undefined;
    if (!id || this.deleting.has(id)) throw new UnknownEciError(eci);
    const a = this.active.get(id);
    if (a && !a.evicted && a.state.ecis.has(eci as Eci) && !a.cachedEcis.has(eci)) {
      if (a.cachedEcis.size >= a.state.ecis.size) {
        for (const old of a.cachedEcis) {
          if (!a.state.ecis.has(old as Eci)) {
            a.cachedEcis.delete(old);
            this.eciCache.delete(old);
          }
        }
      }
      this.eciCache.set(eci, id);
      a.cachedEcis.add(eci);
    }
    return id;
  }

  /** Activate `id` if needed and hand its Active to `post` (which must enqueue synchronously). */
  async with<T>(id: CloudId, post: (a: Active) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.deleting.has(id)) throw new UnknownCloudError(id);
      const a = this.active.get(id) ?? (await this.activate(id));
      if (a.evicted) continue;
      a.lastUsed = this.clock.now();
      this.active.delete(id);
      this.active.set(id, a);
      return post(a);
    }
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
    publish('evict', { cloudId: id, reason });
  }

  private activate(id: CloudId): Promise<Active> {
    let p = this.loading.get(id);
    if (!p) {
      const start = performance.now();
      p = loadCloud(this.store, id)
        .then((state) => {
          if (!state) throw new UnknownCloudError(id);
          const a: Active = { state, mailbox: new Mailbox(id, this.limits.mailbox), evicted: false, closed: false, lastUsed: this.clock.now(), cachedEcis: new Set() };
          this.active.set(id, a);
          publish('activate', { cloudId: id, ms: performance.now() - start });
          this.evictOverLimit(id);
          return a;
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
