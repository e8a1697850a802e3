// What the panel knows and says about a report edit (static/panel/report-edit-state.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  EDIT_TEXT, historyStates, reportEditOf, UNDO_ERRORS, undoOutcome,
} from '../../static/panel/report-edit-state.js';

const ID = '0123456789abcdef0123456789abcdef';
const edit = (structured, overrides = {}) => ({
  kind: 'mcp', name: 'replace_report_section', status: 'completed',
  result: { content: [], structured_content: structured }, ...overrides,
});
const REPLACED = { report_id: 'summary', edit_id: ID, path: 'reports/summary.md', diff: '@@ -1 +1 @@' };

describe('report edits: which cards can be undone', () => {
  test('a completed report edit names its edit and report', () => {
    assert.deepEqual(reportEditOf(edit(REPLACED)), { editId: ID, reportId: 'summary.md' });
  });

  test('the report is named by its file, so a report called "x.md.md" stays itself', () => {
    const named = { ...REPLACED, report_id: 'x.md', path: 'reports/x.md.md' };
    assert.equal(reportEditOf(edit(named)).reportId, 'x.md.md');
  });

  test('without a path the bare report id is used', () => {
    assert.equal(reportEditOf(edit({ report_id: 'summary', edit_id: ID })).reportId, 'summary');
  });

  const notUndoable = {
    'an edit that changed nothing': edit({ ...REPLACED, edit_id: null }),
    'a failed call': edit(REPLACED, { status: 'failed' }),
    'a call still running': edit(REPLACED, { status: 'in_progress' }),
    'another tool': edit(REPLACED, { name: 'read_report_section' }),
    'a shell command': edit(REPLACED, { kind: 'command' }),
    'a result cut without its structured part': edit(undefined),
    'an edit id that is not one': edit({ ...REPLACED, edit_id: `${ID}\n` }),
    'an upper-case edit id': edit({ ...REPLACED, edit_id: ID.toUpperCase() }),
    'a hostile report path': edit({ ...REPLACED, path: 'reports/../../etc/passwd', report_id: '../x' }),
    'a report id with a slash': edit({ edit_id: ID, report_id: 'a/b' }),
    'no tool at all': null,
    'a string': 'replace_report_section',
  };
  for (const [name, tool] of Object.entries(notUndoable)) {
    test(`${name}: no Undo`, () => assert.equal(reportEditOf(tool), null));
  }
});

describe('report edits: the history', () => {
  test('each edit is undone or not; the user may undo or not', () => {
    const other = 'f'.repeat(32);
    const states = historyStates({ can_undo: true, edits: [
      { id: ID, undone: true }, { id: other, undone: false }, { id: 'junk', undone: true }, null,
    ] });
    assert.equal(states.canUndo, true);
    assert.deepEqual([...states.undone], [[ID, true], [other, false]]);
  });

  for (const bad of [undefined, null, 'text', { edits: 'x' }, { can_undo: 'yes', edits: [] }]) {
    test(`a malformed history (${JSON.stringify(bad)}) undoes nothing and allows nothing`, () => {
      const states = historyStates(bad);
      assert.equal(states.canUndo, false);
      assert.equal(states.undone.size, 0);
    });
  }
});

describe('report edits: what an Undo answer says', () => {
  test('200: the edit is undone', () => {
    assert.deepEqual(undoOutcome(200, { restored: true }), { state: 'undone', text: EDIT_TEXT.undone });
  });

  test('409 already_undone: the card says it is undone (another tab did it)', () => {
    const body = { error: { code: 'already_undone', message: 'This edit is undone already.' } };
    assert.deepEqual(undoOutcome(409, body), { state: 'undone', text: EDIT_TEXT.alreadyUndone });
  });

  test('409 report_changed: the server says why, and the card keeps its button', () => {
    const message = "'reports/summary.md' changed after this edit, so undoing it would lose the later changes.";
    assert.deepEqual(undoOutcome(409, { error: { code: 'report_changed', message } }),
      { state: 'refused', text: message });
  });

  test('a refusal without a message gets the words for its code', () => {
    assert.equal(undoOutcome(409, { error: { code: 'report_changed' } }).text, UNDO_ERRORS.report_changed);
    assert.equal(undoOutcome(403, { error: { code: 'forbidden' } }).text, UNDO_ERRORS.forbidden);
  });

  test('an answer that is not JSON says its status', () => {
    assert.deepEqual(undoOutcome(503, undefined),
      { state: 'refused', text: 'The edit could not be undone (the server answered 503).' });
  });

  test('a hostile code is just unknown', () => {
    assert.deepEqual(undoOutcome(409, { error: { code: 'constructor' } }),
      { state: 'refused', text: 'The edit could not be undone (the server answered 409).' });
  });

  test('the server not reached: try again', () => {
    assert.deepEqual(undoOutcome(0, undefined), { state: 'refused', text: EDIT_TEXT.unreachable });
  });
});
