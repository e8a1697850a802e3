// When the panel's event stream reconnects, and when it says "offline" (static/panel/reconnect.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  BACKOFF_BASE_MS, BACKOFF_MAX_MS, backoffCeiling, MIN_SERVER_RETRY_MS, OFFLINE_AFTER_FAILURES,
  ReconnectPolicy, retryAfterMs,
} from '../../static/panel/reconnect.js';

const lowest = () => 0;
const highest = () => 0.999999;

describe('reconnect: backoff', () => {
  test('the first wait after one failure is between the base and twice the base', () => {
    const policy = new ReconnectPolicy();
    policy.connectFailed();
    assert.equal(policy.nextDelay(lowest), BACKOFF_BASE_MS);
    assert.ok(policy.nextDelay(highest) < 2 * BACKOFF_BASE_MS);
  });

  test('backoff doubles with each failure in a row, up to the cap', () => {
    const ceilings = [];
    const policy = new ReconnectPolicy();
    for (let i = 0; i < 8; i += 1) {
      policy.connectFailed();
      ceilings.push(2 * policy.nextDelay(lowest));
    }
    assert.deepEqual(ceilings, [2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  });

  test('no wait is ever longer than the cap, whatever the dice', () => {
    const policy = new ReconnectPolicy();
    for (let i = 0; i < 100; i += 1) policy.connectFailed();
    assert.ok(policy.nextDelay(highest) <= BACKOFF_MAX_MS);
  });

  test('equal jitter: half of the wait is fixed, half random', () => {
    assert.equal(backoffCeiling(1000, 2), 4000);
    const policy = new ReconnectPolicy();
    policy.failures = 2;
    assert.equal(policy.nextDelay(() => 0.5), 3000);
  });

  test('doublings stop at 2 ** 8, so a tiny server retry never overflows', () => {
    assert.equal(backoffCeiling(1, 1e9), 256);
  });

  test('a connection that brought no event slows reconnecting like a failure', () => {
    const policy = new ReconnectPolicy();
    policy.connected();
    assert.equal(policy.failures, 0);
    assert.equal(2 * policy.nextDelay(lowest), 2 * BACKOFF_BASE_MS);
    policy.connected();
    assert.equal(2 * policy.nextDelay(lowest), 4 * BACKOFF_BASE_MS);
  });

  test('an event brings the backoff back to the base', () => {
    const policy = new ReconnectPolicy();
    policy.connected();
    policy.connected();
    policy.eventArrived();
    assert.equal(2 * policy.nextDelay(lowest), BACKOFF_BASE_MS);
  });

  test('a successful connect forgets the failures before it', () => {
    const policy = new ReconnectPolicy();
    for (let i = 0; i < 5; i += 1) policy.connectFailed();
    policy.connected();
    policy.eventArrived();
    assert.equal(policy.failures, 0);
    assert.equal(2 * policy.nextDelay(lowest), BACKOFF_BASE_MS);
  });

  test("the server's retry: replaces the base", () => {
    const policy = new ReconnectPolicy();
    policy.serverRetry(5000);
    assert.equal(2 * policy.nextDelay(lowest), 5000);
  });

  test(`a server retry: below ${MIN_SERVER_RETRY_MS} ms is raised to it`, () => {
    const policy = new ReconnectPolicy();
    policy.serverRetry(0);
    assert.equal(policy.retryMs, MIN_SERVER_RETRY_MS);
  });
});

describe('reconnect: Retry-After', () => {
  test('a Retry-After is the least the next wait may be, once', () => {
    const policy = new ReconnectPolicy();
    policy.connectFailed(20000);
    assert.equal(policy.nextDelay(lowest), 20000);
    policy.connectFailed();
    assert.equal(policy.nextDelay(lowest), 2000);
  });

  test('a network error keeps a Retry-After not yet used; an HTTP error replaces it', () => {
    const policy = new ReconnectPolicy();
    policy.connectFailed(20000);
    policy.connectFailed();
    assert.equal(policy.nextDelay(lowest), 20000);
    policy.connectFailed(20000);
    policy.connectFailed(0);
    assert.ok(policy.nextDelay(lowest) < 20000);
  });

  test('a Retry-After shorter than the backoff changes nothing', () => {
    const policy = new ReconnectPolicy();
    for (let i = 0; i < 3; i += 1) policy.connectFailed(1);
    assert.equal(policy.nextDelay(lowest), 4000);
  });

  const NOW = Date.parse('2025-01-01T00:00:00Z');
  const values = [
    ['120', 120000],
    ['  7 ', 7000],
    ['0', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0], // already past
    ['', 0],
    [null, 0],
    [undefined, 0],
    ['soon', 0],
    ['-5', 0],
  ];
  for (const [value, expected] of values) {
    test(`Retry-After ${JSON.stringify(value)} means ${expected} ms`, () => {
      assert.equal(retryAfterMs(value, NOW), expected);
    });
  }
});

describe('reconnect: offline', () => {
  test(`"offline" after ${OFFLINE_AFTER_FAILURES} failed connects in a row, "reconnecting" before`, () => {
    const policy = new ReconnectPolicy();
    for (let i = 1; i < OFFLINE_AFTER_FAILURES; i += 1) {
      policy.connectFailed();
      assert.equal(policy.isOffline(true), false, `after ${i}`);
    }
    policy.connectFailed();
    assert.equal(policy.isOffline(true), true);
  });

  test('the browser saying it is offline is enough', () => {
    assert.equal(new ReconnectPolicy().isOffline(false), true);
  });

  test('connections that bring no event are not failures: never "offline" for them', () => {
    const policy = new ReconnectPolicy();
    for (let i = 0; i < 10; i += 1) policy.connected();
    assert.equal(policy.isOffline(true), false);
  });
});
