/*
 * codex-relay command-bar panel: the agent's work streamed into any host page.
 * Plain JavaScript, no build step; the only global it defines is `CodexRelay`.
 *
 * Mounting: the host page loads this one script. The stylesheet and the
 * vendored libraries are found next to it (resolved from this script's URL),
 * so serve static/ as one directory:
 *
 *   <script src="/static/codex-relay/command-bar.js" defer></script>
 *   <codex-relay-panel runid="run-42" config="default"></codex-relay-panel>
 *
 * or CodexRelay.mount(elementOrSelector, {runid, config, baseUrl, open, theme,
 * shortcut, headers}), which returns the <codex-relay-panel>.
 *
 * Attributes: runid, config (required); base-url (prefix where the blueprint
 * is mounted, default ''); open; theme ('light' | 'dark'; default follows
 * prefers-color-scheme); shortcut (default 'Mod+K': Cmd+K on Apple, Ctrl+K
 * elsewhere; 'none' disables it). Read-only properties: connectionState
 * ('idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline'),
 * agentState ('idle' | 'queued' | 'running' | 'cancelling' | 'failed'),
 * sessionId. Methods: show(), hide(), toggle(), newConversation(). Property
 * requestHeaders (object or function): extra headers, e.g. a CSRF token.
 * A `statechange` event fires on the element when either state changes.
 *
 * Libraries: the panel imports its own pinned ES-module builds of marked and
 * DOMPurify from vendor/ (see vendor/VENDOR.json). The host does not load
 * them; they never become page globals, and a host's own copies are neither
 * used nor touched. If they fail to load, agent text is shown as plain text.
 *
 * The conversation is built only from the server's event stream (the user's
 * own message too, from turn.queued), so a reload or a reconnect shows
 * exactly the server's history. Routes and events: DESIGN.md.
 *
 * Sections: 1 setup and helpers, 2 SSE client, 3 agent state machine,
 * 4 renderers, 5 the element, 6 the namespace.
 */
(function () {
  'use strict';

  if (window.CodexRelay) return; // loaded twice: keep the first copy

  // ---------------------------------------------------------------------
  // 1. Setup and helpers

  const VERSION = '0.1.0';
  const TAG = 'codex-relay-panel';
  const SCRIPT_URL = (document.currentScript && document.currentScript.src) ||
    [...document.querySelectorAll('script[src*="command-bar"]')].map((s) => s.src).pop() ||
    document.baseURI;
  const ASSETS = {
    css: new URL('command-bar.css', SCRIPT_URL).href,
    marked: new URL('vendor/marked/marked.esm.js', SCRIPT_URL).href,
    purify: new URL('vendor/dompurify/purify.es.js', SCRIPT_URL).href,
  };
  const IS_APPLE = /Mac|iPhone|iPad|iPod/.test(navigator.platform || navigator.userAgent);
  const BUSY = new Set(['queued', 'running', 'cancelling']);

  const BACKOFF_BASE_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const OFFLINE_AFTER_FAILURES = 4; // failed connects in a row before "offline"
  const STREAM_IDLE_MS = 45000; // the server sends a heartbeat every 15 s
  const FRAME_BUDGET_MS = 10; // rendering work per animation frame
  const PREVIEW_LINES = 8; // of tool output before "Show all"; twice that for a diff

  // Agent markdown passes through this before it touches the DOM: HTML only
  // (no SVG/MathML), no forms, frames, styles, ids or media (an image would
  // load from wherever the agent says; markdown images become links).
  // DOMPurify itself strips on* handlers and javascript: URLs.
  const PURIFY_CONFIG = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['img', 'picture', 'source', 'video', 'audio', 'style', 'link', 'meta',
      'base', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame',
      'frameset', 'object', 'embed', 'dialog', 'template'],
    FORBID_ATTR: ['style', 'class', 'id', 'name', 'srcset', 'tabindex', 'autofocus',
      'action', 'formaction', 'target'],
    ALLOW_DATA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };

  // `undefined` while loading, `null` if loading failed, else {markdown, purify}.
  let LIBS;
  const librariesReady = Promise.all([import(ASSETS.marked), import(ASSETS.purify)]).then(
    ([markedModule, purifyModule]) => {
      const purify = purifyModule.default(window); // a private instance: our hook stays ours
      purify.addHook('afterSanitizeAttributes', (node) => {
        if (node.tagName === 'A' && node.hasAttribute('href')) {
          node.setAttribute('target', '_blank');
          node.setAttribute('rel', 'noopener noreferrer');
        }
      });
      const image = ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
      const markdown = new markedModule.Marked({ gfm: true, async: false, renderer: { image } });
      LIBS = { markdown, purify };
    },
    (err) => {
      console.error('codex-relay: marked/DOMPurify did not load; showing plain text', err);
      LIBS = null;
    },
  );

  /** Put `text` (markdown) into `target`, sanitised; plain text without the libraries. */
  function renderMarkdown(target, text) {
    if (!LIBS) {
      target.textContent = text;
      target.classList.add('plain');
      return;
    }
    target.replaceChildren(LIBS.purify.sanitize(LIBS.markdown.parse(String(text)), PURIFY_CONFIG));
  }

  function escapeHtml(text) {
    const map = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
    return String(text ?? '').replace(/[&<>"']/g, (c) => map[c]);
  }

  /** Create an element with a class and plain text (never HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function formatDuration(ms) {
    if (typeof ms !== 'number' || !(ms >= 0)) return '';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
    const seconds = Math.round((ms % 60000) / 1000);
    return `${Math.floor(ms / 60000)} min${seconds ? ` ${seconds} s` : ''}`;
  }

  const formatCount = (n) => (Number(n) || 0).toLocaleString();

  const FALLBACK_ERRORS = {
    400: 'The message was not accepted.',
    401: 'You are not signed in.',
    403: 'You may not use the agent on this run.',
    404: 'This run or conversation was not found.',
    409: 'The agent is still working on the previous message.',
    429: 'Too many messages.',
    503: 'The agent service is unavailable right now. Try again in a moment.',
  };

  /** The `{"error": {"code", "message"}}` a route answered, plus its status. */
  async function readError(response) {
    const status = response.status;
    let error = {};
    try { error = (await response.json()).error || {}; } catch (_) { /* not JSON */ }
    return {
      status,
      code: String(error.code || `http_${status}`),
      message: String(error.message || FALLBACK_ERRORS[status] || `The server answered ${status}.`),
    };
  }

  /** Retry-After (seconds or an HTTP date) in milliseconds, or 0. */
  function retryAfterMs(response) {
    const value = (response.headers.get('Retry-After') || '').trim();
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    const date = Date.parse(value);
    return isNaN(date) ? 0 : Math.max(0, date - Date.now());
  }

  /** The host's text fields, where the open shortcut must not fire. */
  function isEditable(node) {
    return node instanceof Element &&
      (node.isContentEditable || node.matches('input, textarea, select'));
  }

  /** "Mod+K", "Ctrl+Shift+P", "Alt+/" → {key, ctrl, meta, alt, shift}; null for "none". */
  function parseShortcut(spec) {
    if (!spec || spec.trim().toLowerCase() === 'none') return null;
    const parts = spec.split('+').map((p) => p.trim().toLowerCase());
    const shortcut = { key: parts.pop(), ctrl: false, meta: false, alt: false, shift: false };
    const names = { mod: IS_APPLE ? 'meta' : 'ctrl', cmd: 'meta', meta: 'meta', ctrl: 'ctrl',
      control: 'ctrl', alt: 'alt', option: 'alt', shift: 'shift' };
    for (const part of parts) if (names[part]) shortcut[names[part]] = true;
    return shortcut;
  }

  function shortcutMatches(shortcut, e) {
    if (!shortcut || e.ctrlKey !== shortcut.ctrl || e.metaKey !== shortcut.meta ||
        e.altKey !== shortcut.alt || e.shiftKey !== shortcut.shift) return false;
    // e.code keeps letter shortcuts working on non-Latin keyboard layouts.
    return (e.key || '').toLowerCase() === shortcut.key || e.code === `Key${shortcut.key.toUpperCase()}`;
  }

  /** [label shown on the launcher, aria-keyshortcuts value] */
  function describeShortcut(shortcut) {
    const flags = [['ctrl', 'Ctrl', 'Control'], ['meta', IS_APPLE ? '⌘' : 'Meta', 'Meta'],
      ['alt', IS_APPLE ? '⌥' : 'Alt', 'Alt'], ['shift', 'Shift', 'Shift']]
      .filter(([flag]) => shortcut[flag]);
    const key = shortcut.key.length === 1 ? shortcut.key.toUpperCase() : shortcut.key;
    return [[...flags.map((f) => f[1]), key].join(IS_APPLE ? '' : '+'),
      [...flags.map((f) => f[2]), key].join('+')];
  }

  // ---------------------------------------------------------------------
  // 2. SSE client
  //
  // fetch() streaming rather than EventSource: it can send the host's extra
  // headers, tells a 404 (conversation gone) from a network drop, and lets us
  // choose the backoff. Each reconnect asks for `?after=<last id>`, so the
  // server replays exactly what was missed; the panel also drops any event
  // whose seq it has already seen.

  class EventStream {
    /** `o`: url, headers() → object, onEvent(event), onReset(data), onState(state), onFatal(error). */
    constructor(o) {
      Object.assign(this, o);
      this.lastId = null;
      this.failures = 0; // failed connects in a row: "offline" after a few
      this.idle = 0; // connects in a row that brought no event: they slow reconnecting too
      this.retryMs = BACKOFF_BASE_MS; // the server may change it with `retry:`
      this.waitMs = 0; // a Retry-After from the server
      this.stopped = true;
      this.controller = null;
      this.wake = null;
    }

    start(afterId) {
      this.lastId = afterId || null;
      this.stopped = false;
      this.loop();
    }

    stop() {
      this.stopped = true;
      this.abort();
      this.retryNow();
    }

    /** Drop the current connection; the loop reconnects. */
    abort() { if (this.controller) this.controller.abort(); }

    /** Cut a backoff wait short, e.g. when the browser is back online. */
    retryNow() { if (this.wake) this.wake(); }

    async loop() {
      this.onState(this.lastId ? 'reconnecting' : 'connecting');
      while (!this.stopped) {
        if (await this.connectOnce() === 'fatal' || this.stopped) return;
        const offline = !navigator.onLine || this.failures >= OFFLINE_AFTER_FAILURES;
        this.onState(offline ? 'offline' : 'reconnecting');
        await this.sleep(this.backoff());
      }
    }

    /** Wait `ms`, or less if retryNow() is called. */
    sleep(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => this.wake(), ms);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }

    /** Exponential backoff with "equal jitter" (half fixed, half random). */
    backoff() {
      const ceiling = Math.min(BACKOFF_MAX_MS, this.retryMs * 2 ** Math.min(this.failures + this.idle, 8));
      const wait = this.waitMs;
      this.waitMs = 0;
      return Math.max(ceiling / 2 + Math.random() * (ceiling / 2), wait);
    }

    async connectOnce() {
      const controller = new AbortController();
      this.controller = controller;
      const after = this.lastId ? `${this.url.includes('?') ? '&' : '?'}after=${encodeURIComponent(this.lastId)}` : '';
      let response;
      try {
        response = await fetch(this.url + after, {
          headers: { Accept: 'text/event-stream', ...this.headers() },
          credentials: 'same-origin',
          cache: 'no-store',
          signal: controller.signal,
        });
      } catch (_) {
        this.failures += 1;
        return 'retry';
      }
      if (!response.ok || !response.body) {
        if ([401, 403, 404].includes(response.status)) {
          this.onFatal(await readError(response));
          return 'fatal';
        }
        this.failures += 1;
        this.waitMs = retryAfterMs(response);
        return 'retry';
      }
      this.failures = 0;
      this.idle += 1; // until an event arrives
      this.onState('connected');
      try {
        await this.read(response.body.getReader(), controller);
      } catch (_) { /* aborted or dropped: reconnect */ }
      return 'retry';
    }

    async read(reader, controller) {
      const decoder = new TextDecoder();
      let buffer = '';
      let watchdog = 0;
      this.message = { name: '', data: [], id: null };
      try {
        for (;;) {
          clearTimeout(watchdog); // a silent connection (no heartbeat) is a dead one
          watchdog = setTimeout(() => controller.abort(), STREAM_IDLE_MS);
          const { value, done } = await reader.read();
          if (done || this.stopped) break;
          buffer = this.parse(buffer + decoder.decode(value, { stream: true }));
        }
      } finally {
        clearTimeout(watchdog);
        reader.cancel().catch(() => {});
      }
    }

    /** Handle the complete lines of `text`; return the incomplete rest. */
    parse(text) {
      const hold = text.endsWith('\r'); // maybe the first half of "\r\n": keep it
      const lines = (hold ? text.slice(0, -1) : text).split(/\r\n|\r|\n/);
      const rest = lines.pop();
      for (const line of lines) this.line(line);
      return hold ? `${rest}\r` : rest;
    }

    line(line) {
      if (line === '') {
        this.dispatch();
        return;
      }
      if (line[0] === ':') return; // a comment: the heartbeat
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
      if (field === 'data') this.message.data.push(value);
      else if (field === 'event') this.message.name = value;
      else if (field === 'id' && !value.includes('\0')) this.message.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Math.max(250, Number(value));
    }

    dispatch() {
      const { name, data, id } = this.message;
      this.message = { name: '', data: [], id: null };
      if (this.stopped) return;
      if (name === 'reset') {
        // The id we resumed from was trimmed from the log: start over.
        this.lastId = null;
        this.onReset(data.join('\n'));
        return;
      }
      if ((name && name !== 'message') || !data.length) return;
      let event;
      try {
        event = JSON.parse(data.join('\n'));
      } catch (_) {
        console.warn('codex-relay: ignored a stream message that is not JSON');
        return;
      }
      if (!event || typeof event !== 'object') return;
      this.lastId = id || (event.id != null ? String(event.id) : this.lastId);
      this.idle = 0;
      this.onEvent(event);
    }
  }

  // ---------------------------------------------------------------------
  // 3. Agent state machine: the next agent state after an event. Pure.

  function nextAgentState(state, event) {
    switch (event.type) {
      case 'turn.queued':
        return 'queued';
      case 'turn.started':
        return state === 'cancelling' ? state : 'running';
      case 'message': case 'reasoning': case 'usage':
      case 'tool.started': case 'tool.updated': case 'tool.completed':
        return state === 'queued' ? 'running' : state;
      case 'turn.completed':
        return event.status === 'failed' || event.status === 'timeout' ? 'failed' : 'idle';
      default:
        return state; // an `error` event alone is not fatal (Codex retry notices)
    }
  }

  // ---------------------------------------------------------------------
  // 4. Renderers
  //
  // Events are queued and rendered in animation frames, at most
  // FRAME_BUDGET_MS of work per frame: new nodes are appended and tool cards
  // updated in place; nothing already rendered is rebuilt.

  const TOOL_KINDS = { command: 'Command', mcp: 'Tool', file_change: 'Files', web_search: 'Search', todo: 'Plan' };
  const TOOL_STATUS = { in_progress: 'running', completed: 'done' };
  const FULL_TEXT = new WeakMap(); // clamped <pre> → {text, preview, diff}

  class Conversation {
    /** `onApply(event)` runs as each event is rendered, so state and log agree. */
    constructor(log, onApply) {
      this.log = log;
      this.onApply = onApply;
      this.clear();
    }

    clear() {
      if (this.frame) this.frame();
      this.frame = null; // while a flush is scheduled: the function that cancels it
      this.queue = [];
      this.lastSeq = 0;
      this.seenIds = new Set(); // only for events without a seq
      this.cards = new Map(); // "<turn>:<tool id>" → card; Codex item ids restart every turn
      this.messages = new Map(); // turn → the user's message
      this.log.replaceChildren();
    }

    /** False for an event already seen (a replay overlap after reconnecting). */
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

    push(event) {
      if (event.type === 'turn.queued') this.messages.set(event.turn, String(event.message ?? ''));
      this.queue.push(event);
      this.schedule();
    }

    /** The user's latest message (for ArrowUp recall). */
    lastMessage() {
      return [...this.messages.values()].pop() || '';
    }

    schedule() {
      if (this.frame) return;
      if (LIBS === undefined) {
        librariesReady.then(() => this.schedule());
      } else if (document.hidden) { // hidden tabs get no animation frames
        const timer = setTimeout(() => this.flush(), 50);
        this.frame = () => clearTimeout(timer);
      } else {
        const id = requestAnimationFrame(() => this.flush());
        this.frame = () => cancelAnimationFrame(id);
      }
    }

    flush() {
      this.frame = null;
      const log = this.log;
      const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
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

    render(event, out) {
      switch (event.type) {
        case 'turn.queued': return out.append(this.userMessage(event));
        case 'message': return out.append(this.agentMessage(event));
        case 'reasoning': return out.append(this.reasoning(event));
        case 'tool.started': case 'tool.updated': case 'tool.completed': return this.tool(event, out);
        case 'usage': return out.append(this.usage(event));
        case 'error': return out.append(this.error(event));
        case 'turn.completed': return out.append(this.turnEnd(event));
        default: return undefined; // turn.started and codex.* pass-throughs show nothing
      }
    }

    userMessage(event) {
      const node = el('div', 'msg user');
      node.append(el('div', 'bubble', event.message ?? ''));
      return node;
    }

    agentMessage(event) {
      const node = el('div', 'msg agent');
      const body = node.appendChild(el('div', 'bubble md'));
      renderMarkdown(body, event.text ?? '');
      if (event.truncated) node.append(el('p', 'note', 'This message was cut short by the server.'));
      return node;
    }

    reasoning(event) {
      const node = el('details', 'reasoning');
      node.append(el('summary', '', 'Reasoning'));
      renderMarkdown(node.appendChild(el('div', 'md')), event.text ?? '');
      return node;
    }

    usage(event) {
      const parts = [`${formatCount(event.input_tokens)} in`];
      if (event.cached_input_tokens) parts.push(`${formatCount(event.cached_input_tokens)} cached`);
      parts.push(`${formatCount(event.output_tokens)} out`);
      if (event.reasoning_output_tokens) parts.push(`${formatCount(event.reasoning_output_tokens)} reasoning`);
      return el('p', 'usage', `Tokens: ${parts.join(' · ')}`);
    }

    error(event) {
      const retrying = event.code === 'codex_retrying';
      const node = el('div', retrying ? 'error warning' : 'error');
      node.dataset.code = String(event.code || 'error');
      node.append(el('strong', '', retrying ? 'Retrying: ' : 'Error: '),
        String(event.message || 'Something went wrong.'));
      return node;
    }

    turnEnd(event) {
      for (const card of this.cards.values()) {
        if (card.turn === event.turn && card.status === 'in_progress') this.setStatus(card, 'interrupted');
      }
      const status = String(event.status || 'completed');
      const took = formatDuration(event.duration_ms);
      const node = el('div', 'turn-end', {
        completed: took ? `Done in ${took}` : 'Done',
        cancelled: 'Stopped',
        timeout: `The agent ran out of time${took ? ` after ${took}` : ''} and was stopped. You can retry.`,
      }[status] || 'The agent could not finish this request. You can retry.');
      node.dataset.status = status;
      if (status !== 'completed' && status !== 'cancelled' && this.messages.has(event.turn)) {
        const retry = node.appendChild(el('button', 'retry', 'Retry'));
        retry.type = 'button';
        retry.dataset.turn = String(event.turn);
      }
      return node;
    }

    tool(event, out) {
      const tool = event.tool || {};
      const key = `${event.turn}:${tool.id}`;
      let card = this.cards.get(key);
      if (!card) {
        card = { turn: event.turn, status: '', root: el('div', 'card'), title: el('span', 'card-title'),
          badge: el('span', 'badge'), duration: el('span', 'duration'), body: el('div', 'card-body') };
        card.root.dataset.kind = String(tool.kind || 'unknown');
        const head = el('div', 'card-head');
        head.append(el('span', 'kind', TOOL_KINDS[tool.kind] || 'Tool'), card.title, card.badge, card.duration);
        card.root.append(head, card.body);
        this.cards.set(key, card);
        out.append(card.root);
      }
      card.title.textContent = card.root.title = tool.title || TOOL_KINDS[tool.kind] || 'tool';
      this.setStatus(card, String(tool.status || 'in_progress'), tool.exit_code);
      card.duration.textContent = formatDuration(tool.duration_ms);
      card.body.replaceChildren(...toolBody(tool));
    }

    setStatus(card, status, exitCode) {
      card.status = status;
      const failedCommand = typeof exitCode === 'number' && exitCode !== 0;
      card.root.dataset.status = failedCommand ? 'failed' : status;
      card.badge.textContent = failedCommand ? `exit ${exitCode}` : TOOL_STATUS[status] || status;
    }
  }

  /** The kind-specific part of a tool card, as a list of nodes. */
  function toolBody(tool) {
    const parts = [];
    const list = (className, items, fill) => {
      const ul = el('ul', className);
      for (const item of items || []) fill(ul.appendChild(el('li')), item || {});
      parts.push(ul);
    };
    if (tool.kind === 'command') {
      const command = String(tool.command || '');
      if (command !== tool.title) parts.push(el('pre', 'command', command));
      if (tool.output) parts.push(outputBlock(String(tool.output), false));
    } else if (tool.kind === 'mcp') {
      if (tool.arguments && Object.keys(tool.arguments).length) {
        const args = el('details', 'args');
        args.append(el('summary', '', 'Arguments'), el('pre', '', JSON.stringify(tool.arguments, null, 2)));
        parts.push(args);
      }
      if (tool.error) parts.push(el('pre', 'tool-error', tool.error));
      const structured = tool.result && tool.result.structured_content;
      if (structured && typeof structured.diff === 'string') {
        // A report edit (replace_report_section): show its unified diff, styled.
        if (structured.backup) parts.push(el('p', 'note', `Backup: ${structured.backup}`));
        parts.push(outputBlock(structured.diff || '(no change)', Boolean(structured.diff)));
      } else {
        const text = resultText(tool.result);
        if (text && text !== tool.error) parts.push(outputBlock(text, /^@@ .* @@/m.test(text)));
      }
    } else if (tool.kind === 'file_change') {
      list('changes', tool.changes, (li, change) => {
        const kind = li.appendChild(el('span', 'change', change.kind || 'change'));
        kind.dataset.kind = String(change.kind || '');
        li.append(' ', el('code', '', change.path || ''));
      });
    } else if (tool.kind === 'web_search' && tool.query !== tool.title) {
      parts.push(el('p', 'query', tool.query || ''));
    } else if (tool.kind === 'todo') {
      list('todo', tool.items, (li, item) => {
        const done = item.completed === true || item.status === 'completed';
        li.textContent = item.text ?? item.step ?? '';
        li.className = done ? 'done' : '';
        li.dataset.mark = done ? '✓' : item.status === 'in_progress' ? '▸' : '○';
      });
    }
    if (tool.truncated) parts.push(el('p', 'note', 'Output truncated by the server.'));
    return parts;
  }

  /** The text of an MCP result: its text content items, else its JSON. */
  function resultText(result) {
    if (result == null) return '';
    if (typeof result === 'string') return result;
    const texts = (Array.isArray(result.content) ? result.content : [])
      .filter((c) => c && typeof c.text === 'string').map((c) => c.text);
    return texts.length ? texts.join('\n') : JSON.stringify(result.structured_content ?? result, null, 2);
  }

  /** Tool output in a <pre>, clamped to a preview that expands on click. */
  function outputBlock(text, diff) {
    const wrap = el('div', 'output');
    const pre = wrap.appendChild(el('pre', diff ? 'out diff' : 'out'));
    const lines = text.split('\n');
    const maxLines = diff ? 2 * PREVIEW_LINES : PREVIEW_LINES;
    if (lines.length <= maxLines && text.length <= maxLines * 100) {
      fillOutput(pre, text, diff);
      return wrap;
    }
    // Only the preview is in the DOM until expanded: 1,000 cards stay cheap.
    const preview = lines.slice(0, maxLines).join('\n').slice(0, maxLines * 100);
    fillOutput(pre, preview, diff);
    pre.classList.add('clamped');
    FULL_TEXT.set(pre, { text, preview, diff, label: `Show all ${lines.length} lines` });
    const more = wrap.appendChild(el('button', 'more', FULL_TEXT.get(pre).label));
    more.type = 'button';
    more.setAttribute('aria-expanded', 'false');
    return wrap;
  }

  /** Fill a <pre> with plain text, or with diff lines styled by their first character. */
  function fillOutput(pre, text, diff) {
    if (!diff) {
      pre.textContent = text;
      return;
    }
    const fragment = document.createDocumentFragment();
    for (const line of text.split('\n')) {
      const kind = /^(\+\+\+|---)/.test(line) ? 'meta' : line.startsWith('@@') ? 'hunk'
        : line[0] === '+' ? 'add' : line[0] === '-' ? 'del' : 'ctx';
      fragment.append(el('span', `line ${kind}`, `${line}\n`));
    }
    pre.replaceChildren(fragment);
  }

  /** Expand or collapse a clamped output block. */
  function toggleOutput(wrap) {
    const pre = wrap.querySelector('pre.out');
    const more = wrap.querySelector('button.more');
    const full = pre && FULL_TEXT.get(pre);
    if (!full || !more) return;
    const expand = pre.classList.contains('clamped');
    fillOutput(pre, expand ? full.text : full.preview, full.diff);
    pre.classList.toggle('clamped', !expand);
    more.textContent = expand ? 'Show less' : full.label;
    more.setAttribute('aria-expanded', String(expand));
  }

  // ---------------------------------------------------------------------
  // 5. The element

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

  const CONNECTION_TEXT = { idle: 'Not connected', connecting: 'Connecting…', connected: 'Connected',
    reconnecting: 'Reconnecting…', offline: 'Offline' };
  const WORKING_TEXT = { queued: 'Queued…', running: 'Working…', cancelling: 'Stopping…' };

  class CodexRelayPanel extends HTMLElement {
    static get observedAttributes() { return ['runid', 'config', 'base-url', 'open', 'shortcut']; }

    constructor() {
      super();
      const shadow = this.attachShadow({ mode: 'open' });
      const link = el('link');
      link.rel = 'stylesheet';
      link.href = ASSETS.css;
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
        console.error(`codex-relay: could not load ${ASSETS.css}`);
        this._ui.root.hidden = false;
      });

      this._conversation = new Conversation(this._ui.log, (event) => {
        if (Number.isInteger(event.turn)) this._turn = event.turn;
        this._setState({ agent: nextAgentState(this._agentState, event) });
      });
      this._connectionState = 'idle';
      this._agentState = 'idle';
      this._sessionId = null;
      this._turn = 0;
      this._stream = null;
      this._sending = false;
      this._connected = false; // set once connectedCallback ran
      this._blockedUntil = 0; // after a 429, until Retry-After has passed
      this._noticeTimer = 0;
      this._returnFocus = null;
      this._shortcut = parseShortcut('Mod+K');
      this.requestHeaders = null;

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
      this._notice('');
      if (this.open) this._ui.textarea.focus();
    }

    // -- lifecycle ----------------------------------------------------------

    connectedCallback() {
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
        this._shortcut = parseShortcut(value ?? 'Mod+K');
        this._render();
      } else this._scheduleResume(); // runid, config, base-url
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
      try { return localStorage.getItem(this._storageKey()); } catch (_) { return null; }
    }

    set _storedSession(sessionId) {
      try {
        if (sessionId) localStorage.setItem(this._storageKey(), sessionId);
        else localStorage.removeItem(this._storageKey());
      } catch (_) { /* storage disabled: the session lasts this page view */ }
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
      });
    }

    /** Stop streaming, empty the log, adopt `sessionId` (may be null). */
    _reset(sessionId) {
      if (this._stream) this._stream.stop();
      this._stream = null;
      this._sessionId = sessionId;
      this._conversation.clear();
      this._setState({ agent: 'idle', connection: 'idle' });
    }

    _startStream() {
      const stream = new EventStream({
        url: this._sessionUrl('events'),
        headers: () => this._headers(),
        onEvent: (event) => this._onEvent(event),
        onReset: () => {
          this._conversation.clear();
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
      if (error.status === 404) {
        // Expired, or not this user's: forget it; the next message starts afresh.
        this._storedSession = null;
        this._reset(null);
        this._notice('This conversation is no longer available. Your next message starts a new one.');
      } else {
        this._setState({ connection: 'offline' });
        this._notice(error.message);
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
      if (!text.trim() || this._sending || Date.now() < this._blockedUntil) return;
      this._sending = true;
      this._notice('');
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
          this._notice('The previous conversation is no longer available; this message starts a new one.');
          response = await this._post(this._url('chat'), { message: text });
        }
        if (response.status !== 202) {
          await this._showHttpError(response);
          return;
        }
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
      } catch (_) {
        this._notice('Could not reach the server. Check your connection and try again.');
      } finally {
        this._sending = false;
        this._render();
      }
    }

    async _cancel() {
      if (!this._sessionId || !BUSY.has(this._agentState)) return;
      const turn = this._turn;
      try {
        const response = await this._post(this._sessionUrl('cancel'), {});
        if (!response.ok) {
          await this._showHttpError(response);
        } else if (this._turn === turn && ['queued', 'running'].includes(this._agentState)) {
          // The server accepted; turn.completed (cancelled) will end it.
          this._setState({ agent: 'cancelling' });
        }
      } catch (_) {
        this._notice('Could not reach the server to stop the agent. Try again.');
      }
    }

    async _showHttpError(response) {
      const error = await readError(response);
      if (error.status !== 429) {
        this._notice(error.message);
        return;
      }
      this._blockedUntil = Date.now() + (retryAfterMs(response) || 5000);
      const tick = () => {
        const left = Math.ceil((this._blockedUntil - Date.now()) / 1000);
        if (left > 0) this._notice(`${error.message} You can send again in ${left} s.`, true);
        else this._notice('');
        this._render();
      };
      clearInterval(this._noticeTimer);
      this._noticeTimer = setInterval(tick, 1000);
      tick();
    }

    _notice(text, keepTimer) {
      if (!keepTimer) clearInterval(this._noticeTimer);
      this._ui.notice.textContent = text;
      this._ui.notice.hidden = !text;
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
      const busy = BUSY.has(this._agentState);
      ui.panel.dataset.agent = this._agentState;
      ui.conn.dataset.state = this._connectionState;
      ui.connText.textContent = CONNECTION_TEXT[this._connectionState];
      ui.working.hidden = !busy;
      ui.workingText.textContent = WORKING_TEXT[this._agentState] || '';
      // Focus on Stop would fall out of the panel as it is disabled or hidden: keep it in.
      const canStop = busy && this._agentState !== 'cancelling';
      if (!canStop && this.shadowRoot.activeElement === ui.stop) ui.textarea.focus();
      ui.stop.hidden = !busy;
      ui.stop.disabled = !canStop;
      // Trust "busy" only while connected: a stale state must not lock the user out.
      ui.send.disabled = this._sending || Date.now() < this._blockedUntil ||
        (busy && this._connectionState === 'connected');
      const [label, aria] = this._shortcut ? describeShortcut(this._shortcut) : ['', ''];
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
        if (retry) this._send(this._conversation.messages.get(Number(retry.dataset.turn)) || '');
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

  function deepActiveElement() {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    return active;
  }

  // ---------------------------------------------------------------------
  // 6. The namespace

  /**
   * Mount a panel. `target` is an element or a selector: a <codex-relay-panel>
   * is configured in place, any other element gets one appended. Returns it.
   */
  function mount(target, options = {}) {
    const host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) throw new Error(`CodexRelay.mount: no element ${target}`);
    const panel = host.localName === TAG ? host : host.appendChild(document.createElement(TAG));
    const attributes = { runid: options.runid, config: options.config, 'base-url': options.baseUrl,
      theme: options.theme, shortcut: options.shortcut };
    for (const [name, value] of Object.entries(attributes)) {
      if (value != null) panel.setAttribute(name, String(value));
    }
    if (options.headers) panel.requestHeaders = options.headers;
    if (options.open != null) panel.open = Boolean(options.open);
    return panel;
  }

  if (!customElements.get(TAG)) customElements.define(TAG, CodexRelayPanel);

  window.CodexRelay = Object.freeze({ version: VERSION, mount, Panel: CodexRelayPanel, assets: Object.freeze({ ...ASSETS }) });
})();
