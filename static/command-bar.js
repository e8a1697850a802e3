/*
 * codex-relay command-bar panel: the agent's work streamed into any host page.
 * Plain JavaScript, no build step; the only global it defines is `CodexRelay`.
 *
 * Mounting: the host page loads this one classic script. The stylesheet, the
 * panel's ES modules (panel/) and the vendored libraries are found next to it
 * (resolved from this script's URL), so serve static/ as one directory:
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
 * ('idle' | 'connecting' | 'connected' | 'reconnecting' | 'offline' |
 * 'signed-out'), agentState ('idle' | 'queued' | 'running' | 'waiting' (for the
 * user's answer to an approval) | 'cancelling' | 'failed'), sessionId. Methods: show(), hide(), toggle(), newConversation(). Property
 * requestHeaders (object or function): extra headers, e.g. a CSRF token.
 * A `statechange` event fires on the element when either state changes.
 *
 * This script defines `CodexRelay` at once (version, assets, mount(), ready)
 * and imports panel/element.js, which registers the element: the properties
 * and methods above exist once `CodexRelay.ready` has resolved (to the
 * element class, also `CodexRelay.Panel` from then on). Attributes, `open`
 * and `requestHeaders` set earlier, by mount() or the markup, are kept.
 *
 * Libraries: the panel imports its own pinned ES-module builds of marked and
 * DOMPurify from vendor/ (see vendor/VENDOR.json). The host does not load
 * them; they never become page globals, and a host's own copies are neither
 * used nor touched. If they fail to load, agent text is shown as plain text.
 *
 * The conversation is built only from the server's event stream (the user's
 * own message too, from turn.queued), so a reload or a reconnect shows
 * exactly the server's history. Routes and events: DESIGN.md.
 */
(function () {
  'use strict';

  if (window.CodexRelay) return; // loaded twice: keep the first copy

  const VERSION = '0.1.0';
  const TAG = 'codex-relay-panel';
  const SCRIPT_URL = (document.currentScript && document.currentScript.src) ||
    [...document.querySelectorAll('script[src*="command-bar"]')].map((s) => s.src).pop() ||
    document.baseURI;
  // Every file the panel loads, resolved here once (tests/test_vendor.py reads this list).
  const ASSETS = Object.freeze({
    css: new URL('command-bar.css', SCRIPT_URL).href,
    marked: new URL('vendor/marked/marked.esm.js', SCRIPT_URL).href,
    purify: new URL('vendor/dompurify/purify.es.js', SCRIPT_URL).href,
    element: new URL('panel/element.js', SCRIPT_URL).href,
  });

  const ready = import(ASSETS.element).then((module) => module.definePanel(ASSETS));
  ready.catch((err) => console.error(`codex-relay: could not load ${ASSETS.element}`, err));

  /**
   * Mount a panel. `target` is an element or a selector: a <codex-relay-panel>
   * is configured in place, any other element gets one appended. Returns it
   * (its methods work once CodexRelay.ready has resolved).
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
    // The attribute, not the property: the element may not be upgraded yet.
    if (options.open != null) panel.toggleAttribute('open', Boolean(options.open));
    return panel;
  }

  window.CodexRelay = Object.freeze({
    version: VERSION,
    mount,
    ready,
    get Panel() { return customElements.get(TAG); },
    assets: ASSETS,
  });
})();
