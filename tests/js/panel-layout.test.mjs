// The shape of the panel's modules (STYLE.md, points 6, 7 and 17), checked on their source.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const STATIC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static');
const PANEL = join(STATIC, 'panel');
const MODULES = readdirSync(PANEL).filter((name) => name.endsWith('.js')).sort();
const source = (name) => readFileSync(join(PANEL, name), 'utf8');

/** Modules of pure logic: no browser global anywhere in them, so node runs them as they are. */
const PURE = ['agent-state.js', 'approval-model.js', 'conversation-model.js', 'format.js', 'live-text.js',
  'reconnect.js', 'report-edit-state.js', 'shortcuts.js', 'sse-parser.js'];
/** Modules that use the browser only when called: node can import them. */
const IMPORTABLE = ['conversation.js', 'event-stream.js', 'live-renderers.js', 'markdown.js', 'notice.js',
  'page-focus.js', 'renderers.js', 'report-edits.js'];
const BROWSER_GLOBALS = /\b(document|window|navigator|localStorage|customElements|HTMLElement|requestAnimationFrame)\b/;

/** Source without comments and string contents, for looking at code only. */
const code = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  .replace(/'(?:[^'\\\n]|\\.)*'/g, "''");

describe('panel layout: one module per seam', () => {
  test('every module the brief names is there', () => {
    for (const name of [...PURE, ...IMPORTABLE, 'element.js']) assert.ok(MODULES.includes(name), name);
  });

  for (const name of MODULES) {
    test(`${name} opens with a comment saying what it holds`, () => {
      assert.match(source(name), new RegExp(`^/\\*\\n \\* ${name.replace('.', '\\.')}: \\S`));
    });

    test(`${name} is at most 500 lines`, () => {
      assert.ok(source(name).split('\n').length <= 500);
    });

    test(`every export of ${name} has a doc comment`, () => {
      const lines = source(name).split('\n');
      lines.forEach((line, i) => {
        if (!/^export (async )?(function|class) /.test(line)) return;
        assert.match(lines[i - 1] ?? '', /\*\/\s*$/, `${name}:${i + 1} ${line}`);
      });
    });

    test(`${name} imports only sibling modules`, () => {
      for (const [, path] of source(name).matchAll(/^import [^;]* from '([^']+)';$/gms)) {
        assert.match(path, /^\.\/[a-z-]+\.js$/, path);
        assert.ok(existsSync(join(PANEL, path)), path);
      }
    });
  }
});

describe('panel layout: pure modules run without a browser', () => {
  for (const name of PURE) {
    test(`${name} names no browser global`, () => {
      assert.doesNotMatch(code(source(name)), BROWSER_GLOBALS);
    });
  }

  for (const name of [...PURE, ...IMPORTABLE]) {
    test(`${name} imports in node without a DOM`, async () => {
      assert.equal(typeof globalThis.document, 'undefined');
      const module = await import(pathToFileURL(join(PANEL, name)).href);
      assert.ok(Object.keys(module).length > 0);
    });
  }
});

describe('panel layout: the loader', () => {
  const loader = readFileSync(join(STATIC, 'command-bar.js'), 'utf8');

  test('every file the loader resolves exists next to it', () => {
    const paths = [...loader.matchAll(/new URL\('([^']+)', SCRIPT_URL\)/g)].map((m) => m[1]);
    assert.deepEqual(paths.sort(), ['command-bar.css', 'panel/element.js', 'vendor/dompurify/purify.es.js',
      'vendor/marked/marked.esm.js']);
    for (const path of paths) assert.ok(existsSync(join(STATIC, path)), path);
  });

  test('the loader is a classic script: no static import or export', () => {
    assert.doesNotMatch(code(loader), /^\s*(import|export)\s/m);
  });

  test('the element module exports definePanel, which the loader calls', () => {
    assert.match(source('element.js'), /^export function definePanel\(/m);
    assert.match(loader, /module\.definePanel\(ASSETS\)/);
  });
});
