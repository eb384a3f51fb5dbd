import type { CloudState } from '../clouds/cloud-state.ts';
import { keys, ranges, type EpisodeLogEntry } from '../store/keys.ts';
import { Listeners } from '../delivery/listeners.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from './tx.ts';

/**
 * Each cloud's episode log: one entry per episode (and per dead letter), written in the episode's
 * own batch, capped at `limit` entries per cloud (the oldest is deleted in the same batch).
 * Followers hear an entry only once it has committed.
 */
export class EpisodeLog {
  private readonly watchers = new Listeners<EpisodeLogEntry>();

  constructor(
    private readonly store: Store,
    /** Entries kept per cloud; 0 turns the log off. */
    private readonly limit: number,
  ) {}

  /** Stage an entry in `tx`, taking `ms`; it gets the cloud's next sequence number. */
  stage(tx: Tx, cloud: CloudState, entry: Omit<EpisodeLogEntry, 'seq' | 'ms'>, ms: number): void {
    if (this.limit === 0) return; // the operator turned the episode log off
    const seq = cloud.logSeq + 1;
    // Field by field: a spread of the entry costs several times this literal, once per episode.
    const logged: EpisodeLogEntry = { seq, eid: entry.eid, domain: entry.domain, type: entry.type, time: entry.time, selected: entry.selected, fired: entry.fired, directives: entry.directives, raised: entry.raised, ms };
    if (entry.missing) logged.missing = entry.missing;
    if (entry.error) logged.error = entry.error;
    if (entry.deadLetter) logged.deadLetter = entry.deadLetter;
    const ops: WriteOp[] = [put(keys.log(cloud.id, seq), logged)];
    if (seq > this.limit) ops.push(del(keys.log(cloud.id, seq - this.limit)));
    tx.stage(ops, (c) => {
      c.logSeq = seq;
    });
    if (this.watchers.has(cloud.id)) tx.release(() => this.watchers.notify(cloud.id, logged));
  }

  /** The newest entries of a cloud's log, newest first. */
  async read(cloudId: string, limit = this.limit): Promise<EpisodeLogEntry[]> {
    const rows = await this.store.entries({ ...ranges.logs(cloudId), reverse: true, limit });
    return rows.map(([, v]) => v);
  }

  /** Follow a cloud's log as entries commit. Returns the function that stops it. */
  watch(cloudId: string, fn: (entry: EpisodeLogEntry) => void): () => void {
    return this.watchers.add(cloudId, fn);
  }

  /** How many followers a cloud has (for tests of clean-up). */
  followers(cloudId: string): number {
    return this.watchers.count(cloudId);
  }
}
