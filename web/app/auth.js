// The sign-in and registration screen, with the "forgot password" flow (a reset mail), the
// reset form a mail's link opens (`/#reset-password=<token>`), and the code step of accounts
// with two-factor on.

import { h, replace } from './dom.js';

/**
 * @param {HTMLElement} root
 * @param {import('../plauder-client.js').PlauderClient} client
 * @param {() => void} onSignedIn
 * @param {string} [signedOutNotice] why the user is here (session ended, banned)
 */
export function renderAuth(root, client, onSignedIn, signedOutNotice = '') {
  let mode = 'login';
  const status = h('p.form-error#auth-error', { role: 'alert' }, signedOutNotice);

  const field = (label, input, hint = '') =>
    h('label.field', h('span', label), input, hint && h('small.hint', hint), h('small.field-error', { dataset: { for: input.name } }));

  const loginInput = h('input', { name: 'login', autocomplete: 'username', required: true, autofocus: true });
  const passInput = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const loginForm = h(
    'form.auth-form#login-form',
    { onsubmit: (e) => submit(e, () => client.login(loginInput.value.trim(), passInput.value)) },
    field('Username or email', loginInput),
    field('Password', passInput),
    h('button.primary.wide', { type: 'submit' }, 'Sign in'),
  );

  const regUser = h('input', { name: 'username', autocomplete: 'username', required: true, minlength: 3, maxlength: 32 });
  const regName = h('input', { name: 'display_name', autocomplete: 'name', maxlength: 64 });
  const regEmail = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const regPass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const registerForm = h(
    'form.auth-form#register-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, () =>
          client.register({
            username: regUser.value.trim(),
            email: regEmail.value.trim(),
            password: regPass.value,
            ...(regName.value.trim() ? { display_name: regName.value.trim() } : {}),
          }),
        ),
    },
    field('Username', regUser, 'Letters, digits, . _ - (3–32)'),
    field('Display name', regName, 'Optional: how others see you'),
    field('Email', regEmail),
    field('Password', regPass, 'At least 8 characters'),
    h('button.primary.wide', { type: 'submit' }, 'Create account'),
  );

  const forgotEmail = h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true });
  const forgotForm = h(
    'form.auth-form#forgot-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, async () => {
          await client.requestPasswordReset(forgotEmail.value.trim());
          showDone('If an account has this address, a mail with a link to choose a new password is on its way.');
          return false;
        }),
    },
    h('p.small', 'Enter the email address of your account; we mail you a link to choose a new password.'),
    field('Email', forgotEmail),
    h('button.primary.wide', { type: 'submit' }, 'Send reset link'),
    h('button.link#back-to-login', { type: 'button', onclick: () => setMode('login') }, 'Back to sign in'),
  );

  const resetToken = readResetToken();
  const resetPass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const resetForm = h(
    'form.auth-form#reset-form',
    {
      hidden: true,
      onsubmit: (e) =>
        submit(e, async () => {
          await client.confirmPasswordReset(resetToken ?? '', resetPass.value);
          history.replaceState(null, '', location.pathname + location.search);
          setMode('login');
          status.textContent = '';
          notice.textContent = 'Your password is changed and every session signed out. Sign in with the new one.';
          return false;
        }),
    },
    h('p.small', 'Choose a new password. Every device signed in to your account will be signed out.'),
    field('New password', resetPass, 'At least 8 characters'),
    h('button.primary.wide', { type: 'submit' }, 'Set password'),
  );

  let mfaToken = '';
  const mfaCode = h('input', { name: 'code', autocomplete: 'one-time-code', required: true, inputmode: 'text' });
  const mfaForm = h(
    'form.auth-form#mfa-form',
    {
      hidden: true,
      onsubmit: (e) => submit(e, () => client.completeLogin(mfaToken, mfaCode.value.trim())),
    },
    h('p.small', 'Two-factor sign-in is on for this account.'),
    field('Code from your authenticator app, or a recovery code', mfaCode),
    h('button.primary.wide', { type: 'submit' }, 'Verify'),
  );

  const notice = h('p.form-notice#auth-notice', { role: 'status' });
  const forgotLink = h('button.link#forgot-password', { type: 'button', onclick: () => setMode('forgot') }, 'Forgot password?');

  function showDone(text) {
    notice.textContent = text;
  }

  const tabLogin = h('button.tab', { type: 'button', role: 'tab', 'aria-selected': 'true', onclick: () => setMode('login') }, 'Sign in');
  const tabRegister = h('button.tab#tab-register', { type: 'button', role: 'tab', 'aria-selected': 'false', onclick: () => setMode('register') }, 'Create account');
  const tabs = h('div.tabs', { role: 'tablist' }, tabLogin, tabRegister);

  function setMode(m) {
    mode = m;
    loginForm.hidden = m !== 'login';
    registerForm.hidden = m !== 'register';
    forgotForm.hidden = m !== 'forgot';
    resetForm.hidden = m !== 'reset';
    mfaForm.hidden = m !== 'mfa';
    forgotLink.hidden = m !== 'login';
    tabs.hidden = m === 'reset' || m === 'mfa';
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabRegister.setAttribute('aria-selected', String(m === 'register'));
    status.textContent = '';
    notice.textContent = '';
    ({ login: loginInput, register: regUser, forgot: forgotEmail, reset: resetPass, mfa: mfaCode })[m].focus();
  }

  async function submit(e, action) {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const button = form.querySelector('button[type=submit]');
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    status.textContent = '';
    button.disabled = true;
    try {
      // An action that does not sign in says so by returning false.
      if ((await action()) !== false) onSignedIn();
    } catch (err) {
      if (err.code === 'mfa_required') {
        mfaToken = err.details.mfa_token;
        mfaCode.value = '';
        setMode('mfa');
        return;
      }
      const fields = err.details?.fields ?? {};
      for (const [name, reason] of Object.entries(fields)) {
        const slot = form.querySelector(`.field-error[data-for="${CSS.escape(name)}"]`);
        if (slot) slot.textContent = String(reason);
      }
      status.textContent = err.code === 'unauthorized' && mode === 'login' ? 'Wrong username/email or password.' : err.message;
    } finally {
      button.disabled = false;
    }
  }

  replace(
    root,
    h(
      'div.auth',
      h(
        'section.auth-card',
        h('div.brand', h('span.logo', { 'aria-hidden': 'true' }), h('h1', 'plauder')),
        h('p.tagline', 'Chat with friends and groups, in real time.'),
        tabs,
        status,
        notice,
        loginForm,
        forgotLink,
        registerForm,
        forgotForm,
        resetForm,
        mfaForm,
      ),
    ),
  );
  setMode(resetToken ? 'reset' : mode);
  if (signedOutNotice) status.textContent = signedOutNotice;
}

/** The token of a reset link (`#reset-password=<token>`), if the page was opened with one. */
function readResetToken() {
  const m = location.hash.match(/^#reset-password=([A-Za-z0-9_-]+)$/);
  return m ? m[1] : null;
}
