// Live text while it is written (static/panel/live-text.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { LiveText, liveKey, RENDER_INTERVAL_MS } from '../../static/panel/live-text.js';

describe('live text', () => {
  test('deltas append in order; the whole text replaces them', () => {
    const live = new LiveText();
    for (const delta of ['Hel', 'lo, ', 'wor']) live.append(delta);
    assert.equal(live.text, 'Hello, wor');
    live.finish('Hello, world');
    assert.equal(live.text, 'Hello, world');
    assert.equal(live.final, true);
  });

  test('a delta after the whole text changes nothing (a replayed duplicate)', () => {
    const live = new LiveText();
    live.finish('done');
    live.append(' and more');
    assert.equal(live.text, 'done');
  });

  for (const delta of [undefined, null, 7, {}, ['x']]) {
    test(`a delta that is not text (${JSON.stringify(delta)}) is ignored`, () => {
      const live = new LiveText();
      live.append(delta);
      assert.equal(live.text, '');
    });
  }

  test(`markdown renders at most once per ${RENDER_INTERVAL_MS} ms while deltas arrive`, () => {
    const live = new LiveText();
    assert.equal(live.renderDelay(1000), 0);
    live.rendered(1000);
    assert.equal(live.renderDelay(1010), RENDER_INTERVAL_MS - 10);
    assert.equal(live.renderDelay(1000 + RENDER_INTERVAL_MS), 0);
  });

  test('the whole text renders at once, whatever the interval', () => {
    const live = new LiveText();
    live.rendered(1000);
    live.finish('x');
    assert.equal(live.renderDelay(1001), 0);
  });

  test('a live text is keyed by turn and item: item ids repeat across turns', () => {
    assert.notEqual(liveKey({ turn: 1, item_id: 'msg_1' }), liveKey({ turn: 2, item_id: 'msg_1' }));
    assert.equal(liveKey({ turn: 3, item_id: 'a', delta: 'x' }), liveKey({ turn: 3, item_id: 'a', text: 'y' }));
  });
});
