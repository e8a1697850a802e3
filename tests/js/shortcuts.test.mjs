// The open/close keyboard shortcut (static/panel/shortcuts.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  describeShortcut, isApplePlatform, parseShortcut, shortcutMatches,
} from '../../static/panel/shortcuts.js';

/** A keydown look-alike: no modifier unless given. */
const key = (k, mods = {}) => ({ key: k, code: '', ctrlKey: false, metaKey: false, altKey: false,
  shiftKey: false, ...mods });

describe('shortcuts: parsing', () => {
  test('"Mod" is Ctrl elsewhere and Cmd (meta) on Apple platforms', () => {
    assert.deepEqual(parseShortcut('Mod+K'), { key: 'k', ctrl: true, meta: false, alt: false, shift: false });
    assert.deepEqual(parseShortcut('Mod+K', true), { key: 'k', ctrl: false, meta: true, alt: false, shift: false });
  });

  const specs = [
    ['Ctrl+Shift+P', { key: 'p', ctrl: true, shift: true }],
    ['control+p', { key: 'p', ctrl: true }],
    ['Alt+/', { key: '/', alt: true }],
    ['Option+/', { key: '/', alt: true }],
    ['Cmd+Enter', { key: 'enter', meta: true }],
    [' Meta + J ', { key: 'j', meta: true }],
    ['F1', { key: 'f1' }],
    ['Hyper+Ctrl+K', { key: 'k', ctrl: true }], // unknown modifiers are ignored
    ['constructor+K', { key: 'k' }],
  ];
  for (const [spec, flags] of specs) {
    test(`"${spec}" parses`, () => {
      assert.deepEqual(parseShortcut(spec), { ctrl: false, meta: false, alt: false, shift: false, ...flags });
    });
  }

  for (const spec of ['none', 'NONE', ' None ', '', null, undefined]) {
    test(`${JSON.stringify(spec)} means no shortcut`, () => {
      assert.equal(parseShortcut(spec), null);
    });
  }

  test('Apple platforms are told by navigator.platform or the user agent', () => {
    assert.deepEqual(['MacIntel', 'iPhone', 'iPad', 'Win32', 'Linux x86_64', '', undefined].map(isApplePlatform),
      [true, true, true, false, false, false, false]);
  });
});

describe('shortcuts: matching a keydown', () => {
  const ctrlK = parseShortcut('Ctrl+K');

  test('the key with exactly its modifiers matches, in either case', () => {
    assert.equal(shortcutMatches(ctrlK, key('k', { ctrlKey: true })), true);
    assert.equal(shortcutMatches(ctrlK, key('K', { ctrlKey: true })), true);
  });

  test('a missing or an extra modifier does not match', () => {
    assert.equal(shortcutMatches(ctrlK, key('k')), false);
    assert.equal(shortcutMatches(ctrlK, key('k', { ctrlKey: true, shiftKey: true })), false);
    assert.equal(shortcutMatches(ctrlK, key('k', { metaKey: true })), false);
  });

  test('a letter shortcut still works on a non-Latin layout (by its physical key)', () => {
    assert.equal(shortcutMatches(ctrlK, key('л', { ctrlKey: true, code: 'KeyK' })), true);
  });

  test('no shortcut matches nothing', () => {
    assert.equal(shortcutMatches(null, key('k', { ctrlKey: true })), false);
  });

  test('an event without a key (some synthetic events) does not throw', () => {
    assert.equal(shortcutMatches(ctrlK, { ctrlKey: true, metaKey: false, altKey: false, shiftKey: false }), false);
  });
});

describe('shortcuts: describing', () => {
  test('the launcher shows "Ctrl+K" and aria-keyshortcuts says "Control+K"', () => {
    assert.deepEqual(describeShortcut(parseShortcut('Mod+K')), ['Ctrl+K', 'Control+K']);
  });

  test('on Apple platforms the launcher shows symbols without separators', () => {
    assert.deepEqual(describeShortcut(parseShortcut('Mod+Shift+K', true), true), ['⌘ShiftK', 'Meta+Shift+K']);
    assert.deepEqual(describeShortcut(parseShortcut('Alt+/', true), true), ['⌥/', 'Alt+/']);
  });

  test('named keys keep their name; single characters are upper case', () => {
    assert.deepEqual(describeShortcut(parseShortcut('Ctrl+Enter')), ['Ctrl+enter', 'Control+enter']);
    assert.deepEqual(describeShortcut(parseShortcut('Alt+p')), ['Alt+P', 'Alt+P']);
  });
});
