// The account in the browser: change the password (other sessions are
// ended and the page says why), log out, log out everywhere, delete the
// account (asked again, with the password).

import { test, assert, assertEqual, eventually } from './lib/harness.mjs';
import { newUser, openPage, assertClean } from './lib/browser.mjs';
import { TcpUser } from './lib/tcp.mjs';

async function login(p, id, password) {
  await p.page.fill('#login-id', String(id));
  await p.page.fill('#login-password', password);
  await p.page.click('#login-form button[type=submit]');
  await p.page.waitForSelector('#app:not([hidden])');
}

const session = (p) => p.page.evaluate(() => localStorage.getItem('chat.session'));

test('password change elsewhere ends the page session and says why', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Paula'));
  assert(await session(web), 'the token is stored');
  // The same user on TCP changes the password: the page's session ends.
  const tcp = await TcpUser.connect(t.server.tcpPort);
  try {
    await tcp.req('login', { user: web.id, password: web.password });
    await tcp.req('change_password', { old: web.password, new: 'newsecret1' });
    await web.page.waitForSelector('#login-screen:not([hidden])');
    await web.page.waitForSelector('#login-ended:has-text("Your password was changed in another session")');
    // (After a moment, in case another tab of this browser stores a newer one.)
    await eventually(async () => (await session(web)) === null, { what: 'the token to be forgotten', timeoutMs: 6000 });
    // A reload stays logged out; the new password works.
    await web.page.reload();
    await web.page.waitForSelector('#login-screen:not([hidden])');
    await login(web, web.id, 'newsecret1');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('change password, log out, log out everywhere and delete the account in the browser', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Dora'));
  const other = t.track(await openPage(t.browser, t.server.url, { label: 'Dora-2' }));
  await login(other, web.id, web.password);

  // Change the password on the account page: the other page is ended.
  await web.page.click('#me-link');
  await web.page.waitForSelector('#account-id');
  assertEqual(await web.page.textContent('#account-id'), String(web.id), 'the account page shows the id');
  await t.shot(web, 'account');
  await web.page.fill('#pw-old', 'wrong-one');
  await web.page.fill('#pw-new', 'secret34');
  await web.page.fill('#pw-again', 'secret34');
  await web.page.click('button:has-text("Change password")');
  await web.page.waitForSelector('.toast.error:has-text("The current password is not right.")');
  await web.page.fill('#pw-old', web.password);
  await web.page.fill('#pw-new', 'secret34');
  await web.page.fill('#pw-again', 'secret34');
  await web.page.click('button:has-text("Change password")');
  await web.page.waitForSelector('.toast:has-text("Password changed")');
  await other.page.waitForSelector('#login-ended:has-text("Your password was changed")');
  // This page goes on, with its new token, across a reload.
  await web.page.reload();
  await web.page.waitForSelector('#account-id');

  // Log out here: back to the login screen, the token forgotten.
  await web.page.click('#logout');
  await web.page.waitForSelector('#login-ended:has-text("You logged out.")');
  assertEqual(await session(web), null, 'no token after logout');

  // Log out everywhere: the other page too.
  await login(web, web.id, 'secret34');
  await login(other, web.id, 'secret34');
  await web.page.evaluate(() => { location.hash = '#/account'; });
  await web.page.click('#logout-everywhere');
  await web.page.click('#confirm-ok');
  await web.page.waitForSelector('#login-ended:has-text("You logged out on every device.")');
  await other.page.waitForSelector('#login-ended:has-text("You were logged out everywhere.")');

  // Delete: asked again, the password checked.
  await login(web, web.id, 'secret34');
  await web.page.evaluate(() => { location.hash = '#/account'; });
  await web.page.click('#delete-account');
  await web.page.waitForSelector('#confirm-dialog[open] >> text=Delete your account?');
  await web.page.fill('#confirm-password', 'not-my-password');
  await web.page.click('#confirm-ok');
  await web.page.waitForSelector('#confirm-dialog .form-error:has-text("That password is not right.")');
  await web.page.fill('#confirm-password', 'secret34');
  await web.page.click('#confirm-ok');
  await web.page.waitForSelector('#login-ended:has-text("This account was deleted.")');
  // Gone for good.
  await web.page.fill('#login-id', String(web.id));
  await web.page.fill('#login-password', 'secret34');
  await web.page.click('#login-form button[type=submit]');
  await web.page.waitForSelector('#login-form .form-error:has-text("do not match")');
  assertClean(web);
  assertClean(other);
});

test('two tabs of one browser share the session', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Tabitha'));
  // A second tab of the same browser: logged in by the stored token.
  const page2 = await web.context.newPage();
  const errors = [];
  page2.on('pageerror', (e) => errors.push(e.message));
  let ended = false;
  page2.on('websocket', (ws) => ws.on('framereceived', (f) => {
    if (String(f.payload).includes('"session_ended"')) ended = true;
  }));
  await page2.goto(t.server.url);
  await page2.waitForSelector('#app:not([hidden])');
  await page2.waitForSelector('#conn-dot.online');
  // The password changed in the first tab: the server ends the second
  // tab's session, which takes up the new token and stays logged in.
  await web.page.click('#me-link');
  await web.page.fill('#pw-old', web.password);
  await web.page.fill('#pw-new', 'tabsecret1');
  await web.page.fill('#pw-again', 'tabsecret1');
  await web.page.click('button:has-text("Change password")');
  await web.page.waitForSelector('.toast:has-text("Password changed")');
  await eventually(() => ended, { what: "the server to end the second tab's session" });
  await page2.waitForSelector('#conn-dot.online');
  await page2.waitForSelector('#app:not([hidden])');
  assert(await page2.isHidden('#login-screen'), 'the second tab is still logged in');
  // Logging out in one tab logs out the other.
  await web.page.click('#logout');
  await page2.waitForSelector('#login-ended:has-text("You logged out in another tab.")');
  assertEqual(errors, [], 'no errors in the second tab');
  assertClean(web);
});
