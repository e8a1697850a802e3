/*
 * report-edit-state.js: what the panel knows and says about a report edit the
 * agent made: which tool results are edits a user can undo, what the server's
 * history says of each (DESIGN.md: the history and undo routes), and the words
 * for the outcome of an Undo.
 *
 * Pure: plain objects in, plain objects and strings out; node tests it.
 */

import { httpError } from './format.js';

const EDIT_ID = /^[0-9a-f]{32}$/;
const REPORT_FILE = /^reports\/([A-Za-z0-9][A-Za-z0-9._-]{0,127}\.md)$/;
const REPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The words of an edit card's states. */
export const EDIT_TEXT = Object.freeze({
  undoing: 'Undoing…',
  undone: 'Edit undone.',
  alreadyUndone: 'This edit was undone already.',
  unreachable: 'Could not reach the server to undo the edit. Try again.',
});

/** What an undo refusal says when the server's answer has no message of its own. */
export const UNDO_ERRORS = Object.freeze({
  report_changed: 'The report changed after this edit; undo the later edits first.',
  backup_missing: 'The text from before this edit is no longer kept, so it cannot be undone.',
  busy: 'The report is being edited right now. Try again in a moment.',
  forbidden: 'You may not undo edits on this run.',
  no_such_edit: 'This edit is no longer known to the server.',
});

/**
 * The undoable report edit a tool card shows, or null: a completed
 * `replace_report_section` call whose result names its edit.
 * @param {unknown} tool the event's `tool`
 * @returns {{editId: string, reportId: string} | null}
 */
export function reportEditOf(tool) {
  if (!tool || typeof tool !== 'object' || tool.kind !== 'mcp') return null;
  if (tool.name !== 'replace_report_section' || tool.status !== 'completed') return null;
  const result = tool.result && typeof tool.result === 'object' ? tool.result.structured_content : null;
  if (!result || typeof result !== 'object' || typeof result.edit_id !== 'string') return null;
  if (!EDIT_ID.test(result.edit_id)) return null;
  // The file name always names the same report again; a bare id like "x.md" would not.
  const file = typeof result.path === 'string' ? REPORT_FILE.exec(result.path) : null;
  const reportId = file ? file[1] : result.report_id;
  if (typeof reportId !== 'string' || !REPORT_ID.test(reportId)) return null;
  return { editId: result.edit_id, reportId };
}

/**
 * What a history answer says of each edit, and whether this user may undo.
 * @param {unknown} history the history route's JSON
 * @returns {{canUndo: boolean, undone: Map<string, boolean>}}
 */
export function historyStates(history) {
  const undone = new Map();
  const edits = history && typeof history === 'object' && Array.isArray(history.edits) ? history.edits : [];
  for (const entry of edits) {
    if (entry && typeof entry.id === 'string' && EDIT_ID.test(entry.id)) undone.set(entry.id, entry.undone === true);
  }
  return { canUndo: Boolean(history && history.can_undo === true), undone };
}

/**
 * The card state an Undo answer leads to, and what the card says.
 * @param {number} status the HTTP status (0: the server was not reached)
 * @param {unknown} body the parsed JSON body, if any
 * @returns {{state: 'undone'|'refused', text: string}}
 */
export function undoOutcome(status, body) {
  if (status === 200) return { state: 'undone', text: EDIT_TEXT.undone };
  if (status === 0) return { state: 'refused', text: EDIT_TEXT.unreachable };
  const error = httpError(status, body);
  if (error.code === 'already_undone') return { state: 'undone', text: EDIT_TEXT.alreadyUndone };
  const own = body && typeof body === 'object' && body.error && body.error.message;
  if (own) return { state: 'refused', text: error.message };
  if (Object.hasOwn(UNDO_ERRORS, error.code)) return { state: 'refused', text: UNDO_ERRORS[error.code] };
  return { state: 'refused', text: `The edit could not be undone (the server answered ${status}).` };
}
