/*
 * page-focus.js: where the keyboard is on the host page: the focused element
 * (inside open shadow roots too), and whether it is a text field, where the
 * panel's open/close shortcut must not fire.
 *
 * Uses the DOM only when called; nothing happens at import time.
 */

/**
 * Whether `node` is one of the host's text fields.
 * @param {unknown} node
 * @returns {boolean}
 */
export function isEditable(node) {
  return node instanceof Element &&
    (node.isContentEditable || node.matches('input, textarea, select'));
}

/**
 * The focused element, looking into open shadow roots.
 * @returns {Element|null}
 */
export function deepActiveElement() {
  let active = document.activeElement;
  while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
  return active;
}
