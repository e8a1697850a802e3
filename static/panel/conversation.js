/*
 * conversation.js: the conversation log on screen. Accepted events are
 * queued and rendered in animation frames, at most FRAME_BUDGET_MS of work
 * per frame: new nodes are appended and tool cards updated in place; nothing
 * already rendered is rebuilt. The log stays scrolled to the bottom while
 * the user is there.
 *
 * What was seen and which card an event updates is conversation-model.js's;
 * the nodes come from renderers.js. Nothing touches the DOM at import time.
 */

import { ConversationModel, viewOf } from './conversation-model.js';
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
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < STICK_TO_BOTTOM_PX;
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
   * Render one event into `out` (new nodes), or update its tool card in place.
   * @param {object} event
   * @param {DocumentFragment} out
   */
  render(event, out) {
    switch (viewOf(event)) {
      case 'user': return out.append(userMessage(event));
      case 'agent': return out.append(agentMessage(event));
      case 'reasoning': return out.append(reasoning(event));
      case 'tool': return this.tool(event, out);
      case 'usage': return out.append(usageLine(event));
      case 'error': return out.append(errorNote(event));
      case 'turn-end': return out.append(this.turnEnd(event));
      default: return undefined; // turn.started and codex.* pass-throughs show nothing
    }
  }

  /** The end of a turn: its cards still running were interrupted. */
  turnEnd(event) {
    for (const card of this.model.unfinishedCards(event.turn)) setCardStatus(card, 'interrupted');
    return turnEndLine(event, this.model.hasMessage(event.turn));
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
