import type { Apps } from '../apps/apps.ts';
import { eciIn, type Active, type ActiveClouds } from '../clouds/activation.ts';
import { redactError } from '../capabilities/authority.ts';
import { committedView } from '../clouds/cloud-state.ts';
import type { CloudState } from '../clouds/cloud-state.ts';
import type { Committer } from '../store/committer.ts';
import type { CloudOps } from './rule-scope.ts';
import { runEpisode, logError } from './episode.ts';
import type { EpisodeLog } from './episode-log.ts';
import type { Idempotency, IdempotencyCheck } from '../delivery/idempotency.ts';
import { KumoError, PolicyDeniedError, StoreFailedError, UnknownCloudError, UnknownEciError } from '../errors.ts';
import { keys, type EpisodeLogEntry } from '../store/keys.ts';
import type { Limits } from '../limits.ts';
import type { Publish } from '../observe.ts';
import { eventAllowed } from '../capabilities/policy.ts';
import type { EventResult } from '../requests/request.ts';
import type { KumoEvent, Ruleset } from '../ruleset.ts';
import { del, encodeOps, put, type WriteOp } from '../store/store.ts';
import { Tx } from './tx.ts';
import type { Outbox } from '../delivery/outbox.ts';

/** How an event reaches a cloud, and what its episode must commit besides its own writes. */
export interface Delivery {
  /** The ECI the event came through: it must exist and its policy allow the event. */
  via?: string;
  /** Apply each eid at most once (events from elsewhere keep their eid). */
  dedupe?: boolean;
  /** The sender's idempotency key: a retry with it gets the recorded answer and is not applied again. */
  idempotencyKey?: string;
  /** Staged into whatever this delivery commits, whether the episode succeeds or fails. */
  always?: (tx: Tx) => void;
  /** When the event is refused before its episode runs, still commit `always` (with a log entry saying why). */
  consumeOnRefusal?: boolean;
}

/** An episode's outcome. `ran`: its rules ran (a failure was logged); `consumed`: `always` was committed. */
export type Outcome = { ok: true; result: EventResult; duplicate: boolean } | { ok: false; error: unknown; ran: boolean; consumed: boolean };

export interface EpisodeRunnerDeps {
  rulesets: ReadonlyMap<string, Ruleset>;
  apps: Apps;
  limits: Limits;
  ops: CloudOps;
  log: EpisodeLog;
  committer: Committer;
  clouds: ActiveClouds;
  idempotency: Idempotency;
  /** Where deletions of clouds on other hosts go (deletions.ts). */
  outbox: Pick<Outbox, 'deletions'>;
  now(): number;
  publish: Publish;
}

/**
 * Runs one event's episode in a cloud (inside its mailbox) and commits it in one batch: the
 * episode's writes, its log entry, the applied eid and whatever the delivery adds. A failed episode
 * commits only its log entry and the delivery's own bookkeeping.
 */
export class EpisodeRunner {
  private readonly env: Parameters<typeof runEpisode>[0];

  constructor(private readonly deps: EpisodeRunnerDeps) {
    this.env = { rulesets: deps.rulesets, apps: deps.apps, raiseDepth: deps.limits.raiseDepth, eventsPerEpisode: deps.limits.eventsPerEpisode, ops: deps.ops };
  }

  /** Run `event` in the active cloud `a`. Never rejects: the outcome says what happened. */
  async run(a: Active, event: KumoEvent, d: Delivery): Promise<Outcome> {
    const cloud = a.state;
    const start = performance.now();
    const refused = this.refusal(a, event, d);
    if (refused) return this.refuse(a, event, d, refused, start);
    if (d.dedupe && cloud.applied.has(event.eid)) return this.skip(cloud, d, { eid: event.eid, directives: [] });
    let record: ((tx: Tx, result: EventResult) => Promise<void>) | undefined;
    if (d.idempotencyKey !== undefined) {
      let check: IdempotencyCheck;
      try {
        check = await this.deps.idempotency.check(cloud, d.idempotencyKey, d.via, event);
      } catch (err) {
        return this.refuse(a, event, d, StoreFailedError.of(err), start);
      }
      if ('replay' in check) return this.skip(cloud, d, check.replay);
      record = check.record;
    }
    let fired = 0;
    try {
      const tx = new Tx(cloud);
      d.always?.(tx);
      const out = await runEpisode(this.env, cloud, event, tx, d.via);
      fired = out.log.fired.length;
      tx.seal();
      const result: EventResult = { eid: event.eid, directives: out.directives };
      if (d.dedupe) this.stageApplied(tx, cloud, event.eid);
      if (record) await record(tx, result);
      this.deps.log.stage(tx, cloud, out.log, performance.now() - start);
      await this.commit(tx);
      this.deps.publish('episode', { cloudId: cloud.id, eid: event.eid, domain: event.domain, type: event.type, fired, ms: performance.now() - start });
      return { ok: true, result, duplicate: false };
    } catch (err) {
      const error = logError(err);
      this.deps.publish('episode', { cloudId: cloud.id, eid: event.eid, domain: event.domain, type: event.type, fired, ms: performance.now() - start, error: error.code });
      const consumed = await this.commitFailure(cloud, event, d, error, start);
      // The log (read with full authority) keeps the whole error; the sender sees what its ECI may.
      const caller = d.via === undefined ? undefined : cloud.ecis.get(d.via);
      return { ok: false, error: redactError(err, committedView(cloud), caller), ran: true, consumed };
    }
  }

  /** Commit a sealed Tx (expanding child deletions), then update memory and release effects. */
  async commit(tx: Tx): Promise<void> {
    encodeOps(tx.ops); // an unstorable value fails this episode alone, not its whole group commit
    const write = (extra: WriteOp[]): Promise<void> =>
      this.deps.committer.commit(extra.length === 0 ? tx.ops : [...tx.ops, ...extra]).catch((err: unknown) => {
        throw StoreFailedError.of(err);
      });
    if (tx.deletions.length === 0) await write([]);
    else {
      await this.deps.clouds.deleteSubtrees(tx.deletions, (ops, elsewhere) => {
        if (elsewhere.length === 0) return write(ops);
        // Clouds of the subtree on other hosts are deleted there, by the outbox (deletions.ts).
        const sent = this.deps.outbox.deletions(tx.cloudId, elsewhere);
        tx.release(sent.start);
        return write([...ops, ...sent.ops]);
      });
    }
    tx.applyCommitted();
  }

  /** Answer without running: an eid already applied, or a retry answered from its idempotency key. Commits only `always`. */
  private async skip(cloud: CloudState, d: Delivery, result: EventResult): Promise<Outcome> {
    if (d.always) {
      try {
        const tx = new Tx(cloud);
        d.always(tx);
        await this.commit(tx);
      } catch (error) {
        return { ok: false, error, ran: false, consumed: false };
      }
    }
    return { ok: true, result, duplicate: true };
  }

  /** Why the event may not run at all, if so. Checked inside the mailbox, so it sees every earlier episode. */
  private refusal(a: Active, event: KumoEvent, d: Delivery): KumoError | undefined {
    if (d.via === undefined) return a.closed ? new UnknownCloudError(a.state.id) : undefined;
    const eci = eciIn(a, d.via);
    if (!eci) return new UnknownEciError(d.via);
    if (!eventAllowed(eci.eventPolicy, event.domain, event.type)) return new PolicyDeniedError(`event ${event.domain}:${event.type}`, d.via);
    return undefined;
  }

  private async refuse(a: Active, event: KumoEvent, d: Delivery, error: KumoError, start: number): Promise<Outcome> {
    if (!d.consumeOnRefusal || !d.always) return { ok: false, error, ran: false, consumed: false };
    // A deleted cloud gets no log entry: it would leave a key in a range that is gone.
    const consumed = a.closed ? await this.commitAlways(a.state, d) : await this.commitFailure(a.state, event, d, logError(error), start);
    return { ok: false, error, ran: false, consumed };
  }

  private async commitAlways(cloud: CloudState, d: Delivery): Promise<boolean> {
    const tx = new Tx(cloud);
    d.always?.(tx);
    return this.commit(tx).then(
      () => true,
      () => false,
    );
  }

  /** Commit what a failed episode keeps: its log entry and the delivery's bookkeeping. */
  private commitFailure(cloud: CloudState, event: KumoEvent, d: Delivery, error: NonNullable<EpisodeLogEntry['error']>, start: number): Promise<boolean> {
    const tx = new Tx(cloud);
    d.always?.(tx);
    const entry = { eid: event.eid, domain: event.domain, type: event.type, time: event.time, selected: [], fired: [], directives: [], raised: 0, error };
    this.deps.log.stage(tx, cloud, entry, performance.now() - start);
    return this.commit(tx).then(
      () => d.always !== undefined,
      () => false,
    );
  }

  /**
   * Remember an applied eid. The oldest are forgotten once there are more than the window and they
   * are older than `appliedMs`, or when there are more than `appliedMax`.
   */
  private stageApplied(tx: Tx, cloud: CloudState, eid: string): void {
    const now = this.deps.now();
    const { appliedWindow, appliedMs, appliedMax } = this.deps.limits;
    const ops: WriteOp[] = [put(keys.applied(cloud.id, eid), now)];
    const oldest: string[] = [];
    for (const [old, at] of cloud.applied) {
      const size = cloud.applied.size + 1 - oldest.length;
      if (size <= appliedWindow || (size <= appliedMax && now - at < appliedMs)) break;
      oldest.push(old);
    }
    for (const old of oldest) ops.push(del(keys.applied(cloud.id, old)));
    tx.stage(ops, (c) => {
      for (const old of oldest) c.applied.delete(old);
      c.applied.set(eid, now);
    });
  }
}
