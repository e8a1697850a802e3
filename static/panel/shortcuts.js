/*
 * shortcuts.js: the panel's open/close keyboard shortcut: parse the
 * `shortcut` attribute ("Mod+K", "Ctrl+Shift+P", "Alt+/", "none"), match a
 * keydown against it, and describe it for the launcher and for
 * aria-keyshortcuts.
 *
 * Pure: whether the platform is Apple's is an argument (the element reads
 * it from navigator once), and a key event is any object with the fields of
 * a KeyboardEvent; node tests it.
 */

/** Modifier names a spec may use, and the flag each sets ("mod" depends on the platform). */
const MODIFIERS = Object.freeze({ cmd: 'meta', meta: 'meta', ctrl: 'ctrl', control: 'ctrl',
  alt: 'alt', option: 'alt', shift: 'shift' });

/**
 * @typedef {object} Shortcut
 * @property {string} key the key, lower case ("k", "/", "escape")
 * @property {boolean} ctrl
 * @property {boolean} meta
 * @property {boolean} alt
 * @property {boolean} shift
 */

/**
 * Whether a platform string (navigator.platform, else the user agent) is Apple's.
 * @param {string} platform
 * @returns {boolean}
 */
export function isApplePlatform(platform) {
  return /Mac|iPhone|iPad|iPod/.test(String(platform || ''));
}

/**
 * Parse a shortcut spec. "Mod" is Cmd on Apple platforms and Ctrl elsewhere;
 * unknown modifier names are ignored; case does not matter.
 * @param {string|null|undefined} spec e.g. "Mod+K"
 * @param {boolean} [apple] whether the platform is Apple's
 * @returns {Shortcut|null} null for "none" or an empty spec
 */
export function parseShortcut(spec, apple = false) {
  if (!spec || spec.trim().toLowerCase() === 'none') return null;
  const parts = spec.split('+').map((p) => p.trim().toLowerCase());
  const shortcut = { key: parts.pop(), ctrl: false, meta: false, alt: false, shift: false };
  for (const part of parts) {
    if (part === 'mod') shortcut[apple ? 'meta' : 'ctrl'] = true;
    else if (Object.hasOwn(MODIFIERS, part)) shortcut[MODIFIERS[part]] = true;
  }
  return shortcut;
}

/**
 * Whether a keydown is the shortcut: the same modifiers exactly, and the key
 * by its character or, for letters, by its physical key (so Ctrl+K still
 * works on a non-Latin keyboard layout).
 * @param {Shortcut|null} shortcut
 * @param {{key?: string, code?: string, ctrlKey: boolean, metaKey: boolean, altKey: boolean,
 *   shiftKey: boolean}} event a KeyboardEvent or a look-alike
 * @returns {boolean}
 */
export function shortcutMatches(shortcut, event) {
  if (!shortcut || event.ctrlKey !== shortcut.ctrl || event.metaKey !== shortcut.meta ||
      event.altKey !== shortcut.alt || event.shiftKey !== shortcut.shift) return false;
  return (event.key || '').toLowerCase() === shortcut.key ||
    event.code === `Key${shortcut.key.toUpperCase()}`;
}

/**
 * How to show a shortcut: the label on the launcher ("Ctrl+K"; "⌘K" on
 * Apple) and the value of aria-keyshortcuts ("Control+K", "Meta+K").
 * @param {Shortcut} shortcut
 * @param {boolean} [apple] whether the platform is Apple's
 * @returns {[string, string]} [label, aria-keyshortcuts]
 */
export function describeShortcut(shortcut, apple = false) {
  const flags = [['ctrl', 'Ctrl', 'Control'], ['meta', apple ? '⌘' : 'Meta', 'Meta'],
    ['alt', apple ? '⌥' : 'Alt', 'Alt'], ['shift', 'Shift', 'Shift']]
    .filter(([flag]) => shortcut[flag]);
  const key = shortcut.key.length === 1 ? shortcut.key.toUpperCase() : shortcut.key;
  return [[...flags.map((f) => f[1]), key].join(apple ? '' : '+'),
    [...flags.map((f) => f[2]), key].join('+')];
}
