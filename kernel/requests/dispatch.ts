import type { ActiveClouds, CloudTask } from '../clouds/activation.ts';
import { CloudMovedError, UnknownCloudError, UnknownEciError } from '../errors.ts';
import type { CloudId } from '../ids.ts';
import { keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';

/** ECIs remembered as not on this host, at most (then it starts over). */
const ELSEWHERE_MAX = 100_000;

/** Options of requests that arrive from another host of the realm. */
export interface LocalOnly {
  /** Serve only clouds of this host: an ECI not here is unknown (never routed on). */
  local?: boolean;
}

/**
 * Where a request about an ECI runs: the cloud of an ECI in this host's index runs `local` (which
 * must enqueue on the cloud's mailbox synchronously, so requests keep their order); an ECI whose
 * cloud left for another provider is CLOUD_MOVED; any other goes to `remote` (the router), unless
 * the request came from another host (`local`) or there is no remote: then it is unknown.
 *
 * It remembers ECIs that are neither in the index nor forwarded: a host handing events to other
 * hosts of its realm (or refusing unknown ECIs) does not read the store twice for each. Only clouds
 * coming in by transfer add ECIs it may hold (forwarding addresses are left only for ECIs that were
 * here): each landing calls {@link landed}, so a lookup that overlapped one is not remembered.
 */
export class Dispatcher {
  private readonly elsewhere = new Set<string>();
  private transferred = 0;

  constructor(
    private readonly clouds: ActiveClouds,
    private readonly store: Store,
  ) {}

  /** Clouds came in: ECIs were added to the index. */
  landed(): void {
    this.transferred++;
    this.elsewhere.clear();
  }

  dispatch<T>(eci: string, opts: LocalOnly, local: CloudTask<T>, remote?: () => Promise<T>, again = true): Promise<T> {
    const cached = this.clouds.cached(eci);
    return cached !== undefined ? this.inCloud(cached, eci, opts, local, remote, again) : this.lookUp(eci, opts, local, remote, again);
  }

  private inCloud<T>(cloudId: CloudId, eci: string, opts: LocalOnly, local: CloudTask<T>, remote: (() => Promise<T>) | undefined, again: boolean): Promise<T> {
    return this.clouds.with(cloudId, local).catch((err: unknown) => {
      // The cloud left (moved, exported, deleted) while the work waited for it: look again.
      if (again && err instanceof UnknownCloudError) return this.dispatch(eci, opts, local, remote, false);
      throw err;
    });
  }

  /** {@link dispatch} for an ECI not in the cache of active clouds: the index, a forwarding address, the remote. */
  private async lookUp<T>(eci: string, opts: LocalOnly, local: CloudTask<T>, remote: (() => Promise<T>) | undefined, again: boolean): Promise<T> {
    if (!this.elsewhere.has(eci)) {
      const seen = this.transferred;
      const cloudId = await this.clouds.lookup(eci);
      if (cloudId !== undefined) return this.inCloud(cloudId, eci, opts, local, remote, again);
      const moved = await this.store.get(keys.tombstone(eci));
      if (moved) throw new CloudMovedError(eci, moved.movedTo);
      // Unless clouds came in meanwhile, it is not here: skip both reads next time.
      if (seen === this.transferred) {
        if (this.elsewhere.size >= ELSEWHERE_MAX) this.elsewhere.clear();
        this.elsewhere.add(eci);
      }
    }
    if (opts.local || !remote) throw new UnknownEciError(eci);
    return remote();
  }
}
