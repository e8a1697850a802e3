/*
 * sse-parser.js: an incremental parser of a `text/event-stream` body
 * (Server-Sent Events), fed chunk by chunk as fetch() delivers them.
 *
 * Pure: no DOM, no network, no timers; node imports it for its unit tests.
 * It knows the wire format only (lines, fields, blank-line-terminated
 * blocks); what a message means to the panel is event-stream.js's business.
 *
 * Wire facts it follows (the HTML standard's "event stream interpretation"):
 * - lines end with CRLF, LF or a lone CR, in any mix, even within one stream;
 * - a line that starts with ":" is a comment (the relay's heartbeat);
 * - "field: value" loses one space after the colon; a line with no colon is
 *   a field with an empty value;
 * - `data:` lines accumulate, joined by "\n"; a blank line ends the block;
 * - an `id:` holding U+0000 is ignored; `retry:` counts only when all digits;
 * - a byte-order mark at the very start of the stream is not content.
 * What is left unfinished when the stream ends is never reported.
 */

/**
 * One blank-line-terminated block of the stream.
 * @typedef {object} SseMessage
 * @property {string|null} id the block's `id:` value (null: the block had none)
 * @property {string} event the block's `event:` name ('' when none, i.e. "message")
 * @property {string|null} data the `data:` lines joined by "\n" (null: no data line at all)
 * @property {number|null} retry the block's `retry:` in milliseconds (null: none)
 */

const LINE_BREAK = /\r\n|\r|\n/;
const BOM = '\uFEFF';

/** A block with no field yet. */
function emptyBlock() {
  return { id: null, event: '', data: [], retry: null, fields: 0 };
}

/**
 * Split `line` into its field name and value.
 * @param {string} line a non-empty line that is not a comment
 * @returns {[string, string]} [field, value]
 */
export function splitField(line) {
  const colon = line.indexOf(':');
  if (colon < 0) return [line, ''];
  return [line.slice(0, colon), line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1))];
}

/**
 * Parses one event stream. Feed it with push(); it returns the messages each
 * chunk completed, in order. `retry` holds the last valid `retry:` value seen
 * so far, as soon as its line arrives (a server may send it alone).
 */
export class SseParser {
  constructor() {
    /** @type {number|null} the latest `retry:` of the stream, in milliseconds */
    this.retry = null;
    this._decoder = new TextDecoder(); // drops a leading BOM of a byte stream itself
    this._buffer = ''; // the start of a line whose end has not arrived
    this._heldCr = false;
    this._started = false;
    this._block = emptyBlock();
  }

  /**
   * Parse the next chunk of the stream: bytes (UTF-8, possibly cut mid
   * character) or text. Feed one kind per stream.
   * @param {Uint8Array|string} chunk
   * @returns {SseMessage[]} the messages this chunk completed
   */
  push(chunk) {
    let text = typeof chunk === 'string' ? chunk : this._decoder.decode(chunk, { stream: true });
    if (!this._started && text) {
      this._started = true;
      if (typeof chunk === 'string' && text[0] === BOM) text = text.slice(1);
    }
    if (!this._heldCr && !/[\r\n]/.test(text)) {
      this._buffer += text; // the middle of a long line: nothing to split yet
      return [];
    }
    text = `${this._buffer}${this._heldCr ? '\r' : ''}${text}`;
    // A trailing CR may be the first half of a CRLF cut by the chunking: hold
    // it (and the line it ends) until the next chunk says which it is.
    this._heldCr = text.endsWith('\r');
    const lines = (this._heldCr ? text.slice(0, -1) : text).split(LINE_BREAK);
    this._buffer = lines.pop();
    const messages = [];
    for (const line of lines) {
      const message = this._line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  /**
   * Handle one complete line.
   * @param {string} line
   * @returns {SseMessage|null} the message a blank line completed, if any
   */
  _line(line) {
    if (line === '') return this._dispatch();
    if (line[0] === ':') return null; // a comment: the heartbeat
    const [field, value] = splitField(line);
    const block = this._block;
    if (field === 'data') block.data.push(value);
    else if (field === 'event') block.event = value;
    else if (field === 'id' && !value.includes('\0')) block.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) block.retry = this.retry = Number(value);
    else return null; // an unknown field is ignored
    block.fields += 1;
    return null;
  }

  /** End the current block; a block without any field is no message. */
  _dispatch() {
    const { id, event, data, retry, fields } = this._block;
    this._block = emptyBlock();
    if (!fields) return null;
    return { id, event, data: data.length ? data.join('\n') : null, retry };
  }
}

/**
 * Every message of a whole stream at once (for tests and small bodies).
 * @param {Iterable<Uint8Array|string>} chunks the stream in pieces
 * @returns {{messages: SseMessage[], retry: number|null}}
 */
export function parseAll(chunks) {
  const parser = new SseParser();
  const messages = [];
  for (const chunk of chunks) messages.push(...parser.push(chunk));
  return { messages, retry: parser.retry };
}
