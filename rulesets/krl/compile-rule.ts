import type { K } from './parse.ts';
import type { Rule } from '../../kernel/index.ts';
import { after, and, any, before, andThen, between, compile as compileSelect, count, notBetween, on, or, repeat, where, within, type Aggregate, type EventExpr, type PrimitiveOptions, type TimeUnit } from '../event-expr.ts';
import type { Functions } from '../event-expr/where-context.ts';
import { KrlCompileError, args, callMember, declarations, expr, linear, moduleMember, params, positional, setDefaction, urlArg, withArgs, type Cx, type Ev } from './compile-expr.ts';
import { Env, KrlError, Run, episodeBudget, invoke, type RulesetInfo } from './runtime.ts';
import { deletePath, putPath } from './stdlib.ts';
import { KrlCallable, inOrder, isMap, isNull, isPromise, chain, plainMap, toPlain, toStr, truthy } from './values.ts';

/**
 * KRL rules compiled to the kernel's model (docs/krl.md): `select when` to kumo's event
 * expressions, and the rest of a rule (foreach, pre, actions, postlude) to one `run` closure that
 * stages every effect through the rule's context.
 */

type Step = (env: Env, final: boolean) => void | Promise<void>;

/** Run steps in order, waiting where one waited. */
function sequence(steps: readonly Step[]): Step {
  if (steps.length === 0) return () => undefined;
  if (steps.length === 1) return steps[0]!;
  return (env, final) => inOrder(steps, (step) => step(env, final));
}

/** The actions every rule has without a module. */
const BUILTIN_ACTIONS: Record<string, { params: string[]; fn: (env: Env, args: unknown[]) => unknown }> = {
  send_directive: {
    params: ['name', 'options'],
    fn: (env, [name, options]) => {
      env.run.ruleContext('send_directive').directive(toStr(name), plainMap(options, 'the options of send_directive'));
      return null;
    },
  },
  noop: { params: [], fn: () => null },
};

/** One action: its value, bound by `setting(x)`. */
function action(n: K.Action, cx: Cx): Ev {
  const a = args(n.args, cx);
  let call: Ev;
  const callee = n.action;
  const use = callee.type === 'DomainIdentifier' ? cx.uses.get(callee.domain) : undefined;
  if (use) {
    call = (env) => withArgs(env, a, (xs, named) => invoke(env.run, env.run.moduleValue(use, callee.value, env), xs, named, 'Action'));
  } else if (callee.type === 'DomainIdentifier') {
    const m = moduleMember(callee, cx);
    if (m.kind !== 'Action' && m.kind !== 'Both') throw new KrlCompileError(`${callee.domain}:${callee.value} is not an action`, callee.loc.start);
    cx.needs.add(m.needs, urlArg(n.args, m));
    call = callMember(m, a);
  } else if (Object.hasOwn(BUILTIN_ACTIONS, callee.value)) {
    const b = BUILTIN_ACTIONS[callee.value]!;
    call = (env) => withArgs(env, a, (xs, named) => b.fn(env, positional(b.params, xs, named)));
  } else {
    const name = callee.value;
    call = (env) => withArgs(env, a, (xs, named) => invoke(env.run, env.get(name), xs, named, 'Action'));
  }
  const names = n.setting.map((s) => s.value);
  if (names.length === 0) return call;
  return (env) => chain(call(env), (v) => names.forEach((s) => env.set(s, v)));
}

/** An action block: whether it fired (actions ran), once they have run. */
export function actionBlock(n: K.ActionBlock | null, cx: Cx): (env: Env) => boolean | Promise<boolean> {
  if (!n) return () => true;
  const acts = n.actions.map((x) => ({ label: x.label?.value, run: action(x, cx) }));
  const cond = n.condition ? expr(n.condition, cx) : undefined;
  const disc = n.discriminant ? expr(n.discriminant, cx) : undefined;
  const runAll = (env: Env, list: ReadonlyArray<{ run: Ev }>): boolean | Promise<boolean> =>
    chain(
      inOrder(list, (x) => x.run(env)),
      () => true,
    );
  const chosen = (env: Env): boolean | Promise<boolean> => {
    if (n.block_type === 'sample') return runAll(env, [acts[Math.floor(Math.random() * acts.length)]!]);
    if (n.block_type === 'choose') {
      return chain(disc ? disc(env) : null, (d) => {
        const pick = acts.find((x) => x.label === toStr(d));
        return pick ? runAll(env, [pick]) : false;
      }) as boolean | Promise<boolean>;
    }
    return runAll(env, acts);
  };
  if (!cond) return chosen;
  return (env) => chain(cond(env), (c) => (truthy(c) ? chosen(env) : false)) as boolean | Promise<boolean>;
}

setDefaction((n, cx) => {
  const ps = params(n.params, cx);
  const body = declarations(n.body, cx);
  const block = actionBlock(n.action_block, cx);
  const ret = n.return ? expr(n.return, cx) : undefined;
  return (env) =>
    new KrlCallable('Action', 'defaction', ps.names, (xs, named) => {
      const scope = env.child();
      ps.bind(scope, xs, named);
      return chain(body(scope), () => chain(block(scope), () => (ret ? ret(scope) : null)));
    });
});

/** A postlude statement. */
function statement(n: K.PostludeStatement, cx: Cx): Step {
  const compile = STATEMENTS[n.type] as ((n: K.PostludeStatement, cx: Cx) => Step) | undefined;
  if (!compile) throw new KrlCompileError(`unexpected ${n.type}`, n.loc.start);
  return compile(n, cx);
}

function entity(n: K.DomainIdentifier): string {
  if (n.domain !== 'ent')
    throw new KrlCompileError(n.domain === 'app' ? 'app: variables (shared by every pico of a ruleset) are not supported: clouds share no state; use ent:' : `only ent: variables can be set, not ${n.domain}:`, n.loc.start);
  return n.value;
}

/** The domain and type of a `raise` or `schedule`: written apart, or as one `"domain:type"` value. */
function eventName(n: K.RaiseEventStatement | K.ScheduleEventStatement, cx: Cx): (env: Env) => unknown {
  if (n.event_domainAndType) {
    const both = expr(n.event_domainAndType, cx);
    return (env) =>
      chain(both(env), (v) => {
        const s = toStr(v);
        const i = s.indexOf(':');
        if (i <= 0) throw new KrlError(`expected "domain:type", got ${JSON.stringify(s)}`);
        return [s.slice(0, i), s.slice(i + 1)];
      });
  }
  const domain = n.event_domain!.value;
  const type = expr(n.event_type!, cx);
  return (env) => chain(type(env), (t) => [domain, toStr(t)]);
}

const STATEMENTS: { [T in K.PostludeStatement['type']]: (n: Extract<K.PostludeStatement, { type: T }>, cx: Cx) => Step } = {
  PersistentVariableAssignment: (n, cx) => {
    const name = entity(n.left);
    const value = expr(n.right, cx);
    const path = n.path_expression ? expr(n.path_expression, cx) : undefined;
    return (env) =>
      chain(all2(value(env), path?.(env)), ([v, p]) => {
        const ent = env.run.ruleContext('a postlude').ent;
        ent.set(name, toPlain(path ? putPath(ent.get(name) ?? null, p, v) : v));
      });
  },
  ClearPersistentVariable: (n, cx) => {
    const name = entity(n.variable);
    const path = n.path_expression ? expr(n.path_expression, cx) : undefined;
    return (env) => {
      const ent = env.run.ruleContext('a postlude').ent;
      if (!path) return ent.delete(name);
      return chain(path(env), (p) => ent.set(name, toPlain(deletePath(ent.get(name) ?? null, p))));
    };
  },
  RaiseEventStatement: (n, cx) => {
    const name = eventName(n, cx);
    const attrs = n.event_attrs ? expr(n.event_attrs, cx) : undefined;
    const forRid = n.for_rid ? expr(n.for_rid, cx) : undefined;
    return (env) =>
      chain(all2(name(env), all2(attrs?.(env), forRid?.(env))), ([dt, [a, rid]]) => {
        const [d, t] = dt as [string, string];
        env.run.ruleContext('a postlude').raise(d, t, plainMap(a, 'the attributes of raise'), isNull(rid) ? undefined : { rid: toStr(rid) });
      });
  },
  ScheduleEventStatement: (n, cx) => {
    const name = eventName(n, cx);
    const attrs = n.event_attrs ? expr(n.event_attrs, cx) : undefined;
    const when = n.at ? expr(n.at, cx) : n.timespec ? expr(n.timespec, cx) : undefined;
    if (!when) throw new KrlCompileError('schedule needs `at` or `repeat`', n.loc.start);
    const setting = n.setting?.value;
    return (env) =>
      chain(all2(name(env), all2(attrs?.(env), when(env))), ([dt, [a, w]]) => {
        const [d, t] = dt as [string, string];
        const ctx = env.run.ruleContext('a postlude');
        const at = n.at ? (typeof w === 'number' ? w : Date.parse(toStr(w))) : undefined;
        if (at !== undefined && !Number.isFinite(at)) throw new KrlError(`schedule … at ${toStr(w)}: not a time`);
        const id = at !== undefined ? ctx.scheduleAt(at, d, t, plainMap(a, 'the attributes of schedule')) : ctx.scheduleRepeat(toStr(w), d, t, plainMap(a, 'the attributes of schedule'));
        if (setting) env.set(setting, id);
      });
  },
  LogStatement: (n, cx) => {
    const value = expr(n.expression, cx);
    return (env) => chain(value(env), (v) => env.run.log(n.level, toStr(v)));
  },
  ErrorStatement: (n, cx) => {
    const value = expr(n.expression, cx);
    return (env) =>
      chain(value(env), (v) => {
        env.run.log(n.level, toStr(v));
        env.run.ruleContext('a postlude').raise('system', 'error', { level: n.level, data: toPlain(v), rid: env.run.ruleset.rid, rule_name: env.run.ruleName ?? null, genus: 'user' });
      });
  },
  LastStatement: () => (env) => env.run.ruleContext('a postlude').last(),
  GuardCondition: (n, cx) => {
    const inner = statement(n.statement, cx);
    if (n.condition === 'on final') return (env, final) => (final ? inner(env, final) : undefined);
    const cond = expr(n.condition, cx);
    return (env, final) => chain(cond(env), (c) => (truthy(c) ? inner(env, final) : undefined)) as void | Promise<void>;
  },
  Declaration: (n, cx) => {
    const value = expr(n.right, cx);
    const name = n.left.value;
    return (env) => chain(value(env), (v) => env.set(name, v));
  },
};

const all2 = <A, B>(a: A, b: B): [Awaited<A>, Awaited<B>] | Promise<[Awaited<A>, Awaited<B>]> => (isPromise(a) || isPromise(b) ? Promise.all([a, b]) : ([a, b] as [Awaited<A>, Awaited<B>]));

const UNITS: Record<string, TimeUnit> = {
  day: 'day',
  days: 'days',
  hour: 'hour',
  hours: 'hours',
  minute: 'minute',
  minutes: 'minutes',
  month: 'month',
  months: 'months',
  second: 'second',
  seconds: 'seconds',
  week: 'week',
  weeks: 'weeks',
  year: 'year',
  years: 'years',
};

/** A `select when` expression as kumo's event expression. */
function eventExpr(n: K.EventExpression, cx: Cx, info: RulesetInfo): EventExpr {
  if (n.type === 'EventExpression') {
    const test = n.where ? whereTest(n.where, cx, info) : undefined;
    const names = n.setting.map((s) => s.value);
    return on(n.event_domain.value, n.event_type.value, {
      ...(n.event_attrs.length ? { attrs: n.event_attrs.map((m) => [m.key.value, linear(m.value)] as const) } : {}),
      ...(names.length ? { setting: names } : {}),
      ...(test ? { where: test } : {}),
    });
  }
  if (n.type === 'EventGroupOperator') {
    const inner = eventExpr(n.event, cx, info);
    const agg = n.event.type === 'EventExpression' && n.event.aggregator ? ({ [n.event.aggregator.op]: n.event.aggregator.args.map((a) => a.value) } as Aggregate) : undefined;
    return (n.op === 'count' ? count : repeat)(n.n.value, inner, agg);
  }
  const parts = n.args.filter((a): a is K.EventExpression => a.type !== 'Number').map((a) => eventExpr(a, cx, info));
  switch (n.op) {
    case 'or':
      return or(...parts);
    case 'and':
      return and(...parts);
    case 'before':
      return before(...parts);
    case 'then':
      return andThen(...parts);
    case 'after':
      return after(...parts);
    case 'between':
      return between(parts[0]!, parts[1]!, parts[2]!);
    case 'not between':
      return notBetween(parts[0]!, parts[1]!, parts[2]!);
    case 'any': {
      const count = n.args[0];
      return any(count?.type === 'Number' ? count.value : 1, ...parts);
    }
  }
  throw new KrlCompileError(`unknown event operator ${String((n as { op: string }).op)}`, (n as K.EventOperator).loc.start);
}

/** A `where` on an event: it sees the captures, `event:`, the cloud, and the ruleset's globals. */
function whereTest(n: K.Expression, cx: Cx, info: RulesetInfo): PrimitiveOptions['where'] {
  const test = expr(n, cx);
  return (captures, event, read) => {
    const run = new Run(info, read, undefined, undefined, event);
    const env = new Env(run, undefined).child();
    for (const [k, v] of Object.entries(captures)) env.set(k, v);
    // Nothing in a where can wait: what waits on the host needs a rule's context, which a where has not.
    return truthy(test(env));
  };
}

function selector(n: K.RuleSelect, cx: Cx, info: RulesetInfo, functions: Functions): Rule['select'] {
  if (n.kind === 'where') {
    const test = expr(n.expression, cx);
    return compileSelect(
      where((event, read) => test(new Env(new Run(info, read, undefined, undefined, event), undefined).child())),
      functions,
    );
  }
  let e = eventExpr(n.event, cx, info);
  if (n.within) {
    const w = n.within.expression;
    if (w.type !== 'Number') throw new KrlCompileError('within takes a number', w.loc.start);
    e = within(e, w.value, UNITS[n.within.time_period] ?? 'seconds');
  }
  return compileSelect(e, functions);
}

/** `foreach` loops, nested, each binding its `setting` names per item: value, then key (or index). */
function loops(list: readonly K.RuleForEach[], cx: Cx): Array<{ items: Ev; names: string[] }> {
  return list.map((f) => ({ items: expr(f.expression, cx), names: f.setting.map((s) => s.value) }));
}

/** Compile a rule; undefined for a rule that never runs (inactive, or without `select`). */
export function compileRule(n: K.Rule, cx: Cx, info: RulesetInfo, functions: Functions): Rule | undefined {
  if (n.rule_state === 'inactive' || !n.select) return undefined;
  const select = selector(n.select, cx, info, functions);
  const each = loops(n.foreach, cx);
  const pre = declarations(n.prelude, cx);
  const block = actionBlock(n.action_block, cx);
  const post = n.postlude;
  const fired = sequence((post?.fired ?? []).map((s) => statement(s, cx)));
  const notfired = sequence((post?.notfired ?? []).map((s) => statement(s, cx)));
  const always = sequence((post?.always ?? []).map((s) => statement(s, cx)));
  const name = n.name.value;

  /** One pass of the rule's body for one combination of `foreach` items. */
  const body = (env: Env, final: boolean, state: { fired: boolean }): void | Promise<void> =>
    chain(pre(env), () =>
      chain(block(env), (f) => {
        if (f) state.fired = true;
        return chain((f ? fired : notfired)(env, final), () => always(env, final));
      }),
    ) as void | Promise<void>;

  /** Loop `level` and those inside it; `final` while every outer loop is at its last item. */
  const loop = (env: Env, level: number, final: boolean, state: { fired: boolean }): void | Promise<void> => {
    if (level === each.length) return body(env, final, state);
    const { items, names } = each[level]!;
    return chain(items(env), (coll) => {
      const pairs: Array<[unknown, unknown]> = Array.isArray(coll) ? coll.map((v, i) => [v, i]) : isMap(coll) ? Object.keys(coll).map((k) => [coll[k], k]) : isNull(coll) ? [] : [[coll, 0]];
      env.run.charge(pairs.length);
      return inOrder(pairs, (pair, i) => {
        const scope = env.child();
        names.forEach((s, j) => scope.set(s, pair[j] ?? null));
        return loop(scope, level + 1, final && i === pairs.length - 1, state);
      });
    }) as void | Promise<void>;
  };

  return {
    name,
    select,
    run(ctx) {
      const run = new Run(info, ctx, ctx, name, ctx.event, episodeBudget(ctx.cloud, info));
      const env = new Env(run, undefined).child();
      for (const [k, v] of Object.entries(ctx.captures)) env.set(k, v);
      const state = { fired: false };
      const out = loop(env, 0, true, state);
      return isPromise(out) ? out.then(() => state.fired) : state.fired;
    },
  };
}
