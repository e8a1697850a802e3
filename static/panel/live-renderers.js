/*
 * live-renderers.js: the DOM of what happens while a turn runs (runner
 * app-server): a message or reasoning summary as it is written, a command's
 * output as it runs, and approval cards (what, where, why; Approve and Deny)
 * that turn into their outcome once resolved.
 *
 * Apart from renderers.js (the finished items) so that both can change
 * without stepping on each other. Text goes in as text; markdown through
 * markdown.js's sanitiser, at most every RENDER_INTERVAL_MS while it streams.
 * Nothing touches the DOM at import time.
 */

import { approvalView, resolutionView, timeLeftText } from './approval-model.js';
import { LiveText } from './live-text.js';
import { renderMarkdown } from './markdown.js';
import { el, outputBlock } from './renderers.js';

/**
 * A message ('agent') or reasoning summary ('reasoning') being written.
 * @param {{turn: unknown}} event its first delta
 * @param {'agent'|'reasoning'} kind
 * @returns {{kind: string, turn: unknown, live: LiveText, root: HTMLElement, body: HTMLElement,
 *   timer: number}}
 */
export function liveText(event, kind) {
  let root;
  let body;
  if (kind === 'reasoning') {
    root = el('details', 'reasoning streaming');
    root.append(el('summary', '', 'Reasoning'));
    body = root.appendChild(el('div', 'md'));
  } else {
    root = el('div', 'msg agent streaming');
    body = root.appendChild(el('div', 'bubble md'));
  }
  root.setAttribute('aria-busy', 'true');
  return { kind, turn: event.turn, live: new LiveText(), root, body, timer: 0 };
}

/**
 * Show the text so far: now if the interval allows, else once it does.
 * @param {ReturnType<typeof liveText>} record
 * @param {(render: () => void) => void} [around] runs a delayed render (to keep the log
 *   scrolled to its end while it grows)
 */
export function renderLiveText(record, around = (render) => render()) {
  const delay = record.live.renderDelay(performance.now());
  if (delay === 0) {
    draw(record);
  } else if (!record.timer) {
    record.timer = setTimeout(() => {
      record.timer = 0;
      around(() => draw(record));
    }, delay);
  }
}

function draw(record) {
  renderMarkdown(record.body, record.live.text);
  record.live.rendered(performance.now());
}

/**
 * The whole text arrived (or the turn ended without it): show it, stop streaming.
 * @param {ReturnType<typeof liveText>} record
 * @param {{text?: string, truncated?: boolean}|null} event the whole message, or null
 */
export function finishLiveText(record, event) {
  clearTimeout(record.timer);
  record.timer = 0;
  if (event) record.live.finish(event.text);
  draw(record);
  record.root.classList.remove('streaming');
  record.root.removeAttribute('aria-busy');
  if (event && event.truncated) {
    record.root.append(el('p', 'note', 'This message was cut short by the server.'));
  }
}

/**
 * Stop a live text's pending render (the conversation is cleared).
 * @param {ReturnType<typeof liveText>} record
 */
export function dropLiveText(record) {
  clearTimeout(record.timer);
  record.timer = 0;
}

/**
 * Append a command's live output to its card (replaced by the whole output when it ends).
 * @param {{body: HTMLElement, liveOutput?: HTMLElement}} card a tool card (renderers.js)
 * @param {{delta?: string, truncated?: boolean}} event a tool.output event
 */
export function appendLiveOutput(card, event) {
  if (!card.liveOutput || !card.liveOutput.isConnected) {
    const wrap = card.body.appendChild(el('div', 'output live'));
    card.liveOutput = wrap.appendChild(el('pre', 'out live'));
  }
  const pre = card.liveOutput;
  pre.append(String(event.delta ?? ''));
  pre.scrollTop = pre.scrollHeight;
  if (event.truncated) {
    pre.parentElement.append(el('p', 'note', 'Live output cut short; all of it shows when the command ends.'));
  }
}

/**
 * An approval card: what the agent wants to do, where and why, with Approve and Deny.
 * @param {{turn: unknown, approval?: object}} event an approval.requested event
 * @returns {{id: string, turn: unknown, status: string, root: HTMLElement, buttons: HTMLButtonElement[]}}
 */
export function approvalCard(event) {
  const approval = event.approval || {};
  const view = approvalView(approval);
  const id = String(approval.id ?? '');
  const root = el('div', 'approval');
  root.dataset.state = 'pending';
  root.setAttribute('role', 'group');
  root.setAttribute('aria-label', view.title);
  root.append(el('p', 'approval-title', view.title));
  if (view.command) root.append(el('pre', 'command', view.command));
  for (const change of view.changes) {
    const line = root.appendChild(el('p', 'approval-change'));
    const kind = line.appendChild(el('span', 'change', change.kind));
    kind.dataset.kind = change.kind;
    line.append(' ', el('code', '', change.path));
    if (change.diff) root.append(outputBlock(change.diff, true));
  }
  if (view.where) root.append(el('p', 'approval-where', view.where));
  if (view.why) root.append(el('p', 'approval-why', view.why));
  const left = timeLeftText(approval.expires_at, Date.now());
  if (left) root.append(el('p', 'note', left));
  const actions = root.appendChild(el('div', 'approval-actions'));
  const buttons = [['accept', 'Approve', 'approve'], ['decline', 'Deny', 'deny']].map(([decision, label, name]) => {
    const button = actions.appendChild(el('button', name, label));
    button.type = 'button';
    button.dataset.decision = decision;
    button.dataset.approval = id;
    return button;
  });
  return { id, turn: event.turn, status: 'pending', root, buttons };
}

/**
 * While an answer is being sent: the buttons are off (a second click sends nothing).
 * @param {ReturnType<typeof approvalCard>} card
 * @param {boolean} busy
 */
export function answeringApproval(card, busy) {
  for (const button of card.buttons) button.disabled = busy;
}

/**
 * Send the user's answer to an approval; its approval.resolved event settles the card.
 * A 409 means an answer already stood (a timeout, a Stop, another tab): its event says
 * which. Other failures are shown on the notice line and the buttons work again.
 * @param {ReturnType<typeof approvalCard>} card
 * @param {string} decision 'accept' or 'decline'
 * @param {{send: (body: object) => Promise<Response>, notice: {say: (text: string) => void,
 *   httpError: (response: Response) => Promise<void>}}} io
 */
export async function answerApproval(card, decision, io) {
  if (card.status !== 'pending') return;
  answeringApproval(card, true);
  try {
    const response = await io.send({ decision });
    if (response.ok || response.status === 409) return;
    await io.notice.httpError(response);
  } catch {
    io.notice.say('Could not reach the server to send your answer. Try again.');
  }
  if (card.status === 'pending') answeringApproval(card, false);
}

/**
 * The approval was settled: the buttons give way to what stood.
 * @param {ReturnType<typeof approvalCard>} card
 * @param {{decision?: string, by?: string}|null} resolved its approval.resolved event, or
 *   null when the turn ended without one
 */
export function settleApproval(card, resolved) {
  const view = resolutionView(resolved);
  card.status = view.state;
  card.root.dataset.state = view.state;
  for (const node of card.root.querySelectorAll(':scope > .approval-actions, :scope > .note')) node.remove();
  card.root.append(el('p', 'approval-outcome', view.text));
}
