// The words and numbers the panel shows (static/panel/format.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  diffLineKind, escapeHtml, formatCount, formatDuration, httpError, looksLikeDiff, outputPreview,
  PREVIEW_LINES, readError, resultText, todoItem, toolBadge, toolKindLabel, toolTitle, turnEnd,
  usageText,
} from '../../static/panel/format.js';

describe('format: durations and counts', () => {
  const durations = [
    [0, '0 ms'], [250.4, '250 ms'], [999, '999 ms'], [1000, '1.0 s'], [1500, '1.5 s'],
    [59999, '60.0 s'], [60000, '1 min'], [125000, '2 min 5 s'], [3600000, '60 min'],
  ];
  for (const [ms, text] of durations) {
    test(`${ms} ms reads "${text}"`, () => assert.equal(formatDuration(ms), text));
  }

  for (const bad of [undefined, null, -1, NaN, '1000', {}]) {
    test(`${String(bad)} (${typeof bad}) is no duration: nothing is shown`, () => {
      assert.equal(formatDuration(bad), '');
    });
  }

  test('counts are grouped; anything not a number counts as 0', () => {
    assert.equal(formatCount(1234567), (1234567).toLocaleString());
    assert.equal(formatCount('12'), '12');
    assert.equal(formatCount(undefined), '0');
    assert.equal(formatCount('many'), '0');
  });

  test('the usage line leaves out cached and reasoning tokens when there are none', () => {
    assert.equal(usageText({ input_tokens: 10, output_tokens: 2 }), 'Tokens: 10 in · 2 out');
    assert.equal(usageText({ input_tokens: 10, cached_input_tokens: 4, output_tokens: 2,
      reasoning_output_tokens: 1 }), 'Tokens: 10 in · 4 cached · 2 out · 1 reasoning');
  });
});

describe('format: the end of a turn', () => {
  test('a completed turn says how long it took, and offers no retry', () => {
    assert.deepEqual(turnEnd('completed', 1500), { status: 'completed', text: 'Done in 1.5 s', retry: false });
    assert.equal(turnEnd(undefined, undefined).text, 'Done');
  });

  test('a stopped turn says so, and offers no retry', () => {
    assert.deepEqual(turnEnd('cancelled', 10), { status: 'cancelled', text: 'Stopped', retry: false });
  });

  test('a turn that ran out of time says after how long, and offers a retry', () => {
    const end = turnEnd('timeout', 60000);
    assert.equal(end.text, 'The agent ran out of time after 1 min and was stopped. You can retry.');
    assert.equal(end.retry, true);
  });

  for (const status of ['failed', 'exploded', 'constructor', '__proto__', 'toString']) {
    test(`a turn that ended "${status}" could not finish, and offers a retry`, () => {
      const end = turnEnd(status, 5);
      assert.equal(end.text, 'The agent could not finish this request. You can retry.');
      assert.equal(end.status, status);
      assert.equal(end.retry, true);
    });
  }
});

describe('format: HTTP errors', () => {
  test("the route's own error code and message win", () => {
    const body = { error: { code: 'message_too_long', message: 'Keep it under 10 kB.' } };
    assert.deepEqual(httpError(400, body), { status: 400, code: 'message_too_long', message: 'Keep it under 10 kB.' });
  });

  const fallbacks = [
    [401, 'You are not signed in.'],
    [409, 'The agent is still working on the previous message.'],
    [503, 'The agent service is unavailable right now. Try again in a moment.'],
    [502, 'The server answered 502.'],
  ];
  for (const [status, message] of fallbacks) {
    test(`a ${status} without a usable body says "${message}"`, () => {
      for (const body of [undefined, null, 'text', [], {}, { error: null }, { error: 'x' }]) {
        assert.deepEqual(httpError(status, body), { status, code: `http_${status}`, message });
      }
    });
  }

  test('readError reads a JSON body, and survives one that is not JSON', async () => {
    const json = new Response(JSON.stringify({ error: { code: 'not_found', message: 'Gone.' } }), { status: 404 });
    assert.deepEqual(await readError(json), { status: 404, code: 'not_found', message: 'Gone.' });
    const html = new Response('<h1>Bad gateway</h1>', { status: 502 });
    assert.deepEqual(await readError(html), { status: 502, code: 'http_502', message: 'The server answered 502.' });
  });
});

describe('format: escaping', () => {
  test('the five HTML specials are escaped; nothing else', () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a> é`),
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt; é');
  });

  test('null and undefined escape to nothing; other values to their text', () => {
    assert.equal(escapeHtml(null), '');
    assert.equal(escapeHtml(undefined), '');
    assert.equal(escapeHtml(42), '42');
  });
});

describe('format: tool cards', () => {
  test('each tool kind has its label; an unknown kind is a "Tool"', () => {
    assert.deepEqual(['command', 'mcp', 'file_change', 'web_search', 'todo', 'robot', 'constructor']
      .map(toolKindLabel), ['Command', 'Tool', 'Files', 'Search', 'Plan', 'Tool', 'Tool']);
  });

  test("a card's title is the tool's own, else its kind's label, else \"tool\"", () => {
    assert.equal(toolTitle({ title: 'ls -la', kind: 'command' }), 'ls -la');
    assert.equal(toolTitle({ kind: 'web_search' }), 'Search');
    assert.equal(toolTitle({ kind: 'hasOwnProperty' }), 'tool');
  });

  test('a running tool is "running", a completed one "done", others as they are', () => {
    assert.deepEqual(toolBadge('in_progress'), { status: 'in_progress', label: 'running' });
    assert.deepEqual(toolBadge('completed', 0), { status: 'completed', label: 'done' });
    assert.deepEqual(toolBadge('interrupted'), { status: 'interrupted', label: 'interrupted' });
    assert.deepEqual(toolBadge('valueOf'), { status: 'valueOf', label: 'valueOf' });
  });

  test('a command that exited non-zero is "failed", with its exit code on the badge', () => {
    assert.deepEqual(toolBadge('completed', 2), { status: 'failed', label: 'exit 2' });
    assert.deepEqual(toolBadge('completed', '2'), { status: 'completed', label: 'done' });
  });

  test("an MCP result shows its text items, else its structured content, else itself", () => {
    assert.equal(resultText(null), '');
    assert.equal(resultText('plain'), 'plain');
    assert.equal(resultText({ content: [{ type: 'text', text: 'a' }, { type: 'image' }, null, { text: 'b' }] }), 'a\nb');
    assert.equal(resultText({ content: [], structured_content: { n: 1 } }), '{\n  "n": 1\n}');
    assert.equal(resultText({ content: 'not a list', ok: true }), '{\n  "content": "not a list",\n  "ok": true\n}');
  });

  test('todo items: done, in progress or pending, with a text or a step', () => {
    assert.deepEqual(todoItem({ text: 'a', completed: true }), { text: 'a', done: true, mark: '✓' });
    assert.deepEqual(todoItem({ step: 'b', status: 'completed' }), { text: 'b', done: true, mark: '✓' });
    assert.deepEqual(todoItem({ step: 'c', status: 'in_progress' }), { text: 'c', done: false, mark: '▸' });
    assert.deepEqual(todoItem({}), { text: '', done: false, mark: '○' });
  });
});

describe('format: diffs and long output', () => {
  test('diff lines are styled by their first characters', () => {
    const diff = ['--- a/report.md', '+++ b/report.md', '@@ -1,2 +1,2 @@', '-old', '+new', ' same', ''];
    assert.deepEqual(diff.map(diffLineKind), ['meta', 'meta', 'hunk', 'del', 'add', 'ctx', 'ctx']);
  });

  test('a text with a hunk header looks like a diff; one with "@@" elsewhere does not', () => {
    assert.equal(looksLikeDiff('intro\n@@ -1 +1 @@\n-a\n+b'), true);
    assert.equal(looksLikeDiff('email me @@ home'), false);
  });

  test(`output of up to ${PREVIEW_LINES} lines is shown whole`, () => {
    assert.equal(outputPreview(Array(PREVIEW_LINES).fill('x').join('\n'), false), null);
  });

  test('longer output shows its first lines and a button naming how many there are', () => {
    const text = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const clamp = outputPreview(text, false);
    assert.equal(clamp.preview.split('\n').length, PREVIEW_LINES);
    assert.equal(clamp.label, 'Show all 50 lines');
  });

  test('a diff shows twice as many lines before it is clamped', () => {
    const text = Array(2 * PREVIEW_LINES).fill('+x').join('\n');
    assert.equal(outputPreview(text, true), null);
    assert.notEqual(outputPreview(text, false), null);
  });

  test('one huge line is clamped by characters too', () => {
    const clamp = outputPreview('y'.repeat(100000), false);
    assert.equal(clamp.preview.length, PREVIEW_LINES * 100);
  });
});
