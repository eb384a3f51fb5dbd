import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * Tests that only drive a separate process (`kumo serve`, `kumo realm up`, the CLI, the example
 * device, a pico engine): a mutant is switched on inside the test process only, so they could never
 * kill one, and each would make every run slower by seconds.
 */
const OTHER_PROCESSES = [
  'test/server-*.test.ts',
  'test/cli-commands.test.ts',
  'test/http-errors.test.ts',
  'test/ws-channel.test.ts',
  'test/client-restart.test.ts',
  'test/device-cli.test.ts',
  'test/example-links.test.ts',
  'test/links-http.test.ts',
  'test/pico-interop.test.ts',
  'test/realm.test.ts',
  'test/realm-up.test.ts',
  'test/realm-move-process.test.ts',
  'test/links-moved.test.ts',
  'test/links-realm.test.ts',
  'test/export-import-process.test.ts',
  'test/mqtt.test.ts',
  'test/example-fleet.test.ts',
  'test/rulesets-outside.test.ts',
  'test/krl-readme.test.ts',
  'test/chaos.test.ts',
];

/**
 * Tests of `kumo serve` starting up (the data directory's modes, a busy port): StrykerJS runs tests
 * in a worker thread, where `process.umask()` cannot be set, so the file-mode test cannot pass there,
 * and the rest drive a separate process.
 */
const MAIN_THREAD_ONLY = ['test/host-start.test.ts'];

/** Tests that read the source files as text (their layout, sizes, imports): StrykerJS instruments those files. */
const SOURCE_TEXT = ['test/layout.test.ts'];

/**
 * The suite StrykerJS runs for each mutant (`npm run mutate`): every in-process test, on the base
 * config (not merged: mergeConfig would concatenate the reporter list and print every line twice).
 */
const { projects: _projects, ...baseTest } = base.test ?? {};

export default defineConfig({
  test: {
    ...baseTest,
    // MUTATE_TESTS narrows the suite for a run of one room's mutants (`MUTATE_TESTS='test/krl-*.test.ts'`).
    include: process.env['MUTATE_TESTS']?.split(',') ?? ['test/**/*.test.ts'],
    // Code a host loads only when first needed (KRL, with the first app) is loaded before any test, so
    // StrykerJS sees its module-level code as static, run by every test, not by whichever loaded it.
    setupFiles: ['test/mutate-setup.ts'],
    exclude: [...OTHER_PROCESSES, ...MAIN_THREAD_ONLY, ...SOURCE_TEXT, 'node_modules/**'],
    reporters: ['default'],
    // One module graph for all files: importing the kernel afresh for each test file cost more
    // than the tests themselves (a mutant is switched at run time, so nothing needs a fresh import).
    isolate: false,
    // A mutant that hangs an episode hangs its test: fail it after 10 s (in-process tests take
    // under 3 s) rather than wait for the 30 s of a normal run. See stryker.config.mjs.
    testTimeout: 10_000,
    hookTimeout: 10_000,
  },
});
