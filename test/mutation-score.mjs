// The mutation score per folder from StrykerJS's JSON report: `node test/mutation-score.mjs
// [reports/mutation/sample.json]`. Killed and timed-out mutants count as detected; survivors and
// mutants no test reaches do not. For a sampled run (`npm run mutate:sample`), the 95% interval is
// that of a ratio estimated from a sample of clusters: the units of stryker.config.mjs.
import { readFileSync } from 'node:fs';
import { sampled as sampleOf, units } from '../stryker.config.mjs';

const file = process.argv[2] ?? 'reports/mutation/sample.json';
const sampled = !file.endsWith('full.json');
const report = JSON.parse(readFileSync(file, 'utf8'));

// An incremental run keeps the results of mutants outside its scope in the report (an earlier
// sample's): a sample's score counts only the mutants of the units it draws now.
const inSample = new Map();
for (const range of sampled ? sampleOf(Number(process.env.MUTATE_SAMPLE ?? '0.25'), Number(process.env.MUTATE_SEED ?? '1')) : []) {
  const at = range.lastIndexOf(':');
  const list = inSample.get(range.slice(0, at)) ?? [];
  list.push(
    range
      .slice(at + 1)
      .split('-')
      .map(Number),
  );
  inSample.set(range.slice(0, at), list);
}
const counted = (name, m) => !sampled || (inSample.get(name) ?? []).some(([a, b]) => m.location.start.line >= a && m.location.end.line <= b);
const DETECTED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set([...DETECTED, 'Survived', 'NoCoverage']);

/** Per folder: unit → [mutants, detected], and counts per status. */
const folders = new Map();
for (const [name, { mutants }] of Object.entries(report.files)) {
  const folder = name.startsWith('kernel/') ? 'kernel/' : name.slice(0, name.lastIndexOf('/') + 1);
  const f = folders.get(folder) ?? { units: new Map(), status: {} };
  folders.set(folder, f);
  const ranges = units(name).map((u) =>
    u.range
      .slice(u.range.lastIndexOf(':') + 1)
      .split('-')
      .map(Number),
  );
  for (const m of mutants) {
    if (!counted(name, m)) continue;
    f.status[m.status] = (f.status[m.status] ?? 0) + 1;
    if (!COUNTED.has(m.status)) continue;
    const line = m.location.start.line;
    const unit = `${name}:${ranges.findIndex(([a, b]) => line >= a && line <= b)}`;
    const u = f.units.get(unit) ?? [0, 0];
    u[0]++;
    if (DETECTED.has(m.status)) u[1]++;
    f.units.set(unit, u);
  }
}

for (const [folder, f] of folders) {
  const us = [...f.units.values()];
  const n = us.reduce((s, [m]) => s + m, 0);
  const k = us.reduce((s, [, d]) => s + d, 0);
  const r = k / n;
  const mean = n / us.length;
  const v = us.reduce((s, [m, d]) => s + (d - r * m) ** 2, 0) / (us.length - 1) / (us.length * mean * mean);
  const half = sampled ? ` (±${(1.96 * Math.sqrt(v) * 100).toFixed(1)}, 95%)` : '';
  const counts = Object.entries(f.status)
    .map(([s, c]) => `${s} ${c}`)
    .join(', ');
  console.log(`${folder.padEnd(22)} ${(r * 100).toFixed(1)}% detected${half} of ${n} mutants in ${us.length} units: ${counts}`);
}
