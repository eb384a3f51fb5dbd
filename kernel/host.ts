import { ActiveClouds, type Active } from './clouds/activation.ts';
import type { CloudState } from './clouds/cloud-state.ts';
import { builtinEcis, createCloudOps, newCloudOps, type PushMessage } from './episodes/rule-effects.ts';
import { isFull, SYSTEM_TAG, systemEci } from './capabilities/authority.ts';
import { bundleEcis, checkBundle, type CloudBundle } from './transfers/bundle.ts';
import { Transfers, type Seized } from './transfers/transfers.ts';
import { claimCodePartition, ClaimCodes, normalizeClaimCode } from './capabilities/claim-codes.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { Committer } from './store/committer.ts';
import { EpisodeLog } from './episodes/episode-log.ts';
import { EpisodeRunner, type Delivery } from './episodes/runner.ts';
import { CloudMovedError, HostFencedError, InvalidArgsError, InvalidRulesetError, isTransient, KumoError, PolicyDeniedError, ShuttingDownError, UnknownCloudError, UnknownEciError, UnknownRulesetError } from './errors.ts';
import { cryptoIds, newCloudId, newEci, newEid, PARTITIONS, type CloudId, type Eci, type IdGenerator } from './ids.ts';
import { Idempotency } from './delivery/idempotency.ts';
import { Inbox, type Accepted } from './delivery/inbox.ts';
import { keys, type DeadLetter, type EpisodeLogEntry, type MoveIn, type MoveOut, type OutboxEntry } from './store/keys.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { Listeners } from './delivery/listeners.ts';
import { publisher, type Publish } from './observe.ts';
import { Outbox, type Refusal } from './delivery/outbox.ts';
import { eventAllowed } from './capabilities/policy.ts';
import { runQuery, type QueryEnv } from './episodes/query.ts';
import { checkDeclaredEcis } from './capabilities/declared-ecis.ts';
import { noRemote, type Remote } from './delivery/remote.ts';
import { aloneRouter, type EventResult, type RemoteEci, type RoutedEvent, type Router } from './requests/router.ts';
import type { ChildInfo, EciInfo, KumoEvent, Ruleset } from './ruleset.ts';
import { Scheduler } from './schedules/scheduler.ts';
import { put, type Store, type WriteOp } from './store/store.ts';
import { Tx } from './episodes/tx.ts';
import { isDeletion } from './clouds/deletions.ts';
import { eventRequest, queryRequest, receivedEvent, type EventInput, type QueryInput } from './requests/inputs.ts';

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
  /** This host's id in metrics, diagnostics and a realm. Default: made on first start and kept in the store. */
  id?: string;
  /** How to reach ECIs this host does not have. Default: none (they are unknown). */
  router?: Router;
  /** How to reach hosts of other providers (events sent with a host, pico's `Tx_host`). Default: none. */
  remote?: Remote;
  /** The base URL at which other providers reach this host (pico's `meta:host`). */
  url?: string;
}

/** Options of requests that arrive from another host of the realm. */
export interface LocalOnly {
  /** Serve only clouds of this host: an ECI not here is unknown (never routed on). */
  local?: boolean;
}

export type { EventResult, EventInput, QueryInput };

/** See {@link Host.moves}. */
export interface Moves {
  /** The cloud behind `eci`, on this host, when the ECI has its full authority. */
  root(eci: string): Promise<CloudId>;
  beginOut(id: string, root: CloudId, to: string): Promise<Seized>;
  endOut(id: string, seized: Seized): Promise<void>;
  abortOut(id: string, seized: Seized | null): Promise<void>;
  land(id: string, from: string, bundle: unknown): Promise<void>;
  goLive(id: string): Promise<void>;
  drop(id: string): Promise<void>;
  /** Moves to decide after a restart (clouds landed here are held again). */
  inFlight(): Promise<{ out: MoveOut[]; in: MoveIn[] }>;
}

const RID = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** ECIs remembered as not on this host, at most (then it starts over). */
const ELSEWHERE_MAX = 100_000;

/**
 * One kumo host: the clouds in one store, activated on demand, each behind its own mailbox.
 * Channels call {@link Host.event}, {@link Host.accept} and {@link Host.query}; another host of the
 * realm calls {@link Host.receive}. Every one of them, and every outbox delivery, goes through one
 * dispatch: the cloud of an ECI in this host's index runs it; any other ECI goes to the router.
 *
 * The host is the composition of its parts: the active-cloud table, the episode runner and its
 * group commit, the episode log, the scheduler, the outbox and the inbox.
 */
export class Host {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: Limits;
  private readonly ids: IdGenerator;
  private readonly registry = new Map<string, Ruleset>();
  private readonly builtins: Ruleset[];
  private queryEnv?: QueryEnv;
  private readonly partitions: number[];
  private readonly owned: ReadonlySet<number>;
  private readonly router: Router | undefined;
  private readonly remote: Remote;
  /**
   * The base URL at which other providers reach this host (rules read it as `ctx.hostUrl`, pico's
   * `meta:host`). A server listening on a port chosen at start sets it once it knows the port.
   */
  url: string | undefined;
  private readonly publish: Publish;
  private readonly committer: Committer;
  private readonly clouds: ActiveClouds;
  private readonly log: EpisodeLog;
  private readonly runner: EpisodeRunner;
  private readonly scheduler: Scheduler;
  private readonly outbox: Outbox;
  private readonly inbox: Inbox;
  private readonly transfers: Transfers;
  private readonly claims: ClaimCodes;
  private readonly listeners = new Listeners<PushMessage>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Errors another part already reported (an episode or function that ran, another host): not refusals of this host. */
  private readonly reported = new WeakSet<object>();
  private timer: Timer | null = null;
  private closing = false;
  /** Set once the realm fenced this host: every request is refused with it. */
  private fenced: HostFencedError | null = null;
  /**
   * ECIs this host has neither in its index nor among its forwarding addresses, as last looked up:
   * a host handing events to other hosts of its realm (or refusing unknown ECIs) does not read the
   * store twice for each. Only clouds coming in by transfer add ECIs it may hold (forwarding
   * addresses are left only for ECIs that were here); each landing clears it and bumps
   * {@link transferred}, so a lookup that overlapped one is not remembered.
   */
  private readonly elsewhere = new Set<string>();
  private transferred = 0;

  private constructor(opts: HostOptions, id: string) {
    this.id = id;
    this.store = opts.store;
    this.clock = opts.clock ?? systemClock;
    this.ids = opts.ids ?? cryptoIds;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.partitions = opts.partitions ?? Array.from({ length: PARTITIONS }, (_, i) => i);
    if (this.partitions.length === 0) throw new RangeError('a host must own at least one partition');
    this.owned = new Set(this.partitions);
    this.router = opts.router;
    this.remote = opts.remote ?? noRemote;
    this.url = opts.url;
    for (const rs of opts.rulesets ?? []) this.register(rs);
    this.builtins = (opts.builtins ?? []).map((rid) => {
      const rs = this.registry.get(rid);
      if (!rs) throw new UnknownRulesetError(rid);
      return rs;
    });
    this.publish = publisher(id);
    const now = (): number => this.clock.now();
    this.committer = new Committer(this.store, this.publish);
    this.clouds = new ActiveClouds(this.store, this.clock, this.limits, this.publish, this.builtins);
    this.log = new EpisodeLog(this.store, this.limits.logEntries);
    this.scheduler = new Scheduler({
      store: this.store,
      committer: this.committer,
      ids: this.ids,
      now,
      limits: this.limits,
      publish: this.publish,
      inCloud: (cloudId, task) => this.clouds.with(cloudId, (a) => a.mailbox.post(() => task(a))),
      deleting: (cloudId) => this.clouds.isDeleting(cloudId),
      process: (a, event, always) => this.runner.run(a, event, { always }),
    });
    this.outbox = new Outbox({
      store: this.store,
      committer: this.committer,
      ids: this.ids,
      now,
      publish: this.publish,
      log: this.log,
      limits: this.limits,
      deliver: (entry, consume) => this.deliver(entry, consume),
      transient: (err, entry) => this.transient(err, entry),
      commitIn: (cloudId, stage) => this.commitIn(cloudId, stage),
      destination: (location) => (this.url !== undefined && sameBase(location, this.url) ? undefined : this.remote.destination(location)),
      moved: (cloudId, eci, host) => void this.notify(cloudId, 'eci_moved', { eci, host }),
    });
    const idempotency = new Idempotency(this.store, this.limits, now);
    this.claims = new ClaimCodes({
      store: this.store,
      committer: this.committer,
      ids: this.ids,
      now,
      limits: this.limits,
      inCloud: (cloudId, task) => this.clouds.with(cloudId, (a) => a.mailbox.post(() => task(a))),
    });
    const ops = createCloudOps({
      ids: this.ids,
      now,
      rulesets: this.registry,
      builtins: this.builtins,
      limits: this.limits,
      partition: () => this.newPartition(),
      owns: (p) => this.owned.has(p),
      outbox: this.outbox,
      remote: this.remote,
      url: () => this.url,
      scheduler: this.scheduler,
      claims: this.claims,
      move: (eci, to) =>
        void this.moveCloud(eci, to).then(
          () => this.publish('move', { eci, to }),
          (err: unknown) => this.publish('move', { eci, to, error: err instanceof KumoError ? err.code : 'INTERNAL' }),
        ),
      push: (m) => {
        this.listeners.notify(m.eci, m);
        this.router?.publishPush(m);
      },
    });
    this.runner = new EpisodeRunner({ rulesets: this.registry, limits: this.limits, ops, log: this.log, committer: this.committer, clouds: this.clouds, idempotency, outbox: this.outbox, now, publish: this.publish });
    this.transfers = new Transfers({
      store: this.store,
      clouds: this.clouds,
      outbox: this.outbox,
      rulesets: this.registry,
      now,
      commitIn: (cloudId, stage) => this.commitIn(cloudId, stage),
      write: (ops) => this.committer.commit(ops),
      changed: () => {
        this.transferred++;
        this.elsewhere.clear();
      },
    });
    this.inbox = new Inbox(this.store, this.committer, this.clouds, this.runner, idempotency);
  }

  /**
   * Open a host on a store. Resumes what a previous run left: events accepted but not applied, and
   * outgoing events not delivered. Reads nothing per stored cloud.
   */
  static async open(opts: HostOptions): Promise<Host> {
    const id = await Host.idOf(opts.store, opts.ids, opts.id);
    const host = new Host(opts, id);
    await host.transfers.inFlight(); // clouds landed by a move not yet decided serve nothing until it is
    await host.inbox.resume((p) => void host.track(p));
    await host.outbox.resume();
    return host;
  }

  /**
   * The id of the host on `store`: `given` when there is one, else the id kept in the store, made
   * on first use. A realm needs it before the host opens (to claim partitions for it).
   */
  static async idOf(store: Store, ids: IdGenerator = cryptoIds, given?: string): Promise<string> {
    if (given !== undefined) {
      if (!HOST_ID.test(given)) throw new InvalidArgsError('a host id is 1 to 64 characters of [A-Za-z0-9_-]');
      return given;
    }
    let id = await store.get(keys.hostId());
    if (id === undefined) {
      id = `h${Buffer.from(ids.bytes(6)).toString('base64url')}`;
      await store.write([put(keys.hostId(), id)]);
    }
    return id;
  }

  /** Make a ruleset installable on this host (replacing one with the same rid). */
  register(ruleset: Ruleset): void {
    if (!RID.test(ruleset.rid)) throw new InvalidRulesetError(`invalid rid ${JSON.stringify(ruleset.rid)}: use letters, digits, "_", "." and "-"`);
    checkDeclaredEcis(ruleset);
    this.registry.set(ruleset.rid, ruleset);
  }

  get rulesets(): ReadonlyMap<string, Ruleset> {
    return this.registry;
  }

  /** The host's root cloud and its owner ECI, created on first call. */
  async root(): Promise<{ cloudId: CloudId; eci: Eci; created: boolean }> {
    const rec = await this.store.get(keys.root());
    if (rec) return { ...rec, created: false };
    const partition = this.newPartition();
    const cloudId = newCloudId(this.ids, partition);
    const eci = systemEci(newEci(this.ids, partition), 'owner');
    await this.committer.commit([
      ...newCloudOps(
        { id: cloudId, name: 'root', parent: null, created: this.clock.now(), ...builtinEcis(this.builtins, this.ids, partition) },
        eci,
        [],
      ),
      put(keys.root(), { cloudId, eci: eci.id }),
    ]);
    return { cloudId, eci: eci.id, created: true };
  }

  /** Send an event to a cloud through one of its ECIs and wait for the episode's directives. */
  event(input: EventInput, opts: LocalOnly = {}): Promise<EventResult> {
    return this.admit('event', async () => {
      const routed = eventRequest(input, this.ids, this.clock.now(), this.limits.attrsBytes);
      return this.dispatch(
        routed.eci,
        opts,
        (a) => this.runIn(a, routed.event, { via: routed.eci, idempotencyKey: routed.idempotencyKey }),
        (router) => router.event(routed),
      );
    });
  }

  /**
   * Accept an event for a cloud (HTTP 202): resolves once the event is written to this host's durable
   * inbox (or the inbox of the host that has the ECI); its episode runs after. Refused at once, with
   * its code, when it cannot be taken: unknown ECI, policy, full mailbox, bad event. A retry of an
   * event already applied under its idempotency key answers the first eid, marked `replay`.
   */
  accept(input: EventInput, opts: LocalOnly = {}): Promise<Accepted> {
    return this.admit('event', async () => {
      const routed = eventRequest(input, this.ids, this.clock.now(), this.limits.attrsBytes);
      return this.dispatch(
        routed.eci,
        opts,
        (a) => {
          const info = a.closed ? undefined : a.state.ecis.get(routed.eci as Eci);
          if (!info) throw new UnknownEciError(routed.eci);
          const { domain, type } = routed.event;
          if (!eventAllowed(info.eventPolicy, domain, type)) throw new PolicyDeniedError(`event ${domain}:${type}`, routed.eci);
          const { accepted, run } = this.inbox.accept(a, routed);
          void this.track(run);
          return accepted;
        },
        (router) => router.accept(routed),
      );
    });
  }

  /**
   * Apply an event delivered from elsewhere (another host's outbox, the realm's durable inbox): its
   * eid and event time are kept, and it is applied at most once per eid. Only clouds of this host.
   * Resolves once the episode has committed, whether it succeeded or failed (a failure is in the
   * cloud's log); rejects when the event was not applied (refused, or worth retrying).
   */
  receive(routed: RoutedEvent): Promise<EventResult & { duplicate: boolean }> {
    return this.admit('event', async () => {
      const event = receivedEvent(routed, this.limits.attrsBytes);
      return this.dispatch(routed.eci, { local: true }, async (a) => {
        if (isDeletion(event)) {
          await this.deleteHere(a, routed.eci, []);
          return { eid: event.eid, directives: [], duplicate: false };
        }
        const o = await a.mailbox.post(() => this.runner.run(a, event, { via: routed.eci, dedupe: true, idempotencyKey: routed.idempotencyKey }));
        if (o.ok) return { ...o.result, duplicate: o.duplicate };
        if (o.ran) return { eid: event.eid, directives: [], duplicate: false };
        throw o.error;
      });
    });
  }

  /** Call a shared function of a ruleset installed in the cloud behind an ECI. */
  query(input: QueryInput, opts: LocalOnly = {}): Promise<unknown> {
    return this.admit('query', async () => {
      const q = queryRequest(input, this.limits.attrsBytes);
      const env = (this.queryEnv ??= { rulesets: this.registry, clock: this.clock, queryMs: this.limits.queryMs, publish: this.publish });
      return this.dispatch(
        q.eci,
        opts,
        async (a) => {
          const o = await a.mailbox.post(() => runQuery(env, a.closed ? null : a.state, q));
          if (o.ok) return o.value;
          throw o.ran ? this.reportedBy(o.error) : o.error;
        },
        (router) => router.query(q),
      );
    });
  }

  /**
   * Claim a device's ECI with the one-time code its owner was given (`wrangler:new_device_request`):
   * the code is used up, and only its hash was ever stored (kernel/claim-codes.ts). A code names its
   * cloud's partition: in a realm, one of another host's partitions is claimed on that host, which
   * holds the cloud and spends its own budget for failed claims.
   */
  claim(code: unknown, opts: LocalOnly = {}): Promise<{ eci: Eci }> {
    return this.admit('claim', async () => {
      const normalized = normalizeClaimCode(code);
      const partition = claimCodePartition(normalized);
      if (opts.local || !this.router || this.owned.has(partition)) return this.claims.claim(normalized);
      return this.router.claim(normalized, partition).catch((err: unknown) => {
        throw this.reportedBy(err);
      });
    });
  }

  /** The record of an ECI (tags and policies) and the cloud it reaches; channels use the tags to decide who may read a log. */
  eciInfo(eci: string, opts: LocalOnly = {}): Promise<RemoteEci> {
    return this.dispatch(
      eci,
      opts,
      async (a) => {
        const info = a.closed ? undefined : a.state.ecis.get(eci as Eci);
        if (!info) throw new UnknownEciError(eci);
        return { ...structuredClone(info), cloudId: a.state.id };
      },
      (router) => router.eciInfo(eci),
    );
  }

  /** The newest entries of the episode log of the cloud behind `eci`, newest first. The ECI must carry the `system` tag. */
  episodeLog(eci: string, limit = this.limits.logEntries, opts: LocalOnly = {}): Promise<EpisodeLogEntry[]> {
    return this.dispatch(
      eci,
      opts,
      (a) => this.log.read(this.systemCloud(a, eci, 'reading the episode log'), limit),
      (router) => router.episodeLog(eci, limit),
    );
  }

  /** The dead letters (outgoing events that could never be delivered) of the cloud behind `eci`, newest first. The ECI must carry the `system` tag. */
  deadLetters(eci: string, opts: LocalOnly = {}): Promise<DeadLetter[]> {
    return this.dispatch(
      eci,
      opts,
      (a) => this.outbox.deadLetters(this.systemCloud(a, eci, 'reading dead letters')),
      (router) => router.deadLetters(eci),
    );
  }

  /**
   * The cloud behind `eci` and its subtree, as a bundle to carry elsewhere. `eci` must have the
   * cloud's full authority (its owner's, or its parent's ECI on it). With `leave`, the subtree leaves
   * this host once read: deleted, with `leave.movedTo` as forwarding address per ECI (senders then
   * get 410 CLOUD_MOVED), its undelivered events carried in the bundle.
   */
  async exportCloud(eci: string, opts: { leave?: { movedTo: string } } = {}): Promise<CloudBundle> {
    const cloudId = await this.dispatch(eci, { local: true }, async (a) => this.fullCloud(a, eci, 'exporting the cloud'));
    const seized = await this.transfers.seize(cloudId, opts.leave !== undefined);
    const bundle = this.url === undefined ? seized.bundle : { ...seized.bundle, from: this.url };
    if (!opts.leave) {
      this.transfers.stay(seized);
      return bundle;
    }
    await this.transfers.leave(seized, opts.leave.movedTo);
    return bundle;
  }

  /**
   * Bring in clouds exported elsewhere (a {@link CloudBundle}) as a child of the cloud behind
   * `parentEci` (which must have that cloud's full authority): ids, ECIs, state, schedules, links
   * and undelivered events kept, in one batch, or nothing written.
   */
  async importCloud(parentEci: string, raw: unknown): Promise<ChildInfo> {
    const parent = await this.dispatch(parentEci, { local: true }, async (a) => this.fullCloud(a, parentEci, 'importing clouds under it'));
    const bundle = checkBundle(raw);
    const ecis = bundleEcis(bundle);
    const from = bundle.from !== undefined && !(this.url !== undefined && sameBase(bundle.from, this.url)) ? bundle.from : undefined;
    // What its clouds sent to ECIs of the host they left goes there now (a cloud that came along answers 410 and is followed back here).
    const inside = new Set(ecis);
    const outbox = from === undefined ? bundle.outbox : bundle.outbox.map((e) => (e.host === undefined && !inside.has(e.eci) ? { ...e, host: from } : e));
    const child = await this.transfers.land(parent, { ...bundle, outbox });
    await this.router?.adopt(ecis);
    // Rules keeping addresses (links) hear where their cloud came from: what was local there is not here.
    if (from !== undefined) for (const cloud of bundle.clouds) await this.notify(cloud.id, 'cloud_imported', { from });
    return child;
  }

  /** Run a `wrangler:<type>` event of the kernel's in a cloud here; a failure shows only in the cloud's log. */
  private notify(cloudId: CloudId, type: string, attrs: Record<string, unknown>): Promise<void> {
    const event: KumoEvent = { eid: newEid(this.ids), domain: 'wrangler', type, attrs, time: this.clock.now() };
    return this.track(this.clouds.with(cloudId, (a) => this.runIn(a, event, {}))).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Move the cloud behind `eci` (an ECI with its full authority) and its subtree to host `to` of
   * this host's realm, with nothing lost or applied twice (see `channels/realm/mover.ts`).
   */
  moveCloud(eci: string, to: string): Promise<unknown> {
    return (this.router ?? aloneRouter).move(eci, to);
  }

  /**
   * The kernel's half of moving clouds between hosts of a realm; the realm orchestrates (see
   * `channels/realm/mover.ts`): the source seizes and later leaves (or stays), the target lands the
   * clouds held and later serves them (or drops them), as the move's one decision says.
   */
  get moves(): Moves {
    const t = this.transfers;
    return {
      root: (eci) => this.dispatch(eci, { local: true }, async (a) => this.fullCloud(a, eci, 'moving the cloud')),
      beginOut: (id, root, to) => t.beginMoveOut(id, root, to),
      endOut: (id, seized) => t.endMoveOut(id, seized),
      abortOut: (id, seized) => t.abortMoveOut(id, seized),
      land: (id, from, bundle) => t.landPending(id, from, bundle),
      goLive: (id) => t.goLive(id),
      drop: (id) => t.dropLanded(id),
      inFlight: () => t.inFlight(),
    };
  }

  /**
   * Receive what rules push to `eci` (see RuleContext.push), whichever host of the realm runs its
   * cloud (it may move). Returns the function that stops it.
   */
  listen(eci: string, fn: (m: PushMessage) => void): () => void {
    const stops = [this.listeners.add(eci, fn), this.router?.listen(eci, fn)];
    return () => stops.forEach((stop) => stop?.());
  }

  /** Follow a cloud's episode log as entries commit. Returns the function that stops it. */
  watch(cloudId: string, fn: (entry: EpisodeLogEntry) => void): () => void {
    return this.log.watch(cloudId, fn);
  }

  /**
   * Follow the episode log of the cloud behind `eci` (which must carry the `system` tag), on this
   * host or another of the realm. Resolves to the function that stops it.
   */
  follow(eci: string, fn: (entry: EpisodeLogEntry) => void, opts: LocalOnly = {}): Promise<() => void> {
    return this.dispatch(
      eci,
      opts,
      async (a) => this.log.watch(this.systemCloud(a, eci, 'following the episode log'), fn),
      (router) => router.follow(eci, fn),
    );
  }

  /**
   * An event that cloud `cloudId` sent was refused for good by the host that has its ECI: keep it
   * as a dead letter of the sending cloud, as if its own outbox had given up.
   */
  bounce(cloudId: string, routed: RoutedEvent, reason: Refusal): Promise<void> {
    return this.outbox.bounce(cloudId as CloudId, routed, reason);
  }

  /** How many followers a cloud's log has. */
  followers(cloudId: string): number {
    return this.log.followers(cloudId);
  }

  /** Numbers for metrics and health. */
  stats(): { activeClouds: number; mailboxDepth: number; outbox: number; cachedEcis: number; held: number } {
    let depth = 0;
    for (const a of this.clouds.values()) depth += a.mailbox.depth;
    return { activeClouds: this.clouds.size, mailboxDepth: depth, outbox: this.outbox.size, cachedEcis: this.clouds.cachedEcis, held: this.clouds.held };
  }

  /** Is the cloud in memory? */
  isActive(cloudId: string): boolean {
    return this.clouds.get(cloudId as CloudId) !== undefined;
  }

  /** Fire every schedule due at the clock's current time. Returns how many fired. */
  runDue(): Promise<number> {
    return this.closing ? Promise.resolve(0) : this.scheduler.runDue();
  }

  /** Evict clouds idle longer than `limits.idleMs`. Returns how many were evicted. */
  evictIdle(): number {
    return this.clouds.evictIdle();
  }

  /** Start the host's timer: schedules, idle eviction and outbox retries, every `intervalMs` of the host's clock. */
  start(intervalMs = 250): void {
    if (this.fenced) return;
    this.timer ??= this.clock.interval(() => {
      void this.runDue().catch(() => undefined);
      this.evictIdle();
      this.outbox.tick();
    }, intervalMs);
  }

  /**
   * The realm shows a newer claim on what this host serves (channels/realm/placement.ts): from now
   * on every request is refused with HOST_FENCED (503: not taken), and schedules and the outbox stop.
   * Work already in mailboxes finishes (it was taken while this host held its claim).
   */
  fence(reason: string): void {
    if (this.fenced) return;
    this.fenced = new HostFencedError(reason);
    this.timer?.cancel();
    this.timer = null;
    this.outbox.stop();
    this.publish('fenced', { reason });
  }

  /** Stop taking work, let every mailbox drain, flush commits and close the store. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.timer?.cancel();
    this.clouds.failWaiters(new ShuttingDownError()); // work waiting for a moving cloud is told, not kept
    await this.scheduler.idle();
    this.outbox.stop();
    for (;;) {
      const waiting: Array<Promise<unknown>> = [...this.inflight, ...[...this.clouds.values()].filter((a) => !a.mailbox.idle).map((a) => a.mailbox.barrier())];
      if (this.outbox.busy) waiting.push(this.outbox.idle());
      if (waiting.length === 0) break;
      await Promise.allSettled(waiting);
    }
    await this.committer.drain();
    await this.store.close();
  }

  // ---- internals ----

  /**
   * The one dispatch path: the cloud of an ECI in this host's index runs `local` (which must enqueue
   * on its mailbox synchronously); any other ECI goes to the router, unless the request came from
   * another host (`local`) or there is no router: then it is unknown.
   */
  private dispatch<T>(eci: string, opts: LocalOnly, local: (a: Active) => Promise<T>, remote?: (router: Router) => Promise<T>, again = true): Promise<T> {
    if (this.fenced) return Promise.reject(this.fenced);
    const cached = this.clouds.cached(eci);
    return cached !== undefined ? this.inCloud(cached, eci, opts, local, remote, again) : this.lookUp(eci, opts, local, remote, again);
  }

  private inCloud<T>(cloudId: CloudId, eci: string, opts: LocalOnly, local: (a: Active) => Promise<T>, remote: ((router: Router) => Promise<T>) | undefined, again: boolean): Promise<T> {
    return this.clouds.with(cloudId, local).catch((err: unknown) => {
      // The cloud left (moved, exported, deleted) while the work waited for it: look again.
      if (again && err instanceof UnknownCloudError) return this.dispatch(eci, opts, local, remote, false);
      throw err;
    });
  }

  /** {@link dispatch} for an ECI not in the cache of active clouds: the index, a tombstone, the router. */
  private async lookUp<T>(eci: string, opts: LocalOnly, local: (a: Active) => Promise<T>, remote: ((router: Router) => Promise<T>) | undefined, again: boolean): Promise<T> {
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
    if (opts.local || !this.router || !remote) throw new UnknownEciError(eci);
    return remote(this.router).catch((err: unknown) => {
      throw this.reportedBy(err);
    });
  }

  /** Run an event's episode in `a`'s mailbox; rejects with the episode's error. */
  private async runIn(a: Active, event: KumoEvent, d: Delivery): Promise<EventResult> {
    const o = await a.mailbox.post(() => this.runner.run(a, event, d));
    if (o.ok) return o.result;
    throw o.ran ? this.reportedBy(o.error) : o.error;
  }

  /** The cloud of `a`, when `eci` is one of its ECIs with its full authority. */
  private fullCloud(a: Active, eci: string, what: string): CloudId {
    const info = a.closed ? undefined : a.state.ecis.get(eci as Eci);
    if (!info) throw new UnknownEciError(eci);
    if (!isFull(info)) throw new PolicyDeniedError(`${what} (that needs the cloud's full authority: its owner's ECI or its parent's)`, eci);
    return a.state.id;
  }

  /** The cloud of `a`, when `eci` is one of its ECIs carrying the `system` tag. */
  private systemCloud(a: Active, eci: string, what: string): CloudId {
    const info = a.closed ? undefined : a.state.ecis.get(eci as Eci);
    if (!info) throw new UnknownEciError(eci);
    if (!info.tags.includes(SYSTEM_TAG)) throw new PolicyDeniedError(`${what} (needs the "${SYSTEM_TAG}" tag)`, eci);
    return a.state.id;
  }

  /**
   * Deliver an outbox entry: to a cloud of this host (its episode consumes the entry), through the
   * router, or to another provider's host (then the entry is consumed once that host has taken it).
   */
  private async deliver(entry: OutboxEntry, consume: WriteOp[]): Promise<void> {
    const routed: RoutedEvent = { eci: entry.eci, event: entry.event };
    if (entry.host !== undefined) {
      await this.remote.deliver(entry.host, routed);
      return this.committer.commit(consume);
    }
    return this.dispatch(
      entry.eci,
      {},
      async (a) => {
        if (isDeletion(entry.event)) return this.deleteHere(a, entry.eci, consume);
        const o = await a.mailbox.post(() => this.runner.run(a, entry.event, { via: entry.eci, dedupe: true, always: (tx) => tx.stage(consume) }));
        if (!o.ok && !o.consumed) throw o.error;
      },
      async (router) => {
        await router.deliver(routed, entry.cloudId);
        await this.committer.commit(consume);
      },
    );
  }

  /**
   * The kernel's deletion of the cloud of `a`, sent by its parent's host (deletions.ts): the cloud
   * and its subtree go, with `consume` in the same batch (and deletions of its clouds further away).
   * `eci` must carry the cloud's full authority, as the parent's ECI on it does.
   */
  private deleteHere(a: Active, eci: string, consume: WriteOp[]): Promise<void> {
    const id = this.fullCloud(a, eci, 'deleting the cloud');
    if (a.state.meta.parent === null) throw new PolicyDeniedError('deleting the root cloud of a host', eci);
    return this.clouds.deleteSubtrees([{ id }], async (ops, elsewhere) => {
      const sent = this.outbox.deletions(id, elsewhere);
      await this.committer.commit([...ops, ...consume, ...sent.ops]);
      sent.start();
    });
  }

  /** Is a failed delivery worth another try? */
  private async transient(err: unknown, entry: OutboxEntry): Promise<boolean> {
    if (err instanceof KumoError && (err.code === 'UNKNOWN_ECI' || err.code === 'UNKNOWN_CLOUD')) {
      // Its cloud moved and is not at its new host yet (a file being imported there), or an ECI
      // whose cloud is being deleted is still in the index (the deletion may fail).
      return entry.moves !== undefined || (await this.store.get(keys.eciIndex(entry.eci))) !== undefined;
    }
    return isTransient(err);
  }

  /** Stage changes to a cloud in its mailbox and commit them (outbox dead letters). */
  private commitIn(cloudId: CloudId, stage: (tx: Tx, cloud: CloudState) => Promise<void>): Promise<void> {
    return this.clouds.with(cloudId, (a) =>
      a.mailbox.post(async () => {
        if (a.closed) throw new UnknownCloudError(cloudId);
        const tx = new Tx(a.state);
        await stage(tx, a.state);
        await this.runner.commit(tx);
      }, true),
    );
  }

  private newPartition(): number {
    const b = this.ids.bytes(2);
    return this.partitions[((b[0]! << 8) | b[1]!) % this.partitions.length]!;
  }

  /** Run a request unless the host is closing; close() waits for every admitted request. Refusals are counted. */
  private admit<T>(kind: 'event' | 'query' | 'claim', work: () => Promise<T>): Promise<T> {
    const p = this.closing ? Promise.reject(new ShuttingDownError()) : this.fenced ? Promise.reject(this.fenced) : work();
    return this.track(
      p.catch((err: unknown) => {
        if (typeof err !== 'object' || err === null || !this.reported.has(err)) this.publish('refusal', { kind, code: err instanceof KumoError ? err.code : 'INTERNAL' });
        throw err;
      }),
    );
  }

  private reportedBy<E>(err: E): E {
    if (typeof err === 'object' && err !== null) this.reported.add(err);
    return err;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }
}

/** Do two base URLs name the same host (scheme, host, port and path, a trailing slash aside)? */
function sameBase(a: string, b: string): boolean {
  try {
    const [u, v] = [new URL(a), new URL(b)];
    return u.origin === v.origin && u.pathname.replace(/\/+$/, '') === v.pathname.replace(/\/+$/, '');
  } catch {
    return false;
  }
}
