/*
 * live-text.js: the text of a message or reasoning summary while it is being
 * written (runner app-server, DESIGN.md "Events": message.delta,
 * reasoning.delta), and when it may be rendered again. Deltas arrive many
 * times a second; markdown is re-parsed and sanitised at most every
 * RENDER_INTERVAL_MS, and the whole message that follows its deltas
 * replaces what they built.
 *
 * Pure: time comes from the caller; node tests it.
 */

/** At most one markdown render of a live text per this many milliseconds. */
export const RENDER_INTERVAL_MS = 50;

/**
 * The key of a live text: Codex item ids are unique within a turn only.
 * @param {{turn: unknown, item_id?: unknown}} event a delta or a whole message/reasoning
 * @returns {string}
 */
export function liveKey(event) {
  return `${event.turn}:${event.item_id}`;
}

/** The text of one item as its deltas arrive, until the whole text replaces it. */
export class LiveText {
  constructor() {
    this.text = '';
    this.final = false;
    this.renderedAt = -Infinity;
  }

  /**
   * Append a delta (ignored once the whole text arrived: a late duplicate).
   * @param {unknown} delta
   */
  append(delta) {
    if (!this.final && typeof delta === 'string') this.text += delta;
  }

  /**
   * The whole text arrived: it replaces the deltas.
   * @param {unknown} text
   */
  finish(text) {
    this.text = String(text ?? '');
    this.final = true;
  }

  /**
   * Milliseconds to wait before the next render (0: render now).
   * @param {number} now
   * @returns {number}
   */
  renderDelay(now) {
    return this.final ? 0 : Math.max(0, this.renderedAt + RENDER_INTERVAL_MS - now);
  }

  /**
   * Note a render.
   * @param {number} now
   */
  rendered(now) {
    this.renderedAt = now;
  }
}
