// The agent state machine and what each state lets the user do (static/panel/agent-state.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  afterStopAccepted, BUSY_STATES, canStop, connectionText, isBusy, nextAgentState, sendDisabled,
  workingText,
} from '../../static/panel/agent-state.js';

const run = (events, state = 'idle') => events.reduce((s, event) => nextAgentState(s, event), state);

describe('agent state: a turn from start to end', () => {
  test('queued, running, idle: a turn that completes', () => {
    const states = [];
    let state = 'idle';
    for (const type of ['turn.queued', 'turn.started', 'message', 'usage', 'turn.completed']) {
      state = nextAgentState(state, { type, status: 'completed' });
      states.push(state);
    }
    assert.deepEqual(states, ['queued', 'running', 'running', 'running', 'idle']);
  });

  for (const type of ['message', 'reasoning', 'usage', 'tool.started', 'tool.updated', 'tool.completed']) {
    test(`a queued turn is running once a ${type} arrives (turn.started may be missed)`, () => {
      assert.equal(nextAgentState('queued', { type }), 'running');
    });
  }

  test('a new message is queued whatever came before', () => {
    for (const state of ['idle', 'failed', 'running', 'cancelling']) {
      assert.equal(nextAgentState(state, { type: 'turn.queued' }), 'queued');
    }
  });

  const endings = [['completed', 'idle'], ['cancelled', 'idle'], ['failed', 'failed'],
    ['timeout', 'failed'], [undefined, 'idle']];
  for (const [status, expected] of endings) {
    test(`turn.completed with status ${status} leaves the agent ${expected}`, () => {
      assert.equal(nextAgentState('running', { type: 'turn.completed', status }), expected);
    });
  }
});

describe('agent state: what does not change it', () => {
  test('an error event alone does not fail the turn (Codex retry notices)', () => {
    assert.equal(run([{ type: 'turn.queued' }, { type: 'turn.started' }, { type: 'error' }]), 'running');
  });

  test('turn.started while stopping stays stopping', () => {
    assert.equal(nextAgentState('cancelling', { type: 'turn.started' }), 'cancelling');
  });

  test('work events while stopping stay stopping', () => {
    assert.equal(run([{ type: 'message' }, { type: 'tool.completed' }], 'cancelling'), 'cancelling');
  });

  for (const type of ['codex.unknown', 'message.delta', 'tool.output', '', 'constructor']) {
    test(`an event of type ${JSON.stringify(type)} changes nothing`, () => {
      assert.equal(nextAgentState('running', { type }), 'running');
      assert.equal(nextAgentState('idle', { type }), 'idle');
    });
  }
});

describe('agent state: what the user may do', () => {
  test('busy states are queued, running, waiting and cancelling', () => {
    assert.deepEqual([...BUSY_STATES], ['queued', 'running', 'waiting', 'cancelling']);
    assert.equal(isBusy('idle'), false);
    assert.equal(isBusy('failed'), false);
  });

  test('Stop may be pressed while queued or running, not while already stopping', () => {
    assert.deepEqual(['idle', 'queued', 'running', 'cancelling', 'failed'].map(canStop),
      [false, true, true, false, false]);
  });

  test('an accepted Stop turns a queued or running turn into "cancelling", nothing else', () => {
    assert.deepEqual(['idle', 'queued', 'running', 'cancelling', 'failed'].map(afterStopAccepted),
      ['idle', 'cancelling', 'cancelling', 'cancelling', 'failed']);
  });

  const base = { sending: false, rateLimited: false, agentState: 'idle', connectionState: 'connected' };
  test('Send is enabled for an idle agent', () => {
    assert.equal(sendDisabled(base), false);
  });

  test('Send is disabled while sending, while rate limited, and while busy and connected', () => {
    assert.equal(sendDisabled({ ...base, sending: true }), true);
    assert.equal(sendDisabled({ ...base, rateLimited: true }), true);
    assert.equal(sendDisabled({ ...base, agentState: 'running' }), true);
  });

  test('a busy state is trusted only while connected: a stale one must not lock the user out', () => {
    for (const connectionState of ['idle', 'connecting', 'reconnecting', 'offline']) {
      assert.equal(sendDisabled({ ...base, agentState: 'running', connectionState }), false);
    }
  });

  test('every connection state has words; a busy agent state has a working line', () => {
    assert.equal(connectionText('reconnecting'), 'Reconnecting…');
    assert.equal(connectionText('offline'), 'Offline');
    assert.equal(workingText('running'), 'Working…');
    assert.equal(workingText('idle'), '');
    assert.equal(workingText('toString'), '');
  });
});

describe('agent state: live turns and approvals', () => {
  for (const type of ['message.delta', 'reasoning.delta', 'tool.output']) {
    test(`a queued turn is running once a ${type} arrives`, () => {
      assert.equal(nextAgentState('queued', { type }), 'running');
    });
  }

  test('an approval makes the agent wait for the user; the answer sets it running again', () => {
    assert.equal(run([{ type: 'turn.queued' }, { type: 'turn.started' }, { type: 'approval.requested' }]), 'waiting');
    assert.equal(nextAgentState('waiting', { type: 'approval.resolved' }), 'running');
    assert.equal(workingText('waiting'), 'Waiting for your answer…');
  });

  test('a waiting turn can be stopped, and is busy (Send stays off while connected)', () => {
    assert.ok(BUSY_STATES.includes('waiting') && canStop('waiting') && isBusy('waiting'));
    assert.equal(afterStopAccepted('waiting'), 'cancelling');
    assert.equal(sendDisabled({ sending: false, rateLimited: false, agentState: 'waiting', connectionState: 'connected' }), true);
  });

  test('an approval asked while stopping does not undo the stop, nor wakes an idle agent', () => {
    assert.equal(nextAgentState('cancelling', { type: 'approval.requested' }), 'cancelling');
    assert.equal(nextAgentState('idle', { type: 'approval.requested' }), 'idle');
  });

  test('a waiting turn that ends is idle or failed like any other', () => {
    assert.equal(nextAgentState('waiting', { type: 'turn.completed', status: 'cancelled' }), 'idle');
  });

  test('the connection line says when no one is logged in', () => {
    assert.equal(connectionText('signed-out'), 'Not logged in');
  });
});
