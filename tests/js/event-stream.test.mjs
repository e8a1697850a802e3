// The client of a session's event stream (static/panel/event-stream.js), against a fake fetch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { EventStream, relayMessage, resumeUrl } from '../../static/panel/event-stream.js';

const URL_ = '/runs/r/default/agent/sessions/s1/events';
const sse = (...events) => events.map((e) => `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`).join('');
const ok = (body) => new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
const refuse = (status, code) => new Response(JSON.stringify({ error: { code, message: `${code}.` } }), { status });

/**
 * A stream whose fetch answers from `answers` in turn (a function of the
 * call, or an Error to throw), recording every call; it settles when the
 * stream gives up (onFatal).
 */
function harness(answers, options = {}) {
  const calls = [];
  const seen = { events: [], states: [], resets: [], fatal: null };
  let finish;
  const done = new Promise((resolve) => { finish = resolve; });
  const stream = new EventStream({
    url: URL_,
    headers: () => ({ 'X-CSRF-Token': 'tok' }),
    onEvent: (event) => seen.events.push(event),
    onReset: (data) => seen.resets.push(data),
    onState: (state) => seen.states.push(state),
    onFatal: (error) => { seen.fatal = error; finish(); },
    fetch: async (url, init) => {
      calls.push({ url, init });
      const answer = answers[calls.length - 1];
      if (!answer) throw new Error(`unexpected fetch #${calls.length}`);
      if (answer instanceof Error) throw answer;
      return answer(stream);
    },
    isOnline: () => true,
    random: () => 0,
    ...options,
  });
  stream.policy.retryMs = 1; // waits of a millisecond or two: the test need not sleep
  return { stream, calls, seen, done };
}

describe('event stream: what a message means', () => {
  const cases = [
    ['a relay event', { id: '5-0', event: '', data: '{"seq":1,"id":"5-0"}' }, 'event'],
    ['an event named "message"', { id: null, event: 'message', data: '{"seq":1}' }, 'event'],
    ['the server\'s reset', { id: null, event: 'reset', data: null }, 'reset'],
    ['data that is not JSON', { id: '1', event: '', data: '{"seq":' }, 'invalid'],
    ['another event name', { id: '1', event: 'ping', data: '{}' }, 'ignore'],
    ['no data line', { id: '1', event: '', data: null }, 'ignore'],
    ['JSON that is not an object', { id: '1', event: '', data: '42' }, 'ignore'],
    ['JSON null', { id: '1', event: '', data: 'null' }, 'ignore'],
  ];
  for (const [name, message, kind] of cases) {
    test(`${name} is "${kind}"`, () => assert.equal(relayMessage(message).kind, kind));
  }

  test("the id to resume after is the message's id, else the event's own", () => {
    assert.equal(relayMessage({ id: '7-0', event: '', data: '{"id":"9-9"}' }).id, '7-0');
    assert.equal(relayMessage({ id: '', event: '', data: '{"id":"9-9"}' }).id, '9-9');
    assert.equal(relayMessage({ id: null, event: '', data: '{"id":12}' }).id, '12');
    assert.equal(relayMessage({ id: null, event: '', data: '{}' }).id, null);
  });

  test('a reset without data says so with an empty string', () => {
    assert.deepEqual(relayMessage({ id: null, event: 'reset', data: null }), { kind: 'reset', data: '' });
  });

  test('resuming asks for ?after=<last id>, escaped, and keeps an existing query', () => {
    assert.equal(resumeUrl(URL_, null), URL_);
    assert.equal(resumeUrl(URL_, '12-0'), `${URL_}?after=12-0`);
    assert.equal(resumeUrl(`${URL_}?x=1`, 'a&b'), `${URL_}?x=1&after=a%26b`);
  });
});

describe('event stream: connecting and reconnecting', () => {
  test('events reach the panel, and a reconnect resumes after the last id', async () => {
    const events = [{ id: '1-0', seq: 1, type: 'turn.queued' }, { id: '2-0', seq: 2, type: 'turn.started' }];
    const { stream, calls, seen, done } = harness([
      () => ok(`: heartbeat\n\n${sse(...events)}`),
      () => refuse(404, 'not_found'),
    ]);
    stream.start(null);
    await done;
    assert.deepEqual(seen.events, events);
    assert.deepEqual(calls.map((c) => c.url), [URL_, `${URL_}?after=2-0`]);
    assert.deepEqual(seen.states, ['connecting', 'connected', 'reconnecting']);
    assert.deepEqual(seen.fatal, { status: 404, code: 'not_found', message: 'not_found.' });
  });

  test("the request asks for an event stream and carries the host's headers", async () => {
    const { stream, calls, done } = harness([() => refuse(403, 'forbidden')]);
    stream.start(null);
    await done;
    const { headers, credentials, cache } = calls[0].init;
    assert.deepEqual(headers, { Accept: 'text/event-stream', 'X-CSRF-Token': 'tok' });
    assert.equal(credentials, 'same-origin');
    assert.equal(cache, 'no-store');
  });

  test('starting after a known id says "reconnecting" and asks for what follows it', async () => {
    const { stream, calls, seen, done } = harness([() => refuse(401, 'unauthorised')]);
    stream.start('41-0');
    await done;
    assert.equal(calls[0].url, `${URL_}?after=41-0`);
    assert.equal(seen.states[0], 'reconnecting');
  });

  for (const status of [401, 403, 404]) {
    test(`a ${status} gives up at once: reconnecting cannot help`, async () => {
      const { stream, calls, seen, done } = harness([() => refuse(status, 'no')]);
      stream.start(null);
      await done;
      assert.equal(calls.length, 1);
      assert.equal(seen.fatal.status, status);
    });
  }

  test('a 503, a network error and a body-less answer are retried', async () => {
    const { stream, calls, seen, done } = harness([
      () => refuse(503, 'redis_unavailable'),
      new TypeError('Failed to fetch'),
      () => new Response(null, { status: 200 }),
      () => refuse(404, 'not_found'),
    ]);
    stream.start(null);
    await done;
    assert.equal(calls.length, 4);
    assert.deepEqual(seen.states, ['connecting', 'reconnecting', 'reconnecting', 'reconnecting']);
  });

  test('"offline" after four failed connects in a row', async () => {
    const failures = Array.from({ length: 4 }, () => new TypeError('Failed to fetch'));
    const { stream, seen, done } = harness([...failures, () => refuse(404, 'not_found')]);
    stream.start(null);
    await done;
    assert.deepEqual(seen.states, ['connecting', 'reconnecting', 'reconnecting', 'reconnecting', 'offline']);
  });

  test('"offline" at once when the browser says it is offline', async () => {
    const { stream, seen, done } = harness([new TypeError('offline'), () => refuse(404, 'x')],
      { isOnline: () => false });
    stream.start(null);
    await done;
    assert.deepEqual(seen.states, ['connecting', 'offline']);
  });
});

describe('event stream: what the server says in the stream', () => {
  test('a reset forgets the last id: the next connect replays from the start', async () => {
    const { stream, calls, seen, done } = harness([
      () => ok(sse({ id: '5-0', seq: 5 })),
      () => ok('event: reset\ndata: trimmed\n\n'),
      () => refuse(404, 'not_found'),
    ]);
    stream.start(null);
    await done;
    assert.deepEqual(calls.map((c) => c.url), [URL_, `${URL_}?after=5-0`, URL_]);
    assert.deepEqual(seen.resets, ['trimmed']);
  });

  test('a message that is not JSON is skipped with a warning; the next one still arrives', async (t) => {
    const warn = t.mock.method(console, 'warn', () => {});
    const { stream, seen, done } = harness([
      () => ok(`data: {"broken\n\n${sse({ id: '2-0', seq: 2 })}`),
      () => refuse(404, 'not_found'),
    ]);
    stream.start(null);
    await done;
    assert.deepEqual(seen.events, [{ id: '2-0', seq: 2 }]);
    assert.equal(warn.mock.callCount(), 1);
  });

  test("the server's retry: sets the reconnect base (never below 250 ms)", async () => {
    const { stream, done } = harness([() => ok('retry: 10\n\n'), () => refuse(404, 'not_found')]);
    stream.start(null);
    await done;
    assert.equal(stream.policy.retryMs, 250);
  });

  test('an event cut across chunks and UTF-8 bytes arrives once, whole', async () => {
    const bytes = new TextEncoder().encode(sse({ id: '1-0', seq: 1, text: 'héllo ☕' }));
    const body = new ReadableStream({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    const { stream, seen, done } = harness([() => ok(body), () => refuse(404, 'not_found')]);
    stream.start(null);
    await done;
    assert.deepEqual(seen.events, [{ id: '1-0', seq: 1, text: 'héllo ☕' }]);
  });
});

describe('event stream: stopping', () => {
  test('stop() during a connection ends the loop: no event after it, no reconnect', async () => {
    let push;
    const body = new ReadableStream({ start(controller) { push = controller; } });
    const { stream, calls, seen } = harness([() => ok(body)]);
    stream.start(null);
    while (!push || !seen.states.includes('connected')) await new Promise((r) => setTimeout(r, 1));
    push.enqueue(new TextEncoder().encode(sse({ id: '1-0', seq: 1 })));
    while (!seen.events.length) await new Promise((r) => setTimeout(r, 1));
    stream.stop();
    push.enqueue(new TextEncoder().encode(sse({ id: '2-0', seq: 2 })));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.events.map((e) => e.seq), [1]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].init.signal.aborted, true);
  });

  test('stop() during a backoff wait ends it at once', async () => {
    const { stream, calls, seen } = harness([new TypeError('down')]);
    stream.policy.retryMs = 60000;
    stream.start(null);
    while (!stream.wake) await new Promise((r) => setTimeout(r, 1));
    stream.stop();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls.length, 1);
    assert.deepEqual(seen.states, ['connecting', 'reconnecting']);
  });

  test('retryNow() cuts a backoff wait short', async () => {
    const { stream, calls, done } = harness([new TypeError('down'), () => refuse(404, 'not_found')]);
    stream.policy.retryMs = 60000;
    stream.start(null);
    while (!stream.wake) await new Promise((r) => setTimeout(r, 1));
    stream.retryNow();
    await done;
    assert.equal(calls.length, 2);
  });
});
