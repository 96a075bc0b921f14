// The security settings: two-factor sign-in (TOTP: set up with a QR code from the server,
// confirm with a code, recovery codes shown once, turn off with password and code) and the
// language of the mails the account gets.

import { h, replace, toast } from './dom.js';

/** Opens the security settings as a modal dialog. */
export function securityDialog(app) {
  const { client } = app;
  const body = h('div.security');
  const d = h(
    'dialog.modal#security-dialog',
    { 'aria-label': 'Security' },
    h('header.modal-head', h('h2', 'Security'), h('button.icon', { type: 'button', 'aria-label': 'Close', onclick: () => d.close() }, '✕')),
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
      'aria-label': 'Language of mails',
      onchange: async () => {
        try {
          await client.api('PATCH', '/users/me/preferences', { language: langSelect.value });
          toast('Saved.');
        } catch (err) {
          status.textContent = err.message;
        }
      },
    },
    h('option', { value: 'en' }, 'English'),
    h('option', { value: 'de' }, 'Deutsch'),
  );
  replace(body, status, section, h('label.field', h('span', 'Language of mails (password reset)'), langSelect));
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
      h('h3', 'Two-factor sign-in'),
      h('p#mfa-state', mfa.required ? 'Off. Your role needs it: set it up to use your staff rights.' : 'Off.'),
      h('button.primary#mfa-setup', { type: 'button', onclick: enrol }, 'Set up two-factor sign-in'),
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
      h('label.field', h('span', 'Code from the app'), code),
      h('button.primary', { type: 'submit' }, 'Turn on'),
    );
    replace(
      section,
      h('h3', 'Two-factor sign-in'),
      h('p', 'Scan this code with an authenticator app, or type the key into it; then enter the code it shows.'),
      // The server renders the QR code; as an image it cannot run anything.
      h('img.qr#totp-qr', { src: `data:image/svg+xml;base64,${btoa(e.qr_svg)}`, alt: 'QR code of the two-factor key', width: 200, height: 200 }),
      h('p', 'Key: ', h('code#totp-secret', e.secret)),
      form,
    );
    code.focus();
  }

  function showCodes(codes) {
    replace(
      section,
      h('h3', 'Two-factor sign-in is on'),
      h('p', 'Keep these recovery codes somewhere safe. Each signs you in once without the app; they are not shown again. Your other devices were signed out.'),
      h('ul#recovery-codes', codes.map((c) => h('li', h('code', c)))),
      h('button#mfa-done', { type: 'button', onclick: show }, 'Done'),
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
            toast('Two-factor sign-in is off.');
            show();
          } catch (err) {
            status.textContent = err.message;
          }
        },
      },
      h('label.field', h('span', 'Password'), password),
      h('label.field', h('span', 'Code from the app, or a recovery code'), code),
      h('button', { type: 'submit' }, 'Turn off'),
    );
    replace(
      section,
      h('h3', 'Two-factor sign-in'),
      h('p#mfa-state', `On. ${mfa.recovery_codes_left} recovery codes left.`),
      form,
    );
  }

  show();
}
