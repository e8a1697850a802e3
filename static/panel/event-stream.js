/*
 * event-stream.js: the client of a session's event stream (DESIGN.md, HTTP
 * routes: `GET .../sessions/<id>/events`), wiring the pure parts together:
 * sse-parser.js reads the wire format, reconnect.js decides when to try
 * again, relayMessage() says what a message means to the panel.
 *
 * fetch() streaming rather than EventSource: it can send the host's extra
 * headers, tells a 404 (conversation gone) from a network drop, and lets us
 * choose the backoff. Each reconnect asks for `?after=<last id>`, so the
 * server replays exactly what was missed; the conversation also drops any
 * event whose seq it has already seen.
 *
 * Nothing touches the browser at import time; fetch, navigator.onLine and
 * the dice can be passed in (node tests the client with a fake fetch).
 */

import { readError } from './format.js';
import { ReconnectPolicy, retryAfterMs, STREAM_IDLE_MS } from './reconnect.js';
import { SseParser } from './sse-parser.js';

/** Statuses after which reconnecting cannot help: the stream gives up. */
const FATAL_STATUSES = new Set([401, 403, 404]);

/**
 * What one stream message means to the panel.
 * - `reset`: the id we resumed from was trimmed from the log: start over;
 * - `event`: a relay event (an object), with the id to resume after;
 * - `invalid`: its data is not JSON (worth a warning);
 * - `ignore`: anything else (another event name, no data, JSON that is not an object).
 * @param {import('./sse-parser.js').SseMessage} message
 * @returns {{kind: 'reset', data: string} | {kind: 'event', event: object, id: string|null} |
 *   {kind: 'invalid'} | {kind: 'ignore'}}
 */
export function relayMessage(message) {
  if (message.event === 'reset') return { kind: 'reset', data: message.data ?? '' };
  if ((message.event && message.event !== 'message') || message.data === null) return { kind: 'ignore' };
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return { kind: 'invalid' };
  }
  if (!event || typeof event !== 'object') return { kind: 'ignore' };
  return { kind: 'event', event, id: message.id || (event.id != null ? String(event.id) : null) };
}

/**
 * The URL of the next connect: `?after=<last id>` when resuming.
 * @param {string} url the events route
 * @param {string|null} lastId
 * @returns {string}
 */
export function resumeUrl(url, lastId) {
  if (!lastId) return url;
  return `${url}${url.includes('?') ? '&' : '?'}after=${encodeURIComponent(lastId)}`;
}

/** One session's event stream, reconnecting until stopped or refused. */
export class EventStream {
  /**
   * @param {object} o
   * @param {string} o.url the events route
   * @param {() => object} o.headers extra request headers (the host's)
   * @param {(event: object) => void} o.onEvent each relay event
   * @param {(data: string) => void} o.onReset the server's `reset`: forget what was shown
   * @param {(state: string) => void} o.onState 'connecting' | 'connected' | 'reconnecting' | 'offline'
   * @param {(error: {status: number, code: string, message: string}) => void} o.onFatal 401, 403, 404
   * @param {typeof fetch} [o.fetch] defaults to the global fetch
   * @param {() => boolean} [o.isOnline] defaults to navigator.onLine
   * @param {() => number} [o.random] the jitter's dice, defaults to Math.random
   */
  constructor(o) {
    Object.assign(this, {
      fetch: (...args) => fetch(...args),
      isOnline: () => navigator.onLine,
      random: Math.random,
    }, o);
    this.lastId = null;
    this.policy = new ReconnectPolicy();
    this.stopped = true;
    this.controller = null;
    this.wake = null;
  }

  /**
   * Connect, and keep reconnecting, replaying from after `afterId` (null: the start).
   * @param {string|null} afterId
   */
  start(afterId) {
    this.lastId = afterId || null;
    this.stopped = false;
    this.loop();
  }

  /** Stop for good: drop the connection and any wait. */
  stop() {
    this.stopped = true;
    this.abort();
    this.retryNow();
  }

  /** Drop the current connection; the loop reconnects. */
  abort() { if (this.controller) this.controller.abort(); }

  /** Cut a backoff wait short, e.g. when the browser is back online. */
  retryNow() { if (this.wake) this.wake(); }

  /** Connect, read, wait, again, until stopped or refused. */
  async loop() {
    this.onState(this.lastId ? 'reconnecting' : 'connecting');
    while (!this.stopped) {
      if (await this.connectOnce() === 'fatal' || this.stopped) return;
      this.onState(this.policy.isOffline(this.isOnline()) ? 'offline' : 'reconnecting');
      await this.sleep(this.policy.nextDelay(this.random));
    }
  }

  /**
   * Wait `ms`, or less if retryNow() is called.
   * @param {number} ms
   * @returns {Promise<void>}
   */
  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  /**
   * One connection: 'fatal' when the server refused for good, else 'retry'.
   * @returns {Promise<'fatal'|'retry'>}
   */
  async connectOnce() {
    const controller = new AbortController();
    this.controller = controller;
    let response;
    try {
      response = await this.fetch(resumeUrl(this.url, this.lastId), {
        headers: { Accept: 'text/event-stream', ...this.headers() },
        credentials: 'same-origin',
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch {
      this.policy.connectFailed();
      return 'retry';
    }
    if (!response.ok || !response.body) {
      if (FATAL_STATUSES.has(response.status)) {
        this.onFatal(await readError(response));
        return 'fatal';
      }
      this.policy.connectFailed(retryAfterMs(response.headers.get('Retry-After')));
      return 'retry';
    }
    this.policy.connected();
    this.onState('connected');
    try {
      await this.read(response.body.getReader(), controller);
    } catch { /* aborted or dropped: reconnect */ }
    return 'retry';
  }

  /**
   * Read the body until it ends, is aborted, or stays silent too long.
   * @param {ReadableStreamDefaultReader<Uint8Array>} reader
   * @param {AbortController} controller
   */
  async read(reader, controller) {
    const parser = new SseParser();
    let watchdog = 0;
    try {
      for (;;) {
        clearTimeout(watchdog); // a silent connection (no heartbeat) is a dead one
        watchdog = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
        const { value, done } = await reader.read();
        if (done || this.stopped) break;
        const messages = parser.push(value);
        if (parser.retry !== null) this.policy.serverRetry(parser.retry);
        for (const message of messages) this.dispatch(message);
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
  }

  /**
   * Hand one stream message to the panel.
   * @param {import('./sse-parser.js').SseMessage} message
   */
  dispatch(message) {
    if (this.stopped) return;
    const meaning = relayMessage(message);
    if (meaning.kind === 'reset') {
      this.lastId = null;
      this.onReset(meaning.data);
    } else if (meaning.kind === 'invalid') {
      console.warn('codex-relay: ignored a stream message that is not JSON');
    } else if (meaning.kind === 'event') {
      this.lastId = meaning.id || this.lastId;
      this.policy.eventArrived();
      this.onEvent(meaning.event);
    }
  }
}
