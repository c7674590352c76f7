// The server goes away under an open page (killed, then started again on
// the same database file and ports): the page says so, keeps what the user
// writes meanwhile as pending, reconnects by itself, logs in again by
// token, and in the end nothing is lost and nothing is shown twice.

import { test, assert, assertEqual, eventually } from './lib/harness.mjs';
import { newUser, openConversation, say, shownMessages, waitForText, assertClean } from './lib/browser.mjs';
import { tcpUser, TcpUser } from './lib/tcp.mjs';
import { befriendTcp } from './lib/setup.mjs';

test('the server restarts under an open page; the page reconnects and nothing is lost or doubled', async (t) => {
  const server = await t.newServer();
  const web = t.track(await newUser(t.browser, server.url, 'Rosa'));
  let tcp = await tcpUser(server.tcpPort, 'Restart Rick');
  try {
    await befriendTcp(web, tcp);
    await openConversation(web, `#/u/${tcp.id}`);
    await say(web, 'one');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'one');
    await tcp.req('chat', { to: web.id, text: 'two' });
    await waitForText(web, 'two');

    // A crash: SIGKILL.
    await server.kill();
    tcp.close();
    await web.page.waitForSelector('#banner:not([hidden]) >> text=Connection lost', { timeout: 10000 });
    await web.page.waitForSelector('#conn-dot.offline');
    // Written while the server is down: shown as pending.
    await say(web, 'three, written offline');
    await say(web, 'four, written offline');
    await web.page.waitForSelector('#messages .msg.pending >> text=four, written offline');
    const pending = (await shownMessages(web)).filter((m) => m.state === 'pending').map((m) => m.text);
    assertEqual(pending, ['three, written offline', 'four, written offline'], 'pending while offline');
    await web.page.waitForSelector('#messages .msg.pending >> text=Waiting for the connection');
    await t.shot(web, 'offline-pending');

    await server.start();
    const startedAt = Date.now();
    // The TCP user comes back too (by token) and writes at once; the page
    // gets it live or, if it is not back yet, in the replay after login.
    const { id: rickId, token } = tcp;
    tcp = await TcpUser.connect(server.tcpPort);
    const rick = await tcp.req('login', { user: rickId, token });
    assertEqual(rick.user.name, 'Restart Rick', 'the TCP user is back, by token');
    await tcp.req('chat', { to: web.id, text: 'five, after the restart' });

    // The page reconnects by itself (full jitter: at most 1+2+4+8 s of
    // waiting in the first four tries) and sends what was pending.
    await web.page.waitForSelector('#conn-dot.online', { timeout: 30000 });
    const took = (Date.now() - startedAt) / 1000;
    await waitForText(web, 'five, after the restart');
    await waitForText(web, 'four, written offline', { sent: true, timeoutMs: 15000 });
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'four, written offline', 10000, 'the pending messages');
    // A little time for anything doubled to show up.
    await tcp.req('ping');
    await web.page.waitForTimeout(500);
    assertEqual(tcp.texts((m) => m.from === web.id), ['three, written offline', 'four, written offline'],
      'the TCP user got each pending message once, in order');
    const shown = await shownMessages(web);
    // Server order: "five" may have been stored before the page came back
    // and sent its pending messages, or after.
    const texts = shown.map((m) => m.text);
    assertEqual(texts.slice(0, 2), ['one', 'two'], 'the first two');
    assertEqual([...texts.slice(2)].sort(), ['five, after the restart', 'four, written offline', 'three, written offline'],
      'the page shows every later message once');
    assert(texts.indexOf('three, written offline') < texts.indexOf('four, written offline'), 'the pending ones in the order written');
    assertEqual(shown.map((m) => m.id), shown.map((m) => m.id).sort((a, b) => a - b), 'in server order');
    assert(shown.every((m) => m.state === 'sent'), 'nothing left pending');
    assertEqual(new Set(shown.map((m) => m.id)).size, shown.length, 'distinct ids');
    await eventually(async () => await web.page.isHidden('#banner'), { what: 'the banner to go', timeoutMs: 6000 });

    // The page goes on: live both ways on the new process.
    await say(web, 'six');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'six');
    await tcp.req('chat', { to: web.id, text: 'seven' });
    await waitForText(web, 'seven');

    // A clean restart too (SIGTERM), then a reload: still nothing doubled.
    await server.stop();
    await web.page.waitForSelector('#conn-dot.offline', { timeout: 10000 });
    await server.start();
    await web.page.waitForSelector('#conn-dot.online', { timeout: 30000 });
    await web.page.reload();
    // ("seven" may come first, replayed if its ack did not make it before
    // the stop, and history after it.)
    const want = JSON.stringify([...texts, 'six', 'seven']);
    await eventually(async () => JSON.stringify((await shownMessages(web)).map((m) => m.text)) === want,
      { what: `${want} after a second restart and a reload` });
    console.log(`     (reconnected ${took.toFixed(1)} s after the restart)`);
    assertClean(web);
  } finally {
    tcp.close();
  }
});
