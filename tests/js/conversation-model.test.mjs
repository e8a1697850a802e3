// What the conversation knows apart from its DOM (static/panel/conversation-model.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { cardKey, ConversationModel, viewOf } from '../../static/panel/conversation-model.js';

let nextSeq = 0;
const event = (type, fields = {}) => ({ id: `${nextSeq + 1}-0`, seq: ++nextSeq, session: 's', turn: 1, type, ...fields });

describe('conversation model: de-duplication', () => {
  test('each new seq is accepted once; a duplicate event is dropped', () => {
    const model = new ConversationModel();
    const first = { id: '1-0', seq: 1, type: 'turn.queued' };
    assert.equal(model.accept(first), true);
    assert.equal(model.accept(first), false);
    assert.equal(model.accept({ id: '2-0', seq: 2, type: 'turn.started' }), true);
  });

  test('a replay overlap after a reconnect (seqs already seen) is dropped whole', () => {
    const model = new ConversationModel();
    for (let seq = 1; seq <= 5; seq += 1) model.accept({ seq });
    const replay = [3, 4, 5, 6, 7].map((seq) => model.accept({ seq }));
    assert.deepEqual(replay, [false, false, false, true, true]);
  });

  test('an event older than the last seen is dropped: the stream delivers in order', () => {
    const model = new ConversationModel();
    model.accept({ seq: 10 });
    assert.equal(model.accept({ seq: 9 }), false);
  });

  test('a seq given as a string counts like the number', () => {
    const model = new ConversationModel();
    assert.equal(model.accept({ seq: '3' }), true);
    assert.equal(model.accept({ seq: 3 }), false);
  });

  for (const seq of [undefined, null, 0, -1, 1.5, 'x', NaN]) {
    test(`an event with seq ${String(seq)} is de-duplicated by its id instead`, () => {
      const model = new ConversationModel();
      assert.equal(model.accept({ seq, id: 'a' }), true);
      assert.equal(model.accept({ seq, id: 'a' }), false);
      assert.equal(model.accept({ seq, id: 'b' }), true);
    });
  }

  test('clear() forgets every seq and id (a new conversation, or the server reset the stream)', () => {
    const model = new ConversationModel();
    model.accept({ seq: 4 });
    model.accept({ id: 'x' });
    model.clear();
    assert.equal(model.accept({ seq: 1 }), true);
    assert.equal(model.accept({ id: 'x' }), true);
  });
});

describe("conversation model: the user's messages", () => {
  test("a turn.queued event records the turn's message, for Retry and ArrowUp", () => {
    const model = new ConversationModel();
    model.remember(event('turn.queued', { turn: 1, message: 'first' }));
    model.remember(event('message', { turn: 1, text: 'answer' }));
    model.remember(event('turn.queued', { turn: 2, message: 'second' }));
    assert.equal(model.lastMessage(), 'second');
    assert.equal(model.messageOf(1), 'first');
    assert.equal(model.hasMessage(2), true);
    assert.equal(model.hasMessage(3), false);
    assert.equal(model.messageOf(3), '');
  });

  test('no message yet recalls nothing', () => {
    assert.equal(new ConversationModel().lastMessage(), '');
  });

  test('a turn.queued without a message records an empty one', () => {
    const model = new ConversationModel();
    model.remember({ type: 'turn.queued', turn: 1 });
    assert.equal(model.hasMessage(1), true);
    assert.equal(model.messageOf(1), '');
  });
});

describe('conversation model: which card an event updates', () => {
  test('updates of one tool in one turn reach the same card', () => {
    const model = new ConversationModel();
    const started = event('tool.started', { turn: 1, tool: { id: 'item_0', status: 'in_progress' } });
    const card = { turn: 1, status: 'in_progress' };
    assert.equal(model.cardFor(started), undefined);
    model.addCard(started, card);
    assert.equal(model.cardFor(event('tool.completed', { turn: 1, tool: { id: 'item_0' } })), card);
  });

  test("Codex item ids restart every turn: the same id in the next turn is a new card", () => {
    const model = new ConversationModel();
    model.addCard(event('tool.started', { turn: 1, tool: { id: 'item_0' } }), { turn: 1, status: 'completed' });
    assert.equal(model.cardFor(event('tool.started', { turn: 2, tool: { id: 'item_0' } })), undefined);
    assert.equal(cardKey({ turn: 2, tool: { id: 'item_0' } }), '2:item_0');
  });

  test('an event without a tool still has a key, not an exception', () => {
    assert.equal(cardKey({ turn: 1 }), '1:undefined');
  });

  test("at a turn's end, only that turn's cards still in progress are unfinished", () => {
    const model = new ConversationModel();
    const cards = [
      [1, 'a', 'in_progress'], [1, 'b', 'completed'], [2, 'a', 'in_progress'], [1, 'c', 'in_progress'],
    ].map(([turn, id, status]) => {
      const card = { turn, status, id };
      model.addCard({ turn, tool: { id } }, card);
      return card;
    });
    assert.deepEqual(model.unfinishedCards(1), [cards[0], cards[3]]);
  });
});

describe('conversation model: which view an event gets', () => {
  const views = [
    ['turn.queued', 'user'], ['message', 'agent'], ['reasoning', 'reasoning'],
    ['tool.started', 'tool'], ['tool.updated', 'tool'], ['tool.completed', 'tool'],
    ['usage', 'usage'], ['error', 'error'], ['turn.completed', 'turn-end'],
    ['turn.started', null], ['codex.whatever', null], ['message.delta', 'agent-delta'], ['constructor', null],
  ];
  for (const [type, view] of views) {
    test(`${type} → ${view}`, () => assert.equal(viewOf({ type }), view));
  }
});

describe('conversation model: live turns', () => {
  test('deltas, live output and approvals have their own views', () => {
    const views = ['message.delta', 'reasoning.delta', 'tool.output', 'approval.requested', 'approval.resolved']
      .map((type) => viewOf({ type }));
    assert.deepEqual(views, ['agent-delta', 'reasoning-delta', 'tool-output', 'approval', 'approval-resolved']);
  });

  test('live output goes to the card of the tool it names', () => {
    const started = { type: 'tool.started', turn: 2, tool: { id: 'call_1' } };
    const output = { type: 'tool.output', turn: 2, tool_id: 'call_1', delta: 'x' };
    assert.equal(cardKey(output), cardKey(started));
    assert.notEqual(cardKey({ ...output, turn: 3 }), cardKey(started));
  });

  test('approvals are filed by id; the pending ones of a turn are found at its end', () => {
    const model = new ConversationModel();
    const a = { turn: 1, status: 'pending' };
    const b = { turn: 1, status: 'accepted' };
    const c = { turn: 2, status: 'pending' };
    model.addApproval('a', a);
    model.addApproval('b', b);
    model.addApproval('c', c);
    assert.equal(model.approvalFor('a'), a);
    assert.equal(model.approvalFor('zz'), undefined);
    assert.deepEqual(model.pendingApprovals(1), [a]);
    model.clear();
    assert.equal(model.approvalFor('a'), undefined);
  });

  test('live texts are filed by key and forgotten with the conversation', () => {
    const model = new ConversationModel();
    model.addLive('1:msg', { text: 'x' });
    assert.deepEqual(model.liveFor('1:msg'), { text: 'x' });
    model.clear();
    assert.equal(model.liveFor('1:msg'), undefined);
  });
});
