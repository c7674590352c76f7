// A phone-sized screen (360 px wide): one column, the list or the
// conversation, with a way back; keyboard use.

import { test, assert, assertEqual } from './lib/harness.mjs';
import { newUser, say, waitForText, assertClean } from './lib/browser.mjs';
import { tcpUser } from './lib/tcp.mjs';
import { befriendTcp } from './lib/setup.mjs';

test('360 px wide: one column with navigation', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Phoebe', { width: 360, height: 740 }));
  const tcp = await tcpUser(t.server.tcpPort, 'Desk Dan');
  try {
    await befriendTcp(web, tcp);
    await tcp.req('chat', { to: web.id, text: 'Are you on your phone?' });
    await web.page.click('#tab-chats');
    await web.page.waitForSelector(`#panel-chats a[data-key="u:${tcp.id}"] .badge`);
    assert(await web.page.isHidden('#main'), 'the list alone');
    await t.shot(web, 'phone-list');
    const overflow = await web.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `nothing wider than the screen (${overflow} px over)`);

    await web.page.click(`#panel-chats a[data-key="u:${tcp.id}"]`);
    await waitForText(web, 'Are you on your phone?');
    assert(await web.page.isHidden('#sidebar'), 'the conversation alone');
    await say(web, 'Yes, 360 pixels wide.');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'Yes, 360 pixels wide.');
    await waitForText(web, 'Yes, 360 pixels wide.', { sent: true });
    await t.shot(web, 'phone-chat');
    const box = await web.page.$eval('#composer-text', (el) => el.getBoundingClientRect().right);
    assert(box <= 360, 'the message box fits');

    // Back to the list with the back button.
    await web.page.click('a[aria-label="Back to the list"]');
    await web.page.waitForSelector('#sidebar:visible');
    assert(await web.page.isHidden('#main'), 'the list again');

    // Every other view fits too.
    const fits = async (what) => {
      const over = await web.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(over <= 0, `${what}: nothing wider than the screen (${over} px over)`);
    };
    for (const tab of ['people', 'groups']) {
      await web.page.click(`#tab-${tab}`);
      await fits(`the ${tab} tab`);
    }
    const { group } = await tcp.req('create_group', { name: 'A group with a rather long name for a phone' });
    await tcp.req('invite', { group: group.id, user: web.id });
    await web.page.click(`#panel-groups li[data-group="${group.id}"] button:has-text("Join")`);
    await web.page.waitForSelector('#conv-title');
    await fits('a group conversation');
    await web.page.click('a:has-text("Info")');
    await web.page.waitForSelector('#members li');
    await fits("the group's page");
    await t.shot(web, 'phone-group', { fullPage: false });
    await web.page.evaluate(() => { location.hash = '#/account'; });
    await web.page.waitForSelector('#account-id');
    await fits('the account page');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('keyboard only: tabs with arrow keys, Enter sends', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Kay'));
  const tcp = await tcpUser(t.server.tcpPort, 'Keys Kim');
  try {
    await befriendTcp(web, tcp);
    // Arrow keys move between the sidebar's tabs.
    await web.page.focus('#tab-people');
    await web.page.keyboard.press('ArrowLeft');
    assertEqual(await web.page.evaluate(() => document.activeElement.id), 'tab-chats', 'ArrowLeft moves to Chats');
    assertEqual(await web.page.getAttribute('#tab-chats', 'aria-selected'), 'true', 'and selects it');
    // Tab into the list, Enter opens the conversation, focus in the box.
    await web.page.keyboard.press('Tab');
    await web.page.keyboard.press('Enter');
    await web.page.waitForSelector('#composer-text:focus');
    await web.page.keyboard.type('typed with the keyboard');
    await web.page.keyboard.press('Enter');
    await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.text === 'typed with the keyboard');
    // Labels for screen readers.
    assertEqual(await web.page.getAttribute('#messages', 'role'), 'log', 'the messages are a log region');
    assert(await web.page.getAttribute('#composer-text', 'aria-label'), 'the message box has a label');
    assertClean(web);
  } finally {
    tcp.close();
  }
});
