/**
 * (select) Rule selection cost per event with 100 rulesets installed in one cloud, each with five
 * rules over a mix of event expressions (primitive with regex captures, `within(before)`,
 * `within(count)` with `push`, `any 2 of 4`, `repeat 5` with `avg`).
 *
 * Two numbers: selection alone (the kernel's rule index plus every candidate selector's `match`,
 * with state carried between events as the kernel does, in memory), and whole episodes through a
 * host on LevelDB (selection + commit of the expression state in the episode's batch).
 */
import type { KumoEvent, Ruleset } from '../kernel/index.ts';
import { encode } from '../kernel/store/codec.ts';
import { rulesFor } from '../kernel/episodes/rule-index.ts';
import { any, before, count, on, repeat, ruleset, within } from '../rulesets/index.ts';
import { openHost } from '../channels/open-node.ts';
import { dataDir, drive, emit, machine, percentiles, removeDir, round } from './lib.ts';

const RULESETS = 100;
const PURE_EVENTS = Number(process.env.BENCH_SELECT_EVENTS ?? 20_000);
const HOST_EVENTS = Number(process.env.BENCH_SELECT_HOST_EVENTS ?? 2_000);
const REPS = 3;

function makeRuleset(i: number): Ruleset {
  const app = `app${i % 10}`;
  const temp = { attrs: { temp: /^(\d+)$/ }, setting: ['t'] };
  return ruleset(`bench.select.${i}`)
    .rule('hot', { select: on('sensor:reading', { ...temp, where: (c) => Number(c.t) > 90 + (i % 10) }), action: () => undefined })
    .rule('door', { select: within(before('door:opened', 'door:closed'), 5, 'minutes'), action: () => undefined })
    .rule('logins', { select: within(count(3, on('login:failed', { attrs: { user: /(\w+)/ }, setting: ['user'] }), { push: 'users' }), 1, 'hour'), action: () => undefined })
    .rule('app', { select: any(2, `${app}:a`, `${app}:b`, `${app}:c`, `${app}:d`), action: () => undefined })
    .rule('avg', { select: repeat(5, on('sensor:reading', temp), { avg: 'mean' }), action: () => undefined })
    .build();
}

const rulesets = Array.from({ length: RULESETS }, (_, i) => makeRuleset(i));

/** A deterministic mix: readings, door and login events, app events (1 in 10 rulesets listen to each), and noise. */
function events(n: number): KumoEvent[] {
  let seed = 12345;
  const rand = (k: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % k;
  };
  const out: KumoEvent[] = [];
  for (let i = 0; i < n; i++) {
    const r = rand(10);
    const [domain, type, attrs]: [string, string, Record<string, unknown>] =
      r < 3
        ? ['sensor', 'reading', { temp: String(60 + rand(40)) }]
        : r < 5
          ? ['door', rand(2) ? 'opened' : 'closed', {}]
          : r < 6
            ? ['login', 'failed', { user: `u${rand(5)}` }]
            : r < 9
              ? [`app${rand(10)}`, 'abcd'[rand(4)]!, {}]
              : ['noise', 'x', {}];
    out.push({ eid: `e${i}`, domain, type, attrs, time: 1_000_000 + i * 1000 });
  }
  return out;
}

const keyOf = new WeakMap<object, string>();

/** What the kernel does to select rules for one event, minus the commit. */
function selectAll(evs: KumoEvent[], state: Map<string, unknown>): { ms: number; candidates: number; fired: number; writes: number } {
  let candidates = 0;
  let fired = 0;
  let writes = 0;
  const t = performance.now();
  for (const ev of evs) {
    for (const rs of rulesets) {
      for (const rule of rulesFor(rs, ev.domain, ev.type)) {
        candidates++;
        let key = keyOf.get(rule);
        if (key === undefined) keyOf.set(rule, (key = `${rs.rid}!${rule.name}`));
        const before = state.get(key);
        const r = rule.select.match(before, ev);
        if (r.state !== before) {
          writes++;
          if (r.state === undefined) state.delete(key);
          else state.set(key, r.state);
        }
        if (r.fired) fired++;
      }
    }
  }
  return { ms: performance.now() - t, candidates, fired, writes };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const evs = events(PURE_EVENTS);
selectAll(evs.slice(0, 2_000), new Map()); // warm-up
const reps = Array.from({ length: REPS }, () => selectAll(evs, new Map()));
const pure = reps[0]!;
const nsPerEvent = median(reps.map((r) => (r.ms * 1e6) / PURE_EVENTS));

// Size of the expression state a cloud carries after the run (what a restart reads back).
const finalState = new Map<string, unknown>();
selectAll(evs, finalState);
let stateBytes = 0;
for (const v of finalState.values()) stateBytes += encode(v).length;

// Whole episodes through a host on LevelDB: one cloud with all 100 rulesets installed.
const dir = await dataDir('select');
let hostResult: Record<string, unknown> = {};
try {
  const host = await openHost({ dataDir: dir, rulesets });
  const root = await host.root();
  const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'select' } });
  const eci = made.directives[0]?.options.eci as string;
  for (const rs of rulesets) await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: rs.rid } });
  const hostEvs = events(HOST_EVENTS + 500);
  const send = (ev: KumoEvent) => host.event({ eci, domain: ev.domain, type: ev.type, attrs: ev.attrs });
  await drive(500, 1, (i) => send(hostEvs[i]!));
  const { ms, lat } = await drive(HOST_EVENTS, 1, (i) => send(hostEvs[500 + i]!));
  await host.close();
  hostResult = { hostEvents: HOST_EVENTS, hostEventsPerSec: round((HOST_EVENTS / ms) * 1000, 0), hostLatency: percentiles(lat) };
} finally {
  await removeDir(dir);
}

emit({
  name: 'select.100-rulesets',
  rulesets: RULESETS,
  rules: RULESETS * 5,
  events: PURE_EVENTS,
  selectNsPerEvent: round(nsPerEvent, 0),
  selectNsPerEventRuns: reps.map((r) => round((r.ms * 1e6) / PURE_EVENTS, 0)),
  candidatesPerEvent: round(pure.candidates / PURE_EVENTS, 1),
  nsPerCandidate: round((nsPerEvent * PURE_EVENTS) / pure.candidates, 0),
  firedPerEvent: round(pure.fired / PURE_EVENTS, 2),
  stateWritesPerEvent: round(pure.writes / PURE_EVENTS, 1),
  stateBytesAtEnd: stateBytes,
  ...hostResult,
  unit: 'ns (select), ms (host latency)',
  ...(await machine()),
});
