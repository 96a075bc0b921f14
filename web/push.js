// What a Web Push message shows: the notification built from the server's payload (see
// docs/protocol.md, "Push notifications"). A classic script, so that the service worker can load
// it with importScripts and a page (the browser tests) with a script element; it only defines
// `self.plauderPush` and has no other effect.
(function () {
  'use strict';

  /** The longest body shown; the system cuts notifications shorter anyway. */
  var MAX_BODY = 300;

  /**
   * A same-origin path to open on click: the payload's `url` when it is one (`/#room=…`,
   * `/admin#support=…`), else the app. A payload never sends the click elsewhere.
   */
  function safeUrl(url) {
    if (typeof url !== 'string' || url.charAt(0) !== '/' || url.charAt(1) === '/' || url.charAt(1) === '\\') return '/';
    return url;
  }

  function text(v) {
    return typeof v === 'string' ? v : '';
  }

  /**
   * The notification for a push payload, or null for one this build does not know.
   * @param {any} payload the decrypted JSON: `{kind: 'message'|'support', room_id, room_name,
   *   sender, body, url, message_id?, mention?}`
   * @param {{icon?: string}} [opts] the icon's URL
   * @returns {?{title: string, options: NotificationOptions}}
   */
  function notificationFromPayload(payload, opts) {
    if (!payload || typeof payload !== 'object') return null;
    if (payload.kind !== 'message' && payload.kind !== 'support') return null;
    var body = text(payload.body);
    var sender = text(payload.sender);
    // A chat message names its sender in the body; the title is the room ("Team", or the other
    // person's name in a direct chat). A support chat's room is named after the visitor already.
    if (payload.kind === 'message' && sender) body = sender + ': ' + body;
    if (body.length > MAX_BODY) body = body.slice(0, MAX_BODY - 1) + '…';
    var options = {
      body: body,
      // One notification per room: a burst of messages replaces it instead of piling up.
      tag: text(payload.room_id) || 'plauder',
      data: {
        url: safeUrl(payload.url),
        kind: payload.kind,
        room_id: text(payload.room_id),
        message_id: text(payload.message_id) || null,
        mention: payload.mention === true,
      },
    };
    if (opts && opts.icon) options.icon = opts.icon;
    return { title: text(payload.room_name) || 'plauder', options: options };
  }

  self.plauderPush = { notificationFromPayload: notificationFromPayload, safeUrl: safeUrl };
})();
