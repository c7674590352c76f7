// The account page: your id (to give to friends), change the password, log
// out here or everywhere, delete the account (asked again, with the
// password).

import { h, fill } from '../dom.js';
import { ask, copyText } from './dialogs.js';

export class AccountPage {
  constructor(ui) {
    this.ui = ui;
    this.client = ui.client;
  }

  mount(root) {
    const c = this.client;
    const me = c.me;
    const copy = h('button', { type: 'button', class: 'small' }, 'Copy id');
    copy.addEventListener('click', async () => {
      copy.textContent = (await copyText(String(me.id))) ? 'Copied' : 'Select the number to copy it';
    });

    const old = h('input', { id: 'pw-old', type: 'password', autocomplete: 'current-password' });
    const next = h('input', { id: 'pw-new', type: 'password', autocomplete: 'new-password', 'aria-describedby': 'pw-help' });
    const again = h('input', { id: 'pw-again', type: 'password', autocomplete: 'new-password' });
    const pwForm = h('form', { class: 'stack', 'aria-labelledby': 'h-password' },
      h('h2', { id: 'h-password' }, 'Change your password'),
      h('label', { for: 'pw-old' }, 'Current password'), old,
      h('label', { for: 'pw-new' }, 'New password'), next,
      h('small', { id: 'pw-help', class: 'help' }, 'At least 6 characters. Your other devices are logged out.'),
      h('label', { for: 'pw-again' }, 'New password again'), again,
      h('button', { type: 'submit', class: 'primary' }, 'Change password'));
    pwForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ui.run(pwForm.querySelector('button'), async () => {
        if (new TextEncoder().encode(next.value).length < 6) throw new Error('The new password needs at least 6 characters.');
        if (next.value !== again.value) throw new Error('The two new passwords are not the same.');
        try {
          await c.changePassword(old.value, next.value);
        } catch (err) {
          if (err.code === 'bad_credentials') throw new Error('The current password is not right.');
          throw err;
        }
        pwForm.reset();
        this.ui.toast('Password changed. Your other devices were logged out.');
      });
    });

    const logout = h('button', { type: 'button', id: 'logout' }, 'Log out');
    logout.addEventListener('click', () => {
      const n = c.pending.length;
      if (n) {
        ask({
          title: 'Log out?',
          text: `${n} message${n === 1 ? ' has' : 's have'} not been sent yet and will be lost.`,
          ok: 'Log out',
          danger: true,
          action: () => c.logout(),
        });
      } else {
        this.ui.run(logout, () => c.logout());
      }
    });
    const everywhere = h('button', { type: 'button', id: 'logout-everywhere' }, 'Log out everywhere');
    everywhere.addEventListener('click', () => ask({
      title: 'Log out everywhere?',
      text: 'Every device where you are logged in, this one included, is logged out.',
      ok: 'Log out everywhere',
      action: () => c.logout({ everywhere: true }),
    }));

    const del = h('button', { type: 'button', class: 'danger', id: 'delete-account' }, 'Delete my account');
    del.addEventListener('click', () => ask({
      title: 'Delete your account?',
      text: `This deletes the account ${me.name} (id ${me.id}) for good: your friendships, requests, invites and group memberships go, groups you created pass to another member. Messages you sent stay with those who got them. Type your password to confirm.`,
      ok: 'Delete my account',
      danger: true,
      password: true,
      action: (password) => c.deleteAccount(password),
    }));

    fill(root,
      h('header', { class: 'conv-head' },
        h('a', { class: 'back button-like', href: '#/', 'aria-label': 'Back to the list' }, '←'),
        h('div', { class: 'title' }, h('h2', null, 'Your account'))),
      h('div', { class: 'page' },
        h('section', null,
          h('h2', null, me.name),
          h('p', null, 'Your user id:'),
          h('p', { class: 'big-id', id: 'account-id' }, String(me.id)),
          h('p', { class: 'muted' }, 'Friends add you with this number, and you log in with it.'),
          copy),
        h('section', null, pwForm),
        h('section', null,
          h('h2', null, 'Log out'),
          h('p', { class: 'muted' }, '"Log out" ends this session and forgets it in this browser. "Log out everywhere" also ends your sessions on every other device.'),
          h('div', { class: 'row' }, logout, everywhere)),
        h('section', null,
          h('h2', null, 'Delete the account'),
          h('p', { class: 'muted' }, 'You will be asked again.'),
          del)));
  }

  unmount() {}

  update() {}
}
