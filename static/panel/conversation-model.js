/*
 * conversation-model.js: what the conversation knows apart from its DOM:
 * which events were already seen, the user's message of each turn, which
 * tool card an event updates, which live text a delta extends, which
 * approval card an answer settles, and which view an event gets.
 *
 * Pure; node tests it. A "card" is whatever the renderers keep for a tool
 * or an approval (here any object with `turn` and `status`), a "live" record
 * whatever they keep for a text being written; the model only files them.
 *
 * De-duplication: every relay event has `seq`, counting from 1 within the
 * session (DESIGN.md, "Events"), and the stream delivers them in order, so
 * anything at or below the last seq seen is a replay overlap after a
 * reconnect and is dropped. An event without a usable seq falls back to its
 * event id.
 */

/** The view each event type gets; other types (turn.started, codex.*) show nothing. */
const VIEWS = Object.freeze({
  'turn.queued': 'user',
  message: 'agent',
  'message.delta': 'agent-delta',
  reasoning: 'reasoning',
  'reasoning.delta': 'reasoning-delta',
  'tool.output': 'tool-output',
  'approval.requested': 'approval',
  'approval.resolved': 'approval-resolved',
  'tool.started': 'tool',
  'tool.updated': 'tool',
  'tool.completed': 'tool',
  usage: 'usage',
  error: 'error',
  'turn.completed': 'turn-end',
});

/**
 * Which view renders `event`.
 * @param {{type: string}} event
 * @returns {'user'|'agent'|'agent-delta'|'reasoning'|'reasoning-delta'|'tool'|'tool-output'|
 *   'approval'|'approval-resolved'|'usage'|'error'|'turn-end'|null}
 */
export function viewOf(event) {
  return Object.hasOwn(VIEWS, event.type) ? VIEWS[event.type] : null;
}

/**
 * The key of the tool card a tool event updates: Codex item ids restart
 * every turn, so the turn is part of it.
 * @param {{turn: unknown, type?: string, tool?: {id?: unknown}, tool_id?: unknown}} event a
 *   tool.* event (tool.output names its tool by `tool_id`)
 * @returns {string}
 */
export function cardKey(event) {
  const id = event.type === 'tool.output' ? event.tool_id : (event.tool || {}).id;
  return `${event.turn}:${id}`;
}

/** The seen events, user messages and tool cards of one conversation. */
export class ConversationModel {
  constructor() {
    this.clear();
  }

  /** Forget everything (a new conversation, or the server's `reset`). */
  clear() {
    this.lastSeq = 0;
    this.seenIds = new Set(); // only for events without a seq
    this.cards = new Map(); // cardKey → card
    this.messages = new Map(); // turn → the user's message
    this.live = new Map(); // `${turn}:${item_id}` → live text record
    this.approvals = new Map(); // approval id → approval card
  }

  /**
   * Whether `event` is new; false for one already seen (a replay overlap).
   * Accepting it marks it seen.
   * @param {{seq?: unknown, id?: unknown}} event
   * @returns {boolean}
   */
  accept(event) {
    const seq = Number(event.seq);
    if (Number.isInteger(seq) && seq > 0) {
      if (seq <= this.lastSeq) return false;
      this.lastSeq = seq;
      return true;
    }
    const id = String(event.id);
    if (this.seenIds.has(id)) return false;
    this.seenIds.add(id);
    return true;
  }

  /**
   * Note what an accepted event tells about the conversation (the user's
   * message of a turn, for Retry and for ArrowUp recall).
   * @param {{type: string, turn?: unknown, message?: unknown}} event
   */
  remember(event) {
    if (event.type === 'turn.queued') this.messages.set(event.turn, String(event.message ?? ''));
  }

  /**
   * The user's latest message ('' when none).
   * @returns {string}
   */
  lastMessage() {
    return [...this.messages.values()].pop() || '';
  }

  /**
   * The user's message of a turn ('' when unknown).
   * @param {unknown} turn
   * @returns {string}
   */
  messageOf(turn) {
    return this.messages.get(turn) || '';
  }

  /**
   * Whether a turn can be retried: its message is known.
   * @param {unknown} turn
   * @returns {boolean}
   */
  hasMessage(turn) {
    return this.messages.has(turn);
  }

  /**
   * The card a tool event updates, if it has one yet.
   * @param {object} event a tool.* event
   * @returns {object|undefined}
   */
  cardFor(event) {
    return this.cards.get(cardKey(event));
  }

  /**
   * File the card made for a tool event.
   * @param {object} event a tool.* event
   * @param {{turn: unknown, status: string}} card
   */
  addCard(event, card) {
    this.cards.set(cardKey(event), card);
  }

  /**
   * The cards of a turn still in progress (at its end they were interrupted).
   * @param {unknown} turn
   * @returns {Array<{turn: unknown, status: string}>}
   */
  unfinishedCards(turn) {
    return [...this.cards.values()].filter((card) => card.turn === turn && card.status === 'in_progress');
  }

  /**
   * The live record of a text being written (message or reasoning), if any.
   * @param {string} key a live-text key (live-text.js liveKey)
   * @returns {object|undefined}
   */
  liveFor(key) {
    return this.live.get(key);
  }

  /**
   * File the live record of a text being written.
   * @param {string} key
   * @param {object} record
   */
  addLive(key, record) {
    this.live.set(key, record);
  }

  /**
   * The card of an approval, if it was shown.
   * @param {unknown} id the approval's id
   * @returns {object|undefined}
   */
  approvalFor(id) {
    return this.approvals.get(String(id));
  }

  /**
   * File the card made for an approval.requested event.
   * @param {unknown} id
   * @param {{turn: unknown, status: string}} card
   */
  addApproval(id, card) {
    this.approvals.set(String(id), card);
  }

  /**
   * The approval cards of a turn still waiting for an answer.
   * @param {unknown} turn
   * @returns {Array<{turn: unknown, status: string}>}
   */
  pendingApprovals(turn) {
    return [...this.approvals.values()].filter((card) => card.turn === turn && card.status === 'pending');
  }
}
