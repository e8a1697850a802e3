/*
 * notice.js: the panel's notice line (role="alert" under the composer): what
 * went wrong with the last request, and after a 429 how long until the user
 * may send again (counting down each second).
 *
 * Touches only the node it is given, and only when called; nothing happens at
 * import time.
 */

import { readError } from './format.js';
import { retryAfterMs } from './reconnect.js';

/** How long Send stays off after a 429 that gave no Retry-After. */
export const RATE_LIMIT_FALLBACK_MS = 5000;

/** The notice line of one panel. */
export class Notice {
  /**
   * @param {HTMLElement} node the notice element
   * @param {() => void} onChange runs when the rate limit starts or ends (Send's state)
   */
  constructor(node, onChange) {
    this.node = node;
    this.onChange = onChange;
    this.timer = 0;
    this.blockedUntil = 0;
  }

  /**
   * Whether a 429 still holds Send back.
   * @returns {boolean}
   */
  get rateLimited() {
    return Date.now() < this.blockedUntil;
  }

  /**
   * Show `text` ('' hides the line); ends any countdown unless `keepTimer`.
   * @param {string} text
   * @param {boolean} [keepTimer]
   */
  say(text, keepTimer) {
    if (!keepTimer) clearInterval(this.timer);
    this.node.textContent = text;
    this.node.hidden = !text;
  }

  /**
   * Show what an error response says; a 429 also blocks Send until Retry-After.
   * @param {Response} response
   */
  async httpError(response) {
    const error = await readError(response);
    if (error.status !== 429) {
      this.say(error.message);
      return;
    }
    this.blockedUntil = Date.now() + (retryAfterMs(response.headers.get('Retry-After')) || RATE_LIMIT_FALLBACK_MS);
    const tick = () => {
      const left = Math.ceil((this.blockedUntil - Date.now()) / 1000);
      if (left > 0) this.say(`${error.message} You can send again in ${left} s.`, true);
      else this.say('');
      this.onChange();
    };
    clearInterval(this.timer);
    this.timer = setInterval(tick, 1000);
    tick();
  }
}
