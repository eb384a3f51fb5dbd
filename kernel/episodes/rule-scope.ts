import type { CloudState, InstallRecord } from '../clouds/cloud-state.ts';
import type { AppRecord } from '../store/keys.ts';
import type { AppSource, HttpResponse, InstalledInfo, KumoEvent, ReadContext, RuleContext, ChildInfo, ChildSelector, ClaimCode, DeviceInfo, EciInfo, RegisteredRuleset, Ruleset, ScheduleInfo } from '../ruleset.ts';
import type { Tx } from './tx.ts';
import { within, type Authority } from '../capabilities/authority.ts';
import { checkValue } from '../validate.ts';
import { checkCall, checkGrant } from '../apps/grants.ts';
import { InvalidArgsError, UnknownRulesetError } from '../errors.ts';

/** Structural changes a rule may stage; implemented by the host (see cloud-ops.ts). */
export interface CloudOps {
  now(): number;
  /** The base URL at which other providers reach this host, when known. */
  url(): string | undefined;
  newChild(tx: Tx, cloud: CloudState, name: string, rids?: unknown): ChildInfo;
  deleteChild(tx: Tx, cloud: CloudState, which: string | ChildSelector): ChildInfo;
  /** A new ECI; made through `creator`, it gets at most the creator's authority. */
  newEci(tx: Tx, cloud: CloudState, opts: { tags?: unknown; eventPolicy?: unknown; queryPolicy?: unknown }, creator: Authority | undefined): EciInfo;
  /** Delete an ECI; through `caller`, only one within the caller's authority (deleting it is authority over it). */
  deleteEci(tx: Tx, cloud: CloudState, eci: string, caller: Authority | undefined): void;
  /** A device: a child cloud with a device ECI and a claim code; only through an ECI with full authority. */
  newDevice(tx: Tx, cloud: CloudState, opts: { name: unknown; rids?: unknown; events?: unknown; expiresIn?: unknown }, creator: Authority | undefined): Promise<DeviceInfo>;
  /** A claim code hands over its ECI: made through `creator`, only for an ECI within the creator's authority. */
  newClaimCode(tx: Tx, cloud: CloudState, eci: unknown, expiresIn: unknown, creator: Authority | undefined): Promise<ClaimCode>;
  /** Move the cloud to host `to` after the episode; only through an ECI with its full authority. */
  moveTo(tx: Tx, cloud: CloudState, to: unknown, creator: Authority | undefined): void;
  /**
   * Install a ruleset of the host's, or with `app` an app (its rid is the app's); the ECIs it declares,
   * made through `creator`, get at most its authority. An app asking for more than it was granted
   * needs `consent`.
   */
  install(tx: Tx, cloud: CloudState, rid: string, config: unknown, creator: Authority | undefined, app?: { loaded: LoadedApp; consent: boolean }): InstalledInfo;
  /** Fetch (or take) an app's source and start it: the app, not yet installed anywhere. */
  loadApp(from: AppSource): Promise<LoadedApp>;
  /** Take back a permission granted to an installed app. */
  revoke(tx: Tx, cloud: CloudState, rid: string, permission: string): void;
  /** An HTTP request of the ruleset `install`'s (an app's checked against its grant). */
  http(install: InstallRecord, request: unknown): Promise<HttpResponse>;
  uninstall(tx: Tx, cloud: CloudState, rid: string): void;
  scheduleAt(tx: Tx, cloud: CloudState, at: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): string;
  scheduleRepeat(tx: Tx, cloud: CloudState, cron: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): string;
  cancelSchedule(tx: Tx, cloud: CloudState, id: string): void;
  /**
   * An event to another cloud (on another provider's host when `host` is its base URL); made on
   * behalf of `caller`, it carries only ECIs within the caller's authority.
   */
  send(tx: Tx, cloud: CloudState, eci: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>, caller: Authority | undefined, host?: unknown): void;
  push(tx: Tx, cloud: CloudState, eci: string, name: string, data: Record<string, unknown>): void;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** An install as rules and queries list it; an app as it runs (`running`: what was last installed from its URL). */
export function installedInfo(r: InstallRecord, running: (app: AppRecord) => AppRecord = (a) => a): InstalledInfo {
  if (!r.app) return { rid: r.rid, config: r.config };
  const { version, hash, url, grant } = running(r.app);
  return { rid: r.rid, config: r.config, app: { version, hash, ...(url === undefined ? {} : { url }), grant: { ...grant } } };
}

/** An app ready to install: its source (stored by hash with the install) and its started ruleset. */
export interface LoadedApp {
  hash: string;
  source: string;
  ruleset: Ruleset;
  url?: string;
}

function plain(attrs: Record<string, unknown> | undefined): Record<string, unknown> {
  return attrs ?? {};
}

/**
 * The read-only context of queries (and the read half of rule contexts). `caller`, the ECI the
 * event or query came through, sees only the ECIs within its authority.
 */
export function buildReadContext(cloud: CloudState, install: InstallRecord, rulesets: ReadonlyMap<string, Ruleset>, now: () => number, modules: ModuleSource, entity?: Tx, caller?: Authority): ReadContext {
  const installs = entity ? () => entity.installs : () => cloud.installs;
  const rid = install.rid;
  return {
    module: (target) => {
      if (target === rid) throw new InvalidArgsError(`${rid} cannot use itself as a module`);
      checkCall(install, target);
      const other = installs().find((r) => r.rid === target);
      const ruleset = other && modules.rulesetOf(other);
      if (!other || !ruleset) throw new UnknownRulesetError(target);
      return { ruleset, read: modules.read(other) };
    },
    rid,
    config: install.config,
    cloud: Object.freeze({ id: cloud.id, name: cloud.meta.name, parent: cloud.meta.parent }),
    now,
    ent: entity
      ? { get: (n) => entity.getEntity(rid, n), has: (n) => entity.getEntity(rid, n) !== undefined, names: () => entity.entityNames(rid) }
      : { get: (n) => cloud.ent.get(rid)?.get(n), has: (n) => cloud.ent.get(rid)?.has(n) ?? false, names: () => [...(cloud.ent.get(rid)?.keys() ?? [])].sort() },
    // Sorted, so listings read the same before and after a restart.
    children: () => [...cloud.children.values()].map((c) => ({ ...c })).sort((a, b) => cmp(a.name, b.name)),
    ecis: () =>
      (entity ? entity.ecis() : [...cloud.ecis.values()])
        .filter((e) => !caller || within(e, caller))
        .map((e) => structuredClone(e))
        .sort((a, b) => cmp(a.id, b.id)),
    installed: () => installs().map((i) => installedInfo(i, (a) => modules.running(a))),
    registered: () => registered(rulesets),
    schedules: (): ScheduleInfo[] => [...cloud.schedules.values()].map((s) => ({ ...s })).sort((a, b) => a.next - b.next || cmp(a.id, b.id)),
  };
}

function registered(rulesets: ReadonlyMap<string, Ruleset>): RegisteredRuleset[] {
  return [...rulesets.values()].map(({ rid, version, meta }) => ({ rid, version, ...(meta.name ? { name: meta.name } : {}), ...(meta.description ? { description: meta.description } : {}) })).sort((a, b) => cmp(a.rid, b.rid));
}

/** How a read context finds the rulesets it uses as modules, and their views of the cloud. */
export interface ModuleSource {
  rulesetOf(install: InstallRecord): Ruleset | undefined;
  read(install: InstallRecord): ReadContext;
  /** An app install as it runs (`Apps.running`: what was last installed from its URL). */
  running(app: AppRecord): AppRecord;
}

/** What a rule's context asks of the episode it runs in (see episode.ts). */
export interface EpisodeScope {
  readonly tx: Tx;
  readonly cloud: CloudState;
  readonly ops: CloudOps;
  /** The ECI the event came through (undefined for scheduled events). */
  readonly eci: string | undefined;
  /** The authority of `eci` (undefined: the cloud acting on its own). */
  readonly caller: Authority | undefined;
  /** The read-only context of an installed ruleset in this episode. */
  read(install: InstallRecord): ReadContext;
  directive(rid: string, rule: string, name: string, options: Record<string, unknown>): void;
  /** Raise an event into the episode from the event `from` (which `raised` nests one deeper than). */
  raise(from: QueuedEvent, raised: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>, forRid?: string): void;
  /** Call the shared function `name` of the ruleset `rid` installed in the cloud, for the ruleset `from`. */
  call(from: InstallRecord, rid: string, name: string, args: unknown): Promise<unknown>;
}

/** An event waiting its turn in an episode, and how deeply raised it is. */
export interface QueuedEvent {
  readonly event: KumoEvent;
  readonly depth: number;
  /** Only this ruleset's rules see it (`raise … for rid`). */
  readonly rid?: string;
}

/**
 * The sandbox one rule runs in: reads see the episode's staged writes; every write is staged.
 *
 * Built for every rule that fires, so it builds nothing until asked: its functions are getters on
 * the prototype, each returning a function bound to this run (so destructuring `({ ent, send })`
 * works); the read half is the episode's, built once per ruleset on first use.
 */
export class RuleScope implements RuleContext {
  readonly rid: string;
  readonly config: Record<string, unknown>;
  readonly eci: string | undefined;
  /** Set by `last()`: the ruleset's remaining rules do not run for this event. */
  stopped = false;
  readonly #episode: EpisodeScope;
  readonly #install: InstallRecord;
  readonly #from: QueuedEvent;
  #ent: RuleContext['ent'] | undefined;

  constructor(
    episode: EpisodeScope,
    install: InstallRecord,
    readonly rule: string,
    from: QueuedEvent,
    readonly attrs: Record<string, unknown>,
    readonly captures: Record<string, unknown>,
  ) {
    this.rid = install.rid;
    this.config = install.config;
    this.eci = episode.eci;
    this.#episode = episode;
    this.#install = install;
    this.#from = from;
  }

  get event(): KumoEvent {
    return this.#from.event;
  }
  get cloud(): ReadContext['cloud'] {
    return this.#read().cloud;
  }
  get now(): ReadContext['now'] {
    const { ops } = this.#episode;
    return () => ops.now();
  }
  get children(): ReadContext['children'] {
    return this.#read().children;
  }
  get ecis(): ReadContext['ecis'] {
    return this.#read().ecis;
  }
  get installed(): ReadContext['installed'] {
    return this.#read().installed;
  }
  get registered(): ReadContext['registered'] {
    return this.#read().registered;
  }
  get schedules(): ReadContext['schedules'] {
    return this.#read().schedules;
  }
  get module(): ReadContext['module'] {
    return this.#read().module;
  }
  get hostUrl(): string | undefined {
    return this.#episode.ops.url();
  }
  get ent(): RuleContext['ent'] {
    if (this.#ent) return this.#ent;
    const { tx } = this.#episode;
    const rid = this.rid;
    return (this.#ent = {
      get: (name) => tx.getEntity(rid, name),
      has: (name) => tx.getEntity(rid, name) !== undefined,
      names: () => tx.entityNames(rid),
      set: (name, value) => {
        checkValue(value, () => `entity ${JSON.stringify(name)} of ${rid}`);
        tx.setEntity(rid, name, value);
      },
      delete: (name) => tx.setEntity(rid, name, undefined),
    });
  }
  get directive(): RuleContext['directive'] {
    return (name, options) => this.#episode.directive(this.rid, this.rule, name, options ?? {});
  }
  get raise(): RuleContext['raise'] {
    return (domain, type, attrs, options) => this.#episode.raise(this.#from, { domain, type, attrs: plain(attrs) }, options?.rid);
  }
  get last(): RuleContext['last'] {
    return () => {
      this.stopped = true;
    };
  }
  get push(): RuleContext['push'] {
    this.#may('push');
    const { ops, tx, cloud } = this.#episode;
    return (eci, name, data) => ops.push(tx, cloud, eci, name, data ?? {});
  }
  get send(): RuleContext['send'] {
    this.#may('send');
    const { ops, tx, cloud, caller } = this.#episode;
    return (eci, domain, type, attrs, host) => ops.send(tx, cloud, eci, { domain, type, attrs: plain(attrs) }, caller, host);
  }
  get scheduleAt(): RuleContext['scheduleAt'] {
    const { ops, tx, cloud } = this.#episode;
    return (at, domain, type, attrs) => ops.scheduleAt(tx, cloud, at, { domain, type, attrs: plain(attrs) });
  }
  get scheduleRepeat(): RuleContext['scheduleRepeat'] {
    const { ops, tx, cloud } = this.#episode;
    return (cron, domain, type, attrs) => ops.scheduleRepeat(tx, cloud, cron, { domain, type, attrs: plain(attrs) });
  }
  get cancelSchedule(): RuleContext['cancelSchedule'] {
    const { ops, tx, cloud } = this.#episode;
    return (id) => ops.cancelSchedule(tx, cloud, id);
  }
  get newChild(): RuleContext['newChild'] {
    this.#may('newChild');
    const { ops, tx, cloud } = this.#episode;
    return (name, opts) => promised(() => ops.newChild(tx, cloud, name, opts?.rids));
  }
  get deleteChild(): RuleContext['deleteChild'] {
    this.#may('deleteChild');
    const { ops, tx, cloud } = this.#episode;
    return (which) => promised(() => ops.deleteChild(tx, cloud, which));
  }
  get newEci(): RuleContext['newEci'] {
    this.#may('newEci');
    const { ops, tx, cloud, caller } = this.#episode;
    return (opts) => ops.newEci(tx, cloud, opts, caller);
  }
  get deleteEci(): RuleContext['deleteEci'] {
    this.#may('deleteEci');
    const { ops, tx, cloud, caller } = this.#episode;
    return (eci) => ops.deleteEci(tx, cloud, eci, caller);
  }
  get newDevice(): RuleContext['newDevice'] {
    this.#may('newDevice');
    const { ops, tx, cloud, caller } = this.#episode;
    return (name, opts) => ops.newDevice(tx, cloud, { ...opts, name }, caller);
  }
  get newClaimCode(): RuleContext['newClaimCode'] {
    this.#may('newClaimCode');
    const { ops, tx, cloud, caller } = this.#episode;
    return (eci, opts) => ops.newClaimCode(tx, cloud, eci, opts?.expiresIn, caller);
  }
  get moveTo(): RuleContext['moveTo'] {
    this.#may('moveTo');
    const { ops, tx, cloud, caller } = this.#episode;
    return (to) => ops.moveTo(tx, cloud, to, caller);
  }
  get install(): RuleContext['install'] {
    this.#may('install');
    const { ops, tx, cloud, caller } = this.#episode;
    return (r, config) => void ops.install(tx, cloud, r, config ?? {}, caller);
  }
  get uninstall(): RuleContext['uninstall'] {
    this.#may('uninstall');
    const { ops, tx, cloud } = this.#episode;
    return (r) => ops.uninstall(tx, cloud, r);
  }
  get installApp(): RuleContext['installApp'] {
    this.#may('installApp');
    const { ops, tx, cloud, caller } = this.#episode;
    return async ({ url, source, config, consent }) => {
      const loaded = await ops.loadApp({ url, source });
      return ops.install(tx, cloud, loaded.ruleset.rid, config ?? {}, caller, { loaded, consent: consent === true });
    };
  }
  get call(): RuleContext['call'] {
    return (rid, name, args) => this.#episode.call(this.#install, rid, name, args ?? {});
  }
  get http(): RuleContext['http'] {
    const { ops } = this.#episode;
    return (request) => ops.http(this.#install, request);
  }
  get revoke(): RuleContext['revoke'] {
    this.#may('revoke');
    const { ops, tx, cloud } = this.#episode;
    return (rid, permission) => ops.revoke(tx, cloud, rid, permission);
  }

  /**
   * Refuse an operation the app this rule belongs to was not granted (native rulesets may do all):
   * checked when the operation is taken from the context, before its arguments are.
   */
  #may(op: string): void {
    checkGrant(this.#install, op);
  }

  #read(): ReadContext {
    return this.#episode.read(this.#install);
  }
}

/** A synchronous effect offered to rules as a promise: a refusal is a rejection, as rules expect. */
function promised<T>(effect: () => T): Promise<T> {
  try {
    return Promise.resolve(effect());
  } catch (err) {
    return Promise.reject(err);
  }
}
