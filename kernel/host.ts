import { ActiveClouds, type Active } from './active-clouds.ts';
import type { CloudState } from './cloud.ts';
import { Listeners } from './listeners.ts';
import { runQuery } from './query.ts';
import { createCloudOps, newCloudOps, SYSTEM_TAG, type OutboxEntry, type PushMessage } from './cloud-ops.ts';
import { systemClock, type Clock } from './clock.ts';
import { Committer } from './committer.ts';
import type { CloudOps } from './context.ts';
import { nextCronTime } from './cron.ts';
import { runEpisode, logError, type Directive, type EpisodeEnv, type EpisodeLogEntry } from './episode.ts';
import {
  InvalidArgsError,
  KumoError,
  PolicyDeniedError,
  ShuttingDownError,
  UnknownCloudError,
  UnknownEciError,
  UnknownRulesetError,
} from './errors.ts';
import { cryptoIds, newCloudId, newEci, newEid, PARTITIONS, type CloudId, type Eci, type IdGenerator } from './ids.ts';
import { keys, parseDueKey, rangeOf } from './keys.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { publish } from './observe.ts';
import { ALLOW_ALL_EVENTS, ALLOW_ALL_QUERIES, eventAllowed } from './policy.ts';
import type { EciInfo, KumoEvent, Ruleset } from './ruleset.ts';
import { encodeOps, type Store, type WriteOp } from './store.ts';
import { Tx } from './tx.ts';
import { checkAttrs, checkEid, checkEventName, isPlainObject } from './validate.ts';

export interface HostOptions {
  store: Store;
  clock?: Clock;
  ids?: IdGenerator;
  /** Rulesets this host can install (host code, trusted). */
  rulesets?: Ruleset[];
  /** Rids installed into every new cloud (must be among `rulesets`). */
  builtins?: string[];
  limits?: Partial<Limits>;
  /** Partitions this host owns; new clouds go only there. Default: all. */
  partitions?: number[];
}

export interface EventInput {
  eci: string;
  eid?: string;
  domain: string;
  type: string;
  attrs?: unknown;
}

export interface EventResult {
  eid: string;
  directives: Directive[];
}

export interface QueryInput {
  eci: string;
  rid: string;
  name: string;
  args?: unknown;
}

interface ProcessOptions {
  /** The ECI the event came through; its policy is checked inside the mailbox. */
  eci?: string;
  /** Apply each eid at most once (outbox deliveries). */
  dedupe?: boolean;
  /** Changes committed with the episode whether or not it succeeds (schedule bookkeeping). */
  always?: (tx: Tx) => void;
}

const RID = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;

/**
 * One kumo host: the clouds in one store, activated on demand, each behind its own mailbox.
 * Channels (HTTP, WebSocket, CLI) call {@link Host.event} and {@link Host.query}; nothing else
 * changes a cloud.
 */
export class Host {
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: Limits;
  private readonly ids: IdGenerator;
  private readonly registry = new Map<string, Ruleset>();
  private readonly builtins: string[];
  private readonly partitions: number[];
  private readonly committer: Committer;
  private readonly ops: CloudOps;
  private readonly episodeEnv: EpisodeEnv;
  private readonly clouds: ActiveClouds;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly redeliver = new Map<string, OutboxEntry>();
  private readonly listeners = new Listeners<PushMessage>();
  private readonly watchers = new Listeners<EpisodeLogEntry>();
  private outboxSeq = 0;
  private dueRun: Promise<number> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;

  private constructor(opts: HostOptions) {
    this.store = opts.store;
    this.clock = opts.clock ?? systemClock;
    this.ids = opts.ids ?? cryptoIds;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.partitions = opts.partitions ?? Array.from({ length: PARTITIONS }, (_, i) => i);
    if (this.partitions.length === 0) throw new RangeError('a host must own at least one partition');
    for (const rs of opts.rulesets ?? []) this.register(rs);
    this.builtins = opts.builtins ?? [];
    for (const rid of this.builtins) if (!this.registry.has(rid)) throw new UnknownRulesetError(rid);
    this.committer = new Committer(this.store);
    this.clouds = new ActiveClouds(this.store, this.clock, this.limits);
    this.ops = createCloudOps({
      ids: this.ids,
      now: () => this.clock.now(),
      rulesets: this.registry,
      builtins: this.builtins,
      limits: this.limits,
      partition: () => this.newPartition(),
      outboxKey: () => keys.outbox(++this.outboxSeq),
      deliver: (key, entry) => this.deliver(key, entry),
      push: (m) => this.listeners.notify(m.eci, m),
    });
    this.episodeEnv = { rulesets: this.registry, raiseDepth: this.limits.raiseDepth, eventsPerEpisode: this.limits.eventsPerEpisode, ops: this.ops };
  }

  /** Open a host on a store: resumes undelivered outbox events. Reads nothing per stored cloud. */
  static async open(opts: HostOptions): Promise<Host> {
    const host = new Host(opts);
    const pending = await host.store.entries(rangeOf(keys.outboxes()));
    const last = pending[pending.length - 1];
    host.outboxSeq = last ? Number(last[0].slice(keys.outboxes().length)) : 0;
    for (const [key, entry] of pending) host.deliver(key, entry as OutboxEntry);
    return host;
  }

  /** Make a ruleset installable on this host (replacing one with the same rid). */
  register(ruleset: Ruleset): void {
    if (!RID.test(ruleset.rid)) throw new KumoError('INVALID_RULESET', `invalid rid ${JSON.stringify(ruleset.rid)}: use letters, digits, "_", "." and "-"`);
    this.registry.set(ruleset.rid, ruleset);
  }

  get rulesets(): ReadonlyMap<string, Ruleset> {
    return this.registry;
  }

  /** The host's root cloud and its owner ECI, created on first call. */
  async root(): Promise<{ cloudId: CloudId; eci: Eci; created: boolean }> {
    const rec = (await this.store.get(keys.root())) as { cloudId: CloudId; eci: Eci } | undefined;
    if (rec) return { ...rec, created: false };
    const partition = this.newPartition();
    const cloudId = newCloudId(this.ids, partition);
    const eci: EciInfo = { id: newEci(this.ids, partition), tags: ['owner', SYSTEM_TAG], eventPolicy: structuredClone(ALLOW_ALL_EVENTS), queryPolicy: structuredClone(ALLOW_ALL_QUERIES) };
    await this.committer.commit([
      ...newCloudOps({ id: cloudId, name: 'root', parent: null, created: this.clock.now() }, eci, this.builtins.map((rid) => ({ rid, config: {} }))),
      { type: 'put', key: keys.root(), value: { cloudId, eci: eci.id } },
    ]);
    return { cloudId, eci: eci.id, created: true };
  }

  /** Send an event to a cloud through one of its ECIs and wait for the episode's directives. */
  event(input: EventInput): Promise<EventResult> {
    return this.admit(async () => {
      const event = this.toEvent(input);
      const cloudId = await this.resolve(input.eci);
      return this.clouds.with(cloudId, (a) => a.mailbox.post(() => this.process(a, event, { eci: input.eci })));
    });
  }

  /** Call a shared function of a ruleset installed in the cloud behind an ECI. */
  query(input: QueryInput): Promise<unknown> {
    return this.admit(async () => {
      const { rid, name } = input;
      if (typeof rid !== 'string' || typeof name !== 'string' || rid === '' || name === '') throw new InvalidArgsError('a query needs a rid and a function name');
      const args = input.args ?? {};
      if (!isPlainObject(args)) throw new InvalidArgsError('query args must be an object');
      const cloudId = await this.resolve(input.eci);
      return this.clouds.with(cloudId, (a) => a.mailbox.post(() => runQuery({ rulesets: this.registry, clock: this.clock, queryMs: this.limits.queryMs }, a.closed ? null : a.state, input.eci, rid, name, args)));
    });
  }

  /** The cloud an ECI reaches (O(1): a cache of active clouds' ECIs, else one index read). */
  resolve(eci: string): Promise<CloudId> {
    return this.clouds.resolve(eci);
  }

  /** The record of an ECI (tags and policies) and the cloud it reaches; channels use the tags to decide who may read a log. */
  async eciInfo(eci: string): Promise<EciInfo & { cloudId: CloudId }> {
    const cloudId = await this.resolve(eci);
    const info = (await this.store.get(keys.eci(cloudId, eci))) as EciInfo | undefined;
    if (!info) throw new UnknownEciError(eci);
    return { ...info, cloudId };
  }

  /** The newest entries of a cloud's episode log, newest first. */
  async episodeLog(cloudId: string, limit = this.limits.logEntries): Promise<EpisodeLogEntry[]> {
    const rows = await this.store.entries({ ...rangeOf(keys.logs(cloudId)), reverse: true, limit });
    return rows.map(([, v]) => v as EpisodeLogEntry);
  }

  /** Receive what rules push to `eci` (see RuleContext.push). Returns the function that stops it. */
  listen(eci: string, fn: (m: PushMessage) => void): () => void {
    return this.listeners.add(eci, fn);
  }

  /** Follow a cloud's episode log as entries commit. Returns the function that stops it. */
  watch(cloudId: string, fn: (entry: EpisodeLogEntry) => void): () => void {
    return this.watchers.add(cloudId, fn);
  }

  /** Numbers for metrics. */
  stats(): { activeClouds: number; mailboxDepth: number } {
    let depth = 0;
    for (const a of this.clouds.values()) depth += a.mailbox.depth;
    return { activeClouds: this.clouds.size, mailboxDepth: depth };
  }

  /** Fire every schedule due at the clock's current time. Returns how many fired. */
  runDue(): Promise<number> {
    if (this.closing) return Promise.resolve(0);
    this.dueRun ??= this.fireDue().finally(() => {
      this.dueRun = null;
    });
    return this.dueRun;
  }

  /** Evict clouds idle longer than `limits.idleMs`. Returns how many were evicted. */
  evictIdle(): number {
    return this.clouds.evictIdle();
  }

  /** Start the host's timer: schedules, idle eviction and outbox retries, every `intervalMs`. */
  start(intervalMs = 250): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      void this.runDue().catch(() => undefined);
      this.evictIdle();
      for (const [key, entry] of this.redeliver) {
        this.redeliver.delete(key);
        this.deliver(key, entry);
      }
    }, intervalMs);
    this.timer.unref();
  }

  /** Stop taking work, let every mailbox drain, flush commits and close the store. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.dueRun?.catch(() => undefined);
    while (this.inflight.size > 0 || [...this.clouds.values()].some((a) => !a.mailbox.idle)) {
      await Promise.allSettled([...this.inflight, ...[...this.clouds.values()].map((a) => a.mailbox.barrier())]);
    }
    await this.committer.drain();
    await this.store.close();
  }

  // ---- internals ----

  private newPartition(): number {
    const b = this.ids.bytes(2);
    return this.partitions[((b[0]! << 8) | b[1]!) % this.partitions.length]!;
  }

  private toEvent(input: EventInput): KumoEvent {
    if (typeof input !== 'object' || input === null) throw new InvalidArgsError('an event must be an object');
    checkEventName(input.domain, input.type);
    const eid = input.eid ?? newEid(this.ids);
    checkEid(eid);
    const attrs = input.attrs ?? {};
    checkAttrs(attrs, this.limits.attrsBytes);
    return { eid, domain: input.domain, type: input.type, attrs, time: this.clock.now() };
  }

  /** Run a request unless the host is closing; close() waits for every admitted request. */
  private admit<T>(work: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new ShuttingDownError());
    return this.track(work());
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Run one event's episode in a cloud (inside its mailbox) and commit it. */
  private async process(a: Active, event: KumoEvent, opts: ProcessOptions): Promise<EventResult> {
    const cloud = a.state;
    const start = performance.now();
    if (a.closed) throw opts.eci !== undefined ? new UnknownEciError(opts.eci) : new UnknownCloudError(cloud.id);
    if (opts.eci !== undefined) {
      const eci = cloud.ecis.get(opts.eci as Eci);
      if (!eci) throw new UnknownEciError(opts.eci);
      if (!eventAllowed(eci.eventPolicy, event.domain, event.type)) throw new PolicyDeniedError(`event ${event.domain}:${event.type}`, opts.eci);
    }
    if (opts.dedupe && cloud.applied.has(event.eid)) return { eid: event.eid, directives: [] };
    let fired = 0;
    try {
      const tx = new Tx(cloud);
      opts.always?.(tx);
      const out = await runEpisode(this.episodeEnv, cloud, event, tx, opts.eci);
      fired = out.log.fired.length;
      tx.seal();
      if (opts.dedupe) this.stageApplied(tx, cloud, event.eid);
      this.stageLog(tx, cloud, { ...out.log, ms: performance.now() - start });
      await this.commit(tx);
      publish('episode', { cloudId: cloud.id, eid: event.eid, domain: event.domain, type: event.type, fired, ms: performance.now() - start });
      return { eid: event.eid, directives: out.directives };
    } catch (err) {
      const error = logError(err);
      publish('episode', { cloudId: cloud.id, eid: event.eid, domain: event.domain, type: event.type, fired, ms: performance.now() - start, error: error.code });
      const tx = new Tx(cloud);
      opts.always?.(tx);
      const entry = { eid: event.eid, domain: event.domain, type: event.type, time: event.time, selected: [], fired: [], directives: [], raised: 0 };
      this.stageLog(tx, cloud, { ...entry, error, ms: performance.now() - start });
      await this.commit(tx).catch(() => undefined);
      throw err;
    }
  }

  private stageLog(tx: Tx, cloud: CloudState, entry: Omit<EpisodeLogEntry, 'seq'>): void {
    if (this.limits.logEntries === 0) return; // the operator turned the episode log off
    const seq = cloud.logSeq + 1;
    const logged: EpisodeLogEntry = { seq, ...entry };
    const ops: WriteOp[] = [{ type: 'put', key: keys.log(cloud.id, seq), value: logged }];
    if (seq > this.limits.logEntries) ops.push({ type: 'del', key: keys.log(cloud.id, seq - this.limits.logEntries) });
    tx.stage(ops, (c) => {
      c.logSeq = seq;
    });
    if (this.watchers.has(cloud.id)) tx.release(() => this.watchers.notify(cloud.id, logged));
  }

  private stageApplied(tx: Tx, cloud: CloudState, eid: string): void {
    const ops: WriteOp[] = [{ type: 'put', key: keys.applied(cloud.id, eid), value: this.clock.now() }];
    const oldest: string[] = [];
    for (const old of cloud.applied.keys()) {
      if (cloud.applied.size + 1 - oldest.length <= this.limits.appliedWindow) break;
      oldest.push(old);
    }
    for (const old of oldest) ops.push({ type: 'del', key: keys.applied(cloud.id, old) });
    tx.stage(ops, (c) => {
      for (const old of oldest) c.applied.delete(old);
      c.applied.set(eid, this.clock.now());
    });
  }

  /** Commit a sealed Tx (expanding child deletions), then update memory and release effects. */
  private async commit(tx: Tx): Promise<void> {
    encodeOps(tx.ops); // an unstorable value fails this episode alone, not its whole group commit
    const doomed: CloudId[] = [];
    try {
      for (const id of tx.deletions) for (const op of await this.subtreeDeletes(id, doomed)) tx.ops.push(op);
      await this.committer.commit(tx.ops);
    } catch (err) {
      for (const id of doomed) {
        this.clouds.deleting.delete(id);
        const a = this.clouds.get(id);
        if (a) a.closed = false;
      }
      throw err instanceof KumoError ? err : new KumoError('STORE_FAILED', `could not commit: ${(err as Error).message}`, {}, { cause: err });
    }
    for (const id of doomed) {
      const a = this.clouds.get(id);
      if (a) this.clouds.evict(id, a, 'deleted');
      this.clouds.deleting.delete(id);
    }
    tx.applyCommitted();
  }

  /** Delete ops for every key of a cloud and its descendants, and the index entries pointing at them. */
  private async subtreeDeletes(root: CloudId, doomed: CloudId[]): Promise<WriteOp[]> {
    const ops: WriteOp[] = [];
    const queue: CloudId[] = [root];
    for (let id = queue.shift(); id; id = queue.shift()) {
      // Quiesce the cloud: no new activation or message gets in, a load in flight finishes, and
      // everything already queued runs; whatever is queued after the barrier finds it closed.
      this.clouds.deleting.add(id);
      doomed.push(id);
      await this.clouds.loadingOf(id)?.catch(() => undefined);
      const a = this.clouds.get(id);
      if (a) {
        await a.mailbox.barrier();
        a.closed = true;
      }
      const prefix = keys.cloud(id);
      for (const [key, value] of await this.store.entries(rangeOf(prefix))) {
        ops.push({ type: 'del', key });
        const rest = key.slice(prefix.length);
        if (rest.startsWith('eci!')) ops.push({ type: 'del', key: keys.eciIndex(rest.slice(4)) });
        else if (rest.startsWith('kid!')) queue.push(rest.slice(4) as CloudId);
        else if (rest.startsWith('sch!')) ops.push({ type: 'del', key: keys.due((value as { next: number }).next, id, rest.slice(4)) });
      }
    }
    return ops;
  }

  /** Deliver an outbox entry; its key is deleted once the receiver has taken it (or refused it for good). */
  private deliver(key: string, entry: OutboxEntry): void {
    if (this.closing) return;
    const { eci, event } = entry;
    const attempt = this.resolve(eci).then((id) => this.clouds.with(id, (a) => a.mailbox.post(() => this.process(a, event, { eci, dedupe: true }))));
    void this.track(
      attempt.then(
        () => this.committer.commit([{ type: 'del', key }]),
        async (err) => {
          const transient = err instanceof KumoError && (err.code === 'MAILBOX_FULL' || err.code === 'SHUTTING_DOWN' || err.code === 'STORE_FAILED');
          // An ECI whose cloud is being deleted is still in the index: the deletion may fail.
          const pending = err instanceof KumoError && (err.code === 'UNKNOWN_ECI' || err.code === 'UNKNOWN_CLOUD') && (await this.store.get(keys.eciIndex(eci))) !== undefined;
          if (transient || pending) {
            this.redeliver.set(key, entry);
            return undefined;
          }
          return this.committer.commit([{ type: 'del', key }]);
        },
      ),
    ).catch(() => undefined);
  }

  private async fireDue(): Promise<number> {
    const now = this.clock.now();
    const due = await this.store.keys({ ...keys.duesUntil(now), limit: 1000 });
    const results = await Promise.allSettled(due.map((k) => this.fireOne(k, now)));
    return results.filter((r) => r.status === 'fulfilled' && r.value).length;
  }

  private async fireOne(dueKey: string, now: number): Promise<boolean> {
    const { at, cloudId, id } = parseDueKey(dueKey);
    const cid = cloudId as CloudId;
    try {
      return await this.clouds.with(cid, (a) =>
        a.mailbox.post(async () => {
          const rec = a.state.schedules.get(id);
          if (!rec || rec.next !== at) {
            await this.committer.commit([{ type: 'del', key: dueKey }]);
            return false;
          }
          const always = (tx: Tx): void => {
            const ops: WriteOp[] = [{ type: 'del', key: dueKey }];
            if (rec.cron) {
              const next = { ...rec, next: nextCronTime(rec.cron, Math.max(now, at)) };
              ops.push({ type: 'put', key: keys.schedule(cid, id), value: next }, { type: 'put', key: keys.due(next.next, cid, id), value: null });
              tx.stage(ops, (c) => c.schedules.set(id, next));
              tx.stageSchedule(id, next);
            } else {
              ops.push({ type: 'del', key: keys.schedule(cid, id) });
              tx.stage(ops, (c) => c.schedules.delete(id));
              tx.stageSchedule(id, null);
            }
          };
          publish('schedule', { cloudId: cid, id, at });
          const event: KumoEvent = { eid: newEid(this.ids), domain: rec.domain, type: rec.type, attrs: rec.attrs, time: now };
          await this.process(a, event, { always }).catch(() => undefined);
          return true;
        }),
      );
    } catch (err) {
      // A cloud that is gone takes its schedules with it; one being deleted may yet survive (the
      // deletion can fail), so its due key stays for the next run.
      if (err instanceof UnknownCloudError && !this.clouds.deleting.has(cid)) await this.committer.commit([{ type: 'del', key: dueKey }]);
      return false;
    }
  }
}
