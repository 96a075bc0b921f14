// The security settings: the password (changed with the current one; other devices are signed
// out, this one carries on with the new session the server hands it), where the account is
// signed in (each session with its browser, signed out one by one, this device, or everywhere),
// two-factor sign-in (TOTP: set up with a QR code from the server, confirm with a code, recovery
// codes shown once, turn off with password and code), the language of the mails the account
// gets, whether it gets the email digest of what it missed while away, and whether this device
// gets push notifications (devicepush.js).

import { h, replace, toast, t, shortTime } from './dom.js';
import { formatDate } from '../i18n/i18n.js';
import { icon } from '../icons.js';
import { browserName } from '../useragent.js';
import { pushSection } from './devicepush.js';
import { fieldText, serverText } from '../errors.js';

/** Opens the security settings as a modal dialog. */
export function securityDialog(app) {
  const { client } = app;
  const body = h('div.security');
  const d = h(
    'dialog.modal#security-dialog',
    { 'aria-label': t('security.title') },
    h('header.modal-head', h('h2', t('security.title')), h('button.icon', { type: 'button', 'aria-label': t('common.close'), onclick: () => d.close() }, icon('close'))),
    body,
  );
  // Signed out (this device, everywhere, or by the server): the dialog goes with the session.
  const gone = new AbortController();
  client.addEventListener('signedout', () => d.close(), { signal: gone.signal });
  d.addEventListener('close', () => {
    gone.abort();
    d.remove();
  });
  document.body.append(d);
  d.showModal();

  const status = h('p.form-error#security-error', { role: 'alert' });
  const section = h('section#mfa-section');
  const langSelect = h(
    'select#mail-language',
    {
      'aria-label': t('security.mail_language'),
      onchange: async () => {
        try {
          await client.api('PATCH', '/users/me/preferences', { language: langSelect.value });
          toast(t('security.saved'));
        } catch (err) {
          status.textContent = serverText(err);
        }
      },
    },
    h('option', { value: 'en' }, 'English'),
    h('option', { value: 'de' }, 'Deutsch'),
  );
  const digestToggle = h('input#email-digest', {
    type: 'checkbox',
    onchange: async () => {
      try {
        await client.api('PATCH', '/users/me/preferences', { email_digest: digestToggle.checked });
        toast(t('security.saved'));
      } catch (err) {
        status.textContent = serverText(err);
        digestToggle.checked = !digestToggle.checked;
      }
    },
  });
  const passwordSection = h('section#password-section');
  const sessionsSection = h('section#sessions-section');
  replace(body, status, passwordSection, sessionsSection, section, h('label.field', h('span', t('security.mail_language')), langSelect), h('label.check-field', digestToggle, h('span', t('security.email_digest'))), pushSection(app));
  passwordForm();
  sessions();

  /** Current password, the new one twice; field errors from the server beside the fields. */
  function passwordForm() {
    const field = (id, label, autocomplete) => {
      const input = h(`input#${id}`, { name: id, type: 'password', autocomplete, required: true, 'aria-describedby': `${id}-error` });
      const error = h(`small.field-error#${id}-error`);
      return { input, error, el: h('label.field', h('span', label), input, error) };
    };
    const current = field('current-password', t('security.current_password'), 'current-password');
    const next = field('new-password', t('auth.new_password'), 'new-password');
    const again = field('repeat-password', t('security.repeat_password'), 'new-password');
    const submit = h('button.primary', { type: 'submit' }, t('security.change_password'));
    const form = h(
      'form.auth-form#password-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          status.textContent = '';
          for (const f of [current, next, again]) f.error.textContent = '';
          if (next.input.value !== again.input.value) {
            again.error.textContent = t('security.passwords_differ');
            again.input.focus();
            return;
          }
          submit.disabled = true;
          try {
            await client.changePassword(current.input.value, next.input.value);
            form.reset();
            toast(t('security.password_changed'));
            sessions();
          } catch (err) {
            if (err.code === 'forbidden') {
              current.error.textContent = t('security.wrong_password');
              current.input.focus();
            } else if (err.details?.fields?.password) {
              // The server names the new password `password` (the rules a password must meet).
              next.error.textContent = fieldText('password', err.details.fields.password);
              next.input.focus();
            } else {
              status.textContent = serverText(err);
            }
          } finally {
            submit.disabled = false;
          }
        },
      },
      current.el,
      next.el,
      again.el,
      h('p.small.muted', t('security.password_hint')),
      submit,
    );
    replace(passwordSection, h('h3', t('security.password')), form);
  }

  /** Where the account is signed in: GET /users/me/sessions. */
  async function sessions() {
    let list;
    try {
      ({ sessions: list } = await client.api('GET', '/users/me/sessions'));
    } catch (err) {
      replace(sessionsSection, h('h3', t('security.sessions')), h('p.form-error', serverText(err)));
      return;
    }
    const confirmBox = h('div.confirm-row#logout-everywhere-confirm', { hidden: true });
    const everywhere = h('button.chip.danger#logout-everywhere', {
      type: 'button',
      onclick: () => {
        everywhere.hidden = true;
        confirmBox.hidden = false;
        confirmBox.querySelector('button')?.focus();
      },
    }, t('security.sign_out_everywhere'));
    replace(
      confirmBox,
      h('p', t('security.everywhere_confirm', { count: list.length })),
      h('button.danger-fill#logout-everywhere-yes', {
        type: 'button',
        onclick: async () => {
          try {
            await client.logoutEverywhere();
          } catch (err) {
            status.textContent = serverText(err);
          }
        },
      }, t('security.sign_out_everywhere_yes')),
      h('button.chip', { type: 'button', onclick: () => { confirmBox.hidden = true; everywhere.hidden = false; everywhere.focus(); } }, t('common.cancel')),
    );
    replace(
      sessionsSection,
      h('h3', t('security.sessions')),
      h(
        'ul.sessions-list#sessions-list',
        list.map((s) =>
          h(
            'li.session-item',
            { dataset: { sessionId: s.id, current: String(s.current) } },
            h(
              'div.session-text',
              h('strong', { title: s.user_agent ?? '' }, s.user_agent ? browserName(s.user_agent) : t('security.unknown_device')),
              s.current ? h('span.badge.current-badge', t('security.this_device')) : null,
              h('span.small.muted', t('security.session_times', {
                since: formatDate(s.created_at, { dateStyle: 'medium' }),
                active: shortTime(s.last_active_at),
              })),
            ),
            s.current
              ? h('button.chip.sign-out-session', { type: 'button', onclick: () => client.logout() }, t('security.sign_out_this'))
              : h('button.chip.sign-out-session', {
                  type: 'button',
                  'aria-label': t('security.sign_out_device', { device: s.user_agent ? browserName(s.user_agent) : t('security.unknown_device') }),
                  onclick: async () => {
                    try {
                      await client.api('DELETE', `/users/me/sessions/${s.id}`);
                      toast(t('security.signed_out_device'));
                    } catch (err) {
                      status.textContent = serverText(err);
                    }
                    await sessions();
                    sessionsSection.querySelector('h3')?.focus();
                  },
                }, t('side.sign_out')),
          ),
        ),
      ),
      everywhere,
      confirmBox,
    );
    sessionsSection.querySelector('h3')?.setAttribute('tabindex', '-1');
  }

  client.api('GET', '/users/me/preferences').then((p) => {
    langSelect.value = p.language;
    digestToggle.checked = Boolean(p.email_digest);
  }, () => {});

  async function show() {
    status.textContent = '';
    let mfa;
    try {
      mfa = await client.api('GET', '/users/me/mfa');
    } catch (err) {
      status.textContent = serverText(err);
      return;
    }
    if (mfa.enabled) showEnabled(mfa);
    else showDisabled(mfa);
  }

  function showDisabled(mfa) {
    // The server asks for the password: turning two-factor on ends every other session.
    const password = h('input#mfa-setup-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const form = h(
      'form.auth-form#mfa-setup-form',
      {
        onsubmit: (ev) => {
          ev.preventDefault();
          enrol(password.value);
        },
      },
      h('label.field', h('span', t('auth.password')), password),
      h('button.primary#mfa-setup', { type: 'submit' }, t('security.mfa_setup')),
    );
    replace(
      section,
      h('h3', t('security.mfa')),
      h('p#mfa-state', mfa.required ? t('security.mfa_off_required') : t('security.mfa_off')),
      h('p', t('security.mfa_password')),
      form,
    );
  }

  async function enrol(password) {
    status.textContent = '';
    let e;
    try {
      e = await client.api('POST', '/users/me/mfa/totp', { password });
    } catch (err) {
      status.textContent = serverText(err, { codes: { forbidden: () => t('security.wrong_password') } });
      return;
    }
    const code = h('input#totp-code', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, pattern: '[0-9 ]{6,7}', maxlength: 7 });
    const form = h(
      'form.auth-form#totp-confirm-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          status.textContent = '';
          try {
            const codes = await client.confirmTotp(code.value.replace(/\s/g, ''));
            showCodes(codes);
          } catch (err) {
            status.textContent = serverText(err);
          }
        },
      },
      h('label.field', h('span', t('security.code')), code),
      h('button.primary', { type: 'submit' }, t('security.turn_on')),
    );
    replace(
      section,
      h('h3', t('security.mfa')),
      h('p', t('security.scan')),
      // The server renders the QR code; as an image it cannot run anything.
      h('img.qr#totp-qr', { src: `data:image/svg+xml;base64,${btoa(e.qr_svg)}`, alt: t('security.qr_alt'), width: 200, height: 200 }),
      h('p', t('security.key'), ' ', h('code#totp-secret', e.secret)),
      form,
    );
    code.focus();
  }

  function showCodes(codes) {
    replace(
      section,
      h('h3', t('security.mfa_now_on')),
      h('p', t('security.recovery_intro')),
      h('ul#recovery-codes', codes.map((c) => h('li', h('code', c)))),
      h('button#mfa-done', { type: 'button', onclick: show }, t('security.done')),
    );
  }

  function showEnabled(mfa) {
    const password = h('input#disable-password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const code = h('input#disable-code', { name: 'code', autocomplete: 'one-time-code', required: true });
    const form = h(
      'form.auth-form#totp-disable-form',
      {
        onsubmit: async (ev) => {
          ev.preventDefault();
          status.textContent = '';
          try {
            await client.api('POST', '/users/me/mfa/totp/disable', { password: password.value, code: code.value.trim() });
            toast(t('security.mfa_turned_off'));
            show();
          } catch (err) {
            status.textContent = serverText(err, { codes: { forbidden: () => t('security.wrong_password_or_code') } });
          }
        },
      },
      h('label.field', h('span', t('auth.password')), password),
      h('label.field', h('span', t('auth.mfa_code')), code),
      h('button', { type: 'submit' }, t('security.turn_off')),
    );
    replace(
      section,
      h('h3', t('security.mfa')),
      h('p#mfa-state', t('security.mfa_on', { count: mfa.recovery_codes_left })),
      form,
    );
  }

  show();
}
