/**
 * `npm run chaos [-- --seed N] [-- --seconds S] [-- --nats single|cluster|both] [-- --rate R]`: the
 * chaos run (test/chaos/chaos.ts) on its own, for longer runs than the one `npm test` makes. Prints
 * progress, then the report (and its JSON with --json); exits 1 when a check failed.
 */
import { parseArgs } from 'node:util';
import { passed, runChaos, summary, type ChaosReport } from './chaos.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seconds: { type: 'string', default: '120' },
    nats: { type: 'string', default: 'both' },
    rate: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
  },
});
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const KINDS = { single: ['single'], cluster: ['cluster'], both: ['single', 'cluster'] } as const;
const kinds = Object.hasOwn(KINDS, values.nats) ? KINDS[values.nats as keyof typeof KINDS] : undefined;
if (!Number.isInteger(seed) || kinds === undefined) {
  process.stderr.write('usage: npm run chaos -- [--seed N] [--seconds 120] [--nats single|cluster|both] [--rate 60] [--json]\n');
  process.exit(2);
}
const reports: ChaosReport[] = [];
for (const nats of kinds) {
  const report = await runChaos({ seed, seconds: Number(values.seconds), nats, rate: Number(values.rate), log: values.quiet ? () => undefined : (l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`) });
  reports.push(report);
  process.stdout.write(`${summary(report)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
}
process.exit(reports.every(passed) ? 0 : 1);
