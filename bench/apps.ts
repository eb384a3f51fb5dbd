/**
 * (i) Apps: the standard counter as an installed app (a sandbox) against the same as a native
 * ruleset, in the (a) and (b) shapes, in one process, one after the other; the time to install
 * the app (the first on the host, then into clouds of a host that runs it, then five apps new to a
 * host that runs one, then five more whose engines load zod for a schema); and 1,000 clouds with it
 * installed sharing one engine.
 */
import type { Host } from '../kernel/index.ts';
import { openHost } from '../channels/open-node.ts';
import { BENCH_RID, benchHost, createClouds, dataDir, drive, emit, machine, newBenchCloud, percentiles, removeDir, round } from './lib.ts';

const APP_RID = 'bench.app-counter';
const APP = `import { ruleset } from 'kumo';
export default ruleset('${APP_RID}', { version: '1.0.0' })
  .rule('inc', {
    select: 'bench:inc',
    action(ctx) {
      const count = (ctx.ent.get('count') ?? 0) + 1;
      ctx.ent.set('count', count);
      ctx.directive('count', { count });
    },
  })
  .share('count', (ctx) => ctx.ent.get('count') ?? 0)
  .build();
`;
const ONE = Number(process.env.BENCH_EVENTS ?? 20_000);
const MANY = Number(process.env.BENCH_EVENTS_MANY ?? 100_000);
const CLOUDS = 1_000;

const inc = async (host: Host, eci: string): Promise<void> => {
  await host.event({ eci, domain: 'bench', type: 'inc' });
};
const install = (host: Host, eci: string): Promise<unknown> => host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { source: APP } });

/** A host with either the native counter in its clouds or the app installed in each. */
async function shape(kind: 'native' | 'app', dir: string): Promise<{ host: Host; one: string; many: string[]; installMs: number[]; newAppMs?: number[]; newZodAppMs?: number[]; engines?: number }> {
  const host = kind === 'native' ? await benchHost(dir) : await openHost({ dataDir: dir, limits: { childrenPerCloud: 100_000 } });
  const root = await host.root();
  const installMs: number[] = [];
  if (kind === 'native') return { host, one: await newBenchCloud(host, root.eci, 'one'), many: await createClouds(host, CLOUDS, 10), installMs };
  const made = async (name: string, parent = root.eci): Promise<string> => {
    const r = await host.event({ eci: parent, domain: 'wrangler', type: 'new_child_request', attrs: { name } });
    const eci = r.directives[0]!.options['eci'] as string;
    const t = performance.now();
    await install(host, eci);
    installMs.push(performance.now() - t);
    return eci;
  };
  const one = await made('one');
  const many: string[] = [];
  for (let i = 0; i < CLOUDS; i++) many.push(await made(`c${i}`));
  const engines = (host as unknown as { parts: { apps: { size: number } } }).parts.apps.size;
  // Apps new to this host once it runs one: each its own engine (compile, start, load); then the
  // same with an attrs schema, whose engine loads zod.
  const other = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'other' } });
  const otherEci = other.directives[0]!.options['eci'] as string;
  const newApp = async (source: string): Promise<number> => {
    const t = performance.now();
    await host.event({ eci: otherEci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { source } });
    return performance.now() - t;
  };
  const newAppMs: number[] = [];
  const newZodAppMs: number[] = [];
  for (let v = 1; v <= 5; v++) newAppMs.push(await newApp(APP.replace("'1.0.0'", `'2.0.${v}'`)));
  for (let v = 1; v <= 5; v++)
    newZodAppMs.push(await newApp(APP.replace("'1.0.0'", `'3.0.${v}'`).replace("select: 'bench:inc',", "select: 'bench:inc', attrs: z.object({ by: z.number().optional() }),").replace('{ ruleset }', '{ ruleset, z }')));
  return { host, one, many, installMs, newAppMs, newZodAppMs, engines };
}

async function measure(kind: 'native' | 'app'): Promise<Record<string, unknown>> {
  const dir = await dataDir(`apps-${kind}`);
  try {
    const { host, one, many, installMs, newAppMs = [], newZodAppMs = [], engines } = await shape(kind, dir);
    const rid = kind === 'native' ? BENCH_RID : APP_RID;
    await drive(2_000, 1, () => inc(host, one));
    const a = await drive(ONE, 1, () => inc(host, one));
    await drive(5_000, 100, (i) => inc(host, many[i % CLOUDS]!));
    const b = await drive(MANY, 100, (i) => inc(host, many[i % CLOUDS]!));
    let sum = 0;
    for (const eci of many) sum += (await host.query({ eci, rid, name: 'count' })) as number;
    if (sum !== MANY + 5_000 || (await host.query({ eci: one, rid, name: 'count' })) !== ONE + 2_000) throw new Error(`${kind}: counts do not add up`);
    await host.close();
    return {
      a: { eventsPerSec: round((ONE / a.ms) * 1000, 0), ...percentiles(a.lat) },
      b: { eventsPerSec: round((MANY / b.ms) * 1000, 0), ...percentiles(b.lat) },
      ...(kind === 'app' ? { engines, firstInstallMs: round(installMs[0]!), installMs: percentiles(installMs.slice(1)), newAppInstallMs: percentiles(newAppMs), newZodAppInstallMs: percentiles(newZodAppMs) } : {}),
      rssMB: round(process.memoryUsage().rss / 2 ** 20, 0),
    };
  } finally {
    await removeDir(dir);
  }
}

const native = await measure('native');
const app = await measure('app');
const ratio = (k: 'a' | 'b') => round((native[k] as { eventsPerSec: number }).eventsPerSec / (app[k] as { eventsPerSec: number }).eventsPerSec, 2);
emit({ name: 'i.apps', native, app, slowerA: ratio('a'), slowerB: ratio('b'), clouds: CLOUDS, ...(await machine()) });
