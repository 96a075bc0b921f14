// The server's errors in the reader's language, for the app, the admin panel and the widget.
// The server words its messages in English; what a page shows comes from the catalogues instead:
// by the contract's error code (docs/protocol.md, PROTOCOL.md's error model), by the field a
// `validation_failed` names (`details.fields`), by a `forbidden`'s `details.reason`. A page may
// put its own words first where it knows what a code means there (a `conflict` on registering
// is a taken name). Only a code or field nobody knows shows the server's own message.

import { t } from './i18n/i18n.js';

/** A text per contract code. */
const CODES = {
  bad_request: () => t('error.bad_request'),
  validation_failed: () => t('error.validation_failed'),
  unauthorized: () => t('error.unauthorized'),
  forbidden: () => t('error.forbidden'),
  not_found: () => t('error.not_found'),
  conflict: () => t('error.conflict'),
  rate_limited: () => t('error.rate_limited'),
  payload_too_large: () => t('error.payload_too_large'),
  unsupported_media_type: () => t('error.unsupported_media_type'),
  range_not_satisfiable: () => t('error.range_not_satisfiable'),
  unavailable: () => t('error.unavailable'),
  internal: () => t('error.internal'),
};

/** A text per field the pages send (the rules as the server checks them). */
const FIELDS = {
  display_name: () => t('error.field.display_name'),
  bio: () => t('error.field.bio'),
  avatar_url: () => t('error.field.avatar_url'),
  username: () => t('error.field.username'),
  email: () => t('error.field.email'),
  password: () => t('error.field.password'),
  new_password: () => t('error.field.password'),
  name: () => t('error.field.name'),
  title: () => t('error.field.title'),
  topic: () => t('error.field.topic'),
  description: () => t('error.field.description'),
  body: () => t('error.field.body'),
  message: () => t('error.field.body'),
  q: () => t('error.field.q'),
  code: () => t('error.field.code'),
  token: () => t('error.field.token'),
  url: () => t('error.field.url'),
  emoji: () => t('error.field.emoji'),
  reason: () => t('error.field.reason'),
  ban_reason: () => t('error.field.reason'),
  hours: () => t('error.field.hours'),
  file: () => t('error.field.file'),
  user_id: () => t('error.field.user_id'),
};

/** A text per `details.reason` of a `forbidden`. */
const REASONS = {
  email_not_verified: () => t('auth.email_not_verified'),
};

/**
 * The text for one field's complaint: the catalogue's for a known field (or the page's own from
 * `fields`), else the server's message as it came.
 * @param {string} field
 * @param {unknown} message
 * @param {Record<string, () => string>} [fields]
 */
export function fieldText(field, message, fields = {}) {
  return (fields[field] ?? FIELDS[field])?.() ?? String(message);
}

/**
 * A failed call's error (the client package's ApiError, or anything thrown) as a sentence in the
 * page's language. `codes` and `fields` put a page's own texts before the shared ones.
 * @param {any} err
 * @param {{codes?: Record<string, () => string>, fields?: Record<string, () => string>}} [own]
 * @returns {string}
 */
export function serverText(err, { codes = {}, fields = {} } = {}) {
  if (!err) return t('error.generic');
  const own = codes[err.code];
  if (own) return own();
  const reason = err.details?.reason;
  if (reason && REASONS[reason]) return REASONS[reason]();
  const named = Object.entries(err.details?.fields ?? {});
  if (err.code === 'validation_failed' && named.length) {
    return named.map(([f, message]) => fieldText(f, message, fields)).join(' ');
  }
  return CODES[err.code]?.() ?? (err.message || t('error.generic'));
}
