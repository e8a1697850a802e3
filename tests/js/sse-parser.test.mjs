// The event-stream wire format, as static/panel/sse-parser.js reads it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseAll, SseParser, splitField } from '../../static/panel/sse-parser.js';

const bytes = (text) => new TextEncoder().encode(text);
const message = (fields) => ({ id: null, event: '', data: null, retry: null, ...fields });

describe('sse-parser: messages', () => {
  test('a relay message (id and data) is parsed', () => {
    const { messages } = parseAll(['id: 1-0\ndata: {"seq":1}\n\n']);
    assert.deepEqual(messages, [message({ id: '1-0', data: '{"seq":1}' })]);
  });

  test('a message split across chunks is parsed once, when its blank line arrives', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('id: 7\nda'), []);
    assert.deepEqual(parser.push('ta: hel'), []);
    assert.deepEqual(parser.push('lo\n'), []);
    assert.deepEqual(parser.push('\n'), [message({ id: '7', data: 'hello' })]);
    assert.deepEqual(parser.push(''), []);
  });

  test('every split point of a two-message stream gives the same two messages', () => {
    const stream = 'id: 1\ndata: a\r\n\r\n: beat\nid: 2\rdata: b\r\r';
    const whole = parseAll([stream, '\n']).messages; // the final CR waits for what follows
    assert.equal(whole.length, 2);
    for (let cut = 0; cut <= stream.length; cut += 1) {
      assert.deepEqual(parseAll([stream.slice(0, cut), stream.slice(cut), '\n']).messages, whole, `cut at ${cut}`);
    }
  });

  test('several data lines are joined by a newline', () => {
    const { messages } = parseAll(['data: one\ndata: two\ndata:\ndata: four\n\n']);
    assert.equal(messages[0].data, 'one\ntwo\n\nfour');
  });

  test('an event name is reported; no name means the default message', () => {
    const { messages } = parseAll(['event: reset\ndata: trimmed\n\ndata: x\n\n']);
    assert.equal(messages[0].event, 'reset');
    assert.equal(messages[1].event, '');
  });

  test('a block with no data line reports data as null, not an empty string', () => {
    assert.deepEqual(parseAll(['event: reset\n\n']).messages, [message({ event: 'reset' })]);
    assert.deepEqual(parseAll(['data:\n\n']).messages, [message({ data: '' })]);
  });

  test('blank lines with no field in between are no message', () => {
    assert.deepEqual(parseAll(['\n\n\n\r\n\r\r']).messages, []);
  });

  test('what is left without its blank line when the stream ends is never reported', () => {
    assert.deepEqual(parseAll(['id: 9\ndata: half a message\n']).messages, []);
  });
});

describe('sse-parser: line endings', () => {
  for (const [name, eol] of [['LF', '\n'], ['CRLF', '\r\n'], ['a lone CR', '\r']]) {
    test(`lines may end with ${name}`, () => {
      const { messages } = parseAll([`id: 1${eol}data: x${eol}${eol}`, 'data: after\n\n']);
      assert.deepEqual(messages[0], message({ id: '1', data: 'x' }));
    });
  }

  test('CRLF cut between its CR and its LF is one line ending, not two', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: a\r'), []);
    assert.deepEqual(parser.push('\ndata: b\r'), []);
    assert.deepEqual(parser.push('\n\r'), []);
    assert.deepEqual(parser.push('\n'), [message({ data: 'a\nb' })]);
  });

  test('a lone CR at the end of a chunk waits for the next chunk (it may be half of CRLF)', () => {
    const parser = new SseParser();
    assert.deepEqual(parser.push('data: a\r\r'), []);
    assert.deepEqual(parser.push('data: b\n\n'), [message({ data: 'a' }), message({ data: 'b' })]);
  });

  test('mixed line endings within one stream', () => {
    const { messages } = parseAll(['data: a\rdata: b\r\ndata: c\n\r\n']);
    assert.equal(messages[0].data, 'a\nb\nc');
  });
});

describe('sse-parser: fields', () => {
  const fields = [
    ['data: value', ['data', 'value']],
    ['data:value', ['data', 'value']],
    ['data:  two spaces', ['data', ' two spaces']],
    ['data', ['data', '']],
    ['data:', ['data', '']],
    ['data: a: b', ['data', 'a: b']],
    ['weird field: x', ['weird field', 'x']],
  ];
  for (const [line, expected] of fields) {
    test(`"${line}" is field ${JSON.stringify(expected[0])} with value ${JSON.stringify(expected[1])}`, () => {
      assert.deepEqual(splitField(line), expected);
    });
  }

  test('a comment line (the heartbeat) is ignored, even between data lines', () => {
    const { messages } = parseAll([': heartbeat\n\n', 'data: a\n:ping\ndata: b\n\n']);
    assert.deepEqual(messages, [message({ data: 'a\nb' })]);
  });

  test('unknown fields are ignored', () => {
    assert.deepEqual(parseAll(['foo: bar\nDATA: shouty\n\n']).messages, []);
  });

  test('an id holding U+0000 is ignored', () => {
    const { messages } = parseAll(['id: a\0b\ndata: x\n\n']);
    assert.equal(messages[0].id, null);
  });

  test('the last id of a block wins; an empty id is kept as empty', () => {
    assert.equal(parseAll(['id: 1\nid: 2\ndata: x\n\n']).messages[0].id, '2');
    assert.equal(parseAll(['id:\ndata: x\n\n']).messages[0].id, '');
  });

  test('a retry: line is reported at once, even without a blank line after it', () => {
    const parser = new SseParser();
    parser.push('retry: 5000\n');
    assert.equal(parser.retry, 5000);
    assert.deepEqual(parser.push('\n'), [message({ retry: 5000 })]);
  });

  for (const value of ['', '-1', '1.5', '10ms', ' 10', '1e3', '٣']) {
    test(`retry: ${JSON.stringify(value)} is not all ASCII digits and is ignored`, () => {
      const { messages, retry } = parseAll([`retry:${value === '' ? '' : ' '}${value}\ndata: x\n\n`]);
      assert.equal(retry, null);
      assert.equal(messages[0].retry, null);
    });
  }

  test('a later retry: replaces an earlier one', () => {
    assert.equal(parseAll(['retry: 100\n\nretry: 2500\n\n']).retry, 2500);
  });
});

describe('sse-parser: bytes and hostile input', () => {
  test('bytes cut in the middle of a UTF-8 character decode once whole', () => {
    const encoded = bytes('data: café ☕ 🚀\n\n');
    const parser = new SseParser();
    const messages = [];
    for (const byte of encoded) messages.push(...parser.push(new Uint8Array([byte])));
    assert.deepEqual(messages, [message({ data: 'café ☕ 🚀' })]);
  });

  test('a byte-order mark at the start of a byte stream is not content', () => {
    const { messages } = parseAll([new Uint8Array([0xef, 0xbb, 0xbf]), bytes('data: x\n\n')]);
    assert.deepEqual(messages, [message({ data: 'x' })]);
  });

  test('a byte-order mark at the start of a text stream is not content', () => {
    const { messages } = parseAll(['\uFEFFdata: x\n\n']);
    assert.deepEqual(messages, [message({ data: 'x' })]);
  });

  test('a byte-order mark later in the stream is content', () => {
    const { messages } = parseAll(['data: x\n\n', '\uFEFFdata: y\n\n']);
    assert.deepEqual(messages, [message({ data: 'x' })]); // "\uFEFFdata" is an unknown field
  });

  test('huge data (4 MiB in 64 KiB chunks) arrives whole', () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const stream = bytes(`data: ${big}\n\n`);
    const chunks = [];
    for (let at = 0; at < stream.length; at += 65536) chunks.push(stream.subarray(at, at + 65536));
    const { messages } = parseAll(chunks);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].data.length, big.length);
  });

  test('many messages in one chunk come out in order', () => {
    const text = Array.from({ length: 1000 }, (_, i) => `id: ${i}\ndata: ${i}\n\n`).join('');
    const { messages } = parseAll([text]);
    assert.deepEqual(messages.map((m) => m.id), Array.from({ length: 1000 }, (_, i) => String(i)));
  });

  test('HTML and script in data stay text: the parser never interprets them', () => {
    const { messages } = parseAll(['data: <img src=x onerror=alert(1)>\n\n']);
    assert.equal(messages[0].data, '<img src=x onerror=alert(1)>');
  });
});
