// What the admin panel's views share: running an API call with its failure shown, times,
// confirmations inside the page (no window.confirm, so keyboard and tests work alike).

import { h, toast, t } from '../app/dom.js';
import { formatDate, number } from '../i18n/i18n.js';
import { serverText } from '../errors.js';

/**
 * Runs an action; a failure becomes a toast with the server's message. Resolves with the
 * action's result, or undefined when it failed.
 * @template T
 * @param {() => Promise<T>} action
 * @returns {Promise<T|undefined>}
 */
export async function attempt(action) {
  try {
    return await action();
  } catch (err) {
    toast(serverText(err), 'error');
    return undefined;
  }
}

/** A full date and time, in the reader's locale. */
export function dateTime(iso) {
  return iso ? formatDate(iso, { dateStyle: 'medium', timeStyle: 'short' }) : '';
}

/** Seconds as '42 s', '3 min', '2.5 h'. */
export function duration(secs) {
  if (secs === null || secs === undefined) return '–';
  if (secs < 60) return t('duration.seconds', { n: Math.round(secs) });
  if (secs < 3600) return t('duration.minutes', { n: Math.round(secs / 60) });
  return t('duration.hours', { n: number(secs / 3600, { maximumFractionDigits: 1, minimumFractionDigits: 1 }) });
}

/** A user's name for lists: 'Display Name (@username)'. */
export function userLabel(user) {
  if (!user) return t('user.unknown');
  return user.display_name && user.display_name !== user.username ? `${user.display_name} (@${user.username})` : `@${user.username}`;
}

/** A view's heading with optional controls on the right. */
export function heading(title, ...controls) {
  return h('div.view-head', h('h2', { tabindex: '-1' }, title), h('div.view-tools', controls));
}

/**
 * Calls `fn` at most once per `ms`, the last call winning: live events come in bursts, and one
 * reload after the burst is enough.
 */
export function debounce(fn, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}
