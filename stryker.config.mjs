// Mutation testing: which tests would fail if a line of the kernel or the event expressions were
// wrong? Not run in CI. `npm run mutate` tests every mutant (about 5,000: some six hours on two
// cores, as nearly every kernel mutant is covered by hundreds of tests); `npm run mutate:sample`
// tests the mutants of a fixed pseudo-random quarter of the code's units (see `sampled` below), and
// is what the README's score was measured with. Scores per folder: `node test/mutation-score.mjs`.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import ts from 'typescript';

const FOLDERS = ['kernel', 'rulesets/event-expr', 'rulesets/krl'];
const SKIP = new Set(['kernel/index.ts', 'rulesets/krl/index.ts']); // re-exports only

const files = FOLDERS.flatMap((dir) =>
  readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `${dir}/${f}`)
    .filter((f) => !SKIP.has(f)),
);

/**
 * The code's units: each top-level statement, and each member of a top-level class, with its line
 * range and text (a mutant lies within one unit, so a sample of units is a sample of mutants in
 * clusters).
 */
export function units(file) {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const line = (pos) => src.getLineAndCharacterOfPosition(pos).line + 1;
  const unit = (node) => ({ range: `${file}:${line(node.getStart(src))}-${line(node.end)}`, text: node.getText(src) });
  return src.statements.flatMap((s) => (ts.isClassDeclaration(s) ? s.members.map(unit) : [unit(s)]));
}

/**
 * The units whose hash (of the seed, the file and the unit's text) falls in the first `share` of
 * the range: the same sample on every machine, and a unit stays in or out whatever changes around it.
 */
export function sampled(share, seed) {
  const drawn = (file, text) => createHash('sha256').update(`${seed}\n${file}\n${text}`).digest().readUInt32BE(0) / 2 ** 32;
  return files.flatMap((file) => units(file).filter((u) => drawn(file, u.text) < share).map((u) => u.range));
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
  // The first run of the whole in-process suite, with coverage per test, takes about 3 minutes
  // alone and more on a busy machine; StrykerJS's default of 5 minutes was seen to run out.
  dryRunTimeoutMinutes: 20,
};
