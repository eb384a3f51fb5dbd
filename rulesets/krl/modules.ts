import { createHash, createHmac, getHashes, randomInt, randomUUID } from 'node:crypto';
import type { AppPermissions, HttpResponse } from '../../kernel/index.ts';
import { KrlError, type Run } from './runtime.ts';
import { getPath } from './stdlib.ts';
import { isMap, isNull, plainMap, toNumberOrNull, toPlain, toStr } from './values.ts';

/**
 * KRL's modules (docs/krl.md, "Modules"): `event`, `meta`, `time`, `math`, `random`, `schedule`,
 * `http`, `ctx`, and pico's `io.picolabs.wrangler` and `io.picolabs.subscription` through `use
 * module`. Each member is a property, a function, an action, or both a function and an action; what
 * it needs of the app's grant is listed, so a ruleset asks for exactly what it uses.
 */
export interface Member {
  kind: 'Property' | 'Function' | 'Action' | 'Both';
  /** Parameter names, for named arguments. */
  params: readonly string[];
  fn: (run: Run, args: unknown[]) => unknown;
  /** What of an app's grant it uses (docs/apps.md, "Permissions"). */
  needs?: AppPermissions;
}

const prop = (fn: Member['fn']): Member => ({ kind: 'Property', params: [], fn });
const func = (params: string[], fn: Member['fn'], needs?: AppPermissions): Member => ({ kind: 'Function', params, fn, ...(needs ? { needs } : {}) });
const action = (params: string[], fn: Member['fn'], needs?: AppPermissions): Member => ({ kind: 'Action', params, fn, ...(needs ? { needs } : {}) });

const event: Record<string, Member> = {
  attrs: prop((run) => run.event?.attrs ?? null),
  attr: func(['name'], (run, [n]) => getPath(run.event?.attrs ?? null, toStr(n))),
  domain: prop((run) => run.event?.domain ?? null),
  type: prop((run) => run.event?.type ?? null),
  eid: prop((run) => run.event?.eid ?? null),
  time: prop((run) => run.event?.time ?? null),
  eci: prop((run) => run.rule?.eci ?? null),
  send: action(
    ['event', 'host'],
    (run, [e, host]) => {
      const ev = plainMap(e, 'event:send’s event');
      run.ruleContext('event:send').send(toStr(ev['eci']), toStr(ev['domain']), toStr(ev['type'] ?? ev['name']), plainMap(ev['attrs'], 'the attrs of event:send'), isNull(host) ? undefined : toStr(host));
      return null;
    },
    { send: true },
  ),
};

const meta: Record<string, Member> = {
  rid: prop((run) => run.ruleset.rid),
  rulesetName: prop((run) => run.ruleset.name ?? null),
  rulesetConfig: prop((run) => run.read.config),
  picoId: prop((run) => run.read.cloud.id),
  eci: prop((run) => run.rule?.eci ?? null),
  host: prop((run) => run.rule?.hostUrl ?? null),
  ruleName: prop((run) => run.ruleName ?? null),
  inEvent: prop((run) => run.rule !== undefined),
  inQuery: prop((run) => run.rule === undefined),
  txnId: prop((run) => run.event?.eid ?? null),
};

const iso = (ms: number): string => new Date(ms).toISOString();
function parseTime(v: unknown): number {
  const ms = typeof v === 'number' ? v : Date.parse(toStr(v));
  if (!Number.isFinite(ms)) throw new KrlError(`${toStr(v)} is not a time`);
  return ms;
}
const UNITS: Readonly<Record<string, (d: Date, n: number) => void>> = {
  years: (d, n) => d.setUTCFullYear(d.getUTCFullYear() + n),
  months: (d, n) => d.setUTCMonth(d.getUTCMonth() + n),
  weeks: (d, n) => d.setUTCDate(d.getUTCDate() + 7 * n),
  days: (d, n) => d.setUTCDate(d.getUTCDate() + n),
  hours: (d, n) => d.setUTCHours(d.getUTCHours() + n),
  minutes: (d, n) => d.setUTCMinutes(d.getUTCMinutes() + n),
  seconds: (d, n) => d.setUTCSeconds(d.getUTCSeconds() + n),
};
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
const STRFTIME: Readonly<Record<string, (d: Date) => string>> = {
  Y: (d) => String(d.getUTCFullYear()),
  m: (d) => pad(d.getUTCMonth() + 1),
  d: (d) => pad(d.getUTCDate()),
  H: (d) => pad(d.getUTCHours()),
  M: (d) => pad(d.getUTCMinutes()),
  S: (d) => pad(d.getUTCSeconds()),
  L: (d) => pad(d.getUTCMilliseconds(), 3),
  F: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
  T: (d) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  a: (d) => ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]!,
  b: (d) => ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!,
  '%': () => '%',
};

const time: Record<string, Member> = {
  now: func([], (run) => iso(run.read.now())),
  new: func(['date'], (run, [d]) => iso(isNull(d) ? run.read.now() : parseTime(d))),
  add: func(['date', 'spec'], (_r, [t, spec]) => {
    const d = new Date(parseTime(t));
    for (const [unit, n] of Object.entries(plainMap(spec, 'the amounts of time:add'))) {
      const add = UNITS[unit];
      if (!add) throw new KrlError(`time:add knows ${Object.keys(UNITS).join(', ')}, not ${unit}`);
      add(d, toNumberOrNull(n) ?? 0);
    }
    return d.toISOString();
  }),
  strftime: func(['date', 'format'], (_r, [t, f]) => {
    const d = new Date(parseTime(t));
    return toStr(f).replace(/%(.)/g, (m, c: string) => STRFTIME[c]?.(d) ?? m);
  }),
};

const HASHES = getHashes();
const math: Record<string, Member> = {
  abs: func(['n'], (_r, [n]) => Math.abs(toNumberOrNull(n) ?? 0)),
  ceiling: func(['n'], (_r, [n]) => Math.ceil(toNumberOrNull(n) ?? 0)),
  floor: func(['n'], (_r, [n]) => Math.floor(toNumberOrNull(n) ?? 0)),
  int: func(['n'], (_r, [n]) => Math.trunc(toNumberOrNull(n) ?? 0)),
  round: func(['n', 'precision'], (_r, [n, p]) => {
    const f = 10 ** (toNumberOrNull(p) ?? 0);
    return Math.round((toNumberOrNull(n) ?? 0) * f) / f;
  }),
  sqrt: func(['n'], (_r, [n]) => Math.sqrt(toNumberOrNull(n) ?? 0)),
  base64encode: func(['text'], (_r, [s]) => Buffer.from(toStr(s)).toString('base64')),
  base64decode: func(['text'], (_r, [s]) => Buffer.from(toStr(s), 'base64').toString()),
  hashAlgorithms: prop(() => [...HASHES]),
  hash: func(['algorithm', 'text', 'encoding'], (_r, [a, s, e]) => createHash(algorithm(a)).update(toStr(s)).digest(encoding(e))),
  hmac: func(['algorithm', 'key', 'message', 'encoding'], (_r, [a, k, s, e]) => createHmac(algorithm(a), toStr(k)).update(toStr(s)).digest(encoding(e))),
};
function algorithm(a: unknown): string {
  const name = toStr(a);
  if (!HASHES.includes(name)) throw new KrlError(`math: unknown hash algorithm ${JSON.stringify(name)}`);
  return name;
}
const encoding = (e: unknown): 'hex' | 'base64' => (toStr(e) === 'base64' ? 'base64' : 'hex');

/** A number argument, or `d` when it is not given. */
const numberOr = (v: unknown, d: number): number => (isNull(v) ? d : (toNumberOrNull(v) ?? d));

const random: Record<string, Member> = {
  uuid: func([], () => randomUUID()),
  integer: func(['upper', 'lower'], (_r, [u, l]) => {
    const hi = Math.floor(numberOr(u, 1));
    const lo = Math.floor(numberOr(l, 0));
    return lo >= hi ? lo : randomInt(lo, hi + 1);
  }),
  number: func(['upper', 'lower'], (_r, [u, l]) => {
    const hi = numberOr(u, 1);
    const lo = numberOr(l, 0);
    return lo + Math.random() * (hi - lo);
  }),
};

const schedule: Record<string, Member> = {
  list: func([], (run) => run.read.schedules().map((s) => ({ id: s.id, event: { domain: s.domain, type: s.type, attrs: s.attrs }, ...(s.cron ? { timespec: s.cron } : { time: s.next }) }))),
  remove: action(['id'], (run, [id]) => {
    const ctx = run.ruleContext('schedule:remove');
    const known = ctx.schedules().some((s) => s.id === toStr(id));
    if (known) ctx.cancelSchedule(toStr(id));
    return known;
  }),
};

/** pico's response map from kumo's. */
function response(r: HttpResponse, parseJSON: boolean): Record<string, unknown> {
  let content: unknown = r.body;
  if (parseJSON) {
    try {
      content = JSON.parse(r.body) as unknown;
    } catch {
      // pico keeps the text when it is not JSON
    }
  }
  return { content, content_type: r.headers['content-type'] ?? null, content_length: Buffer.byteLength(r.body), headers: r.headers, status_code: r.status, status_line: String(r.status) };
}

const HTTP_PARAMS = ['url', 'qs', 'headers', 'body', 'auth', 'json', 'form', 'parseJSON', 'autoraise'];
function httpMember(method: string): Member {
  return {
    kind: 'Both',
    params: HTTP_PARAMS,
    needs: { http: [] },
    fn: (run, [url, qs, headers, body, auth, json, form, parseJSON, autoraise]) => {
      const ctx = run.ruleContext(`http:${method.toLowerCase()}`);
      const u = new URL(toStr(url));
      for (const [k, v] of Object.entries(plainMap(qs, 'qs'))) u.searchParams.append(k, toStr(v));
      const h: Record<string, string> = Object.fromEntries(Object.entries(plainMap(headers, 'headers')).map(([k, v]) => [k.toLowerCase(), toStr(v)]));
      let text: string | undefined = isNull(body) ? undefined : toStr(body);
      if (!isNull(json)) {
        text = JSON.stringify(toPlain(json));
        h['content-type'] ??= 'application/json';
      } else if (!isNull(form)) {
        text = new URLSearchParams(Object.entries(plainMap(form, 'form')).map(([k, v]): [string, string] => [k, toStr(v)])).toString();
        h['content-type'] ??= 'application/x-www-form-urlencoded';
      }
      if (isMap(auth)) h['authorization'] = `Basic ${Buffer.from(`${toStr(auth['username'])}:${toStr(auth['password'])}`).toString('base64')}`;
      return ctx.http({ url: u.toString(), method, headers: h, ...(text === undefined ? {} : { body: text }) }).then((r) => {
        const answer = response(r, parseJSON === true);
        if (!isNull(autoraise)) ctx.raise('http', method.toLowerCase(), { ...answer, label: toStr(autoraise) });
        return answer;
      });
    },
  };
}
const http: Record<string, Member> = Object.fromEntries(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'].map((m) => [m.toLowerCase(), httpMember(m)]));

const channelOf = (run: Run, tags: unknown, eventPolicy: unknown, queryPolicy: unknown): unknown =>
  run.ruleContext('making a channel').newEci({
    tags: isNull(tags) ? [] : Array.isArray(tags) ? tags.map(toStr) : [toStr(tags)],
    ...(isNull(eventPolicy) ? {} : { eventPolicy: toPlain(eventPolicy) }),
    ...(isNull(queryPolicy) ? {} : { queryPolicy: toPlain(queryPolicy) }),
  });
const children = (run: Run): unknown[] => run.read.children().map(({ id, name, eci }) => ({ id, name, eci }));
const channels = (run: Run, tags: unknown): unknown[] => {
  const want = isNull(tags) ? [] : (Array.isArray(tags) ? tags : [tags]).map((t) => toStr(t).toLowerCase());
  return run.read.ecis().filter((e) => want.every((t) => e.tags.includes(t)));
};

/** pico's `io.picolabs.wrangler` functions and actions, on the cloud's own context. */
const wrangler: Record<string, Member> = {
  myself: func([], (run) => ({ id: run.read.cloud.id, name: run.read.cloud.name, eci: run.rule?.eci ?? null })),
  name: func([], (run) => run.read.cloud.name),
  children: func([], children),
  channels: func(['tags'], (run, [tags]) => channels(run, tags)),
  installedRIDs: func([], (run) => run.read.installed().map((r) => r.rid)),
  parent_eci: func([], () => null),
  createChannel: action(['tags', 'eventPolicy', 'queryPolicy'], (run, [t, e, q]) => channelOf(run, t, e, q), { channels: true }),
  deleteChannel: action(['eci'], (run, [eci]) => (run.ruleContext('wrangler:deleteChannel').deleteEci(toStr(eci)), null), { channels: true }),
};

/** pico's `ctx` module: the cloud and what it holds. */
const ctx: Record<string, Member> = {
  rid: prop((run) => run.ruleset.rid),
  picoId: prop((run) => run.read.cloud.id),
  parent: prop((run) => run.read.cloud.parent),
  children: prop((run) => children(run).map((c) => (c as { eci: string }).eci)),
  channels: prop((run) => run.read.ecis()),
  rulesets: prop((run) => run.read.installed().map((r) => ({ rid: r.rid, config: r.config, ...(r.app ? { version: r.app.version, url: r.app.url ?? null } : {}) }))),
  newChannel: action(['tags', 'eventPolicy', 'queryPolicy'], (run, [t, e, q]) => channelOf(run, t, e, q), { channels: true }),
  delChannel: action(['eci'], (run, [eci]) => (run.ruleContext('ctx:delChannel').deleteEci(toStr(eci)), null), { channels: true }),
  newPico: action(['name', 'rids'], (run, [n, rids]) => run.ruleContext('ctx:newPico').newChild(isNull(n) ? 'child' : toStr(n), isNull(rids) ? {} : { rids: toPlain(rids) }), { children: true }),
  delPico: action(['eci'], (run, [eci]) => run.ruleContext('ctx:delPico').deleteChild({ eci: toStr(eci) }), { children: true }),
  event: action(['eci', 'domain', 'name', 'attrs'], (run, [eci, d, t, a]) => (run.ruleContext('ctx:event').send(toStr(eci), toStr(d), toStr(t), plainMap(a, 'the attrs of ctx:event')), null), { send: true }),
};

/** A shared function of the host's `io.picolabs.subscription`, called in the cloud as a pico ruleset does through `use module`. */
const SUBSCRIPTION = 'io.picolabs.subscription';
const subsCall = (name: string, params: string[]): Member =>
  func(
    params,
    (run, args) => {
      const { ruleset, read } = run.read.module(SUBSCRIPTION);
      const fn = ruleset.shares.includes(name) ? ruleset.functions[name] : undefined;
      if (!fn) throw new KrlError(`${SUBSCRIPTION} shares no function ${name}`);
      return fn(read, Object.fromEntries(params.flatMap((p, i) => (isNull(args[i]) ? [] : [[p, toPlain(args[i])]]))));
    },
    { calls: [SUBSCRIPTION] },
  );
const subscription: Record<string, Member> = {
  established: subsCall('established', ['key', 'value']),
  inbound: subsCall('inbound', ['key', 'value']),
  outbound: subsCall('outbound', ['key', 'value']),
  wellKnown_Rx: subsCall('wellKnown_Rx', []),
};

/** The modules every KRL ruleset has, by name. */
export const MODULES: Readonly<Record<string, Readonly<Record<string, Member>>>> = { event, meta, time, math, random, schedule, http, ctx };

/** The pico rulesets a KRL ruleset may `use module`, and what kumo gives for each. */
export const USABLE_MODULES: Readonly<Record<string, Readonly<Record<string, Member>>>> = { 'io.picolabs.wrangler': wrangler, [SUBSCRIPTION]: subscription };
