// The page's two dialogs: a confirmation (optionally asking for the
// password, and running the action inside so that an error shows right
// there), and the welcome that shows a new account's id.

import { $ } from '../dom.js';
import { plain } from '../errors.js';

/**
 * Asks before doing something. Resolves true when `action` ran and
 * succeeded, false when the user cancelled.
 * @param {{title: string, text: string, ok: string, danger?: boolean,
 *          password?: boolean, action: (password?: string) => Promise<unknown>}} o
 */
export function ask(o) {
  const dialog = $('confirm-dialog');
  const form = dialog.querySelector('form');
  const error = form.querySelector('.form-error');
  const pw = $('confirm-password');
  const okButton = $('confirm-ok');
  $('confirm-title').textContent = o.title;
  $('confirm-text').textContent = o.text;
  okButton.textContent = o.ok;
  okButton.className = o.danger ? 'danger' : 'primary';
  pw.hidden = !o.password;
  $('confirm-password-label').hidden = !o.password;
  pw.value = '';
  error.hidden = true;
  return new Promise((resolve) => {
    let busy = false;
    const onSubmit = async (e) => {
      const submitter = e.submitter;
      if (!submitter || submitter.value !== 'ok') return; // Cancel closes.
      e.preventDefault();
      if (busy) return;
      if (o.password && !pw.value) {
        error.textContent = 'Type your password to confirm.';
        error.hidden = false;
        pw.focus();
        return;
      }
      busy = true;
      okButton.disabled = true;
      try {
        await o.action(o.password ? pw.value : undefined);
        finish(true);
      } catch (err) {
        error.textContent = plain(err, { password: o.password });
        error.hidden = false;
      } finally {
        busy = false;
        okButton.disabled = false;
      }
    };
    const onClose = () => finish(false);
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      pw.value = '';
      resolve(result);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
    (o.password ? pw : $('confirm-cancel')).focus();
  });
}

/** Shows a new account's id, big, with a copy button. */
export function welcome(user) {
  const dialog = $('welcome-dialog');
  $('welcome-name').textContent = user.name;
  $('welcome-id').textContent = String(user.id);
  const copy = $('welcome-copy');
  copy.textContent = 'Copy id';
  copy.onclick = () => copyText(String(user.id)).then((ok) => {
    copy.textContent = ok ? 'Copied' : 'Select the number to copy it';
  });
  dialog.showModal();
  $('welcome-ok').focus();
}

/** Copies to the clipboard when the browser allows it. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
