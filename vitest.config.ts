import { defineConfig } from 'vitest/config';

/**
 * The chaos run (test/chaos.test.ts) runs alone, after every other test file: it starts a realm of
 * host processes and nats-servers and injects faults against timeouts an operator would use (a host
 * must stop within 30 s of SIGTERM), which measure the realm, not a machine also running forty other
 * test files (docs/testing.md).
 */
const CHAOS = 'test/chaos.test.ts';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Under CI, also write a JSON report so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.ci/results.json' }]] : ['default'],
    projects: [
      { extends: true, test: { name: 'kumo', include: ['test/**/*.test.ts'], exclude: [CHAOS], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'chaos', include: [CHAOS], sequence: { groupOrder: 1 } } },
    ],
  },
});
