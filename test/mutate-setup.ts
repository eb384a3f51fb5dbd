/**
 * Loaded before every test file of a mutation run (vitest.mutate.config.ts): modules a host imports
 * only when first needed, imported here so that their module-level code (tables of operators and
 * modules) runs outside any test, which StrykerJS then tests with every test rather than only with
 * the test that happened to load it first.
 */
await import('../rulesets/krl/index.ts');
