/*
 * approval-model.js: what an approval card says (DESIGN.md, "Events":
 * approval.requested and approval.resolved): what the agent wants to do,
 * where and why, and how the question was settled.
 *
 * Pure: strings in, strings and plain objects out; node tests it.
 */

import { lookup } from './format.js';

/** The heading of an approval card, per kind. */
export const APPROVAL_TITLES = Object.freeze({
  command: 'Run this command?',
  file_change: 'Change these files?',
  mcp: 'Use this tool?',
});

/**
 * What the card shows of an approval.requested's `approval`.
 * @param {{kind?: string, command?: string, cwd?: string, reason?: string,
 *   changes?: Array<{path?: string, kind?: string, diff?: string}>, server?: string}} approval
 * @returns {{title: string, command: string, where: string, why: string,
 *   changes: Array<{path: string, kind: string, diff: string}>}}
 */
export function approvalView(approval) {
  const changes = Array.isArray(approval.changes) ? approval.changes : [];
  return {
    title: lookup(APPROVAL_TITLES, approval.kind, 'Allow this?'),
    command: typeof approval.command === 'string' ? approval.command : '',
    where: typeof approval.cwd === 'string' && approval.cwd ? `in ${approval.cwd}` : '',
    why: typeof approval.reason === 'string' ? approval.reason : '',
    changes: changes.filter((c) => c && typeof c === 'object').map((c) => ({
      path: String(c.path ?? ''),
      kind: String(c.kind ?? 'change'),
      diff: typeof c.diff === 'string' ? c.diff : '',
    })),
  };
}

/**
 * How an approval was settled, for the card once it is resolved.
 * @param {{decision?: string, by?: string}} resolved an approval.resolved event
 *   (or null: the turn ended with no answer recorded)
 * @returns {{state: 'accepted'|'declined', text: string}}
 */
export function resolutionView(resolved) {
  if (!resolved) return { state: 'declined', text: 'Not answered: the turn ended.' };
  if (resolved.decision === 'accept') return { state: 'accepted', text: 'Approved.' };
  const texts = {
    user: 'Denied.',
    timeout: 'Declined: no answer in time.',
    cancel: 'Declined: the turn was stopped.',
  };
  return { state: 'declined', text: lookup(texts, resolved.by, 'Declined.') };
}

/**
 * "Answer within 4 min 30 s" while time is left, '' once it has run out.
 * @param {unknown} expiresAt Unix seconds
 * @param {number} nowMs milliseconds since the epoch
 * @returns {string}
 */
export function timeLeftText(expiresAt, nowMs) {
  if (typeof expiresAt !== 'number') return '';
  const seconds = Math.floor(expiresAt - nowMs / 1000);
  if (seconds <= 0) return '';
  const minutes = Math.floor(seconds / 60);
  const rest = seconds % 60;
  return `Answer within ${minutes ? `${minutes} min${rest ? ` ${rest} s` : ''}` : `${rest} s`}.`;
}
