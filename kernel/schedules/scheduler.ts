import type { Active } from '../clouds/activation.ts';
import type { CloudState, ScheduleRecord } from '../clouds/cloud-state.ts';
import type { Committer } from '../store/committer.ts';
import { nextCronTime } from './cron.ts';
import { InvalidScheduleError, LimitExceededError, UnknownCloudError, UnknownScheduleError } from '../errors.ts';
import { newEid, type CloudId, type IdGenerator } from '../ids.ts';
import { dueKeyOf, keys, parseDueKey, ranges, type Key } from '../store/keys.ts';
import type { Publish } from '../observe.ts';
import type { KumoEvent } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from '../episodes/tx.ts';
import { checkAttrs, checkEventName } from '../validate.ts';

export interface SchedulerDeps {
  store: Store;
  committer: Committer;
  ids: IdGenerator;
  now(): number;
  limits: { schedulesPerCloud: number; attrsBytes: number };
  publish: Publish;
  /** Run `task` in the cloud's mailbox, activating it; rejects with UNKNOWN_CLOUD when it is gone. */
  inCloud<T>(cloudId: CloudId, task: (a: Active) => Promise<T>): Promise<T>;
  /** Is the cloud's deletion being committed (it may yet fail and the cloud survive)? */
  deleting(cloudId: CloudId): boolean;
  /** Run a scheduled event's episode; `always` stages the schedule's bookkeeping, committed whether the episode succeeds or fails. */
  process(a: Active, event: KumoEvent, always: (tx: Tx) => void): Promise<unknown>;
}

type ScheduleEvent = Pick<KumoEvent, 'domain' | 'type' | 'attrs'>;

/** Due keys read per run: a backlog is worked off over several runs, never in one unbounded read. */
const DUE_BATCH = 1000;

/**
 * Scheduled events: at a time, or repeating by cron (UTC). The only writer of schedule records
 * (`c!{cloud}!sch!{id}`) and of the host-wide due index (`d!{time}!{cloud}!{id}`), which it reads
 * to fire what is due: each firing is an episode in the cloud's mailbox, with the schedule's
 * bookkeeping (next time, or removal) in the same batch.
 */
export class Scheduler {
  private running: Promise<number> | null = null;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Stage a schedule at a time (ms since the epoch). Returns its id. */
  at(tx: Tx, cloud: CloudState, at: unknown, event: ScheduleEvent): string {
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) throw new InvalidScheduleError('a schedule time must be a finite number of ms since the epoch');
    return this.add(tx, cloud, { id: newEid(this.deps.ids), ...event, next: Math.floor(at) });
  }

  /** Stage a schedule repeating by a cron expression. Returns its id. */
  repeat(tx: Tx, cloud: CloudState, cron: unknown, event: ScheduleEvent): string {
    if (typeof cron !== 'string') throw new InvalidScheduleError('a cron expression must be a string');
    return this.add(tx, cloud, { id: newEid(this.deps.ids), ...event, next: nextCronTime(cron, this.deps.now()), cron });
  }

  /** Stage the cancellation of a schedule (one staged earlier in the episode included). */
  cancel(tx: Tx, cloud: CloudState, id: string): void {
    const rec = tx.schedule(id);
    if (!rec) throw new UnknownScheduleError(`cloud ${cloud.meta.name} has no schedule ${JSON.stringify(id)}`, { id });
    tx.stage([del(keys.schedule(cloud.id, id)), del(dueKeyOf(cloud.id, rec))], (c) => c.schedules.delete(id));
    tx.stageSchedule(id, null);
  }

  /** Fire every schedule due by now. Returns how many fired. One run at a time. */
  runDue(): Promise<number> {
    this.running ??= this.fireDue().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Resolves when a run in progress is over. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private add(tx: Tx, cloud: CloudState, rec: ScheduleRecord): string {
    checkEventName(rec);
    checkAttrs(rec.attrs, this.deps.limits.attrsBytes);
    const max = this.deps.limits.schedulesPerCloud;
    if (tx.scheduleCount() >= max) throw new LimitExceededError('schedulesPerCloud', max, `a cloud may hold at most ${max} schedules`);
    tx.stageSchedule(rec.id, rec);
    tx.stage([put(keys.schedule(cloud.id, rec.id), rec), put(dueKeyOf(cloud.id, rec), null)], (c) => c.schedules.set(rec.id, rec));
    return rec.id;
  }

  private async fireDue(): Promise<number> {
    const now = this.deps.now();
    const due = await this.deps.store.keys({ ...ranges.duesUntil(now), limit: DUE_BATCH });
    const results = await Promise.allSettled(due.map((k) => this.fire(k, now)));
    return results.filter((r) => r.status === 'fulfilled' && r.value).length;
  }

  private async fire(dueKey: Key<null>, now: number): Promise<boolean> {
    const { at, cloudId, sid } = parseDueKey(dueKey);
    try {
      return await this.deps.inCloud(cloudId, async (a) => {
        const rec = a.state.schedules.get(sid);
        if (!rec || rec.next !== at) {
          // A stale due key (the schedule was cancelled or moved on): drop it.
          await this.deps.committer.commit([del(dueKey)]);
          return false;
        }
        this.deps.publish('schedule', { cloudId, id: sid, at });
        const event: KumoEvent = { eid: newEid(this.deps.ids), domain: rec.domain, type: rec.type, attrs: rec.attrs, time: now };
        await this.deps.process(a, event, (tx) => this.advance(tx, cloudId, rec, dueKey, now)).catch(() => undefined);
        return true;
      });
    } catch (err) {
      // A cloud that is gone takes its schedules with it; one being deleted may yet survive (the
      // deletion can fail), so its due key stays for the next run.
      if (err instanceof UnknownCloudError && !this.deps.deleting(cloudId)) await this.deps.committer.commit([del(dueKey)]);
      return false;
    }
  }

  /** A schedule fired: a cron schedule moves to its next time, a one-off is removed. */
  private advance(tx: Tx, cloudId: CloudId, rec: ScheduleRecord, dueKey: Key<null>, now: number): void {
    const ops: WriteOp[] = [del(dueKey)];
    if (rec.cron) {
      const next = { ...rec, next: nextCronTime(rec.cron, Math.max(now, rec.next)) };
      ops.push(put(keys.schedule(cloudId, rec.id), next), put(dueKeyOf(cloudId, next), null));
      tx.stage(ops, (c) => c.schedules.set(rec.id, next));
      tx.stageSchedule(rec.id, next);
    } else {
      ops.push(del(keys.schedule(cloudId, rec.id)));
      tx.stage(ops, (c) => c.schedules.delete(rec.id));
      tx.stageSchedule(rec.id, null);
    }
  }
}
