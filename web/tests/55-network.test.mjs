// A bad network between the page and the server (a proxy that cuts or
// goes silent): the page notices, reconnects, and resends what had no
// `ok` with the same `cid`, so the server stores and delivers it once.

import { test, assert, assertEqual } from './lib/harness.mjs';
import { newUser, openConversation, say, shownMessages, waitForText, assertClean } from './lib/browser.mjs';
import { tcpUser } from './lib/tcp.mjs';
import { befriendTcp } from './lib/setup.mjs';
import { FlakyProxy } from './lib/proxy.mjs';

test('the network drops (connections cut, replies lost): nothing lost, nothing doubled', async (t) => {
  const proxy = await new FlakyProxy(t.server.pagePort).listen();
  const web = t.track(await newUser(t.browser, proxy.url, 'Nadia'));
  const tcp = await tcpUser(t.server.tcpPort, 'Steady Stan');
  try {
    await befriendTcp(web, tcp);
    await openConversation(web, `#/u/${tcp.id}`);
    await say(web, 'before the drop');
    await waitForText(web, 'before the drop', { sent: true });

    // Cut: the page sees the close at once and reconnects.
    proxy.cutAll();
    await web.page.waitForSelector('#conn-dot.online', { timeout: 15000 });
    await tcp.req('chat', { to: web.id, text: 'after the cut' });
    await waitForText(web, 'after the cut');

    // Silent: the server gets the message and stores it, but its `ok`
    // never reaches the page. The page gives up on the reply, reconnects
    // and sends it again with the same cid: the server answers with the
    // first message's id and delivers nothing new.
    proxy.muteReplies();
    await say(web, 'the ok of this one is lost');
    const got = await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'the ok of this one is lost', 10000, 'the message');
    await web.page.waitForSelector('#messages .msg.pending >> text=the ok of this one is lost');
    const sent = await waitForText(web, 'the ok of this one is lost', { sent: true, timeoutMs: 40000 });
    assertEqual(sent.id, got.msg.id, 'the resend got the id of the first');
    await tcp.req('chat', { to: web.id, text: 'still here' });
    await waitForText(web, 'still here');
    await tcp.req('ping');
    // Stored once: one id. (The server delivers a cid retry's message
    // again, by design, in case the first delivery died with a node; a
    // client drops it by id, as the page does.)
    const byId = new Map(tcp.events.filter((e) => e.ev === 'msg' && e.msg.from === web.id).map((e) => [e.msg.id, e.msg.text]));
    assertEqual([...byId.values()], ['before the drop', 'the ok of this one is lost'], 'the TCP user got one message per text');
    const shown = await shownMessages(web);
    assertEqual(shown.map((m) => m.text), ['before the drop', 'after the cut', 'the ok of this one is lost', 'still here'],
      'the page shows each message once');
    assert(shown.every((m) => m.state === 'sent'), 'nothing left pending');

    // Lost again, and the page reloaded before it gave up: the pending
    // message was kept in the browser and goes out again with its cid.
    proxy.muteReplies();
    await say(web, 'lost, then a reload');
    const again = await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'lost, then a reload', 10000, 'the message');
    const kept = await web.page.evaluate((id) => localStorage.getItem(`chat.pending.${id}`), web.id);
    assert(kept && kept.includes('lost, then a reload'), `kept in the browser: ${kept}`);
    await web.page.reload();
    const resent = await waitForText(web, 'lost, then a reload', { sent: true });
    assertEqual(resent.id, again.msg.id, 'the same message after the reload');
    await tcp.req('ping');
    const ids = new Set(tcp.events.filter((e) => e.ev === 'msg' && e.msg.text === 'lost, then a reload').map((e) => e.msg.id));
    assertEqual(ids.size, 1, 'stored once');
    const texts = (await shownMessages(web)).map((m) => m.text);
    assertEqual(texts.filter((x) => x === 'lost, then a reload').length, 1, 'shown once');
    assertClean(web);
  } finally {
    tcp.close();
    proxy.close();
  }
}, { timeoutMs: 90000 });
