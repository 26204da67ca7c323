// @ts-check
// ESLint flat config: @eslint/js recommended and typescript-eslint's type-aware rules for the TypeScript
// sources. Formatting is Prettier's job: eslint-config-prettier, last, turns off the rules that would fight it.
import eslint from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const LEDGER_MESSAGE = "Use the seat ledger's public API (src/modules/seats/ledger/index.ts)";

export default defineConfig(
  {
    // Built, generated (npm run codegen), installed and run-time files, and the plain-JavaScript config files.
    ignores: [
      'dist/',
      'src/generated/',
      'clients/desktop/src/generated/',
      'clients/desktop/dist/',
      'node_modules/',
      '.data/',
      'coverage/',
      'bench/results/',
      '**/*.js',
      '**/*.cjs',
      '**/*.mjs',
    ],
  },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'migrations/**/*.ts', 'clients/desktop/src/**/*.ts'],
    extends: [eslint.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // A `default` is the deliberate answer for the values a switch does not name.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-explicit-any': 'error',
      // Off: async functions without an await are deliberate here. They implement promise-returning
      // interfaces (Apollo plugin hooks, the event bus, services) and keep throws as rejections.
      '@typescript-eslint/require-await': 'off',
      // Passing on a caught or received `unknown` as it is (a catch block, an iterator's throw()) is
      // deliberate; rejecting with a literal or other known non-Error is still refused.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    // Only the seats module may reach into the seat ledger's internals; and the ledger's own tests.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'migrations/**/*.ts'],
    ignores: ['src/modules/seats/**', 'test/integration/seat-store.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            // Any file inside seats/ledger/ (store, locks, ...), but not the directory itself (its index.ts).
            { group: ['**/seats/ledger/**', '!**/seats/ledger/index'], message: LEDGER_MESSAGE },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests and the benchmark parse arbitrary JSON answers (GraphQL responses, mails) and raw rows,
      // so `any` is the honest type there and the no-unsafe-* rules would flag every field they read.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  prettier,
);
