import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { ecmaVersion: 2022, sourceType: 'module' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // v1 of the SDK stays in node_modules (the conformance suites and reference servers bring it): never import it.
    files: ['packages/**', 'examples/**', 'bench/**', 'conformance/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@modelcontextprotocol/sdk', '@modelcontextprotocol/sdk/*'], message: 'Use the v2 SDK packages (@modelcontextprotocol/client, /server, /node).' }] },
      ],
    },
  },
  {
    files: ['packages/*/test/**', 'examples/*/test/**', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
);
