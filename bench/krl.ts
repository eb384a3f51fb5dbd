/**
 * (j) KRL: the standard counter written in KRL, installed as an app in each cloud, against the
 * TypeScript one (host code), in the (a) and (b) shapes, in one process, one after the other; and
 * the time to install the KRL ruleset (compile on first install, then into clouds of a host that
 * has it compiled).
 */
import type { Host } from '../kernel/index.ts';
import { openHost } from '../channels/open-node.ts';
import { BENCH_RID, benchHost, createClouds, dataDir, drive, emit, machine, newBenchCloud, percentiles, removeDir, round } from './lib.ts';

const KRL_RID = 'bench.krl-counter';
const KRL = `ruleset ${KRL_RID} {
  meta { version "1.0.0" shares total }
  global { total = function() { ent:count.defaultsTo(0) } }
  rule inc {
    select when bench inc
    pre { n = total() + 1 }
    send_directive("count", {"count": n})
    fired { ent:count := n }
  }
}`;
const ONE = Number(process.env.BENCH_EVENTS ?? 20_000);
const MANY = Number(process.env.BENCH_EVENTS_MANY ?? 100_000);
const CLOUDS = 1_000;

const inc = async (host: Host, eci: string): Promise<void> => {
  await host.event({ eci, domain: 'bench', type: 'inc' });
};

/** A host with the TypeScript counter in its clouds, or the KRL one installed in each. */
async function shape(kind: 'typescript' | 'krl', dir: string): Promise<{ host: Host; one: string; many: string[]; installMs: number[] }> {
  const host = kind === 'typescript' ? await benchHost(dir) : await openHost({ dataDir: dir, limits: { childrenPerCloud: 100_000 } });
  const root = await host.root();
  const installMs: number[] = [];
  if (kind === 'typescript') return { host, one: await newBenchCloud(host, root.eci, 'one'), many: await createClouds(host, CLOUDS, 10), installMs };
  const made = async (name: string): Promise<string> => {
    const r = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name } });
    const eci = r.directives[0]!.options['eci'] as string;
    const t = performance.now();
    await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { source: KRL } });
    installMs.push(performance.now() - t);
    return eci;
  };
  const one = await made('one');
  const many: string[] = [];
  for (let i = 0; i < CLOUDS; i++) many.push(await made(`c${i}`));
  return { host, one, many, installMs };
}

async function measure(kind: 'typescript' | 'krl'): Promise<Record<string, unknown>> {
  const dir = await dataDir(`krl-${kind}`);
  try {
    const { host, one, many, installMs } = await shape(kind, dir);
    const [rid, name] = kind === 'typescript' ? [BENCH_RID, 'count'] : [KRL_RID, 'total'];
    await drive(2_000, 1, () => inc(host, one));
    const a = await drive(ONE, 1, () => inc(host, one));
    await drive(5_000, 100, (i) => inc(host, many[i % CLOUDS]!));
    const b = await drive(MANY, 100, (i) => inc(host, many[i % CLOUDS]!));
    let sum = 0;
    for (const eci of many) sum += (await host.query({ eci, rid, name })) as number;
    if (sum !== MANY + 5_000 || (await host.query({ eci: one, rid, name })) !== ONE + 2_000) throw new Error(`${kind}: counts do not add up`);
    await host.close();
    return {
      a: { eventsPerSec: round((ONE / a.ms) * 1000, 0), ...percentiles(a.lat) },
      b: { eventsPerSec: round((MANY / b.ms) * 1000, 0), ...percentiles(b.lat) },
      ...(kind === 'krl' ? { firstInstallMs: round(installMs[0]!), installMs: percentiles(installMs.slice(1)) } : {}),
      rssMB: round(process.memoryUsage().rss / 2 ** 20, 0),
    };
  } finally {
    await removeDir(dir);
  }
}

const typescript = await measure('typescript');
const krl = await measure('krl');
const ratio = (k: 'a' | 'b') => round((typescript[k] as { eventsPerSec: number }).eventsPerSec / (krl[k] as { eventsPerSec: number }).eventsPerSec, 2);
emit({ name: 'j.krl', typescript, krl, slowerA: ratio('a'), slowerB: ratio('b'), clouds: CLOUDS, ...(await machine()) });
