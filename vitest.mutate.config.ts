import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The suite StrykerJS runs for each mutant: every in-process test. Tests that drive a separate
 * `kumo` process are left out: a mutant is switched on inside the test process only, so they could
 * not kill it, and they would only make each mutant slower.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      exclude: ['test/server-*.test.ts', 'test/cli-commands.test.ts', 'test/http-errors.test.ts', 'test/ws-channel.test.ts', 'node_modules/**'],
      reporters: ['default'],
    },
  }),
);
