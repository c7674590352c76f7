// Two people in two browsers: register, befriend through a request, chat
// both ways live, see each other's presence; errors in plain words.

import { test, assert, assertEqual, eventually } from './lib/harness.mjs';
import {
  newUser, openPage, requestFriend, showTab, say, shownMessages, waitForText, assertClean,
} from './lib/browser.mjs';
import { tcpUser } from './lib/tcp.mjs';

test('two browser users befriend through a request and chat both ways live', async (t) => {
  const url = t.server.url;
  const alice = t.track(await newUser(t.browser, url, 'Alice'));
  const bob = t.track(await newUser(t.browser, url, 'Bob'));
  assert(alice.id !== bob.id, 'two accounts, two ids');
  // The id shows in the top bar too.
  assertEqual(await alice.page.textContent('#me-id'), `id ${alice.id}`, 'the top bar shows the id');

  await requestFriend(alice, bob.id);
  await alice.page.waitForSelector(`#panel-people li[data-user="${bob.id}"] >> text=waiting for an answer`);
  // Bob gets the request live: a count on the People tab, then the row.
  await bob.page.waitForSelector('#count-people:text("1")');
  await showTab(bob, 'people');
  await bob.page.click('button[aria-label="Accept Alice"]');
  await bob.page.waitForSelector(`#panel-people li[data-user="${alice.id}"] >> text=online`);
  // Alice sees Bob as a friend, online, live.
  await alice.page.waitForSelector(`#panel-people li[data-user="${bob.id}"] >> text=online`);
  await alice.page.waitForSelector(`#panel-people li[data-user="${bob.id}"] .presence.on`);

  await alice.page.click(`button[aria-label="Chat with Bob"]`);
  await alice.page.waitForSelector('#composer-text');
  await say(alice, 'Hello Bob!');
  const sent = await waitForText(alice, 'Hello Bob!', { sent: true });
  assert(sent.mine && sent.id > 0, 'the message is shown as sent, with its server id');

  // Bob is not looking at the conversation: an unread count, then the text.
  await showTab(bob, 'chats');
  await bob.page.waitForSelector(`#panel-chats a[data-key="u:${alice.id}"] .badge:text("1")`);
  assertEqual(await bob.page.title(), '(1) Chat', 'the unread count is in the title');
  await bob.page.click(`#panel-chats a[data-key="u:${alice.id}"]`);
  await waitForText(bob, 'Hello Bob!');
  await eventually(async () => !(await bob.page.$(`#panel-chats a[data-key="u:${alice.id}"] .badge`)), { what: 'the unread count to clear' });
  assertEqual(await bob.page.title(), 'Chat', 'no unread left');

  await say(bob, 'Hi Alice, how are you?');
  await waitForText(alice, 'Hi Alice, how are you?');
  await say(alice, 'Fine, thanks.\nTwo lines here.');
  await waitForText(bob, 'Fine, thanks.\nTwo lines here.');
  await t.shot(alice, 'desktop-chat');

  const a = await shownMessages(alice);
  assertEqual(a.map((m) => [m.text, m.mine]), [
    ['Hello Bob!', true], ['Hi Alice, how are you?', false], ['Fine, thanks.\nTwo lines here.', true],
  ], "Alice's conversation");
  const b = await shownMessages(bob);
  assertEqual(b.map((m) => [m.text, m.mine]), [
    ['Hello Bob!', false], ['Hi Alice, how are you?', true], ['Fine, thanks.\nTwo lines here.', false],
  ], "Bob's conversation");
  assertEqual(a.map((m) => m.id), b.map((m) => m.id), 'the same message ids on both sides');

  // Presence: Bob closes his page, Alice sees him go offline.
  assertClean(bob);
  await bob.context.close();
  await alice.page.waitForSelector('#conv-sub:text-matches("^offline")', { timeout: 10000 });
  assertClean(alice);
});

test('errors are said in plain words', async (t) => {
  const p = t.track(await openPage(t.browser, t.server.url, { label: 'errors', width: 900, height: 640 }));
  await p.page.waitForSelector('#login-id:focus');
  await t.shot(p, 'login');
  await p.page.fill('#login-id', '999999');
  await p.page.fill('#login-password', 'wrong-password');
  await p.page.click('#login-form button[type=submit]');
  await p.page.waitForSelector('#login-form .form-error:text("That user id and password do not match.")');
  await p.page.fill('#login-id', 'abc');
  await p.page.click('#login-form button[type=submit]');
  await p.page.waitForSelector('#login-form .form-error:text("Your user id is a number")');

  await p.page.click('#tab-register');
  await p.page.fill('#register-name', 'Carol');
  await p.page.fill('#register-password', 'secret12');
  await p.page.fill('#register-password2', 'secret13');
  await p.page.click('#register-form button[type=submit]');
  await p.page.waitForSelector('#register-form .form-error:text("The two passwords are not the same.")');
  await p.page.fill('#register-password2', 'secret12');
  await p.page.click('#register-form button[type=submit]');
  await p.page.waitForSelector('#welcome-dialog[open]');
  await t.shot(p, 'welcome');
  await p.page.click('#welcome-ok');

  await requestFriend(p, 987654321);
  await p.page.waitForSelector('.toast.error:has-text("There is no user with that id.")');
  const me = Number((await p.page.textContent('#me-id')).replace(/\D/g, ''));
  await requestFriend(p, me);
  await p.page.waitForSelector('.toast.error:has-text("You cannot do that to yourself.")');
  await showTab(p, 'groups');
  await p.page.fill('#join-group-id', '424242');
  await p.page.click('#panel-groups form[aria-label="Join a group"] button[type=submit]');
  await p.page.waitForSelector('.toast.error:has-text("There is no group with that id")');
  assertClean(p);
});

test('friend requests: cancel, decline, block and unblock in the browser', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Fiona'));
  const tcp = await tcpUser(t.server.tcpPort, 'Pushy Pete');
  try {
    // Sent, then cancelled: the other side is told.
    await requestFriend(web, tcp.id);
    await tcp.waitEvent((e) => e.ev === 'friend_request' && e.user.id === web.id, 10000, 'friend_request');
    await web.page.click(`button[aria-label="Cancel the request to Pushy Pete"]`);
    await tcp.waitEvent((e) => e.ev === 'friend_request_cancelled' && e.user === web.id, 10000, 'friend_request_cancelled');
    await eventually(async () => !(await web.page.$('#h-requests-out')), { what: 'the sent request to go' });

    // Received, then declined.
    await tcp.req('add_friend', { user: web.id });
    await web.page.click('button[aria-label="Decline Pushy Pete"]');
    await eventually(async () => !(await web.page.$('#h-requests-in')), { what: 'the request to go' });
    assertEqual(await web.page.textContent('#count-people'), '', 'no request left');

    // Received, withdrawn by the sender: it disappears live.
    await tcp.req('add_friend', { user: web.id });
    await web.page.waitForSelector('#h-requests-in');
    await tcp.req('cancel_friend', { user: web.id });
    await eventually(async () => !(await web.page.$('#h-requests-in')), { what: 'the withdrawn request to go' });

    // Received again, and blocked (asked first).
    await tcp.req('add_friend', { user: web.id });
    await web.page.click('button[aria-label="Block Pushy Pete"]');
    await web.page.waitForSelector('#confirm-dialog[open]');
    await web.page.click('#confirm-ok');
    await web.page.waitForSelector(`#h-blocked`);
    await web.page.waitForSelector(`#panel-people li[data-user="${tcp.id}"] >> text=blocked`);
    // The blocked user's requests no longer arrive.
    const r = await tcp.req('add_friend', { user: web.id });
    assertEqual(r.status, 'requested', 'the blocked user sees nothing special');
    await tcp.req('ping');
    await web.page.waitForTimeout(200);
    assert(!(await web.page.$('#h-requests-in')), 'no request from a blocked user');

    // Unblocked; friends again only by a new request, accepted.
    await web.page.click('button[aria-label="Unblock Pushy Pete"]');
    await eventually(async () => !(await web.page.$('#h-blocked')), { what: 'the block to go' });
    await tcp.req('add_friend', { user: web.id });
    await web.page.click('button[aria-label="Accept Pushy Pete"]');
    await tcp.waitEvent((e) => e.ev === 'friend_added' && e.user.id === web.id, 10000, 'friend_added');

    // Removed by the other side: the conversation says so and the box goes.
    await tcp.req('chat', { to: web.id, text: 'bye now' });
    await web.page.evaluate((id) => { location.hash = `#/u/${id}`; }, tcp.id);
    await web.page.waitForSelector('#messages >> text=bye now');
    await tcp.req('remove_friend', { user: web.id });
    await web.page.waitForSelector('#messages .note:has-text("Pushy Pete is no longer your friend.")');
    await web.page.waitForSelector('.composer-off');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('reconnect delays: full jitter, capped at 30 s, reset by a good login', async (t) => {
  const p = t.track(await openPage(t.browser, t.server.url, { label: 'backoff' }));
  const delays = await p.page.evaluate(async () => {
    const { Connection } = await import('/js/connection.js');
    const out = [];
    for (const r of [0, 0.5, 0.999999]) {
      const c = new Connection('ws://127.0.0.1:9/ws');
      c.open = () => {};
      c.started = true;
      const random = Math.random;
      Math.random = () => r;
      const row = [];
      for (let n = 0; n < 8; n++) {
        const before = Date.now();
        c.scheduleRetry('test');
        row.push(c.retryAt - before);
      }
      c.markHealthy();
      const before = Date.now();
      c.scheduleRetry('test');
      row.push(c.retryAt - before);
      Math.random = random;
      c.stop();
      out.push(row);
    }
    return out;
  });
  const caps = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 1000];
  for (const [i, r] of [0, 0.5, 0.999999].entries()) {
    delays[i].forEach((d, n) => {
      const want = r * caps[n];
      assert(Math.abs(d - want) <= 5, `try ${n} with random ${r}: ${d} ms, expected ${want}`);
    });
  }
});
