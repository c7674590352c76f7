// Set-ups several tests share.

import { showTab } from './browser.mjs';

/**
 * Makes the browser user `p` and the TCP user `tcp` friends: the TCP user
 * asks, the browser user accepts on the People tab.
 */
export async function befriendTcp(p, tcp) {
  const r = await tcp.req('add_friend', { user: p.id });
  if (r.status !== 'requested') throw new Error(`add_friend: ${JSON.stringify(r)}`);
  await p.page.waitForSelector('#count-people:text("1")');
  await showTab(p, 'people');
  await p.page.click(`#panel-people li[data-user="${tcp.id}"] button:has-text("Accept")`);
  await tcp.waitEvent((e) => e.ev === 'friend_added' && e.user.id === p.id, 10000, 'friend_added');
  await p.page.waitForSelector(`#panel-people li[data-user="${tcp.id}"] >> text=online`);
}
