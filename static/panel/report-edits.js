/*
 * report-edits.js: the "Undo edit" action of a report edit's diff card. The
 * card gets a button (editActions); ReportEdits asks the history route which
 * of the conversation's edits are undone, so the cards say so after a reload
 * too, and runs the undo route when the button is pressed. The words and the
 * reading of answers are report-edit-state.js's.
 *
 * Nothing touches the DOM at import time.
 */

import { EDIT_TEXT, historyStates, reportEditOf, undoOutcome } from './report-edit-state.js';

const ACTIONS = '.edit-actions';

/**
 * The actions row of an undoable edit's card: the "Undo edit" button and a
 * status line. It shows until the history says this user may not undo (a
 * history that cannot be fetched hides nothing: pressing the button says why).
 * @param {{editId: string, reportId: string}} edit
 * @returns {HTMLElement}
 */
export function editActions(edit) {
  const node = document.createElement('div');
  node.className = 'edit-actions';
  node.dataset.editId = edit.editId;
  node.dataset.reportId = edit.reportId;
  const button = node.appendChild(document.createElement('button'));
  button.type = 'button';
  button.className = 'undo-edit';
  button.textContent = 'Undo edit';
  const status = node.appendChild(document.createElement('span'));
  status.className = 'edit-state';
  status.setAttribute('role', 'status');
  return node;
}

/**
 * Show an edit's state on its actions row (and its card).
 * @param {HTMLElement} node the `.edit-actions` element
 * @param {'active'|'undoing'|'undone'|'refused'} state
 * @param {string} [text] what the status line says
 */
export function showEditState(node, state, text = '') {
  node.dataset.state = state;
  const button = node.querySelector('button.undo-edit');
  button.hidden = state === 'undone';
  button.disabled = state === 'undoing';
  node.querySelector('.edit-state').textContent = text;
  const card = node.closest('.card');
  if (card) card.dataset.editState = state === 'undone' ? 'undone' : 'active';
}

/** The undo actions of one conversation: history look-ups and undo requests. */
export class ReportEdits {
  /**
   * @param {HTMLElement} log the conversation's role="log" element (holds the cards)
   * @param {{url: (reportId: string, action: string) => string, headers: () => object}} io
   */
  constructor(log, io) {
    this.log = log;
    this.io = io;
    this.generation = 0; // bumped by clear(): answers for an older conversation are dropped
    this.queued = new Set();
  }

  /** Forget everything (a new conversation, or a reset of the log). */
  clear() {
    this.generation += 1;
    this.queued.clear();
  }

  /**
   * Note an event as the conversation renders it: a report edit's card is
   * about to appear, so ask the server for its report's history soon (one
   * request per report for a whole replayed conversation).
   * @param {object} event
   */
  noteEvent(event) {
    const edit = event && event.type === 'tool.completed' ? reportEditOf(event.tool) : null;
    if (!edit || this.queued.has(edit.reportId)) return;
    this.queued.add(edit.reportId);
    const generation = this.generation;
    setTimeout(() => {
      if (generation !== this.generation) return;
      this.queued.delete(edit.reportId);
      this.refresh(edit.reportId);
    }, 0);
  }

  /**
   * Bring every card of `reportId` in line with the server's history.
   * @param {string} reportId
   */
  async refresh(reportId) {
    const generation = this.generation;
    let history;
    try {
      const response = await fetch(this.io.url(reportId, 'history'), {
        headers: { Accept: 'application/json', ...this.io.headers() }, credentials: 'same-origin',
      });
      if (!response.ok) return; // the cards keep their button: pressing it says why
      history = await response.json();
    } catch {
      return;
    }
    if (generation !== this.generation) return;
    const { canUndo, undone } = historyStates(history);
    for (const node of this._actionsOf(reportId)) {
      if (node.dataset.state === 'undoing') continue;
      node.hidden = !canUndo && !undone.get(node.dataset.editId);
      if (undone.get(node.dataset.editId)) showEditState(node, 'undone', EDIT_TEXT.undone);
      else if (node.dataset.state === 'undone' || !node.dataset.state) showEditState(node, 'active');
    }
  }

  /**
   * Undo the edit of a card's "Undo edit" button; the card then says what happened.
   * @param {Element} button
   */
  async undo(button) {
    const node = button.closest(ACTIONS);
    if (!node || node.dataset.state === 'undoing') return;
    const { editId, reportId } = node.dataset;
    const generation = this.generation;
    showEditState(node, 'undoing', EDIT_TEXT.undoing);
    let status = 0;
    let body;
    try {
      const response = await fetch(this.io.url(reportId, 'undo'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...this.io.headers() },
        credentials: 'same-origin',
        body: JSON.stringify({ edit_id: editId }),
      });
      status = response.status;
      try { body = await response.json(); } catch { /* not JSON */ }
    } catch { /* not reached: status stays 0 */ }
    if (generation !== this.generation) return;
    const outcome = undoOutcome(status, body);
    showEditState(node, outcome.state, outcome.text);
    if (outcome.state === 'undone') this.refresh(reportId); // other cards of the report may change
  }

  _actionsOf(reportId) {
    return [...this.log.querySelectorAll(ACTIONS)].filter((node) => node.dataset.reportId === reportId);
  }
}
