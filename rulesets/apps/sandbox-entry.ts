/**
 * What runs inside an app's sandbox (a QuickJS engine; see docs/apps.md): the builder an app imports
 * as `kumo`, and the few calls the host makes into the app. Bundled by esbuild into one script
 * (compile.ts); it sees no kernel, no Node.js and no host object but `__host`, below.
 *
 * Values cross the boundary as JSON text, `''` standing for `undefined`: nothing of the host is
 * ever an object inside the sandbox, and nothing of the sandbox is ever an object in the host.
 */
import { ruleset } from '../builder.ts';
import { on, or, and, any, before, after, andThen, between, notBetween, count, repeat, within, where } from '../event-expr/authoring.ts';
import type { KumoEvent, Ruleset } from '../../kernel/ruleset.ts';
import { EFFECT_ARITY } from './effects.ts';

/** The host's one entry point: an operation of the context of the call under way, with JSON arguments. */
declare function __host(op: string, args: string): string | Promise<string>;
/** zod, loaded into this engine by the host when the app first reads `z` (most of an engine's start is zod's). */
declare function __zod(): object;

const dec = (s: string): unknown => (s === '' ? undefined : JSON.parse(s));

/** The operations of a rule's context that answer something; which of them a call may use is the host's to say. */
const SYNC = ['now', 'children', 'ecis', 'installed', 'registered', 'schedules', 'send', 'push', 'scheduleAt', 'scheduleRepeat', 'cancelSchedule', 'newEci', 'deleteEci', 'moveTo', 'install', 'uninstall'];
const ASYNC = ['newChild', 'deleteChild', 'newDevice', 'newClaimCode', 'call', 'http'];
/** Effects queued at most before they are handed over (each handing over within the bytes one call may hand). */
const BATCH = 16;

/**
 * Effects that answer nothing and need no permission (effects.ts), queued by the call under way as
 * one flat list, and handed to the host in one call before any other operation (so the host sees
 * every effect in the order the app made them) or when the call settles: writing and answering cost
 * one crossing, not one each.
 */
class Effects {
  private list: unknown[] = [];
  private count = 0;
  add(op: string, arity: number, a: unknown, b: unknown, c: unknown): void {
    if (this.count === BATCH) this.flush();
    this.list.push(op);
    if (arity > 0) this.list.push(a);
    if (arity > 1) this.list.push(b);
    if (arity > 2) this.list.push(c);
    this.count++;
  }
  /** The queued effects as JSON text ('' for none), and none queued any more. */
  take(): string {
    if (this.count === 0) return '';
    const text = JSON.stringify(this.list);
    this.clear();
    return text;
  }
  clear(): void {
    this.list = [];
    this.count = 0;
  }
  flush(): void {
    const text = this.take();
    if (text !== '') void __host('effects', text);
  }
}

/** The queue of the call under way (emptied as each call starts). */
const effects = new Effects();

/**
 * The app's entity state in the cloud of the rule run under way, when the host handed it in (names
 * to values; it does when the state is small): reads need no call of the host, and the run's own
 * writes are kept in it as they are queued. Undefined: reads ask the host.
 */
let snapshot: Snapshot | undefined;

/** Entity state as `[name, value]` pairs: an app's state handed in is small, and a search is cheaper here than making a Map. */
class Snapshot {
  constructor(private readonly pairs: Array<[string, unknown]>) {}
  private at(name: string): number {
    for (let i = 0; i < this.pairs.length; i++) if (this.pairs[i]![0] === name) return i;
    return -1;
  }
  get(name: string): unknown {
    const i = this.at(name);
    return i < 0 ? undefined : this.pairs[i]![1];
  }
  has(name: string): boolean {
    return this.at(name) >= 0;
  }
  names(): string[] {
    return this.pairs.map((p) => p[0]).sort();
  }
  set(name: string, value: unknown): void {
    const i = this.at(name);
    if (i < 0) this.pairs.push([name, value]);
    else this.pairs[i]![1] = value;
  }
  delete(name: string): void {
    const i = this.at(name);
    if (i >= 0) this.pairs.splice(i, 1);
  }
}

/** A value as the host holds it once written: JSON's copy (primitives JSON keeps as they are, as they are). */
const asStored = (value: unknown): unknown =>
  typeof value === 'string' || typeof value === 'boolean' || value === null || (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) ? value : (JSON.parse(JSON.stringify([value])) as unknown[])[0];

/**
 * Each context's view (its `config`, `cloud`, and a rule's `event`, `attrs`, …), read from the host
 * when first asked: kept by context, as a rule that waits on the host may resume after another
 * cloud's query.
 */
const views = new WeakMap<object, Record<string, unknown>>();

const call =
  (op: string) =>
  (...args: unknown[]): unknown => {
    effects.flush();
    return dec(__host(op, JSON.stringify(args)) as string);
  };
const callAsync =
  (op: string) =>
  async (...args: unknown[]): Promise<unknown> => {
    effects.flush();
    return dec(await __host(op, JSON.stringify(args)));
  };
const queue = (op: string): ((a?: unknown, b?: unknown, c?: unknown) => void) => {
  const arity = EFFECT_ARITY[op]!;
  return (a, b, c) => effects.add(op, arity, a, b, c);
};

/**
 * The operations of a context, made once and inherited by every context (an interpreter pays for
 * every closure made per call). Each acts on the call under way, whose queue is the module's; a
 * context's view is its own. A read context (queries, `where`) queues nothing: its effects go to the host, which
 * refuses them.
 */
function operations(writes: boolean): object {
  const effect = writes ? queue : call;
  const ops: Record<string, unknown> = { ent: writes ? ruleEntities() : { get: call('ent.get'), has: call('ent.has'), names: call('ent.names'), set: call('ent.set'), delete: call('ent.delete') } };
  for (const op of SYNC) ops[op] = call(op);
  for (const op of ASYNC) ops[op] = callAsync(op);
  for (const op of ['directive', 'raise', 'last']) ops[op] = effect(op);
  // A context is made with its rid (and rule); the rest of its view is asked for when first read.
  for (const name of writes ? RULE_VIEW : READ_VIEW) Object.defineProperty(ops, name, { get: viewOf(name), enumerable: true });
  Object.freeze(ops.ent);
  return Object.freeze(ops);
}
/** What a context reads of the host's view when first asked (sandbox `fields`): most rules read little of it. */
const RULE_VIEW = ['config', 'event', 'attrs', 'eci', 'captures', 'hostUrl', 'cloud'];
const READ_VIEW = ['config', 'cloud'];

/** A getter of the view's field `name`, on the context it is read from. */
function viewOf(name: string): (this: object) => unknown {
  return function (this: object) {
    let view = views.get(this);
    if (!view) {
      const asked = call('fields')() as Record<string, unknown> & { event?: { attrs: unknown } };
      // Attrs no schema changed are the event's, sent once.
      if (asked.event && !('attrs' in asked)) asked.attrs = asked.event.attrs;
      views.set(this, (view = asked));
    }
    return view[name];
  };
}
/** A rule's `ctx.ent`: from the snapshot when there is one, else from the host; writes queued. */
function ruleEntities(): Record<string, unknown> {
  const [get, has, names, set, remove] = [call('ent.get'), call('ent.has'), call('ent.names'), queue('ent.set'), queue('ent.delete')];
  return {
    // A read answers a copy, as the host's does: the app changing it changes nothing until it writes.
    get: (name: string): unknown => {
      if (!snapshot) return get(name);
      const value = snapshot.get(String(name));
      return value === undefined ? undefined : asStored(value);
    },
    has: (name: string): unknown => (snapshot ? snapshot.has(String(name)) : has(name)),
    names: (): unknown => (snapshot ? snapshot.names() : names()),
    set: (name: string, value: unknown): void => {
      set(name, value);
      // As the host will hold it (a write the host refuses fails the run anyway).
      if (snapshot && typeof name === 'string') snapshot.set(name, asStored(value));
    },
    delete: (name: string): void => {
      remove(name);
      snapshot?.delete(String(name));
    },
  };
}

const RULE_OPERATIONS = operations(true);
const READ_OPERATIONS = operations(false);

/** A context for the call starting now: its rid (and rule) its own, its operations and view inherited. */
function context(operations: object, rid: string, rule?: string): Record<string, unknown> {
  const ctx = Object.create(operations) as Record<string, unknown>;
  ctx.rid = rid;
  if (rule !== undefined) ctx.rule = rule;
  return ctx;
}

/** A read context (queries, `where`). */
const readContext = (): Record<string, unknown> => context(READ_OPERATIONS, loaded().rid);

/**
 * Freeze the engine's shared objects once the app has loaded: the built-in constructors and their
 * prototypes, the builder, and the global object. A rule cannot pollute `Object.prototype` (or add
 * a global) for the calls of other clouds that follow in this same engine.
 */
function harden(): void {
  // JavaScript's "override mistake": once a prototype is frozen, `err.name = …` on an instance throws
  // (a frozen inherited data property cannot be shadowed by assignment). The properties code
  // commonly sets on its own objects become accessors that define the property on the instance.
  const errors = Reflect.ownKeys(globalThis).filter((k) => typeof k === 'string' && /Error$/.test(k)) as string[];
  const overridable: Array<[unknown, string[]]> = [
    [Object.prototype, ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty']],
    [Function.prototype, ['constructor', 'name', 'toString']],
    [Array.prototype, ['constructor', 'toString']],
    [Promise.prototype, ['constructor']],
    ...errors.map((k): [unknown, string[]] => [((globalThis as Record<string, unknown>)[k] as { prototype: unknown }).prototype, ['constructor', 'name', 'message', 'toString']]),
  ];
  for (const [proto, names] of overridable) {
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d || !('value' in d)) continue;
      const value: unknown = d.value;
      Object.defineProperty(proto, name, {
        get: () => value,
        set(this: object, v: unknown) {
          if (this === proto) throw new TypeError(`${name} of a built-in prototype cannot be changed`);
          Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  }
  const seen = new Set<unknown>();
  for (const key of Reflect.ownKeys(globalThis)) deepFreeze((globalThis as Record<PropertyKey, unknown>)[key], 3, seen);
  Object.freeze(globalThis);
}

/** Freeze `v`, the values of its properties and its prototype, `depth` levels down. */
function deepFreeze(v: unknown, depth: number, seen: Set<unknown>): void {
  if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v)) return;
  seen.add(v);
  Object.freeze(v);
  if (depth === 0) return;
  for (const key of Reflect.ownKeys(v)) {
    const d = Object.getOwnPropertyDescriptor(v, key);
    if (d && 'value' in d) deepFreeze(d.value, depth - 1, seen);
  }
  deepFreeze(Object.getPrototypeOf(v), depth - 1, seen);
}

let app: Ruleset | undefined;
const loaded = (): Ruleset => {
  if (!app) throw new Error('no app is loaded');
  return app;
};

/**
 * How the run or query under way ended, as JSON text (`{"ok":true,"effects":[…],"value":…}`, the
 * value left out for `undefined`, or `{"ok":false,"error":{…}}`), or '' while it has not: a call
 * that ends at once answers it, and the host reads one that waited (`outcome()`) after running the
 * sandbox's pending jobs.
 */
let outcome = '';

/** The error an app threw as data: its name, message, and which of the host's errors it is, if one. */
function thrown(err: unknown): Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const e = err as { name?: unknown; message?: unknown; hostError?: unknown };
  return { name: String(e.name), message: String(e.message), ...(typeof e.hostError === 'number' ? { hostError: e.hostError } : {}) };
}

/** The outcome of a call that answered `value`, with the effects it queued. */
function answered(value: unknown): string {
  const text = value === undefined ? undefined : typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return `{"ok":true,"effects":${effects.take() || '[]'}${text === undefined ? '' : `,"value":${text}`}}`;
}

/** Settle the call under way when `result` does, with the effects it queued meanwhile. */
function settle(result: unknown): void {
  if (typeof (result as { then?: unknown } | null)?.then !== 'function') {
    outcome = answered(result);
    return;
  }
  Promise.resolve(result).then(
    (value) => (outcome = answered(value)),
    (err: unknown) => failed(err),
  );
}

function failed(err: unknown): void {
  effects.clear();
  outcome = JSON.stringify({ ok: false, error: thrown(err) });
}

/** The outcome of the call under way ('' while it runs), taken. */
function takeOutcome(): string {
  const text = outcome;
  outcome = '';
  return text;
}

/**
 * A run or query: the queue and the outcome are its own until it settles (they take turns). Answers
 * its outcome if it ended at once.
 */
function answer(go: () => unknown): string {
  effects.clear();
  outcome = '';
  try {
    settle(go());
  } catch (err) {
    failed(err);
  }
  return takeOutcome();
}

const sandbox = {
  outcome: takeOutcome,
  /** Take the app's module exports; answer its description (what the host builds its ruleset from). */
  load(exports: Record<string, unknown>): string {
    const rs: unknown = exports.default;
    if (typeof rs !== 'object' || rs === null || typeof (rs as Partial<Ruleset>).rid !== 'string' || !Array.isArray((rs as Partial<Ruleset>).rules))
      throw new TypeError('the app must export default a built ruleset: ruleset(rid, {...}).….build()');
    app = rs as Ruleset;
    harden();
    return JSON.stringify({
      rid: app.rid,
      version: app.version,
      meta: app.meta,
      permissions: app.permissions ?? {},
      rules: app.rules.map((r) => ({ name: r.name, events: r.select.events, always: r.select.always === true, validates: r.validate !== undefined })),
      functions: Object.keys(app.functions),
      shares: app.shares,
      config: app.validateConfig !== undefined,
      ecis: app.ecis ?? [],
    });
  },
  match(rule: number, state: string, event: string): string {
    effects.clear(); // what an abandoned call left (one that awaited what never came) is dropped
    return JSON.stringify(loaded().rules[rule]!.select.match(dec(state), JSON.parse(event) as KumoEvent, readContext as never));
  },
  validate(rule: number, attrs: string): string {
    return JSON.stringify(loaded().rules[rule]!.validate!(JSON.parse(attrs) as Record<string, unknown>));
  },
  validateConfig(config: string): string {
    return JSON.stringify(loaded().validateConfig!(JSON.parse(config) as Record<string, unknown>));
  },
  /** A rule run: `[rule, entities or null]` as JSON; answers its outcome if it ended at once. */
  run: (input: string): string =>
    answer(() => {
      const [index, entities] = JSON.parse(input) as [number, Array<[string, unknown]> | null];
      snapshot = entities === null ? undefined : new Snapshot(entities);
      const { rid, rules } = loaded();
      const rule = rules[index]!;
      return rule.run(context(RULE_OPERATIONS, rid, rule.name) as never);
    }),
  /** A query: `[name, args]` as JSON; answers its outcome if it ended at once. */
  query: (input: string): string =>
    answer(() => {
      const [name, args] = JSON.parse(input) as [string, Record<string, unknown>];
      return loaded().functions[name]!(readContext() as never, args);
    }),
};

/** What an app imports as `kumo`: `z` is loaded when first read. */
const kumo = { ruleset, on, or, and, any, before, after, andThen, between, notBetween, count, repeat, within, where };
// zod's namespace (a plain copy: a bundle's exports are getters) is frozen as it is loaded; zod's
// classes are not (zod sets some of its objects up on first use).
let zod: object | undefined;
Object.defineProperty(kumo, 'z', { get: () => (zod ??= Object.freeze(__zod())), enumerable: true });

Object.assign(globalThis, { __kumo: kumo, __sandbox: sandbox });
