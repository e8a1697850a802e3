/*
 * renderers.js: the DOM of the conversation's items: the user's and the
 * agent's messages, reasoning, usage and error lines, the line that ends a
 * turn, and tool cards (command output, MCP arguments and results, report
 * diffs with their "Undo edit" action, file changes, searches, plans) with
 * clamped output blocks.
 *
 * Text goes in as text (textContent), never as HTML; agent markdown goes
 * through markdown.js's sanitiser. The words come from format.js. Nothing
 * touches the DOM at import time.
 */

import {
  diffLineKind, formatDuration, looksLikeDiff, outputPreview, resultText, todoItem, toolBadge,
  toolKindLabel, toolTitle, turnEnd, usageText,
} from './format.js';
import { renderMarkdown } from './markdown.js';
import { reportEditOf } from './report-edit-state.js';
import { editActions } from './report-edits.js';

const FULL_TEXT = new WeakMap(); // clamped <pre> → {text, preview, diff, label}

/**
 * Create an element with a class and plain text (never HTML).
 * @param {string} tag
 * @param {string} [className]
 * @param {unknown} [text]
 * @returns {HTMLElement}
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  return node;
}

/**
 * The user's message of a turn.queued event.
 * @param {{message?: string}} event
 * @returns {HTMLElement}
 */
export function userMessage(event) {
  const node = el('div', 'msg user');
  node.append(el('div', 'bubble', event.message ?? ''));
  return node;
}

/**
 * An agent message, as sanitised markdown.
 * @param {{text?: string, truncated?: boolean}} event
 * @returns {HTMLElement}
 */
export function agentMessage(event) {
  const node = el('div', 'msg agent');
  const body = node.appendChild(el('div', 'bubble md'));
  renderMarkdown(body, event.text ?? '');
  if (event.truncated) node.append(el('p', 'note', 'This message was cut short by the server.'));
  return node;
}

/**
 * A reasoning summary, folded.
 * @param {{text?: string}} event
 * @returns {HTMLElement}
 */
export function reasoning(event) {
  const node = el('details', 'reasoning');
  node.append(el('summary', '', 'Reasoning'));
  renderMarkdown(node.appendChild(el('div', 'md')), event.text ?? '');
  return node;
}

/**
 * The token usage line of a usage event.
 * @param {object} event
 * @returns {HTMLElement}
 */
export function usageLine(event) {
  return el('p', 'usage', usageText(event));
}

/**
 * An error event; Codex's "retrying" notices are shown as warnings.
 * @param {{code?: string, message?: string}} event
 * @returns {HTMLElement}
 */
export function errorNote(event) {
  const retrying = event.code === 'codex_retrying';
  const node = el('div', retrying ? 'error warning' : 'error');
  node.dataset.code = String(event.code || 'error');
  node.append(el('strong', '', retrying ? 'Retrying: ' : 'Error: '),
    String(event.message || 'Something went wrong.'));
  return node;
}

/**
 * The line that ends a turn, with a Retry button when it failed and its
 * message is known.
 * @param {{turn: unknown, status?: string, duration_ms?: number}} event
 * @param {boolean} messageKnown whether the turn's message can be sent again
 * @returns {HTMLElement}
 */
export function turnEndLine(event, messageKnown) {
  const end = turnEnd(event.status, event.duration_ms);
  const node = el('div', 'turn-end', end.text);
  node.dataset.status = end.status;
  if (end.retry && messageKnown) {
    const retry = node.appendChild(el('button', 'retry', 'Retry'));
    retry.type = 'button';
    retry.dataset.turn = String(event.turn);
  }
  return node;
}

/**
 * A new, empty tool card; fill it with updateCard().
 * @param {{turn: unknown, tool?: {kind?: string}}} event the tool's first event
 * @returns {{turn: unknown, status: string, root: HTMLElement, title: HTMLElement,
 *   badge: HTMLElement, duration: HTMLElement, body: HTMLElement}}
 */
export function createCard(event) {
  const tool = event.tool || {};
  const card = { turn: event.turn, status: '', root: el('div', 'card'), title: el('span', 'card-title'),
    badge: el('span', 'badge'), duration: el('span', 'duration'), body: el('div', 'card-body') };
  card.root.dataset.kind = String(tool.kind || 'unknown');
  const head = el('div', 'card-head');
  head.append(el('span', 'kind', toolKindLabel(tool.kind)), card.title, card.badge, card.duration);
  card.root.append(head, card.body);
  return card;
}

/**
 * Show a tool's latest state on its card (in place: nothing else is rebuilt).
 * @param {ReturnType<typeof createCard>} card
 * @param {object} tool the event's `tool`
 */
export function updateCard(card, tool) {
  card.title.textContent = card.root.title = toolTitle(tool);
  setCardStatus(card, String(tool.status || 'in_progress'), tool.exit_code);
  card.duration.textContent = formatDuration(tool.duration_ms);
  card.body.replaceChildren(...toolBody(tool));
}

/**
 * Set a card's status and badge.
 * @param {ReturnType<typeof createCard>} card
 * @param {string} status
 * @param {unknown} [exitCode] a command's exit code
 */
export function setCardStatus(card, status, exitCode) {
  card.status = status;
  const badge = toolBadge(status, exitCode);
  card.root.dataset.status = badge.status;
  card.badge.textContent = badge.label;
}

/**
 * The kind-specific part of a tool card, as a list of nodes.
 * @param {object} tool the event's `tool`
 * @returns {Node[]}
 */
export function toolBody(tool) {
  const parts = [];
  const list = (className, items, fill) => {
    const ul = el('ul', className);
    for (const item of items || []) fill(ul.appendChild(el('li')), item || {});
    parts.push(ul);
  };
  if (tool.kind === 'command') {
    const command = String(tool.command || '');
    if (command !== tool.title) parts.push(el('pre', 'command', command));
    if (tool.output) parts.push(outputBlock(String(tool.output), false));
  } else if (tool.kind === 'mcp') {
    parts.push(...mcpBody(tool));
  } else if (tool.kind === 'file_change') {
    list('changes', tool.changes, (li, change) => {
      const kind = li.appendChild(el('span', 'change', change.kind || 'change'));
      kind.dataset.kind = String(change.kind || '');
      li.append(' ', el('code', '', change.path || ''));
    });
  } else if (tool.kind === 'web_search' && tool.query !== tool.title) {
    parts.push(el('p', 'query', tool.query || ''));
  } else if (tool.kind === 'todo') {
    list('todo', tool.items, (li, item) => {
      const shown = todoItem(item);
      li.textContent = shown.text;
      li.className = shown.done ? 'done' : '';
      li.dataset.mark = shown.mark;
    });
  }
  if (tool.truncated) parts.push(el('p', 'note', 'Output truncated by the server.'));
  return parts;
}

/** An MCP tool's arguments, error and result (a report edit's result is its diff). */
function mcpBody(tool) {
  const parts = [];
  if (tool.arguments && Object.keys(tool.arguments).length) {
    const args = el('details', 'args');
    args.append(el('summary', '', 'Arguments'), el('pre', '', JSON.stringify(tool.arguments, null, 2)));
    parts.push(args);
  }
  if (tool.error) parts.push(el('pre', 'tool-error', tool.error));
  const structured = tool.result && tool.result.structured_content;
  if (structured && typeof structured.diff === 'string') {
    // A report edit (replace_report_section): show its unified diff, styled.
    if (structured.backup) parts.push(el('p', 'note', `Backup: ${structured.backup}`));
    parts.push(outputBlock(structured.diff || '(no change)', Boolean(structured.diff)));
    const edit = reportEditOf(tool);
    if (edit) parts.push(editActions(edit)); // "Undo edit" (report-edits.js)
  } else {
    const text = resultText(tool.result);
    if (text && text !== tool.error) parts.push(outputBlock(text, looksLikeDiff(text)));
  }
  return parts;
}

/**
 * Tool output in a <pre>, clamped to a preview that expands on click. Only
 * the preview is in the DOM until expanded: 1,000 cards stay cheap.
 * @param {string} text
 * @param {boolean} diff style it as a unified diff
 * @returns {HTMLElement}
 */
export function outputBlock(text, diff) {
  const wrap = el('div', 'output');
  const pre = wrap.appendChild(el('pre', diff ? 'out diff' : 'out'));
  const clamp = outputPreview(text, diff);
  if (!clamp) {
    fillOutput(pre, text, diff);
    return wrap;
  }
  fillOutput(pre, clamp.preview, diff);
  pre.classList.add('clamped');
  FULL_TEXT.set(pre, { text, preview: clamp.preview, diff, label: clamp.label });
  const more = wrap.appendChild(el('button', 'more', clamp.label));
  more.type = 'button';
  more.setAttribute('aria-expanded', 'false');
  return wrap;
}

/**
 * Fill a <pre> with plain text, or with diff lines styled by their first character.
 * @param {HTMLElement} pre
 * @param {string} text
 * @param {boolean} diff
 */
export function fillOutput(pre, text, diff) {
  if (!diff) {
    pre.textContent = text;
    return;
  }
  const fragment = document.createDocumentFragment();
  for (const line of text.split('\n')) fragment.append(el('span', `line ${diffLineKind(line)}`, `${line}\n`));
  pre.replaceChildren(fragment);
}

/**
 * Expand or collapse a clamped output block.
 * @param {Element|null} wrap the block's `.output` element
 */
export function toggleOutput(wrap) {
  const pre = wrap && wrap.querySelector('pre.out');
  const more = wrap && wrap.querySelector('button.more');
  const full = pre && FULL_TEXT.get(pre);
  if (!full || !more) return;
  const expand = pre.classList.contains('clamped');
  fillOutput(pre, expand ? full.text : full.preview, full.diff);
  pre.classList.toggle('clamped', !expand);
  more.textContent = expand ? 'Show less' : full.label;
  more.setAttribute('aria-expanded', String(expand));
}
