/*
 * markdown.js: agent markdown into sanitised DOM. Loads the panel's own
 * pinned ES-module builds of marked and DOMPurify (static/vendor/, see
 * vendor/VENDOR.json) from the URLs the loader resolved; they never become
 * page globals, and a host's own copies are neither used nor touched. If
 * they fail to load, agent text is shown as plain text.
 *
 * Nothing happens at import time; loadLibraries() starts the loading.
 */

import { escapeHtml } from './format.js';

/**
 * Agent markdown passes through this before it touches the DOM: HTML only
 * (no SVG/MathML), no forms, frames, styles, ids or media (an image would
 * load from wherever the agent says; markdown images become links).
 * DOMPurify itself strips on* handlers and javascript: URLs.
 */
export const PURIFY_CONFIG = Object.freeze({
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['img', 'picture', 'source', 'video', 'audio', 'style', 'link', 'meta',
    'base', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame',
    'frameset', 'object', 'embed', 'dialog', 'template'],
  FORBID_ATTR: ['style', 'class', 'id', 'name', 'srcset', 'tabindex', 'autofocus',
    'action', 'formaction', 'target'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
});

/** marked's options: GitHub-flavoured, synchronous, images as links. */
export const MARKED_OPTIONS = Object.freeze({ gfm: true, async: false, renderer: { image: imageAsLink } });

// `undefined` while loading (or before), `null` if loading failed, else {markdown, purify}.
let libs;
let loading = null;

/**
 * A markdown image as a link to it: the panel never loads what the agent points at.
 * @param {{href: string, text?: string}} image marked's image token
 * @returns {string} HTML
 */
export function imageAsLink({ href, text }) {
  return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
}

/**
 * Start loading marked and DOMPurify (once; later calls return the same promise).
 * @param {{marked: string, purify: string}} urls the vendored entry files
 * @returns {Promise<void>} settles when they loaded or failed
 */
export function loadLibraries(urls) {
  if (loading) return loading;
  loading = Promise.all([import(urls.marked), import(urls.purify)]).then(
    ([markedModule, purifyModule]) => {
      const purify = purifyModule.default(window); // a private instance: our hook stays ours
      purify.addHook('afterSanitizeAttributes', (node) => {
        if (node.tagName === 'A' && node.hasAttribute('href')) {
          node.setAttribute('target', '_blank');
          node.setAttribute('rel', 'noopener noreferrer');
        }
      });
      const markdown = new markedModule.Marked(MARKED_OPTIONS);
      libs = { markdown, purify };
    },
    (err) => {
      console.error('codex-relay: marked/DOMPurify did not load; showing plain text', err);
      libs = null;
    },
  );
  return loading;
}

/**
 * Whether rendering should wait: the libraries are still loading.
 * @returns {boolean}
 */
export function librariesPending() {
  return loading !== null && libs === undefined;
}

/**
 * Settles once the libraries loaded or failed (at once when never asked for).
 * @returns {Promise<void>}
 */
export function librariesSettled() {
  return loading || Promise.resolve();
}

/**
 * Put `text` (markdown) into `target`, sanitised; plain text without the libraries.
 * @param {HTMLElement} target
 * @param {unknown} text
 */
export function renderMarkdown(target, text) {
  if (!libs) {
    target.textContent = text;
    target.classList.add('plain');
    return;
  }
  target.replaceChildren(libs.purify.sanitize(libs.markdown.parse(String(text)), PURIFY_CONFIG));
}
