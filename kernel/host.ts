import { checkRuleset } from './capabilities/declared-ecis.ts';
import { claimCodePartition, normalizeClaimCode } from './capabilities/claim-codes.ts';
import { eciOf, type Active } from './clouds/activation.ts';
import { rootCloud } from './clouds/root.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';
import { noRemote, type Remote } from './delivery/remote.ts';
import { ShuttingDownError, UnknownRulesetError } from './errors.ts';
import { assemble, type HostParts } from './host-parts.ts';
import { cryptoIds, isCloudId, PARTITIONS, type CloudId, type Eci, type IdGenerator } from './ids.ts';
import { DEFAULT_LIMITS, type Limits } from './limits.ts';
import { publisher } from './observe.ts';
import { Admission, type Kind } from './requests/admission.ts';
import type { LocalOnly } from './requests/dispatch.ts';
import { eventRequest, queryRequest, type EventInput, type QueryInput } from './requests/inputs.ts';
import { OPERATIONS } from './requests/operations.ts';
import type { Accepted, Answer, EventResult, MoveResult, Op, PushMessage, Refusal, RemoteEci, RequestOf, RoutedEvent } from './requests/request.ts';
import type { Router } from './requests/router.ts';
import type { ChildInfo, KumoEvent, Ruleset } from './ruleset.ts';
import { hostIdOf } from './store/host-id.ts';
import type { DeadLetter, EpisodeLogEntry } from './store/keys.ts';
import type { Store } from './store/store.ts';
import type { CloudBundle } from './transfers/bundle.ts';
import type { AppEngine } from './apps/apps.ts';

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
  /** What runs the apps clouds' owners install (rulesets/apps); without it, installing one is refused. */
  apps?: AppEngine;
}

export type { EventResult, EventInput, QueryInput, LocalOnly };

/**
 * One kumo host: the clouds in one store, activated on demand, each behind its own mailbox. Every
 * request (docs/architecture.md) goes through {@link handle}: the cloud of an ECI in this host's
 * index runs it, any other goes to the router. The methods after it are that, one per operation.
 */
export class Host {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly limits: Limits;
  /** The base URL at which other providers reach this host (`ctx.hostUrl`); a server on a port chosen at start sets it. */
  url: string | undefined;
  private readonly parts: HostParts;
  private readonly registry = new Map<string, Ruleset>();
  private readonly partitions: number[];
  private readonly admission: Admission;
  private timer: Timer | null = null;

  private constructor(opts: HostOptions, id: string) {
    this.id = id;
    this.store = opts.store;
    this.clock = opts.clock ?? systemClock;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.url = opts.url;
    this.partitions = opts.partitions ?? Array.from({ length: PARTITIONS }, (_, i) => i);
    if (this.partitions.length === 0) throw new RangeError('a host must own at least one partition');
    for (const rs of opts.rulesets ?? []) this.register(rs);
    const builtins = (opts.builtins ?? []).map((rid) => this.registry.get(rid) ?? fail(new UnknownRulesetError(rid)));
    const publish = publisher(id);
    const reported = new WeakSet<object>();
    this.admission = new Admission(reported, publish);
    this.parts = assemble({
      ...{ id, store: this.store, clock: this.clock, ids: opts.ids ?? cryptoIds, limits: this.limits, registry: this.registry, builtins, partitions: this.partitions, apps: opts.apps },
      ...{ router: opts.router ?? null, remote: opts.remote ?? noRemote, url: () => this.url, publish, reported },
      handle: (request) => this.handle(request),
      track: (p) => this.admission.track(p),
    });
  }

  /** Open a host on a store, resuming what a previous run left (accepted events, undelivered ones). Reads nothing per stored cloud. */
  static async open(opts: HostOptions): Promise<Host> {
    const host = new Host(opts, await hostIdOf(opts.store, opts.ids, opts.id));
    const { transfers, inbox, outbox } = host.parts;
    await transfers.inFlight(); // clouds landed by a move not yet decided serve nothing until it is
    await inbox.resume((p) => void host.admission.track(p));
    await outbox.resume();
    return host;
  }

  static idOf = hostIdOf; // the id of the host on a store (store/host-id.ts)

  /** Make a ruleset installable on this host (replacing one with the same rid). */
  register(ruleset: Ruleset): void {
    checkRuleset(ruleset);
    this.registry.set(ruleset.rid, ruleset);
  }

  get rulesets(): ReadonlyMap<string, Ruleset> {
    return this.registry;
  }

  /** The host's root cloud and its owner ECI, created on first call. */
  root(): Promise<{ cloudId: CloudId; eci: Eci; created: boolean }> {
    return rootCloud(this.parts, this.partitions);
  }

  /**
   * Run a request: here when this host has its cloud (or the work is its own), else through the
   * router. With `local` (a request from another host of the realm) here, or it is unknown.
   */
  handle<K extends Op>(request: RequestOf<K>, opts: LocalOnly = {}): Promise<Answer<K>> {
    const op = OPERATIONS[request.op];
    return this.admission.run(op.kind, () => op.run(this.parts, request, opts));
  }

  /** A request made from a channel's input: input refused here is a counted refusal too. */
  private submit<K extends Op>(kind: Kind, make: () => RequestOf<K>, opts: LocalOnly): Promise<Answer<K>> {
    let request: RequestOf<K>;
    try {
      request = make();
    } catch (err) {
      return this.admission.run(kind, () => Promise.reject(err));
    }
    return this.handle(request, opts);
  }

  /** Send an event through an ECI and wait for the episode's directives. */
  event(input: EventInput, opts: LocalOnly = {}): Promise<EventResult> {
    return this.submit('event', () => ({ op: 'event', ...this.routed(input) }), opts);
  }

  /** Accept an event (HTTP 202): resolves once it is in the durable inbox of its cloud's host; it runs after. */
  accept(input: EventInput, opts: LocalOnly = {}): Promise<Accepted> {
    return this.submit('event', () => ({ op: 'accept', ...this.routed(input) }), opts);
  }

  /** Apply an event delivered from elsewhere, at most once per eid (its eid and time kept). Clouds of this host only. */
  receive(routed: RoutedEvent): Promise<EventResult & { duplicate: boolean }> {
    return this.handle({ op: 'receive', ...routed }, { local: true });
  }

  /** Call a shared function of a ruleset installed in the cloud behind an ECI. */
  query(input: QueryInput, opts: LocalOnly = {}): Promise<unknown> {
    return this.submit('query', () => ({ op: 'query', ...queryRequest(input, this.limits.attrsBytes) }), opts);
  }

  /** Trade a device's one-time claim code for its ECI (capabilities/claim-codes.ts). */
  claim(code: unknown, opts: LocalOnly = {}): Promise<{ eci: Eci }> {
    const make = (): RequestOf<'claim'> => {
      const normalized = normalizeClaimCode(code);
      return { op: 'claim', code: normalized, partition: claimCodePartition(normalized) };
    };
    return this.submit('claim', make, opts);
  }

  /** The record of an ECI (tags and policies) and the cloud it reaches. */
  eciInfo(eci: string, opts: LocalOnly = {}): Promise<RemoteEci> {
    return this.handle({ op: 'eciInfo', eci }, opts);
  }

  /** The newest entries of the episode log of the cloud behind `eci` (tagged `system`), newest first. */
  episodeLog(eci: string, limit = this.limits.logEntries, opts: LocalOnly = {}): Promise<EpisodeLogEntry[]> {
    return this.handle({ op: 'log', eci, limit }, opts);
  }

  /** The dead letters of the cloud behind `eci` (tagged `system`), newest first. */
  deadLetters(eci: string, opts: LocalOnly = {}): Promise<DeadLetter[]> {
    return this.handle({ op: 'deadLetters', eci }, opts);
  }

  /** The cloud behind `eci` (its full authority) and its subtree as a bundle; with `leave`, it then leaves for `movedTo`. */
  exportCloud(eci: string, opts: { leave?: { movedTo: string } } = {}): Promise<CloudBundle> {
    return this.handle({ op: 'export', eci, ...(opts.leave ? { movedTo: opts.leave.movedTo } : {}) });
  }

  /** Bring in clouds exported elsewhere as a child of the cloud behind `parentEci` (its full authority), in one batch. */
  importCloud(parentEci: string, bundle: unknown): Promise<ChildInfo> {
    return this.handle({ op: 'import', eci: parentEci, bundle });
  }

  /** Move the cloud behind `eci` (its full authority) and its subtree to host `to` of the realm. */
  moveCloud(eci: string, to: string): Promise<MoveResult> {
    return this.handle({ op: 'move', eci, to });
  }

  /** An event cloud `cloudId` sent was refused for good by the host of its ECI: a dead letter, or sent on. */
  bounce(cloudId: string, routed: { eci: string; event: KumoEvent }, reason: Refusal): Promise<void> {
    return this.handle({ op: 'bounce', cloudId, eci: routed.eci, event: routed.event, reason });
  }

  /** Receive what rules push to `eci`, whichever host of the realm runs its cloud. Returns the function that stops. */
  listen(eci: string, fn: (m: PushMessage) => void): () => void {
    const stops = [this.parts.listeners.add(eci, fn), this.parts.router?.listen(eci, fn)];
    return () => stops.forEach((stop) => stop?.());
  }

  /** Follow a cloud's episode log as entries commit. Returns the function that stops it. */
  watch(cloudId: string, fn: (entry: EpisodeLogEntry) => void): () => void {
    return this.parts.log.watch(cloudId, fn);
  }

  /** Follow the episode log of the cloud behind `eci` (tagged `system`), here or on another host. */
  follow(eci: string, fn: (entry: EpisodeLogEntry) => void, opts: LocalOnly = {}): Promise<() => void> {
    const { dispatcher, log, router } = this.parts;
    const local = (a: Active): (() => void) => {
      eciOf(a, eci, { system: 'following the episode log' });
      return log.watch(a.state.id, fn);
    };
    return this.admission.run(undefined, () => dispatcher.dispatch(eci, opts, local, router ? () => router.follow(eci, fn) : undefined));
  }

  /** How many followers a cloud's log has. */
  followers(cloudId: string): number {
    return this.parts.log.followers(cloudId);
  }

  /** Numbers for metrics and health. */
  stats(): { activeClouds: number; mailboxDepth: number; outbox: number; cachedEcis: number; held: number } {
    const { clouds, outbox } = this.parts;
    let depth = 0;
    for (const a of clouds.values()) depth += a.mailbox.depth;
    return { activeClouds: clouds.size, mailboxDepth: depth, outbox: outbox.size, cachedEcis: clouds.cachedEcis, held: clouds.held };
  }

  /** Is the cloud in memory? */
  isActive(cloudId: string): boolean {
    return isCloudId(cloudId) && this.parts.clouds.get(cloudId) !== undefined;
  }

  /** Fire every schedule due at the clock's current time. Returns how many fired. */
  runDue(): Promise<number> {
    return this.admission.isClosing ? Promise.resolve(0) : this.parts.scheduler.runDue();
  }

  /** Evict clouds idle longer than `limits.idleMs`. Returns how many were evicted. */
  evictIdle(): number {
    return this.parts.clouds.evictIdle();
  }

  /** Start the host's timer: schedules, idle eviction and outbox retries, every `intervalMs` of the host's clock. */
  start(intervalMs = 250): void {
    if (this.admission.fenced) return;
    this.timer ??= this.clock.interval(() => {
      void this.runDue().catch(() => undefined);
      this.evictIdle();
      this.parts.outbox.tick();
    }, intervalMs);
  }

  /**
   * The realm shows a newer claim on what this host serves (channels/realm/placement.ts): from now
   * on every request is refused with HOST_FENCED (503: not taken), and schedules and the outbox stop.
   * Work already in mailboxes finishes (it was taken while this host held its claim).
   */
  fence(reason: string): void {
    if (!this.admission.fence(reason)) return;
    this.timer?.cancel();
    this.timer = null;
    this.parts.outbox.stop();
    this.parts.publish('fenced', { reason });
  }

  /** Stop taking work, let every mailbox drain, flush commits and close the store. */
  async close(): Promise<void> {
    if (this.admission.isClosing) return;
    let inflight = this.admission.close();
    this.timer?.cancel();
    const { clouds, scheduler, outbox, committer } = this.parts;
    clouds.failWaiters(new ShuttingDownError()); // work waiting for a moving cloud is told, not kept
    await scheduler.idle();
    outbox.stop();
    for (;;) {
      const waiting = [...inflight, ...[...clouds.values()].filter((a) => !a.mailbox.idle).map((a) => a.mailbox.barrier()), ...(outbox.busy ? [outbox.idle()] : [])];
      if (waiting.length === 0) break;
      await Promise.allSettled(waiting);
      inflight = this.admission.close();
    }
    await committer.drain();
    await this.store.close();
  }

  /** An event from a channel, checked, with its eid and event time fixed. */
  private routed(input: EventInput): RoutedEvent {
    return eventRequest(input, this.parts.ids, this.clock.now(), this.limits.attrsBytes);
  }
}

function fail(err: Error): never {
  throw err;
}
