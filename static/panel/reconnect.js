/*
 * reconnect.js: when the panel's event stream reconnects, and when it calls
 * itself offline. Pure: the clock and the dice are arguments, so node tests
 * it without waiting.
 *
 * The policy: exponential backoff with "equal jitter" (half of the wait is
 * fixed, half random, so a restarted server is not hit by every panel at the
 * same instant), doubling per failed connect and per connect that brought no
 * event, capped; a server's `retry:` sets the base and its Retry-After sets a
 * floor for the next wait; after a few failed connects in a row, or when the
 * browser says it is offline, the panel shows "offline".
 */

/** The first wait, before any doubling (ms); a server's `retry:` replaces it. */
export const BACKOFF_BASE_MS = 1000;
/** No wait is longer than this (ms), whatever the failures. */
export const BACKOFF_MAX_MS = 30000;
/** Doublings stop here (2 ** 8 times the base), long before numbers grow huge. */
export const MAX_DOUBLINGS = 8;
/** A server's `retry:` below this (ms) is raised to it: no reconnect storms. */
export const MIN_SERVER_RETRY_MS = 250;
/** Failed connects in a row before the panel says "offline". */
export const OFFLINE_AFTER_FAILURES = 4;
/** A connection silent this long (ms) is dead: the server sends a heartbeat every 15 s. */
export const STREAM_IDLE_MS = 45000;

/**
 * Milliseconds a Retry-After header asks the client to wait: whole seconds
 * or an HTTP date; 0 when absent, unreadable or already past.
 * @param {string|null|undefined} value the header's value
 * @param {number} [now] the current time in ms since the epoch
 * @returns {number}
 */
export function retryAfterMs(value, now = Date.now()) {
  const text = String(value ?? '').trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? 0 : Math.max(0, date - now);
}

/**
 * The longest wait before the next connect, before jitter.
 * @param {number} baseMs the base wait (BACKOFF_BASE_MS or the server's `retry:`)
 * @param {number} misses failed connects plus event-less connects, in a row
 * @returns {number} milliseconds
 */
export function backoffCeiling(baseMs, misses) {
  return Math.min(BACKOFF_MAX_MS, baseMs * 2 ** Math.min(misses, MAX_DOUBLINGS));
}

/**
 * The reconnect state of one event stream: counts what went wrong in a row
 * and answers how long to wait and whether to show "offline".
 */
export class ReconnectPolicy {
  constructor() {
    /** Failed connects in a row (network error or an HTTP error answer). */
    this.failures = 0;
    /** Connects in a row that brought no event: they slow reconnecting too. */
    this.idle = 0;
    /** The base wait in ms; the server may change it with `retry:`. */
    this.retryMs = BACKOFF_BASE_MS;
    /** A Retry-After from the server, for the next wait only (ms). */
    this.waitMs = 0;
  }

  /**
   * A connect failed. `waitMs` (from Retry-After) is the least the next wait
   * may be; leave it out when the server said nothing (a network error).
   * @param {number} [waitMs]
   */
  connectFailed(waitMs) {
    this.failures += 1;
    if (waitMs !== undefined) this.waitMs = waitMs;
  }

  /** A connect succeeded; it counts as idle until an event arrives. */
  connected() {
    this.failures = 0;
    this.idle += 1;
  }

  /** An event arrived: the connection was worth having. */
  eventArrived() {
    this.idle = 0;
  }

  /**
   * The server sent `retry: <ms>`.
   * @param {number} ms
   */
  serverRetry(ms) {
    this.retryMs = Math.max(MIN_SERVER_RETRY_MS, ms);
  }

  /**
   * Whether to show "offline" rather than "reconnecting".
   * @param {boolean} online what the browser says (navigator.onLine)
   * @returns {boolean}
   */
  isOffline(online) {
    return !online || this.failures >= OFFLINE_AFTER_FAILURES;
  }

  /**
   * How long to wait before the next connect (ms). Uses up the Retry-After.
   * @param {() => number} [random] a number in [0, 1)
   * @returns {number}
   */
  nextDelay(random = Math.random) {
    const ceiling = backoffCeiling(this.retryMs, this.failures + this.idle);
    const wait = this.waitMs;
    this.waitMs = 0;
    return Math.max(ceiling / 2 + random() * (ceiling / 2), wait);
  }
}
