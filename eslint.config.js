// ESLint: typescript-eslint's type-checked rules over all TypeScript; see docs/testing.md.
import tseslint from 'typescript-eslint';

/** Rules about `any` flowing in; tests read JSON answers (`any`) and assert on them, so there they are off. */
const anyRules = ['no-explicit-any', 'no-unsafe-assignment', 'no-unsafe-member-access', 'no-unsafe-argument', 'no-unsafe-return', 'no-unsafe-call'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'reports/**', '.stryker-tmp/**'] },
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unnecessary-condition': 'error',
      // A part made after the closures that use it (kernel/host-parts.ts) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Passing on what was caught (`unknown`) is not inventing a non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      ...Object.fromEntries(anyRules.map((rule) => [`@typescript-eslint/${rule}`, 'off'])),
      // A test's stand-in for an async part (a remote that refuses, a store that fails) is written
      // `async` so that its refusal is a rejection, as the real part's is, even with no await in it.
      '@typescript-eslint/require-await': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
);
