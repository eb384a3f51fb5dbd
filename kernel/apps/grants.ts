import { AppLimitExceededError, AppPermissionDeniedError } from '../errors.ts';
import type { AppPermissions } from '../ruleset.ts';
import type { InstallRecord } from '../store/keys.ts';
import type { Tx } from '../episodes/tx.ts';
import { encode } from '../store/codec.ts';
import { isPlainObject } from '../validate.ts';

/**
 * What an installed app may do, as its owner granted it (docs/apps.md, "Permissions"). The kernel
 * checks the grant at every operation of a rule's context that needs one, whatever the app's code.
 */

/** Entity state an app may hold in one cloud when it asks for no other amount (bytes, stored size). */
export const DEFAULT_STORAGE = 64 * 1024;
/** The most entity state an app may ask to hold in one cloud. */
export const MAX_STORAGE = 16 * 1024 * 1024;

/** The permission each operation of a rule's context needs of an app; operations not listed need none. */
export const NEEDS: Readonly<Record<string, keyof AppPermissions>> = {
  send: 'send',
  push: 'send',
  newEci: 'channels',
  deleteEci: 'channels',
  newChild: 'children',
  deleteChild: 'children',
  newDevice: 'children',
  newClaimCode: 'children',
  install: 'manage',
  uninstall: 'manage',
  moveTo: 'manage',
  installApp: 'manage',
  revoke: 'manage',
  // `call` and `http` need a grant naming what they reach: checkCall, checkHttp.
};

const FLAGS = ['send', 'channels', 'children', 'manage'] as const;
const LISTS = ['calls', 'http'] as const;

/** Every permission an app may ask for. */
export const PERMISSIONS = [...FLAGS, 'storage', ...LISTS] as const;

const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
/** What each list permission's entries must be. */
const ENTRY: Record<(typeof LISTS)[number], (v: string) => boolean> = {
  calls: (v) => /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/.test(v),
  http: (v) => v.length <= 253 && HOST.test(v),
};

/** Refuse `op` when `install` is an app whose grant lacks the permission the operation needs. */
export function checkGrant(install: InstallRecord, op: string): void {
  const needs = NEEDS[op];
  if (install.app && needs && install.app.grant[needs] !== true) throw new AppPermissionDeniedError(install.rid, needs, `app ${install.rid} may not ${op}: its owner has not granted it "${needs}"`);
}

/**
 * An app's permissions read from what it declared, refusing what is not a permission (a typo must
 * not pass as "nothing asked"). Declared ECIs need `channels`.
 */
export function parsePermissions(value: unknown, declaresEcis: boolean): AppPermissions {
  if (value === undefined) value = {};
  if (!isPlainObject(value)) throw new TypeError('permissions must be an object');
  const out: AppPermissions = {};
  for (const [name, v] of Object.entries(value)) {
    if ((FLAGS as readonly string[]).includes(name)) {
      if (typeof v !== 'boolean') throw new TypeError(`permission ${name} is true or false`);
      if (v) out[name as (typeof FLAGS)[number]] = true;
    } else if ((LISTS as readonly string[]).includes(name)) {
      const list = name as (typeof LISTS)[number];
      if (!Array.isArray(v) || v.length > 20 || !v.every((x) => typeof x === 'string' && ENTRY[list](x))) throw new TypeError(`${list} is a list of at most 20 ${list === 'calls' ? 'rids' : 'host names (or *.domain)'}`);
      if (v.length > 0) out[list] = [...new Set(v as string[])].sort();
    } else if (name === 'storage') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_STORAGE) throw new TypeError(`storage is a whole number of bytes up to ${MAX_STORAGE}`);
      out.storage = v;
    } else {
      throw new TypeError(`${JSON.stringify(name)} is not a permission (${PERMISSIONS.join(', ')})`);
    }
  }
  if (declaresEcis) out.channels = true;
  return out;
}

/** What `asks` wants beyond `granted` (empty when it wants nothing more). */
export function beyond(asks: AppPermissions, granted: AppPermissions): AppPermissions {
  const more: AppPermissions = {};
  for (const flag of FLAGS) if (asks[flag] === true && granted[flag] !== true) more[flag] = true;
  if ((asks.storage ?? DEFAULT_STORAGE) > (granted.storage ?? DEFAULT_STORAGE)) more.storage = asks.storage;
  for (const list of LISTS) {
    const extra = (asks[list] ?? []).filter((x) => !(granted[list] ?? []).includes(x));
    if (extra.length > 0) more[list] = extra;
  }
  return more;
}

/** Refuse a call of `rid`'s shared functions by app `install` unless granted (`calls`). */
export function checkCall(install: InstallRecord, rid: string): void {
  if (install.app && !(install.app.grant.calls ?? []).includes(rid)) throw new AppPermissionDeniedError(install.rid, 'calls', `app ${install.rid} may not call the functions of ${rid}: its owner has not granted it "calls" of ${rid}`);
}

/** Refuse an HTTP request to `url`'s host by app `install` unless granted (`http`). */
export function checkHttp(install: InstallRecord, url: URL): void {
  if (!install.app) return;
  const host = url.hostname.toLowerCase();
  const ok = (install.app.grant.http ?? []).some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) : host === p));
  if (!ok) throw new AppPermissionDeniedError(install.rid, 'http', `app ${install.rid} may not reach ${host} over HTTP: its owner has not granted it "http" for that host`);
}

/**
 * Refuse an episode in which app `install` came to hold more entity state than its grant allows. An
 * episode that wrote none of its state leaves it as it was: reading stays possible under a smaller grant.
 */
export function checkStorage(tx: Tx, install: InstallRecord): void {
  if (!install.app || !tx.wroteEntities(install.rid)) return;
  const max = install.app.grant.storage ?? DEFAULT_STORAGE;
  let used = 0;
  for (const name of tx.entityNames(install.rid)) {
    used += name.length + encode(tx.getEntity(install.rid, name)).length;
    if (used > max) throw new AppLimitExceededError(install.rid, 'storage', `app ${install.rid} would hold more than its ${max} bytes of state in this cloud`, max);
  }
}
