/**
 * The benchmark suite: `npm run bench [-- --runs 3] [-- --only a,b]`; the 1,000,000-cloud case
 * is `npm run bench -- --only 1m --runs 1`.
 *
 * Compiles the project with tsc (bench/tsconfig.json → bench/.data/build) and runs every benchmark
 * from the compiled JavaScript in its own node process, `--runs` times, interleaved. Compiled JS is
 * what `npm run build` ships; running through tsx would measure tsx's transform instead (its
 * keepNames wrapping alone made rule runs ~2x slower in a profile).
 *
 * stdout: every benchmark's JSON line as it finishes, then one `"median"` line per benchmark.
 * stderr: progress and a table of medians.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HELP = `usage: npm run bench [-- --runs N] [-- --only KEYS] [-- --no-build]

  --runs N      runs of each benchmark, interleaved (default 3); medians are reported
  --only KEYS   only these, comma-separated: a b c d e (the default suite), 1m, s, f, f3, g, h, i, j
  --no-build    run the last compiled build (bench/.data/build) without compiling again
`;

function options() {
  try {
    return parseArgs({
      options: {
        runs: { type: 'string', default: '3' },
        only: { type: 'string' },
        'no-build': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
}
const args = options();
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'bench', '.data', 'build', 'bench');

const SUITE: Array<{ key: string; file: string; args?: string[] }> = [
  { key: 'a', file: 'events-one.js' },
  { key: 'b', file: 'events-many.js' },
  { key: 'c', file: 'queries.js' },
  { key: 'd', file: 'scale.js', args: ['--clouds', '100000'] },
  { key: 'e', file: 'http.js' },
];
/**
 * Run only when asked: `--only 1m` takes minutes; `--only s` is the rule-selection benchmark
 * (bench/select.ts); `--only f` the realm (f1, f2; needs nats-server) and `--only f3` its million clouds;
 * `--only g` moving a cloud (g1, needs nats-server) and cloud files (g2); `--only h` devices: 10,000 WebSockets to one host and MQTT QoS 1 (needs nats-server, mosquitto-clients); `--only i` apps in their sandbox, `--only j` the counter in KRL.
 */
const EXTRA = [
  { key: '1m', file: 'scale.js', args: ['--clouds', '1000000'] },
  { key: 's', file: 'select.js' },
  { key: 'f', file: 'realm.js' },
  { key: 'f3', file: 'realm.js', args: ['--part', 'f3'] },
  { key: 'g', file: 'realm.js', args: ['--part', 'g1'] },
  { key: 'g', file: 'cloud-file.js' },
  { key: 'h', file: 'devices.js' },
  { key: 'i', file: 'apps.js' },
  { key: 'j', file: 'krl.js' },
];

function run(cmd: string, argv: string[], capture: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { cwd: root, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}`))));
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const only = args.only?.split(',');
const unknown = only?.filter((k) => ![...SUITE, ...EXTRA].some((b) => b.key === k)) ?? [];
const runs = Number(args.runs);
if (unknown.length > 0 || !Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`bench: ${unknown.length > 0 ? `no benchmark ${unknown.join(', ')}` : `--runs must be a positive integer, got ${args.runs}`}\n\n${HELP}`);
  process.exit(2);
}
const suite = only ? [...SUITE, ...EXTRA].filter((b) => only.includes(b.key)) : SUITE;
const started = performance.now();
if (!args['no-build']) {
  process.stderr.write('compiling (tsc -p bench/tsconfig.json)\n');
  await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'bench', 'tsconfig.json')], false);
}

const results = new Map<string, Array<Record<string, unknown>>>();
for (let r = 1; r <= runs; r++) {
  for (const b of suite) {
    process.stderr.write(`run ${r}/${runs}: ${b.file} ${(b.args ?? []).join(' ')}\n`);
    const out = await run(process.execPath, [join(build, b.file), ...(b.args ?? [])], true);
    for (const line of out.split('\n').filter(Boolean)) {
      process.stdout.write(`${line}\n`);
      const res = JSON.parse(line) as Record<string, unknown>;
      const name = String(res.name);
      results.set(name, [...(results.get(name) ?? []), res]);
    }
  }
}

process.stderr.write(`\nmedians of ${runs} run(s), ${((performance.now() - started) / 60_000).toFixed(1)} min in all\n`);
for (const [name, list] of results) {
  const med: Record<string, unknown> = { name, median: true, runs: list.length };
  for (const key of Object.keys(list[0]!)) {
    if (key === 'name') continue;
    const values = list.map((x) => x[key]);
    med[key] = values.every((v) => typeof v === 'number') ? median(values) : values[0];
  }
  process.stdout.write(`${JSON.stringify(med)}\n`);
  const shown = Object.entries(med)
    .filter(([k, v]) => typeof v === 'number' && !['runs', 'cores'].includes(k))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  process.stderr.write(`  ${name.padEnd(24)} ${shown}\n`);
}
