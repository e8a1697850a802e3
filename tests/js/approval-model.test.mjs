// What an approval card says (static/panel/approval-model.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { approvalView, resolutionView, timeLeftText } from '../../static/panel/approval-model.js';

describe('approval view: what, where, why', () => {
  test('a command approval shows the command, its directory and the reason', () => {
    const view = approvalView({ kind: 'command', command: 'rm -rf build', cwd: '/runs/r1', reason: 'clean up' });
    assert.deepEqual(view, { title: 'Run this command?', command: 'rm -rf build', where: 'in /runs/r1',
      why: 'clean up', changes: [] });
  });

  test('a file change approval lists each change with its diff', () => {
    const view = approvalView({ kind: 'file_change', changes: [{ path: '/r/a.md', kind: 'add', diff: '+x' }, 'junk'] });
    assert.equal(view.title, 'Change these files?');
    assert.deepEqual(view.changes, [{ path: '/r/a.md', kind: 'add', diff: '+x' }]);
  });

  test('an unknown kind, or a hostile one, gets a neutral title', () => {
    for (const kind of ['shell', 'constructor', '__proto__', undefined]) {
      assert.equal(approvalView({ kind }).title, 'Allow this?');
    }
  });

  test('fields of the wrong type are left out, never shown as "[object Object]"', () => {
    const view = approvalView({ kind: 'command', command: { x: 1 }, cwd: 5, reason: ['r'], changes: 'x' });
    assert.deepEqual(view, { title: 'Run this command?', command: '', where: '', why: '', changes: [] });
  });
});

describe('approval view: how it was settled', () => {
  const cases = [
    [{ decision: 'accept', by: 'user' }, 'accepted', 'Approved.'],
    [{ decision: 'decline', by: 'user' }, 'declined', 'Denied.'],
    [{ decision: 'decline', by: 'timeout' }, 'declined', 'Declined: no answer in time.'],
    [{ decision: 'decline', by: 'cancel' }, 'declined', 'Declined: the turn was stopped.'],
    [{ decision: 'decline', by: 'toString' }, 'declined', 'Declined.'],
    [null, 'declined', 'Not answered: the turn ended.'],
  ];
  for (const [resolved, state, text] of cases) {
    test(`${JSON.stringify(resolved)} reads "${text}"`, () => {
      assert.deepEqual(resolutionView(resolved), { state, text });
    });
  }
});

describe('approval view: the time left', () => {
  test('minutes and seconds while time is left', () => {
    assert.equal(timeLeftText(1000 + 270, 1000 * 1000), 'Answer within 4 min 30 s.');
    assert.equal(timeLeftText(1000 + 120, 1000 * 1000), 'Answer within 2 min.');
    assert.equal(timeLeftText(1000 + 9.5, 1000 * 1000), 'Answer within 9 s.');
  });

  test('nothing once the time is up, or without a deadline', () => {
    assert.equal(timeLeftText(999, 1000 * 1000), '');
    assert.equal(timeLeftText('soon', 0), '');
  });
});
