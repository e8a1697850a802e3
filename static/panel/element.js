/*
 * element.js: the <codex-relay-panel> custom element (open shadow root): its
 * markup, its public API (attributes, properties, methods, `statechange`),
 * the session kept in localStorage, sending and stopping, focus and keys.
 * It wires the other modules together: event-stream.js for the stream,
 * conversation.js for the log, agent-state.js for what the user may do,
 * shortcuts.js for the open/close key, report-edits.js for undoing edits.
 * It also sends the user's answers to approvals, and says so when the host
 * has no one logged in.
 *
 * definePanel(assets), called by the loader (static/command-bar.js) with the
 * URLs it resolved, registers the element; importing this module registers
 * nothing. The attributes and API are documented in command-bar.js; the
 * accessible names are DESIGN.md's ("The panel's accessible names").
 */

import {
  afterStopAccepted, canStop, connectionText, isBusy, nextAgentState, sendDisabled, workingText,
} from './agent-state.js';
import { Conversation } from './conversation.js';
import { EventStream } from './event-stream.js';
import { readError } from './format.js';
import { loadLibraries } from './markdown.js';
import { answerApproval } from './live-renderers.js';
import { Notice } from './notice.js';
import { deepActiveElement, isEditable } from './page-focus.js';
import { el, toggleOutput } from './renderers.js';
import { ReportEdits } from './report-edits.js';
import { describeShortcut, isApplePlatform, parseShortcut, shortcutMatches } from './shortcuts.js';

/** The element's tag name. */
export const TAG = 'codex-relay-panel';
const DEFAULT_SHORTCUT = 'Mod+K';
const SIGNED_OUT_NOTICE = 'You are not logged in. Log in on this page, then ask the agent.';
const IS_APPLE = isApplePlatform(navigator.platform || navigator.userAgent);

/** @type {{css: string, marked: string, purify: string}} set by definePanel() */
let assets = null;

const TEMPLATE = document.createElement('template');
TEMPLATE.innerHTML = `
  <div class="root" hidden>
    <button type="button" class="launcher" part="launcher">Ask the agent <kbd></kbd></button>
    <section class="panel" part="panel" role="dialog" aria-label="Agent chat" hidden>
      <header class="bar">
        <span class="title">Agent</span>
        <span class="conn"><span class="dot"></span><span class="conn-text"></span></span>
        <button type="button" class="new">New conversation</button>
        <button type="button" class="close" aria-label="Close">&#x2715;</button>
      </header>
      <div class="log" role="log" aria-live="polite" aria-label="Conversation" tabindex="0"></div>
      <div class="working" role="status" hidden><span class="spinner"></span><span class="working-text"></span></div>
      <form class="compose">
        <label class="sr-only" for="message">Message</label>
        <textarea id="message" rows="2" placeholder="Ask about this run. Enter sends, Shift+Enter adds a line."></textarea>
        <div class="actions">
          <button type="button" class="stop" hidden>Stop</button>
          <button type="submit" class="send">Send</button>
        </div>
      </form>
      <p class="notice" role="alert" hidden></p>
    </section>
  </div>`; // a constant: no data is ever put into it

/** <codex-relay-panel>: the launcher, the chat panel and its session (API: command-bar.js). */
export class CodexRelayPanel extends HTMLElement {
  static get observedAttributes() { return ['runid', 'config', 'base-url', 'open', 'shortcut']; }

  constructor() {
    super();
    const shadow = this.attachShadow({ mode: 'open' });
    const link = el('link');
    link.rel = 'stylesheet';
    link.href = assets.css;
    shadow.append(link, TEMPLATE.content.cloneNode(true));
    const $ = (selector) => shadow.querySelector(selector);
    this._ui = {
      root: $('.root'), launcher: $('.launcher'), launcherKey: $('.launcher kbd'), panel: $('.panel'),
      conn: $('.conn'), connText: $('.conn-text'), log: $('.log'), working: $('.working'),
      workingText: $('.working-text'), form: $('form'), textarea: $('textarea'), send: $('.send'),
      stop: $('.stop'), newButton: $('.new'), close: $('.close'), notice: $('.notice'),
    };
    // Stay invisible until the stylesheet applies: no flash of an unstyled panel.
    link.addEventListener('load', () => { this._ui.root.hidden = false; });
    link.addEventListener('error', () => {
      console.error(`codex-relay: could not load ${assets.css}`);
      this._ui.root.hidden = false;
    });

    this._reportEdits = new ReportEdits(this._ui.log, {
      url: (reportId, action) => this._url(`reports/${encodeURIComponent(reportId)}/${action}`),
      headers: () => this._headers(),
    });
    this._conversation = new Conversation(this._ui.log, (event) => {
      if (Number.isInteger(event.turn)) this._turn = event.turn;
      this._setState({ agent: nextAgentState(this._agentState, event) });
      this._reportEdits.noteEvent(event);
    });
    this._connectionState = 'idle';
    this._agentState = 'idle';
    this._sessionId = null;
    this._turn = 0;
    this._stream = null;
    this._sending = false;
    this._connected = false; // set once connectedCallback ran
    this._noticeLine = new Notice(this._ui.notice, () => this._render());
    this._returnFocus = null;
    this._shortcut = parseShortcut(DEFAULT_SHORTCUT, IS_APPLE);
    // The element may be upgraded after a host (or mount()) set this: keep it.
    this.requestHeaders = Object.hasOwn(this, 'requestHeaders') ? this.requestHeaders : null;

    this._onWindowKey = this._onWindowKey.bind(this);
    this._onOnline = () => this._stream && this._stream.retryNow();
    this._onOffline = () => this._stream && this._stream.abort();
    this._wireUi();
    this._render();
  }

  // -- public API ---------------------------------------------------------

  get connectionState() { return this._connectionState; }
  get agentState() { return this._agentState; }
  get sessionId() { return this._sessionId; }
  get open() { return this.hasAttribute('open'); }
  set open(value) { this.toggleAttribute('open', Boolean(value)); }
  show() { this.open = true; }
  hide() { this.open = false; }
  toggle() { this.open = !this.open; }

  /** Forget the session (the server keeps it) and start an empty chat. */
  newConversation() {
    this._reset(null);
    this._storedSession = null;
    this._noticeLine.say('');
    if (this.open) this._ui.textarea.focus();
  }

  // -- lifecycle ----------------------------------------------------------

  connectedCallback() {
    this._upgradeProperty('open');
    window.addEventListener('keydown', this._onWindowKey);
    window.addEventListener('online', this._onOnline);
    window.addEventListener('offline', this._onOffline);
    this._applyOpen(false); // an initial `open` shows the panel without taking focus
    this._connected = true;
    this._scheduleResume();
  }

  disconnectedCallback() {
    window.removeEventListener('keydown', this._onWindowKey);
    window.removeEventListener('online', this._onOnline);
    window.removeEventListener('offline', this._onOffline);
    this._connected = false;
    this._reset(this._sessionId);
  }

  attributeChangedCallback(name, oldValue, value) {
    if (oldValue === value) return;
    if (name === 'open') this._applyOpen(this._connected);
    else if (name === 'shortcut') {
      this._shortcut = parseShortcut(value ?? DEFAULT_SHORTCUT, IS_APPLE);
      this._render();
    } else this._scheduleResume(); // runid, config, base-url
  }

  /**
   * A property the host set before the element was upgraded is an own data
   * property that hides the accessor: take its value through the accessor.
   */
  _upgradeProperty(name) {
    if (!Object.hasOwn(this, name)) return;
    const value = this[name];
    delete this[name];
    this[name] = value;
  }

  // -- session and stream -------------------------------------------------

  _url(path) {
    const base = (this.getAttribute('base-url') || '').replace(/\/+$/, '');
    const runid = encodeURIComponent(this.getAttribute('runid') || '');
    return `${base}/runs/${runid}/${encodeURIComponent(this.getAttribute('config') || '')}/agent/${path}`;
  }

  _sessionUrl(suffix) { return this._url(`sessions/${encodeURIComponent(this._sessionId)}/${suffix}`); }

  _headers() {
    const extra = typeof this.requestHeaders === 'function' ? this.requestHeaders() : this.requestHeaders;
    return { ...(extra || {}) };
  }

  /** The session id kept for this run and config, in localStorage (null: none). */
  get _storedSession() {
    try { return localStorage.getItem(this._storageKey()); } catch { return null; }
  }

  set _storedSession(sessionId) {
    try {
      if (sessionId) localStorage.setItem(this._storageKey(), sessionId);
      else localStorage.removeItem(this._storageKey());
    } catch { /* storage disabled: the session lasts this page view */ }
  }

  _storageKey() {
    const part = (name) => encodeURIComponent(this.getAttribute(name) || '');
    return `codex-relay:session:${part('runid')}:${part('config')}`;
  }

  /** Attributes arrive one by one (mount, frameworks): resume once, after all of them. */
  _scheduleResume() {
    if (this._resumeQueued) return;
    this._resumeQueued = true;
    queueMicrotask(() => {
      this._resumeQueued = false;
      if (!this.isConnected) return;
      const ready = this.getAttribute('runid') && this.getAttribute('config');
      this._reset(ready ? this._storedSession : null);
      if (this._sessionId) this._startStream(); // replays the history from the start
      else if (ready) this._checkAccess();
    });
  }

  /**
   * With no conversation to show, ask whether the host knows the user at all
   * (the list of their sessions): if not, the panel says how to fix it.
   */
  async _checkAccess() {
    try {
      const headers = { Accept: 'application/json', ...this._headers() };
      const response = await fetch(this._url('sessions'), { headers, credentials: 'same-origin' });
      if (response.status === 401 && !this._sessionId) this._signedOut();
    } catch { /* offline: the first message will tell */ }
  }

  /** No one is logged in on the host page: say so, and what to do. */
  _signedOut() {
    this._ui.panel.dataset.access = 'signed-out';
    this._setState({ connection: 'signed-out' });
    this._noticeLine.say(SIGNED_OUT_NOTICE);
  }

  /** Stop streaming, empty the log, adopt `sessionId` (may be null). */
  _reset(sessionId) {
    if (this._stream) this._stream.stop();
    this._stream = null;
    this._sessionId = sessionId;
    this._conversation.clear();
    this._reportEdits.clear();
    this._setState({ agent: 'idle', connection: 'idle' });
  }

  _startStream() {
    const stream = new EventStream({
      url: this._sessionUrl('events'),
      headers: () => this._headers(),
      onEvent: (event) => this._onEvent(event),
      onReset: () => {
        this._conversation.clear();
        this._reportEdits.clear();
        this._setState({ agent: 'idle' });
      },
      onState: (state) => this._stream === stream && this._setState({ connection: state }),
      onFatal: (error) => this._stream === stream && this._onStreamFatal(error),
    });
    this._stream = stream;
    stream.start(null);
  }

  _onEvent(event) {
    if (event.session && event.session !== this._sessionId) return;
    if (this._conversation.accept(event)) this._conversation.push(event); // state follows in onApply
  }

  _onStreamFatal(error) {
    this._stream = null;
    if (error.status === 401) {
      this._signedOut();
    } else if (error.status === 404) {
      // Expired, or not this user's: forget it; the next message starts afresh.
      this._storedSession = null;
      this._reset(null);
      this._noticeLine.say('This conversation is no longer available. Your next message starts a new one.');
    } else {
      this._setState({ connection: 'offline' });
      this._noticeLine.say(error.message);
    }
  }

  // -- sending and stopping -----------------------------------------------

  _post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...this._headers() },
      credentials: 'same-origin',
      body: JSON.stringify(body),
    });
  }

  async _send(text) {
    if (!text.trim() || this._sending || this._noticeLine.rateLimited) return;
    this._sending = true;
    this._noticeLine.say('');
    this._render();
    try {
      const sent = this._sessionId;
      let response = await this._post(this._url('chat'), sent ? { message: text, session_id: sent } : { message: text });
      if (response.status === 404 && sent && (await readError(response.clone())).code === 'not_found') {
        // The kept conversation is gone (deleted, expired) and the stream has
        // not noticed yet: forget it and send once more as a new conversation.
        if (this._sessionId === sent) {
          this._storedSession = null;
          this._reset(null);
        }
        this._noticeLine.say('The previous conversation is no longer available; this message starts a new one.');
        response = await this._post(this._url('chat'), { message: text });
      }
      if (response.status === 401) return this._signedOut();
      if (response.status !== 202) {
        await this._noticeLine.httpError(response);
        return;
      }
      delete this._ui.panel.dataset.access;
      const answer = await response.json();
      if (this._ui.textarea.value === text) this._ui.textarea.value = '';
      if (answer.session_id && answer.session_id !== this._sessionId) {
        this._reset(String(answer.session_id));
        this._storedSession = this._sessionId;
        this._startStream();
      } else if (!this._stream) {
        this._startStream(); // the stream had given up: replay it (seen seqs are skipped)
      } else {
        this._stream.retryNow(); // cut any backoff wait short
      }
    } catch {
      this._noticeLine.say('Could not reach the server. Check your connection and try again.');
    } finally {
      this._sending = false;
      this._render();
    }
  }

  async _cancel() {
    if (!this._sessionId || !isBusy(this._agentState)) return;
    const turn = this._turn;
    try {
      const response = await this._post(this._sessionUrl('cancel'), {});
      if (!response.ok) {
        await this._noticeLine.httpError(response);
      } else if (this._turn === turn) {
        // The server accepted; turn.completed (cancelled) will end it.
        this._setState({ agent: afterStopAccepted(this._agentState) });
      }
    } catch {
      this._noticeLine.say('Could not reach the server to stop the agent. Try again.');
    }
  }

  /** Send the user's answer to an approval of this session (live-renderers.js). */
  _answerApproval({ approval, decision }) {
    const card = this._conversation.approvalCard(approval);
    const url = this._sessionId && this._sessionUrl(`approvals/${encodeURIComponent(approval)}`);
    const io = { send: (body) => this._post(url, body), notice: this._noticeLine };
    if (card && url) answerApproval(card, decision, io);
  }

  // -- state and rendering --------------------------------------------------

  /** Change the agent and/or connection state; re-render and announce if changed. */
  _setState({ agent = this._agentState, connection = this._connectionState }) {
    if (agent === this._agentState && connection === this._connectionState) return;
    this._agentState = agent;
    this._connectionState = connection;
    this._render();
    this.dispatchEvent(new CustomEvent('statechange', { detail: { connectionState: connection, agentState: agent } }));
  }

  _render() {
    const ui = this._ui;
    const busy = isBusy(this._agentState);
    ui.panel.dataset.agent = this._agentState;
    ui.conn.dataset.state = this._connectionState;
    ui.connText.textContent = connectionText(this._connectionState);
    ui.working.hidden = !busy;
    ui.workingText.textContent = workingText(this._agentState);
    // Focus on Stop would fall out of the panel as it is disabled or hidden: keep it in.
    const stoppable = canStop(this._agentState);
    if (!stoppable && this.shadowRoot.activeElement === ui.stop) ui.textarea.focus();
    ui.stop.hidden = !busy;
    ui.stop.disabled = !stoppable;
    ui.send.disabled = sendDisabled({ sending: this._sending, rateLimited: this._noticeLine.rateLimited,
      agentState: this._agentState, connectionState: this._connectionState });
    const [label, aria] = this._shortcut ? describeShortcut(this._shortcut, IS_APPLE) : ['', ''];
    ui.launcherKey.textContent = label;
    ui.launcherKey.hidden = !label;
    ui.launcher.toggleAttribute('aria-keyshortcuts', Boolean(aria));
    if (aria) ui.launcher.setAttribute('aria-keyshortcuts', aria);
  }

  /** Show or hide the panel; focus goes to the textarea and back where it was. */
  _applyOpen(moveFocus) {
    const ui = this._ui;
    if (this.open === !ui.panel.hidden) return;
    if (this.open) {
      const active = deepActiveElement();
      if (active && !this.shadowRoot.contains(active)) this._returnFocus = active;
      ui.panel.hidden = false;
      ui.launcher.hidden = true;
      ui.log.scrollTop = ui.log.scrollHeight;
      if (moveFocus) ui.textarea.focus();
      return;
    }
    const hadFocus = this.shadowRoot.activeElement != null;
    const back = this._returnFocus;
    this._returnFocus = null;
    ui.panel.hidden = true;
    ui.launcher.hidden = false;
    if (!hadFocus) return; // the user is elsewhere: leave focus alone
    if (back && back.isConnected && back !== document.body) back.focus();
    else ui.launcher.focus();
  }

  // -- input --------------------------------------------------------------

  _wireUi() {
    const ui = this._ui;
    ui.launcher.addEventListener('click', () => this.show());
    ui.close.addEventListener('click', () => this.hide());
    ui.newButton.addEventListener('click', () => this.newConversation());
    ui.stop.addEventListener('click', () => this._cancel());
    ui.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this._send(ui.textarea.value);
    });
    ui.textarea.addEventListener('keydown', (e) => this._onTextareaKey(e));
    ui.panel.addEventListener('keydown', (e) => this._onPanelKey(e));
    for (const type of ['keyup', 'keypress']) ui.textarea.addEventListener(type, (e) => e.stopPropagation());
    ui.log.addEventListener('click', (e) => {
      const target = e.target instanceof Element ? e.target : null;
      const retry = target && target.closest('button.retry');
      if (retry) this._send(this._conversation.messageOf(Number(retry.dataset.turn)));
      const answer = target && target.closest('button[data-decision]');
      if (answer) this._answerApproval(answer.dataset);
      const undo = target && target.closest('button.undo-edit');
      if (undo) this._reportEdits.undo(undo);
      const output = target && target.closest('button.more, pre.out.clamped');
      if (output) toggleOutput(output.closest('.output'));
    });
  }

  _onTextareaKey(e) {
    const textarea = this._ui.textarea;
    if (e.isComposing || e.keyCode === 229) return; // an IME is composing text
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      if (!this._ui.send.disabled) this._send(textarea.value);
    } else if (e.key === 'ArrowUp' && textarea.value === '' && this._conversation.lastMessage()) {
      e.preventDefault();
      textarea.value = this._conversation.lastMessage();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    }
  }

  _onPanelKey(e) {
    const handled = !e.defaultPrevented && !e.isComposing &&
      (e.key === 'Escape' || shortcutMatches(this._shortcut, e));
    if (handled) {
      e.preventDefault();
      this.hide();
    }
    // Keys typed here must not reach the host's own shortcuts: outside the
    // shadow root the event looks as if it came from the host element.
    if (handled || e.target === this._ui.textarea) e.stopPropagation();
  }

  /** The open/close shortcut: anywhere on the page except the host's text fields. */
  _onWindowKey(e) {
    if (e.defaultPrevented || e.isComposing || e.repeat || !shortcutMatches(this._shortcut, e)) return;
    const path = e.composedPath();
    if (path.includes(this._ui.panel) || isEditable(path[0])) return;
    e.preventDefault();
    this.toggle();
  }
}

/**
 * Register <codex-relay-panel> (once) and start loading marked and DOMPurify.
 * @param {{css: string, marked: string, purify: string}} urls the stylesheet
 *   and the vendored libraries, resolved by the loader
 * @returns {CustomElementConstructor} the registered element class
 */
export function definePanel(urls) {
  if (!assets) assets = Object.freeze({ css: urls.css, marked: urls.marked, purify: urls.purify });
  loadLibraries(assets);
  if (!customElements.get(TAG)) customElements.define(TAG, CodexRelayPanel);
  return customElements.get(TAG);
}
