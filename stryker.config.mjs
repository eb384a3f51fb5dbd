// Mutation testing: which tests would fail if a line of the kernel or the event expressions were
// wrong? Not run in CI. `npm run mutate` tests every mutant (about 5,000: some six hours on two
// cores, as nearly every kernel mutant is covered by hundreds of tests); `npm run mutate:sample`
// tests the mutants of a seeded random share of the code's units (see `sampled` below) and is what
// the README's score was measured with. Scores per folder: `node test/mutation-score.mjs`.
import { readFileSync, readdirSync } from 'node:fs';
import ts from 'typescript';

const FOLDERS = ['kernel', 'rulesets/event-expr'];
const SKIP = new Set(['kernel/index.ts']); // re-exports only

const files = FOLDERS.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f}`)
    .filter((f) => !SKIP.has(f)),
);

/**
 * The code's units, as line ranges: each top-level statement, and each member of a top-level class
 * (a mutant lies within one unit, so a sample of units is a sample of mutants in clusters).
 */
export function units(file) {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const line = (pos) => src.getLineAndCharacterOfPosition(pos).line + 1;
  const range = (node) => `${file}:${line(node.getStart(src))}-${line(node.end)}`;
  return src.statements.flatMap((s) => (ts.isClassDeclaration(s) ? s.members.map(range) : [range(s)]));
}

/** Each unit with probability `share`, drawn from a seeded generator (mulberry32): the same sample on every machine. */
function sampled(share, seed) {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return files.flatMap(units).filter(() => random() < share);
}

const share = Number(process.env.MUTATE_SAMPLE ?? '1');
if (!(share > 0 && share <= 1)) throw new Error(`MUTATE_SAMPLE must be in (0, 1], not ${process.env.MUTATE_SAMPLE}`);
const sample = share < 1;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: sample ? sampled(share, Number(process.env.MUTATE_SEED ?? '1')) : files,
  coverageAnalysis: 'perTest',
  checkers: [],
  concurrency: Number(process.env.MUTATE_CONCURRENCY ?? '2'),
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${sample ? 'sample' : 'full'}.html` },
  jsonReporter: { fileName: `reports/mutation/${sample ? 'sample' : 'full'}.json` },
  // A re-run tests only the mutants whose code or covering tests changed since the last run.
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${sample ? 'sample' : 'full'}.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
