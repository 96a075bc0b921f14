// The security settings: two-factor sign-in (TOTP: set up with a QR code from the server,
// confirm with a code, recovery codes shown once, turn off with password and code) and the
// language of the mails the account gets.

import { h, replace, toast, t } from './dom.js';
import { icon } from '../icons.js';

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
  d.addEventListener('close', () => d.remove());
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
          status.textContent = err.message;
        }
      },
    },
    h('option', { value: 'en' }, 'English'),
    h('option', { value: 'de' }, 'Deutsch'),
  );
  replace(body, status, section, h('label.field', h('span', t('security.mail_language')), langSelect));
  client.api('GET', '/users/me/preferences').then((p) => (langSelect.value = p.language), () => {});

  async function show() {
    status.textContent = '';
    let mfa;
    try {
      mfa = await client.api('GET', '/users/me/mfa');
    } catch (err) {
      status.textContent = err.message;
      return;
    }
    if (mfa.enabled) showEnabled(mfa);
    else showDisabled(mfa);
  }

  function showDisabled(mfa) {
    replace(
      section,
      h('h3', t('security.mfa')),
      h('p#mfa-state', mfa.required ? t('security.mfa_off_required') : t('security.mfa_off')),
      h('button.primary#mfa-setup', { type: 'button', onclick: enrol }, t('security.mfa_setup')),
    );
  }

  async function enrol() {
    status.textContent = '';
    let e;
    try {
      e = await client.api('POST', '/users/me/mfa/totp');
    } catch (err) {
      status.textContent = err.message;
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
            status.textContent = err.message;
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
            status.textContent = err.message;
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
