/*
 * conversation.js: the conversation log on screen. Accepted events are
 * queued and rendered in animation frames, at most FRAME_BUDGET_MS of work
 * per frame: new nodes are appended and tool cards updated in place; nothing
 * already rendered is rebuilt. The log stays scrolled to the bottom while
 * the user is there. While a turn runs, deltas extend the text being written
 * (the whole message then replaces it in place), live output extends its tool
 * card, and approvals get a card that the answer settles.
 *
 * What was seen and which card an event updates is conversation-model.js's;
 * the nodes come from renderers.js and live-renderers.js. Nothing touches the
 * DOM at import time.
 */

import { ConversationModel, viewOf } from './conversation-model.js';
import {
  appendLiveOutput, approvalCard, dropLiveText, finishLiveText, liveText, renderLiveText,
  settleApproval,
} from './live-renderers.js';
import { liveKey } from './live-text.js';
import { librariesPending, librariesSettled } from './markdown.js';
import {
  agentMessage, createCard, errorNote, reasoning, setCardStatus, turnEndLine, updateCard, usageLine,
  userMessage,
} from './renderers.js';

/** Rendering work per animation frame (ms): typing stays smooth under a burst of events. */
export const FRAME_BUDGET_MS = 10;
/** Within this many pixels of the bottom, the log follows new items. */
const STICK_TO_BOTTOM_PX = 48;

/** The conversation of one panel: its model and its log element. */
export class Conversation {
  /**
   * @param {HTMLElement} log the role="log" element
   * @param {(event: object) => void} onApply runs as each event is rendered, so state and log agree
   */
  constructor(log, onApply) {
    this.log = log;
    this.onApply = onApply;
    this.model = new ConversationModel();
    this.frame = null; // while a flush is scheduled: the function that cancels it
    this.clear();
  }

  /** Empty the log and forget every event (a new conversation, or a reset). */
  clear() {
    if (this.frame) this.frame();
    this.frame = null;
    this.queue = [];
    if (this.model.live) for (const record of this.model.live.values()) dropLiveText(record);
    this.model.clear();
    this.log.replaceChildren();
  }

  /**
   * False for an event already seen (a replay overlap after reconnecting).
   * @param {object} event
   * @returns {boolean}
   */
  accept(event) {
    return this.model.accept(event);
  }

  /**
   * Queue an accepted event for rendering.
   * @param {object} event
   */
  push(event) {
    this.model.remember(event);
    this.queue.push(event);
    this.schedule();
  }

  /**
   * The user's latest message (for ArrowUp recall).
   * @returns {string}
   */
  lastMessage() {
    return this.model.lastMessage();
  }

  /**
   * The user's message of a turn (for Retry).
   * @param {unknown} turn
   * @returns {string}
   */
  messageOf(turn) {
    return this.model.messageOf(turn);
  }

  /** Render the queue soon: after the libraries load, in the next frame. */
  schedule() {
    if (this.frame) return;
    if (librariesPending()) {
      librariesSettled().then(() => this.schedule());
    } else if (document.hidden) { // hidden tabs get no animation frames
      const timer = setTimeout(() => this.flush(), 50);
      this.frame = () => clearTimeout(timer);
    } else {
      const id = requestAnimationFrame(() => this.flush());
      this.frame = () => cancelAnimationFrame(id);
    }
  }

  /** Render queued events until the frame's budget is spent; schedule the rest. */
  flush() {
    this.frame = null;
    const log = this.log;
    const stick = this.atBottom();
    const fragment = document.createDocumentFragment();
    const deadline = performance.now() + FRAME_BUDGET_MS;
    let done = 0;
    while (done < this.queue.length && (done === 0 || performance.now() < deadline)) {
      try {
        this.onApply(this.queue[done]);
        this.render(this.queue[done], fragment);
      } catch (err) {
        console.error('codex-relay: could not render an event', err);
      }
      done += 1;
    }
    this.queue.splice(0, done);
    log.append(fragment);
    if (stick) log.scrollTop = log.scrollHeight;
    if (this.queue.length) this.schedule();
  }

  /**
   * Whether the log shows its end (new items then keep it there).
   * @returns {boolean}
   */
  atBottom() {
    const log = this.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < STICK_TO_BOTTOM_PX;
  }

  /**
   * Render one event into `out` (new nodes), or update its tool card in place.
   * @param {object} event
   * @param {DocumentFragment} out
   */
  render(event, out) {
    switch (viewOf(event)) {
      case 'user': return out.append(userMessage(event));
      case 'agent': return this.whole(event, out, 'agent');
      case 'agent-delta': return this.delta(event, out, 'agent');
      case 'reasoning': return this.whole(event, out, 'reasoning');
      case 'reasoning-delta': return this.delta(event, out, 'reasoning');
      case 'tool': return this.tool(event, out);
      case 'tool-output': return this.output(event);
      case 'approval': return this.approval(event, out);
      case 'approval-resolved': return this.resolved(event);
      case 'usage': return out.append(usageLine(event));
      case 'error': return out.append(errorNote(event));
      case 'turn-end': return out.append(this.turnEnd(event));
      default: return undefined; // turn.started and codex.* pass-throughs show nothing
    }
  }

  /** The end of a turn: its cards still running were interrupted; texts stop streaming. */
  turnEnd(event) {
    for (const card of this.model.unfinishedCards(event.turn)) setCardStatus(card, 'interrupted');
    for (const card of this.model.pendingApprovals(event.turn)) settleApproval(card, null);
    for (const record of this.model.live.values()) {
      if (record.turn === event.turn && !record.live.final) finishLiveText(record, null);
    }
    return turnEndLine(event, this.model.hasMessage(event.turn));
  }

  /** A piece of a message or reasoning being written: extend its text (a new one at first). */
  delta(event, out, kind) {
    const key = `${kind}:${liveKey(event)}`;
    let record = this.model.liveFor(key);
    if (!record) {
      record = liveText(event, kind);
      this.model.addLive(key, record);
      out.append(record.root);
    }
    record.live.append(event.delta);
    renderLiveText(record, (render) => this.keepEnd(render));
  }

  /** A whole message or reasoning: it replaces its deltas in place, or is new. */
  whole(event, out, kind) {
    const record = this.model.liveFor(`${kind}:${liveKey(event)}`);
    if (record && !record.live.final) return finishLiveText(record, event);
    return out.append(kind === 'agent' ? agentMessage(event) : reasoning(event));
  }

  /** Run `render` (a live text growing between frames); the log follows its end if it did. */
  keepEnd(render) {
    const stick = this.atBottom();
    render();
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }

  /** A command's output as it runs, onto its card (none yet: nothing to show it on). */
  output(event) {
    const card = this.model.cardFor(event);
    if (card) appendLiveOutput(card, event);
  }

  /** An approval: its card, with Approve and Deny. */
  approval(event, out) {
    const card = approvalCard(event);
    if (!card.id || this.model.approvalFor(card.id)) return;
    this.model.addApproval(card.id, card);
    out.append(card.root);
  }

  /** The answer that stood: the approval's card shows it. */
  resolved(event) {
    const card = this.model.approvalFor(event.approval_id);
    if (card) settleApproval(card, event);
  }

  /**
   * The card of an approval (for the element, which sends the answer).
   * @param {string} id
   * @returns {object|undefined}
   */
  approvalCard(id) {
    return this.model.approvalFor(id);
  }

  /** A tool event: a new card, or the update of its card. */
  tool(event, out) {
    let card = this.model.cardFor(event);
    if (!card) {
      card = createCard(event);
      this.model.addCard(event, card);
      out.append(card.root);
    }
    updateCard(card, event.tool || {});
  }
}
