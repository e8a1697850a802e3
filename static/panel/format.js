/*
 * format.js: the words and numbers the panel shows, computed from events and
 * HTTP answers: durations, token counts, turn endings, error messages, tool
 * labels and badges, MCP result text, diff line kinds, output previews.
 *
 * Pure: strings in, strings (or plain objects) out; node tests it. Every
 * table lookup goes through own keys only, so a hostile status such as
 * "constructor" falls back like any unknown one.
 */

/** Lines of tool output shown before "Show all"; a diff shows twice as many. */
export const PREVIEW_LINES = 8;

/** The label of each tool kind (DESIGN.md, "Events": `tool.kind`). */
export const TOOL_KINDS = Object.freeze({ command: 'Command', mcp: 'Tool', file_change: 'Files',
  web_search: 'Search', todo: 'Plan' });

/** Badge words for tool statuses that are not shown as they are. */
export const TOOL_STATUS = Object.freeze({ in_progress: 'running', completed: 'done' });

/** What an HTTP error says when its body has no message of its own. */
export const FALLBACK_ERRORS = Object.freeze({
  400: 'The message was not accepted.',
  401: 'You are not signed in.',
  403: 'You may not use the agent on this run.',
  404: 'This run or conversation was not found.',
  409: 'The agent is still working on the previous message.',
  429: 'Too many messages.',
  503: 'The agent service is unavailable right now. Try again in a moment.',
});

/**
 * `table[key]` when `key` is the table's own, else `fallback`.
 * @template T
 * @param {Record<string, T>} table
 * @param {unknown} key
 * @param {T} fallback
 * @returns {T}
 */
export function lookup(table, key, fallback) {
  return Object.hasOwn(table, String(key)) ? table[String(key)] : fallback;
}

/**
 * A duration for people: "250 ms", "1.5 s", "2 min 5 s"; '' when not a duration.
 * @param {unknown} ms milliseconds
 * @returns {string}
 */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !(ms >= 0)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round((ms % 60000) / 1000);
  return `${Math.floor(ms / 60000)} min${seconds ? ` ${seconds} s` : ''}`;
}

/**
 * A count with the reader's digit grouping; 0 for anything not a number.
 * @param {unknown} n
 * @returns {string}
 */
export function formatCount(n) {
  return (Number(n) || 0).toLocaleString();
}

/**
 * The usage line of a `usage` event: "Tokens: 1,200 in · 300 cached · 80 out".
 * @param {{input_tokens?: number, cached_input_tokens?: number, output_tokens?: number,
 *   reasoning_output_tokens?: number}} event
 * @returns {string}
 */
export function usageText(event) {
  const parts = [`${formatCount(event.input_tokens)} in`];
  if (event.cached_input_tokens) parts.push(`${formatCount(event.cached_input_tokens)} cached`);
  parts.push(`${formatCount(event.output_tokens)} out`);
  if (event.reasoning_output_tokens) {
    parts.push(`${formatCount(event.reasoning_output_tokens)} reasoning`);
  }
  return `Tokens: ${parts.join(' · ')}`;
}

/**
 * How a turn ended, for the line under it.
 * @param {unknown} status turn.completed's `status` (missing: 'completed')
 * @param {unknown} durationMs turn.completed's `duration_ms`
 * @returns {{status: string, text: string, retry: boolean}} `retry`: offer a Retry button
 */
export function turnEnd(status, durationMs) {
  const name = String(status || 'completed');
  const took = formatDuration(durationMs);
  const texts = {
    completed: took ? `Done in ${took}` : 'Done',
    cancelled: 'Stopped',
    timeout: `The agent ran out of time${took ? ` after ${took}` : ''} and was stopped. You can retry.`,
  };
  const text = lookup(texts, name, 'The agent could not finish this request. You can retry.');
  return { status: name, text, retry: name !== 'completed' && name !== 'cancelled' };
}

/**
 * The error a route answered, from its status and parsed JSON body
 * (`{"error": {"code", "message"}}`, DESIGN.md), with fallbacks for any other body.
 * @param {number} status the HTTP status
 * @param {unknown} body the parsed body (anything, or undefined when not JSON)
 * @returns {{status: number, code: string, message: string}}
 */
export function httpError(status, body) {
  const error = (body && typeof body === 'object' && body.error) || {};
  return {
    status,
    code: String(error.code || `http_${status}`),
    message: String(error.message || lookup(FALLBACK_ERRORS, status, `The server answered ${status}.`)),
  };
}

/**
 * The error a fetch() Response carries (reads its body).
 * @param {Response} response
 * @returns {Promise<{status: number, code: string, message: string}>}
 */
export async function readError(response) {
  let body;
  try { body = await response.json(); } catch { /* not JSON */ }
  return httpError(response.status, body);
}

/**
 * Escape text for HTML (text and attribute values).
 * @param {unknown} text
 * @returns {string}
 */
export function escapeHtml(text) {
  const map = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  return String(text ?? '').replace(/[&<>"']/g, (c) => map[c]);
}

/**
 * The kind label of a tool card ("Command", "Files", …; "Tool" for others).
 * @param {unknown} kind
 * @returns {string}
 */
export function toolKindLabel(kind) {
  return lookup(TOOL_KINDS, kind, 'Tool');
}

/**
 * The title of a tool card: the tool's own, else its kind's label.
 * @param {{title?: string, kind?: string}} tool
 * @returns {string}
 */
export function toolTitle(tool) {
  return tool.title || lookup(TOOL_KINDS, tool.kind, 'tool');
}

/**
 * A tool card's status and badge: a command that exited non-zero is "failed".
 * @param {string} status the tool's status
 * @param {unknown} [exitCode] a command's exit code
 * @returns {{status: string, label: string}}
 */
export function toolBadge(status, exitCode) {
  if (typeof exitCode === 'number' && exitCode !== 0) return { status: 'failed', label: `exit ${exitCode}` };
  return { status, label: lookup(TOOL_STATUS, status, status) };
}

/**
 * The text of an MCP result: its text content items, else its JSON.
 * @param {unknown} result an MCP tool's `result`
 * @returns {string}
 */
export function resultText(result) {
  if (result == null) return '';
  if (typeof result === 'string') return result;
  const texts = (Array.isArray(result.content) ? result.content : [])
    .filter((c) => c && typeof c.text === 'string').map((c) => c.text);
  return texts.length ? texts.join('\n') : JSON.stringify(result.structured_content ?? result, null, 2);
}

/**
 * Whether a text looks like a unified diff (has a hunk header).
 * @param {string} text
 * @returns {boolean}
 */
export function looksLikeDiff(text) {
  return /^@@ .* @@/m.test(text);
}

/**
 * How to style one line of a unified diff.
 * @param {string} line
 * @returns {'meta'|'hunk'|'add'|'del'|'ctx'}
 */
export function diffLineKind(line) {
  if (/^(\+\+\+|---)/.test(line)) return 'meta';
  if (line.startsWith('@@')) return 'hunk';
  if (line[0] === '+') return 'add';
  if (line[0] === '-') return 'del';
  return 'ctx';
}

/**
 * The preview of a long output block: its first lines (and characters), and
 * the label of the button that shows all; null when the text is short enough.
 * @param {string} text the whole output
 * @param {boolean} diff a diff gets twice the lines
 * @returns {{preview: string, label: string}|null}
 */
export function outputPreview(text, diff) {
  const lines = text.split('\n');
  const maxLines = diff ? 2 * PREVIEW_LINES : PREVIEW_LINES;
  if (lines.length <= maxLines && text.length <= maxLines * 100) return null;
  return {
    preview: lines.slice(0, maxLines).join('\n').slice(0, maxLines * 100),
    label: `Show all ${lines.length} lines`,
  };
}

/**
 * How one todo item is shown.
 * @param {{completed?: boolean, status?: string, text?: string, step?: string}} item
 * @returns {{text: string, done: boolean, mark: string}}
 */
export function todoItem(item) {
  const done = item.completed === true || item.status === 'completed';
  const mark = done ? '✓' : item.status === 'in_progress' ? '▸' : '○';
  return { text: String(item.text ?? item.step ?? ''), done, mark };
}
