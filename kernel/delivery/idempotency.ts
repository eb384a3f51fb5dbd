import { createHash } from 'node:crypto';
import type { CloudState } from '../clouds/cloud-state.ts';
import { IdempotencyKeyReusedError } from '../errors.ts';
import { keys, parseCloudKey, ranges, type IdempotencyRecord } from '../store/keys.ts';
import type { Limits } from '../limits.ts';
import type { EventResult } from '../requests/request.ts';
import type { KumoEvent } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from '../episodes/tx.ts';
import { isPlainObject } from '../validate.ts';

/**
 * Idempotent retries. An event sent with an idempotency key is applied at most once per cloud
 * within a window (the cloud's newest `limits.idempotencyKeys` keys, none older than
 * `limits.idempotencyMs`): a retry gets the first answer back, marked `replay`, and applies
 * nothing. The same key with another event (another ECI, domain, type or attrs) is refused with
 * IDEMPOTENCY_KEY_REUSED: the key would otherwise hide an event the sender meant to apply.
 *
 * Safe: the key is looked up inside the cloud's mailbox, after every earlier episode committed, and
 * its record is written in the episode's own batch, so a crash can neither apply an event twice nor
 * lose the record of one applied. An event that fails or is refused records nothing: it applied
 * nothing, so its retry runs again.
 *
 * Cheap: records live under `c!{cloud}!~idem!`, which activation does not read. A cloud that never
 * sees a key pays nothing; one that does pays a point read per keyed event (two once the window is
 * full: the oldest key to drop), plus two one-key range reads per activation to find its window.
 */

/** Where a cloud's window stands: places `first` to `next - 1` may hold keys (a replaced key leaves a hole). */
interface Window {
  first: number;
  next: number;
}

/** What to do with a keyed event: answer it from its record, or run it and record its answer. */
export type IdempotencyCheck = { replay: EventResult } | { record: (tx: Tx, result: EventResult) => Promise<void> };

export class Idempotency {
  private readonly windows = new WeakMap<CloudState, Window>();

  constructor(
    private readonly store: Store,
    private readonly limits: Pick<Limits, 'idempotencyKeys' | 'idempotencyMs'>,
    private readonly now: () => number,
  ) {}

  /** Decide about `event`, carrying `key`, arriving at `cloud` through `via`. Call inside the cloud's mailbox. */
  async check(cloud: CloudState, key: string, via: string | undefined, event: KumoEvent): Promise<IdempotencyCheck> {
    const print = fingerprint(via, event);
    const found = await this.find(cloud.id, key, print);
    if (found.replay) return { replay: found.replay };
    return { record: (tx, result) => this.stage(tx, cloud, key, print, result, found.stale) };
  }

  /**
   * The recorded answer for `key`, if there is one. Read outside the mailbox (HTTP 202 answers at
   * once), so it may miss an episode still running: the mailbox's {@link check} catches that one.
   */
  async peek(cloudId: string, key: string, via: string, event: KumoEvent): Promise<EventResult | undefined> {
    return (await this.find(cloudId, key, fingerprint(via, event))).replay;
  }

  private async find(cloudId: string, key: string, print: string): Promise<{ replay?: EventResult; stale?: IdempotencyRecord }> {
    const rec = await this.store.get(keys.idem(cloudId, key));
    if (!rec) return {};
    if (this.now() - rec.time > this.limits.idempotencyMs) return { stale: rec };
    if (rec.fingerprint !== print) throw new IdempotencyKeyReusedError(key, rec.eid);
    return { replay: { eid: rec.eid, directives: rec.directives, replay: true } };
  }

  /** Stage the record of `key` in `tx`, dropping the oldest keys beyond the window in the same batch. */
  private async stage(tx: Tx, cloud: CloudState, key: string, print: string, result: EventResult, stale: IdempotencyRecord | undefined): Promise<void> {
    const id = cloud.id;
    const w = await this.window(cloud);
    const seq = w.next;
    const ops: WriteOp[] = [put(keys.idem(id, key), { seq, eid: result.eid, fingerprint: print, directives: result.directives, time: this.now() }), put(keys.idemSeq(id, seq), key)];
    // An expired record of this key is replaced: its place in the window goes with it.
    if (stale) ops.push(del(keys.idemSeq(id, stale.seq)));
    let first = w.first;
    for (; seq + 1 - first > this.limits.idempotencyKeys; first++) {
      const old = await this.store.get(keys.idemSeq(id, first));
      if (old === undefined) continue;
      ops.push(del(keys.idemSeq(id, first)));
      if (old !== key) ops.push(del(keys.idem(id, old)));
    }
    tx.stage(ops, () => {
      w.first = first;
      w.next = seq + 1;
    });
  }

  private async window(cloud: CloudState): Promise<Window> {
    let w = this.windows.get(cloud);
    if (!w) {
      const range = ranges.idemSeqs(cloud.id);
      const [[oldest], [newest]] = await Promise.all([this.store.keys({ ...range, limit: 1 }), this.store.keys({ ...range, limit: 1, reverse: true })]);
      const seq = (k: string): number => {
        const parsed = parseCloudKey(cloud.id, k);
        return parsed?.kind === 'idemseq' ? parsed.seq : 0;
      };
      w = oldest && newest ? { first: seq(oldest), next: seq(newest) + 1 } : { first: 1, next: 1 };
      this.windows.set(cloud, w);
    }
    return w;
  }
}

/**
 * What a key was used for: the ECI it came through (so a replay goes only to the ECI the answer was
 * made for), the event's name and its attrs (key order does not matter).
 */
export function fingerprint(via: string | undefined, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): string {
  return createHash('sha256')
    .update(canonical([via ?? null, event.domain, event.type, event.attrs]))
    .digest('base64url');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'bigint') return `${v}n`;
  // What JSON cannot say (undefined, a function) is what it says for it in an array: null.
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'object' ? JSON.stringify(v) : 'null';
}
