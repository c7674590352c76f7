// A browser user and raw TCP users (newline-delimited JSON, as third-party
// clients speak it): live chat both ways, text that looks like HTML shown
// as text, a reload, and history loaded while scrolling up.

import { test, assert, assertEqual, eventually } from './lib/harness.mjs';
import {
  newUser, openPage, showTab, openConversation, say, shownMessages, waitForText, assertClean,
} from './lib/browser.mjs';
import { tcpUser, TcpUser } from './lib/tcp.mjs';
import { befriendTcp } from './lib/setup.mjs';

test('a browser user and a raw TCP user chat both ways', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Wendy'));
  const tcp = await tcpUser(t.server.tcpPort, 'Terminal Tom');
  try {
    await befriendTcp(web, tcp);
    // TCP -> browser, while the browser looks at another tab.
    const r = await tcp.req('chat', { to: web.id, text: 'hello from a terminal' });
    assert(r.msg.id > 0, 'the TCP user got an id');
    await web.page.waitForSelector(`#count-chats:text("1")`);
    await openConversation(web, `#/u/${tcp.id}`);
    const got = await waitForText(web, 'hello from a terminal');
    assertEqual(got.id, r.msg.id, 'the browser shows the message under its server id');
    // Browser -> TCP.
    await say(web, 'hello from a browser');
    const ev = await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'hello from a browser', 10000, 'the browser message');
    assertEqual([ev.msg.from, ev.msg.to], [web.id, tcp.id], 'from and to');
    assert(typeof ev.msg.cid === 'string' && ev.msg.cid.length <= 64, 'the browser sent a cid');
    await waitForText(web, 'hello from a browser', { sent: true });
    // TCP -> browser while the conversation is open: live, no unread.
    await tcp.req('chat', { to: web.id, text: 'and a second one' });
    await waitForText(web, 'and a second one');
    assert(!(await web.page.$('#count-chats:not(:empty)')), 'no unread while looking');
    // The browser acked what it showed: a new login of the web user gets no replay.
    await eventually(async () => {
      const again = await tcpUserLogin(t.server.tcpPort, web.id, web.password);
      const unread = again.unread;
      again.tcp.close();
      return unread === 0;
    }, { what: 'the browser to ack every message it showed' });
    assertClean(web);
  } finally {
    tcp.close();
  }
});

/** A second TCP session of an existing user (by password). */
async function tcpUserLogin(port, id, password) {
  const tcp = await TcpUser.connect(port);
  const r = await tcp.req('login', { user: id, password });
  return { tcp, unread: r.unread };
}

test('text that looks like HTML shows literally, and runs nothing', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Xena'));
  const tcp = await tcpUser(t.server.tcpPort, '<b>Mallory</b>');
  try {
    await befriendTcp(web, tcp);
    const payloads = [
      '<img src=x onerror=alert(1)>',
      '<script>alert(2)</script>',
      '<img src=x onerror="document.title=\'pwned\'">',
      '&lt;b&gt; &amp; "quotes" \'apostrophes\'',
      '<a href="javascript:alert(3)">click</a>',
    ];
    for (const text of payloads) await tcp.req('chat', { to: web.id, text });
    // The sidebar preview and the name, before opening.
    const row = `#panel-chats a[data-key="u:${tcp.id}"]`;
    await showTab(web, 'chats');
    await web.page.waitForSelector(`${row} .badge:text("${payloads.length}")`);
    assertEqual(await web.page.textContent(`${row} .name`), '<b>Mallory</b>', 'the name shows literally');
    assertEqual(await web.page.textContent(`${row} .sub`), payloads[payloads.length - 1], 'the preview shows literally');
    await openConversation(web, `#/u/${tcp.id}`);
    for (const text of payloads) await waitForText(web, text);
    const shown = await shownMessages(web);
    assertEqual(shown.map((m) => m.text), payloads, 'every text exactly as sent');
    const inside = await web.page.$$eval('#messages img, #messages script, #messages a, #messages b', (els) => els.length);
    assertEqual(inside, 0, 'no element made from a message');
    assertEqual(await web.page.textContent('#conv-title'), '<b>Mallory</b>', 'the title shows the name literally');
    // And the browser's own message of the same kind.
    await say(web, '<img src=x onerror=alert(4)>');
    const ev = await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.from === web.id, 10000, "the browser's message");
    assertEqual(ev.msg.text, '<img src=x onerror=alert(4)>', 'sent as typed');
    await waitForText(web, '<img src=x onerror=alert(4)>', { sent: true });
    await web.page.waitForTimeout(300);
    assertEqual(web.dialogs, [], 'no dialog opened');
    assert(!(await web.page.title()).includes('pwned'), 'no script ran');
    await t.shot(web, 'xss-literal');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('a reload keeps the session and shows the conversation', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Rita'));
  const tcp = await tcpUser(t.server.tcpPort, 'Reload Rob');
  try {
    await befriendTcp(web, tcp);
    await openConversation(web, `#/u/${tcp.id}`);
    await say(web, 'before the reload');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'before the reload');
    await tcp.req('chat', { to: web.id, text: 'answer before the reload' });
    await waitForText(web, 'answer before the reload');
    await web.page.reload();
    // Straight back into the conversation, no login form.
    await web.page.waitForSelector('#app:not([hidden])');
    assert(await web.page.isHidden('#login-screen'), 'the login screen stays hidden');
    await waitForText(web, 'before the reload', { sent: true });
    await waitForText(web, 'answer before the reload');
    assertEqual(await web.page.textContent('#conv-title'), 'Reload Rob', 'the same conversation');
    await tcp.req('chat', { to: web.id, text: 'after the reload' });
    await waitForText(web, 'after the reload');
    await say(web, 'me too');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'me too');
    assertEqual((await shownMessages(web)).map((m) => m.text),
      ['before the reload', 'answer before the reload', 'after the reload', 'me too'], 'nothing lost or doubled');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('older history loads while scrolling up', async (t) => {
  const first = t.track(await newUser(t.browser, t.server.url, 'Hilda'));
  const tcp = await tcpUser(t.server.tcpPort, 'Chatty Chuck');
  try {
    await befriendTcp(first, tcp);
    const N = 130;
    // Pipelined: the replies come in order.
    const sends = [];
    for (let i = 1; i <= N; i++) sends.push(tcp.req('chat', { to: first.id, text: `message ${i}` }));
    await Promise.all(sends);
    // The first page got them live and acked them; a new browser logs in
    // with nothing to replay, so it has to fetch history.
    await eventually(async () => (await first.page.textContent('#count-chats')) === String(N), { what: 'all live messages' });
    const web = t.track(await openPage(t.browser, t.server.url, { label: 'Hilda-2', height: 600 }));
    await web.page.fill('#login-id', String(first.id));
    await web.page.fill('#login-password', first.password);
    await web.page.click('#login-form button[type=submit]');
    await web.page.waitForSelector('#app:not([hidden])');
    await openConversation(web, `#/u/${tcp.id}`);
    await waitForText(web, `message ${N}`);
    const initial = (await shownMessages(web)).length;
    assert(initial >= 50 && initial < N, `one page of history first (${initial})`);
    // Scroll up until the beginning.
    await eventually(async () => {
      await web.page.$eval('#scroller', (el) => { el.scrollTop = 0; });
      return (await web.page.textContent('.older')).includes('beginning');
    }, { timeoutMs: 15000, what: 'the beginning of the conversation', everyMs: 200 });
    const all = await shownMessages(web);
    assertEqual(all.map((m) => m.text), Array.from({ length: N }, (_, i) => `message ${i + 1}`), 'every message once, in order');
    assertEqual(new Set(all.map((m) => m.id)).size, N, 'no duplicate ids');
    // The reader's place is kept: the last fetch did not jump to the bottom.
    const top = await web.page.$eval('#scroller', (el) => el.scrollTop);
    assert(top < 2000, `still near the top after loading (${top})`);
    assertClean(web);
  } finally {
    tcp.close();
  }
});
