import type { ClaimCodes } from '../capabilities/claim-codes.ts';
import type { CloudMeta, CloudState, InstallRecord } from '../clouds/cloud-state.ts';
import { eciOps, exprKey, metaEcis } from '../clouds/cloud-state.ts';
import { installedInfo, type CloudOps, type LoadedApp } from './rule-scope.ts';
import type { Apps } from '../apps/apps.ts';
import { beyond, checkHttp, PERMISSIONS } from '../apps/grants.ts';
import type { AppRecord } from '../store/keys.ts';
import { ConsentRequiredError, DuplicateNameError, InvalidAppError, InvalidArgsError, PayloadTooLargeError, LimitExceededError, PolicyDeniedError, UnknownCloudError, UnknownEciError, UnknownRulesetError } from '../errors.ts';
import { newCloudId, newEci, partitionOf, type Eci, type IdGenerator } from '../ids.ts';
import { keys, stored } from '../store/keys.ts';
import type { Limits } from '../limits.ts';
import type { Outbox } from '../delivery/outbox.ts';
import { attenuate, isFull, redactEcis, SYSTEM_TAG, systemEci, within } from '../capabilities/authority.ts';
import { stagedView } from './tx.ts';
import type { AppPermissions, AppSource, ChildInfo, DeviceInfo, EciInfo, Ruleset } from '../ruleset.ts';
import type { Scheduler } from '../schedules/scheduler.ts';
import type { Tx } from './tx.ts';
import { del, put, type WriteOp } from '../store/store.ts';
import { checkAttrs, checkEventName, describe, isList, isPlainObject, isStrings, nameProblem } from '../validate.ts';
import { checkTags, declaredEcis } from '../capabilities/declared-ecis.ts';
import type { Remote } from '../delivery/remote.ts';
import type { PushMessage } from '../requests/request.ts';

export type { PushMessage };

export interface CloudOpsDeps {
  ids: IdGenerator;
  now: () => number;
  rulesets: ReadonlyMap<string, Ruleset>;
  apps: Apps;
  /** The rulesets every cloud has (see `loadCloud`); they cannot be uninstalled. */
  builtins: readonly Ruleset[];
  limits: Limits;
  /** Pick the partition of a new cloud (one this host owns). */
  partition(): number;
  /** Does this host own the partition? (A cloud that came from elsewhere may live in another's.) */
  owns(partition: number): boolean;
  outbox: Outbox;
  /** How to reach hosts of other providers (events sent with a host). */
  remote: Remote;
  /** The base URL at which other providers reach this host, when known. */
  url: () => string | undefined;
  scheduler: Scheduler;
  claims: ClaimCodes;
  /** Hand a pushed message to the listeners of an ECI. */
  push(message: PushMessage): void;
  /** Start moving the cloud behind `eci` to host `to` (after the episode that asked committed). */
  move(eci: string, to: string): void;
}

/**
 * The record of an app being installed as `rid`: refused when the rid is a ruleset of the host's
 * (installed or not), and when it asks for more than its owner granted without consent.
 */
function appRecord(rid: string, app: { loaded: LoadedApp; consent: boolean }, existing: InstallRecord | undefined, registry: ReadonlyMap<string, Ruleset>): AppRecord {
  if (registry.has(rid) || (existing && !existing.app)) throw new InvalidAppError(`${rid} is a ruleset of this host's; an app must have a rid of its own`);
  const { ruleset, hash, url } = app.loaded;
  const asks = ruleset.permissions ?? {};
  const more = beyond(asks, existing?.app?.grant ?? {});
  if (Object.keys(more).length > 0 && !app.consent) throw new ConsentRequiredError(rid, more);
  return { hash, version: ruleset.version, ...(url === undefined ? {} : { url }), grant: { ...asks } };
}

/**
 * A ruleset that uses others as modules needs them installed in the cloud first, and may not close a
 * cycle of uses (each module would be configured by the other): refused with the cycle's path.
 */
function checkUses(ruleset: Ruleset, installs: readonly InstallRecord[], rulesetOf: (i: InstallRecord) => Ruleset | undefined): void {
  const usesOf = (rid: string): readonly string[] => {
    if (rid === ruleset.rid) return ruleset.uses ?? [];
    const install = installs.find((r) => r.rid === rid);
    return (install && rulesetOf(install)?.uses) ?? [];
  };
  for (const used of ruleset.uses ?? []) {
    if (!installs.some((r) => r.rid === used)) throw new InvalidAppError(`${ruleset.rid} uses the module ${used}, which is not installed in this cloud: install ${used} first`);
  }
  const visit = (rid: string, path: string[]): void => {
    for (const next of usesOf(rid)) {
      if (next === ruleset.rid) throw new InvalidAppError(`${ruleset.rid} would close a cycle of modules: ${[...path, next].join(' → ')}`);
      if (!path.includes(next)) visit(next, [...path, next]);
    }
  };
  visit(ruleset.rid, [ruleset.rid]);
}

/** Fetch (or take) an app's source within the host's limits and start it. */
async function loadApp(apps: Apps, from: AppSource, limits: Limits): Promise<LoadedApp> {
  const { url, source } = from;
  if ((url === undefined) === (source === undefined)) throw new InvalidArgsError('an app is installed from a url or from its source, one of the two');
  if (url !== undefined && typeof url !== 'string') throw new InvalidArgsError('the url of an app is a string');
  if (source !== undefined && typeof source !== 'string') throw new InvalidArgsError('the source of an app is a string (one ES module)');
  const text = typeof url === 'string' ? await apps.fetch(url) : (source as string);
  if (Buffer.byteLength(text) > limits.appBytes) throw new PayloadTooLargeError(`an app's source may be at most ${limits.appBytes} bytes`);
  const { hash, ruleset } = await apps.add(text);
  return { hash, source: text, ruleset, ...(typeof url === 'string' ? { url } : {}) };
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The longest a claim code may be made to last. */
const MAX_CLAIM_MS = 30 * 24 * 3_600_000;
const CHILD_FIELDS = ['id', 'name', 'eci'];

export { SYSTEM_TAG };

/** A ruleset installed with a new cloud, and the ECIs it declares. */
export interface NewInstall {
  rid: string;
  config: Record<string, unknown>;
  ecis?: EciInfo[];
}

/**
 * Batch ops creating a whole new cloud with one ECI and the given rulesets (not the built-ins: every
 * cloud has them, and the ECIs they declare are listed in `meta`, see {@link builtinEcis}).
 */
export function newCloudOps(meta: CloudMeta, eci: EciInfo, installs: readonly NewInstall[]): WriteOp[] {
  const ops: WriteOp[] = [put(keys.meta(meta.id), stored(meta)), ...eciOps(meta.id, eci)];
  for (const id of metaEcis(meta)) ops.push(put(keys.eciIndex(id), meta.id));
  let seq = 0;
  for (const { rid, config, ecis } of installs) {
    ops.push(put(keys.install(meta.id, rid), { rid, config, seq: ++seq, ...(ecis && ecis.length > 0 ? { ecis: ecis.map((e) => e.id) } : {}) }));
    for (const e of ecis ?? []) ops.push(...eciOps(meta.id, e));
  }
  return ops;
}

/** New ids for the ECIs the built-ins declare, for a new cloud's meta record (no field when they declare none). */
export function builtinEcis(builtins: readonly Ruleset[], ids: IdGenerator, partition: number): Pick<CloudMeta, 'builtinEcis'> {
  let made: Record<string, Eci[]> | undefined;
  for (const rs of builtins) if (rs.ecis && rs.ecis.length > 0) (made ??= {})[rs.rid] = rs.ecis.map(() => newEci(ids, partition));
  return made ? { builtinEcis: made } : {};
}

/** The host's implementation of the structural changes a rule can stage. */
export function createCloudOps(deps: CloudOpsDeps): CloudOps {
  /** The config a ruleset gets when installed with none given (its schema's defaults). */
  const defaultConfig = (rid: unknown): { rid: string; config: Record<string, unknown> } => {
    const ruleset = typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
    if (!ruleset) throw new UnknownRulesetError(typeof rid === 'string' ? rid : describe(rid));
    if (!ruleset.validateConfig) return { rid: ruleset.rid, config: {} };
    const v = ruleset.validateConfig({});
    if (!v.ok) throw new InvalidArgsError(`${ruleset.rid} needs a config: ${v.issues}`);
    return { rid: ruleset.rid, config: v.value };
  };

  /** The child `which` names: a string by its id, name or ECI; an object by every field it gives. */
  const findChild = (cloud: CloudState, which: unknown): ChildInfo | undefined => {
    const children = [...cloud.children.values()];
    if (typeof which === 'string') return children.find((c) => c.id === which || c.name === which || c.eci === which);
    const given = typeof which === 'object' && which !== null ? Object.entries(which).filter(([, v]) => v !== undefined) : [];
    if (given.length === 0 || given.some(([k, v]) => !CHILD_FIELDS.includes(k) || typeof v !== 'string')) return undefined;
    return children.find((c) => given.every(([k, v]) => c[k as keyof ChildInfo] === v));
  };
  const childLabel = (which: unknown): string =>
    typeof which === 'object' && which !== null
      ? Object.entries(which)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k} ${describe(v)}`)
          .join(' and ')
      : describe(which);

  const checkEciCount = (tx: Tx, more: number): void => {
    if (tx.eciCount() + more > deps.limits.ecisPerCloud) {
      throw new LimitExceededError('ecisPerCloud', deps.limits.ecisPerCloud, `a cloud may have at most ${deps.limits.ecisPerCloud} ECIs`);
    }
  };

  const claimTtl = (expiresIn: unknown): number => {
    if (expiresIn === undefined || expiresIn === null || expiresIn === '') return deps.limits.claimCodeMs;
    const ms = Number(expiresIn);
    if (!Number.isInteger(ms) || ms < 1000 || ms > MAX_CLAIM_MS) throw new InvalidArgsError('expiresIn must be a whole number of ms from 1 s to 30 days');
    return ms;
  };

  const ops: CloudOps = {
    now: deps.now,
    url: deps.url,

    newChild(tx, cloud, name, rids = []) {
      const problem = nameProblem(name);
      if (problem !== undefined) throw new InvalidArgsError(`a child name must be 1 to 100 printable characters; ${describe(name)} ${problem}`);
      if (!Array.isArray(rids) || rids.length > 100) throw new InvalidArgsError('rids must be an array of at most 100 rids');
      const chosen = [...new Set(rids)].filter((rid) => !deps.builtins.some((rs) => rs.rid === rid)).map(defaultConfig);
      const names = tx.childNames;
      if (names.has(name) || cloud.children.byName(name) !== undefined) {
        throw new DuplicateNameError(`cloud ${cloud.meta.name} already has a child named ${JSON.stringify(name)}`, { name });
      }
      if (cloud.children.size + names.size >= deps.limits.childrenPerCloud) {
        throw new LimitExceededError('childrenPerCloud', deps.limits.childrenPerCloud, `a cloud may have at most ${deps.limits.childrenPerCloud} children`);
      }
      names.add(name);
      const partition = deps.partition();
      const id = newCloudId(deps.ids, partition);
      // The child is a new cloud: the parent has all authority over it, so its declared ECIs are made as declared.
      const installs = chosen.map((i) => {
        const rs = deps.rulesets.get(i.rid);
        return rs?.ecis?.length ? { ...i, ecis: declaredEcis(rs, id, deps.ids) } : i;
      });
      const eci = systemEci(newEci(deps.ids, partition), 'parent');
      const child: ChildInfo = { id, name, eci: eci.id };
      tx.childEcis.add(eci.id);
      tx.stage([...newCloudOps({ id, name, parent: cloud.id, created: deps.now(), ...builtinEcis(deps.builtins, deps.ids, partition) }, eci, installs), put(keys.child(cloud.id, id), stored(child))], (c) => c.children.set(id, child));
      return { ...child };
    },

    deleteChild(tx, cloud, which) {
      const child = findChild(cloud, which);
      if (!child) throw new UnknownCloudError(childLabel(which), `cloud ${cloud.meta.name} has no child ${childLabel(which)}`);
      if (tx.deletions.some((d) => d.id === child.id)) return { ...child };
      tx.deletions.push({ id: child.id, eci: child.eci });
      tx.stage([del(keys.child(cloud.id, child.id))], (c) => c.children.delete(child.id));
      return { ...child };
    },

    newEci(tx, cloud, opts, creator) {
      const tags = checkTags(opts.tags ?? []);
      checkEciCount(tx, 1);
      // An ECI routes by its partition: in a cloud brought in from another host's partition, use one of this host's.
      const home = partitionOf(cloud.id);
      const info: EciInfo = { id: newEci(deps.ids, deps.owns(home) ? home : deps.partition()), tags, ...attenuate(opts, creator) };
      tx.addEci(info);
      return structuredClone(info);
    },

    deleteEci(tx, cloud, eci, caller) {
      const info = typeof eci === 'string' ? tx.eci(eci) : undefined;
      // An ECI the caller could not list is unknown to it, not denied: its existence is not the caller's to learn.
      if (!info || (caller && !within(info, caller))) throw new UnknownEciError(typeof eci === 'string' ? eci : describe(eci), `cloud ${cloud.meta.name} has no ECI ${describe(eci)}`);
      if (info.tags.includes(SYSTEM_TAG)) throw new InvalidArgsError(`ECI ${eci} is a system channel and cannot be deleted`);
      const owner = tx.installs.find((r) => r.ecis?.includes(info.id));
      if (owner) throw new InvalidArgsError(`ECI ${eci} belongs to ruleset ${owner.rid}, and goes when it is uninstalled`);
      tx.deleteEci(info.id);
    },

    async newDevice(tx, cloud, { name, rids = [], events, expiresIn }, creator) {
      // A device's ECI and claim code reach a new cloud with full authority over it: only an ECI with full authority here may make one.
      if (creator && !isFull(creator)) throw new PolicyDeniedError('making a device (that needs the full authority of the owner)', creator.id ?? '');
      if (!isStrings(rids)) throw new InvalidArgsError('rids must be an array of rids');
      // By default a device may send what its rulesets listen to; never wrangler (managing its own cloud).
      const domains: unknown = events ?? [...new Set(rids.flatMap((rid) => deps.rulesets.get(rid)?.rules.flatMap((r) => r.select.events.map((e) => e.domain)) ?? []))].filter((d) => d !== '*' && d !== 'wrangler');
      if (!isList(domains) || domains.length === 0 || domains.length > 20) throw new InvalidArgsError('a device needs 1 to 20 event domains (events), or rulesets whose rules name some');
      const allowed = domains.map((d) => {
        const name = { domain: d, type: 'any' };
        checkEventName(name);
        if (name.domain === 'wrangler') throw new InvalidArgsError('a device may not send wrangler events (they manage its cloud)');
        return name.domain;
      });
      const ttl = claimTtl(expiresIn);
      const child = ops.newChild(tx, cloud, name as string, rids);
      const { id } = child;
      const eci: EciInfo = {
        id: newEci(deps.ids, partitionOf(id)),
        tags: ['device'],
        eventPolicy: { allow: allowed.map((domain) => ({ domain, name: '*' })), deny: [] },
        queryPolicy: { allow: rids.map((rid) => ({ rid, name: '*' })), deny: [] },
      };
      tx.stage(eciOps(id, eci));
      const claim = await deps.claims.stage(tx, id, eci.id, ttl);
      return { ...child, device: { eci: eci.id, events: allowed, rids: rids.slice() }, claim } satisfies DeviceInfo;
    },

    async newClaimCode(tx, cloud, eci, expiresIn, creator) {
      const target = typeof eci === 'string' ? tx.eci(eci) : undefined;
      if (!target) throw new UnknownEciError(String(eci), `cloud ${cloud.meta.name} has no ECI ${JSON.stringify(eci)}`);
      // A code hands its ECI to whoever brings it: the system right (the cloud's log) never travels that way.
      if (target.tags.includes(SYSTEM_TAG)) throw new InvalidArgsError(`ECI ${target.id} is a system channel: it cannot be claimed`);
      if (creator && !within(target, creator)) throw new PolicyDeniedError(`a claim code for ECI ${target.id}, which may do more than the ECI asking`, target.id);
      return deps.claims.stage(tx, cloud.id, target.id, claimTtl(expiresIn));
    },

    moveTo(tx, _cloud, to, creator) {
      if (typeof to !== 'string' || to === '') throw new InvalidArgsError('a move needs the id of the host to move to');
      // Moving is the owner's: a narrower ECI could otherwise carry the cloud away from under it.
      if (!creator?.id || !isFull(creator)) throw new PolicyDeniedError('moving the cloud (that needs its full authority)', creator?.id ?? '');
      const via = creator.id;
      tx.release(() => deps.move(via, to));
    },

    install(tx, cloud, rid, config, creator, app) {
      const ruleset = app ? app.loaded.ruleset : typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
      if (!ruleset) throw new UnknownRulesetError(typeof rid === 'string' ? rid : describe(rid));
      if (!isPlainObject(config)) throw new InvalidArgsError('config must be an object');
      let value = config;
      if (ruleset.validateConfig) {
        const v = ruleset.validateConfig(config);
        if (!v.ok) throw new InvalidArgsError(`config rejected by ${rid}: ${v.issues}`);
        value = v.value;
      }
      const existing = tx.installs.find((r) => r.rid === rid);
      const record = app && appRecord(rid, app, existing, deps.rulesets);
      if (ruleset.uses?.length) checkUses(ruleset, tx.installs, (i) => deps.apps.rulesetOf(i, deps.rulesets));
      const seq = existing?.seq ?? tx.installs.reduce((max, r) => Math.max(max, r.seq), 0) + 1;
      // Installed again (a new config): it keeps the ECIs it has.
      let ecis = existing?.ecis;
      if (!existing) {
        const home = partitionOf(cloud.id);
        const made = declaredEcis(ruleset, cloud.id, deps.ids, creator, deps.owns(home) ? home : deps.partition());
        checkEciCount(tx, made.length);
        for (const e of made) tx.addEci(e);
        if (made.length > 0) ecis = made.map((e) => e.id);
      }
      const rec: InstallRecord = { rid, config: value, seq, ...(ecis ? { ecis } : {}), ...(record ? { app: record } : {}) };
      const installs = [...tx.installs.filter((r) => r.rid !== rid), rec].sort((a, b) => a.seq - b.seq);
      tx.installs = installs;
      tx.installed(rid);
      const writes: WriteOp[] = [put(keys.install(cloud.id, rid), rec)];
      if (app) writes.push(put(keys.appSource(app.loaded.hash), app.loaded.source));
      // Installed from a URL: every install from it on this host runs this content from now on.
      if (app?.loaded.url !== undefined) {
        const { url, hash } = app.loaded;
        writes.push(put(keys.appUrl(url), hash));
        tx.release(() => deps.apps.registered(url, hash));
      }
      tx.stage(writes, (c) => {
        c.installs = installs;
      });
      return installedInfo(rec);
    },

    loadApp: (from) => loadApp(deps.apps, from, deps.limits),

    async http(install, request) {
      if (!isPlainObject(request)) throw new InvalidArgsError('an HTTP request is {url, method, headers, body}');
      const { url, method = 'GET', headers = {}, body } = request;
      let target: URL;
      try {
        target = new URL(String(url));
      } catch {
        throw new InvalidArgsError(`${describe(url)} is not a URL`);
      }
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new InvalidArgsError('an HTTP request goes to an https: or http: URL');
      if (typeof method !== 'string' || !HTTP_METHODS.includes(method)) throw new InvalidArgsError(`an HTTP method is one of ${HTTP_METHODS.join(', ')}`);
      if (!isPlainObject(headers) || !Object.values(headers).every((v) => typeof v === 'string')) throw new InvalidArgsError('HTTP headers are an object of strings');
      if (body !== undefined && typeof body !== 'string') throw new InvalidArgsError('an HTTP body is a string');
      if (body !== undefined && Buffer.byteLength(body) > deps.limits.attrsBytes) throw new PayloadTooLargeError(`an HTTP body may be at most ${deps.limits.attrsBytes} bytes`);
      checkHttp(install, target);
      return deps.apps.http({ url: target.href, method, headers: headers as Record<string, string>, ...(body === undefined ? {} : { body }) });
    },

    revoke(tx, cloud, rid, permission) {
      const rec = tx.installs.find((r) => r.rid === rid);
      if (!rec) throw new UnknownRulesetError(rid);
      if (!rec.app) throw new InvalidArgsError(`${rid} is not an app: only what an app was granted can be revoked`);
      if (!(PERMISSIONS as readonly string[]).includes(permission)) throw new InvalidArgsError(`${JSON.stringify(permission)} is not a permission (${PERMISSIONS.join(', ')})`);
      const grant = { ...rec.app.grant };
      delete grant[permission as keyof AppPermissions];
      const next: InstallRecord = { ...rec, app: { ...rec.app, grant } };
      const installs = tx.installs.map((r) => (r === rec ? next : r));
      tx.installs = installs;
      tx.stage([put(keys.install(cloud.id, rid), next)], (c) => {
        c.installs = installs;
      });
    },

    uninstall(tx, cloud, rid) {
      if (deps.builtins.some((rs) => rs.rid === rid)) throw new InvalidArgsError(`${rid} is built in and cannot be uninstalled`);
      const rec = tx.installs.find((r) => r.rid === rid);
      if (!rec) throw new UnknownRulesetError(rid);
      tx.uninstalled(rid);
      for (const eci of rec.ecis ?? []) if (tx.eci(eci)) tx.deleteEci(eci);
      const installs = tx.installs.filter((r) => r.rid !== rid);
      tx.installs = installs;
      const ops: WriteOp[] = [del(keys.install(cloud.id, rid))];
      for (const name of cloud.ent.get(rid)?.keys() ?? []) ops.push(del(keys.entity(cloud.id, rid, name)));
      const prefix = exprKey(rid, '');
      for (const k of cloud.exprState.keys()) if (k.startsWith(prefix)) ops.push(del(keys.exprState(cloud.id, rid, k.slice(prefix.length))));
      // The Tx wipes the ruleset's state from memory when it applies (before any reinstall's writes).
      tx.stage(ops, (c) => {
        c.installs = installs;
      });
    },

    scheduleAt: (tx, cloud, at, event) => deps.scheduler.at(tx, cloud, at, event),
    scheduleRepeat: (tx, cloud, cron, event) => deps.scheduler.repeat(tx, cloud, cron, event),
    cancelSchedule: (tx, cloud, id) => deps.scheduler.cancel(tx, cloud, id),

    push(tx, cloud, eci, name, data) {
      const target = typeof eci === 'string' ? tx.eci(eci) : undefined;
      if (!target) throw new UnknownEciError(typeof eci === 'string' ? eci : describe(eci), `cloud ${cloud.meta.name} has no ECI ${describe(eci)} to push to`);
      if (typeof name !== 'string' || name.length === 0) throw new InvalidArgsError('a push needs a name');
      checkAttrs(data, deps.limits.attrsBytes, 'push data');
      // Whoever listens on the ECI learns only ECIs within its authority.
      const safe = redactEcis(data, stagedView(tx), target);
      tx.release(() => deps.push({ cloudId: cloud.id, eci: target.id, name, data: safe }));
    },

    send(tx, cloud, eci, event, caller, host) {
      if (host !== undefined && typeof host !== 'string') throw new InvalidArgsError('the host of a send is a base URL');
      // The receiving cloud learns only ECIs within the authority of the ECI that caused the send.
      const attrs = redactEcis(event.attrs, stagedView(tx), caller);
      deps.outbox.stage(tx, cloud, eci, { ...event, attrs }, host === undefined ? undefined : deps.remote.destination(host));
    },
  };
  return ops;
}
