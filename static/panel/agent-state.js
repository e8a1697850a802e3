/*
 * agent-state.js: the agent state machine of the panel and what each state
 * lets the user do. Pure; node tests it.
 *
 * Agent states: 'idle' | 'queued' | 'running' | 'waiting' (for the user's answer
 * to an approval) | 'cancelling' | 'failed'.
 * Connection states: 'idle' | 'connecting' | 'connected' | 'reconnecting' |
 * 'offline' | 'signed-out' (the host says no one is logged in). The agent
 * state follows the session's events only (DESIGN.md, "Events"), so a reload
 * that replays them lands in the same state; the one exception is
 * 'cancelling', set when the server accepted a Stop.
 */

/** States in which a turn is under way. */
export const BUSY_STATES = Object.freeze(['queued', 'running', 'waiting', 'cancelling']);

/** What the connection line says, per connection state. */
export const CONNECTION_TEXT = Object.freeze({
  idle: 'Not connected',
  'signed-out': 'Not logged in',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
});

/** What the working line says, per busy agent state. */
export const WORKING_TEXT = Object.freeze({
  queued: 'Queued…',
  running: 'Working…',
  waiting: 'Waiting for your answer…',
  cancelling: 'Stopping…',
});

/** Events that show Codex at work: a queued turn has surely started. */
const PROGRESS_EVENTS = new Set(['message', 'reasoning', 'usage', 'tool.started', 'tool.updated',
  'tool.completed', 'message.delta', 'reasoning.delta', 'tool.output', 'approval.resolved']);

/**
 * The agent state after `event`.
 * @param {string} state the agent state before it
 * @param {{type: string, status?: string}} event a relay event
 * @returns {string} the next agent state
 */
export function nextAgentState(state, event) {
  const type = event.type;
  if (type === 'turn.queued') return 'queued';
  if (type === 'turn.started') return state === 'cancelling' ? state : 'running';
  if (type === 'approval.requested') return state === 'queued' || state === 'running' ? 'waiting' : state;
  if (PROGRESS_EVENTS.has(type)) return state === 'queued' || state === 'waiting' ? 'running' : state;
  if (type === 'turn.completed') {
    return event.status === 'failed' || event.status === 'timeout' ? 'failed' : 'idle';
  }
  return state; // an `error` event alone is not fatal (Codex retry notices)
}

/**
 * Whether a turn is under way.
 * @param {string} state an agent state
 * @returns {boolean}
 */
export function isBusy(state) {
  return BUSY_STATES.includes(state);
}

/**
 * Whether Stop may be pressed: a turn is under way and not already stopping.
 * @param {string} state an agent state
 * @returns {boolean}
 */
export function canStop(state) {
  return isBusy(state) && state !== 'cancelling';
}

/**
 * The agent state once the server accepted a Stop for the current turn: a
 * queued, running or waiting turn is 'cancelling' until its turn.completed arrives.
 * @param {string} state an agent state
 * @returns {string}
 */
export function afterStopAccepted(state) {
  return state === 'queued' || state === 'running' || state === 'waiting' ? 'cancelling' : state;
}

/**
 * Whether Send is disabled. "Busy" is trusted only while connected: a stale
 * state (the stream gave up before turn.completed) must not lock the user out.
 * @param {{sending: boolean, rateLimited: boolean, agentState: string, connectionState: string}} view
 * @returns {boolean}
 */
export function sendDisabled({ sending, rateLimited, agentState, connectionState }) {
  return sending || rateLimited || (isBusy(agentState) && connectionState === 'connected');
}

/**
 * The text of the connection line.
 * @param {string} state a connection state
 * @returns {string}
 */
export function connectionText(state) {
  return Object.hasOwn(CONNECTION_TEXT, state) ? CONNECTION_TEXT[state] : '';
}

/**
 * The text of the working line ('' when the agent is not busy).
 * @param {string} state an agent state
 * @returns {string}
 */
export function workingText(state) {
  return Object.hasOwn(WORKING_TEXT, state) ? WORKING_TEXT[state] : '';
}
