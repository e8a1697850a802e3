// ESLint for the command-bar panel (static/) and its node unit tests (tests/js/).
// The panel modules are native ES modules run by browsers; static/command-bar.js
// is the classic script a host page loads, so it is linted as a script.
import js from '@eslint/js';
import globals from 'globals';

export default [
  {
    ignores: ['static/vendor/', 'node_modules/', '.venv/', '.codex-cli/', 'test-artifacts/'],
  },
  js.configs.recommended,
  {
    files: ['static/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.browser },
    },
  },
  {
    files: ['static/command-bar.js'],
    languageOptions: { sourceType: 'script' },
  },
  {
    files: ['tests/js/**/*.{js,mjs}', 'eslint.config.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
];
