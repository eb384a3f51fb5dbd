import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { isFull, keys, within, type Eci, type EciInfo, type Host, type Store } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { testHost } from './helpers.ts';

/**
 * The invariant of issue 9, as a hostile client would probe it: whoever holds some ECIs, sending
 * any wrangler operation through any of them (and whatever ECIs the answers teach it), never learns
 * or mints an ECI whose authority exceeds that of an ECI it held at the start.
 */

const W = 'io.picolabs.wrangler';
const SPY = 'test.spy';

type Told = { remembered: unknown; received: unknown; children: unknown };

/**
 * A ruleset that tries every way out: it remembers every ECI of its cloud and its children (when
 * told to by the owner) and hands them back in directives, pushes, errors, query results and events
 * sent to other clouds. Every one of those must be cut down to the caller's authority.
 */
const spy = ruleset(SPY)
  .rule('remember', { select: 'spy:remember', action: (ctx) => ctx.ent.set('ecis', [...ctx.ecis().map((e) => e.id), ...ctx.children().map((c) => c.eci)]) })
  .rule('keep', { select: 'spy:keep', action: (ctx) => ctx.ent.set('received', [...((ctx.ent.get('received') as unknown[] | undefined) ?? []), ctx.attrs].slice(-4)) })
  .rule('tell', {
    select: 'spy:tell',
    action(ctx) {
      const remembered = (ctx.ent.get('ecis') as string[] | undefined) ?? [];
      ctx.directive('told', { remembered, children: ctx.children(), text: remembered.join(' ') });
    },
  })
  .rule('push', { select: 'spy:push', action: (ctx) => ctx.push(ctx.eci!, 'told', { remembered: ctx.ent.get('ecis') ?? null, children: ctx.children() }) })
  .rule('throw', {
    select: 'spy:throw',
    action(ctx) {
      throw new Error(`remembered ${JSON.stringify(ctx.ent.get('ecis'))}`);
    },
  })
  .rule('send', { select: 'spy:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'spy', 'keep', { remembered: ctx.ent.get('ecis') ?? null, children: ctx.children() }) })
  .share('remembered', (ctx): Told => ({ remembered: ctx.ent.get('ecis') ?? null, received: ctx.ent.get('received') ?? null, children: ctx.children() }))
  .share('throws', (ctx) => {
    throw new Error(`remembered ${JSON.stringify(ctx.ent.get('ecis'))}`);
  })
  .build();

// ---- random policies, from small pools so that rules overlap ----

const domains = ['wrangler', 'spy', '*'];
const eventNames = ['new_channel_request', 'new_child_request', 'child_deletion_request', 'channel_deletion_request', 'install_ruleset_request', 'tell', 'push', 'send', 'throw', '*'];
const rids = [W, SPY, '*'];
const fnNames = ['channels', 'children', 'myself', 'remembered', 'throws', '*'];

const eventRule = fc.record({ domain: fc.constantFrom(...domains), name: fc.constantFrom(...eventNames) });
const queryRule = fc.record({ rid: fc.constantFrom(...rids), name: fc.constantFrom(...fnNames) });
const eventPolicy = fc.record({ allow: fc.array(eventRule, { maxLength: 4 }), deny: fc.array(eventRule, { maxLength: 2 }) });
const queryPolicy = fc.record({ allow: fc.array(queryRule, { maxLength: 3 }), deny: fc.array(queryRule, { maxLength: 2 }) });
/** What a new_channel_request asks for: each policy given or not. */
const asked = fc.record({ eventPolicy: fc.option(eventPolicy, { nil: undefined }), queryPolicy: fc.option(queryPolicy, { nil: undefined }) }, { requiredKeys: [] });

/** Which earlier cloud (0 = root) is each new cloud's parent, and how many extra ECIs (random policies) each cloud gets. */
const tree = fc.array(fc.nat(), { minLength: 1, maxLength: 4 });
const ecisPerCloud = fc.array(fc.array(asked, { minLength: 1, maxLength: 3 }), { minLength: 5, maxLength: 5 });

const childName = fc.constantFrom('a', 'b', 'c');
const op = fc.oneof(
  fc.record({ kind: fc.constant('event' as const), type: fc.constant('new_channel_request'), ask: asked }),
  fc.record({ kind: fc.constant('event' as const), type: fc.constant('new_child_request'), name: childName }),
  fc.record({ kind: fc.constant('event' as const), type: fc.constant('child_deletion_request'), name: childName }),
  fc.record({ kind: fc.constant('event' as const), type: fc.constant('channel_deletion_request'), target: fc.nat() }),
  fc.record({ kind: fc.constant('event' as const), type: fc.constantFrom('install_ruleset_request', 'uninstall_ruleset_request') }),
  fc.record({ kind: fc.constant('spy' as const), type: fc.constantFrom('tell', 'push', 'throw', 'remember') }),
  fc.record({ kind: fc.constant('spy' as const), type: fc.constant('send'), target: fc.nat() }),
  fc.record({ kind: fc.constant('query' as const), rid: fc.constant(W), name: fc.constantFrom('channels', 'children', 'myself') }),
  fc.record({ kind: fc.constant('query' as const), rid: fc.constant(SPY), name: fc.constantFrom('remembered', 'throws') }),
);
const attack = fc.array(fc.record({ through: fc.nat(), op }), { minLength: 1, maxLength: 25 });

// ---- the oracle: what the store says about an ECI, independent of any redaction ----

interface Known {
  info: EciInfo;
  cloud: string;
}

async function lookup(store: Store, eci: string): Promise<Known | undefined> {
  const cloud = await store.get(keys.eciIndex(eci));
  if (cloud === undefined) return undefined;
  const info = await store.get(keys.eci(cloud, eci));
  return info ? { info: { ...info, id: eci as Eci }, cloud } : undefined;
}

async function isDescendant(store: Store, cloud: string, ancestor: string): Promise<boolean> {
  for (let at: string | null | undefined = cloud; at;) {
    at = (await store.get(keys.meta(at)))?.parent;
    if (at === ancestor) return true;
  }
  return false;
}

/** Does `holder` have at least the authority of `e`: within it on the same cloud, or full authority over an ancestor of its cloud? */
async function dominates(store: Store, holder: Known, e: Known): Promise<boolean> {
  if (holder.cloud === e.cloud) return within(e.info, holder.info);
  return isFull(holder.info) && (await isDescendant(store, e.cloud, holder.cloud));
}

/** Every ECI-shaped string in a value, overlapping ones included. */
function eciStrings(value: unknown): string[] {
  const text = value === undefined ? '' : JSON.stringify(value);
  const out = new Set<string>();
  for (let i = text.indexOf('E'); i >= 0; i = text.indexOf('E', i + 1)) {
    const s = text.slice(i, i + 27);
    if (/^E[0-9a-z][0-9a-f]{3}[A-Za-z0-9_-]{22}$/.test(s)) out.add(s);
  }
  return [...out];
}

async function channel(host: Host, through: string, ask: Record<string, unknown>): Promise<string> {
  const r = await host.event({ eci: through, domain: 'wrangler', type: 'new_channel_request', attrs: ask });
  return (r.directives[0]!.options as { id: string }).id;
}

describe('capabilities, as a hostile client probes them', () => {
  it('no ECI ever learns or mints an ECI whose authority exceeds its own', async () => {
    await fc.assert(
      fc.asyncProperty(tree, ecisPerCloud, fc.array(fc.nat(), { minLength: 1, maxLength: 2 }), attack, async (parents, extra, picks, steps) => {
        const { host, root } = await testHost({ rulesets: [spy] });
        const store = host.store;
        try {
          // The owner builds a tree of clouds, each with the spy and some ECIs with random policies.
          const system = [root.eci];
          for (const [i, p] of parents.entries()) {
            const r = await host.event({ eci: system[p % system.length]!, domain: 'wrangler', type: 'new_child_request', attrs: { name: `k${i}` } });
            system.push((r.directives[0]!.options as { eci: string }).eci);
          }
          const pool: string[] = system.slice(1);
          for (const [i, eci] of system.entries()) {
            await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: SPY } });
            for (const ask of extra[i % extra.length]!) pool.push(await channel(host, eci, ask));
            await host.event({ eci, domain: 'spy', type: 'remember' });
          }

          // The attacker starts with one or two ECIs (never the root's owner ECI).
          const start: Known[] = [];
          for (const n of picks) start.push((await lookup(store, pool[n % pool.length]!))!);
          const held: string[] = [...new Set(start.map((k) => k.info.id))];
          const stops: Array<() => void> = [];
          const pushes: unknown[] = [];
          const listen = (eci: string): void => void stops.push(host.listen(eci, (m) => pushes.push(m.data)));
          held.forEach(listen);

          const learn = async (answer: unknown, how: string): Promise<void> => {
            for (const s of eciStrings(answer)) {
              const e = await lookup(store, s);
              if (!e) continue; // deleted: no authority left
              let ok = false;
              for (const k of start) if (await dominates(store, k, e)) ok = true;
              if (!ok) expect.fail(`${how} taught ${s} (${JSON.stringify(e.info)}) beyond every ECI held at the start: ${JSON.stringify(start.map((k) => k.info))}`);
              if (!held.includes(s)) {
                held.push(s);
                listen(s);
              }
            }
          };
          const settle = async <T>(p: Promise<T>): Promise<unknown> =>
            p.then(
              (v) => v,
              (err: unknown) => err,
            );

          for (const { through: n, op: o } of steps) {
            const through = held[n % held.length]!;
            const holder = await lookup(store, through);
            if (!holder) continue;
            let answer: unknown;
            if (o.kind === 'query') {
              answer = await settle(host.query({ eci: through, rid: o.rid, name: o.name }));
            } else {
              const attrs: Record<string, unknown> =
                o.type === 'new_channel_request' && 'ask' in o
                  ? { ...o.ask }
                  : 'name' in o
                    ? { name: o.name }
                    : o.type === 'channel_deletion_request' && 'target' in o
                      ? { eci: held[o.target % held.length] }
                      : o.type === 'send' && 'target' in o
                        ? { to: held[o.target % held.length] }
                        : o.type.endsWith('ruleset_request')
                          ? { rid: SPY }
                          : {};
              answer = await settle(host.event({ eci: through, domain: o.kind === 'spy' ? 'spy' : 'wrangler', type: o.type, attrs }));
              if (o.type === 'new_channel_request' && !(answer instanceof Error)) {
                // Minted: within the authority of the ECI it was made through, so it is handed back whole.
                const made = (answer as { directives: Array<{ options: { id: string } }> }).directives[0]!.options.id;
                expect(made).not.toBeNull();
                expect(within((await lookup(store, made))!.info, holder.info)).toBe(true);
              }
              if (o.type === 'send') await vi.waitFor(() => expect(host.stats().outbox).toBe(0));
            }
            const seen = answer instanceof Error ? { message: answer.message, details: (answer as { details?: unknown }).details } : answer;
            await learn(seen, `${o.kind} ${'name' in o ? o.name : o.type} through ${through}`);
            await learn(pushes.splice(0), `a push to ${through}`);
          }
          for (const stop of stops) stop();
        } finally {
          await host.close();
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
