// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Module boundaries from STYLE.md, enforced with no-restricted-imports. */
const boundaries = [
  {
    files: ['controller/dep/**', 'controller/tokens/**', 'controller/config/**', 'controller/util/**'],
    patterns: ['**/cli/**', '**/server/**', '**/main.js', '**/store/**', '**/reconcile/**', '**/sim/**'],
  },
  {
    files: ['controller/reconcile/**'],
    patterns: ['**/cli/**', '**/server/**', '**/main.js', '**/store/**', '**/sim/**'],
  },
  {
    files: ['controller/ownership/**'],
    patterns: ['**/cli/**', '**/server/**', '**/main.js', '**/store/**', '**/sim/**'],
  },
  {
    files: ['controller/sim/**'],
    patterns: ['**/cli/**', '**/server/**', '**/main.js', '**/store/**', '**/reconcile/**', '**/config/**'],
  },
  {
    files: ['controller/store/**'],
    patterns: ['**/cli/**', '**/server/**', '**/main.js', '**/sim/**'],
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.scratch/**', 'bench/out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', performance: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'Use string unions or as const instead of enum.' }],
    },
  },
  ...boundaries.map(({ files, patterns }) => ({
    files,
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  })),
  {
    files: ['controller/**'],
    ignores: ['controller/main.ts', 'controller/cli/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only main.ts and cli/ read the environment (STYLE rule 9).' }, { object: 'process', property: 'argv', message: 'Only main.ts and cli/ read argv.' }],
    },
  },
);
