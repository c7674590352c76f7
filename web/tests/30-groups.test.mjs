// Groups in the browser: a private group's invite accepted, group chat
// both ways with a TCP member, and the creator's tools (edit, roles, kick,
// transfer, delete) with their effects seen live on the other side.

import { test, assert, assertEqual, eventually } from './lib/harness.mjs';
import { newUser, showTab, say, waitForText, assertClean } from './lib/browser.mjs';
import { tcpUser } from './lib/tcp.mjs';

test('a private group invite is accepted in the browser, then group chat both ways', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Ivy'));
  const tcp = await tcpUser(t.server.tcpPort, 'Owner Olga');
  try {
    const { group } = await tcp.req('create_group', { name: 'Secret club', desc: 'invite only', visibility: 'private' });
    // Not invited yet: private groups are invisible.
    await showTab(web, 'groups');
    await web.page.fill('#join-group-id', String(group.id));
    await web.page.click('#panel-groups form[aria-label="Join a group"] button[type=submit]');
    await web.page.waitForSelector('.toast.error:has-text("There is no group with that id")');

    await tcp.req('invite', { group: group.id, user: web.id });
    // The invite arrives live: a count on the tab and a row.
    await web.page.waitForSelector('#count-groups:text("1")');
    const row = `#panel-groups li[data-group="${group.id}"]`;
    await web.page.waitForSelector(`${row} >> text=invited by Owner Olga`);
    await t.shot(web, 'group-invite');
    await web.page.click(`${row} button:has-text("Join")`);
    // Straight into the group's conversation.
    await web.page.waitForSelector('#conv-title:text("Secret club")');
    await tcp.waitEvent((e) => e.ev === 'member_joined' && e.group === group.id && e.user.id === web.id, 10000, 'member_joined');
    assert(!(await web.page.$(row)), 'the invite is gone');
    assertEqual(await web.page.textContent('#count-groups'), '', 'no invite left');

    await say(web, 'thanks for the invite');
    const ev = await tcp.waitEvent((e) => e.ev === 'msg' && e.msg.group === group.id, 10000, 'the group message');
    assertEqual([ev.msg.from, ev.msg.text], [web.id, 'thanks for the invite'], 'the group message');
    await tcp.req('group_chat', { group: group.id, text: 'welcome, Ivy' });
    await waitForText(web, 'welcome, Ivy');
    // The author's name shows on others' messages in a group.
    await web.page.waitForSelector('#messages .msg.theirs .author:text("Owner Olga")');
    await t.shot(web, 'group-chat');

    // Members with roles, on the group's page.
    await web.page.click('a:has-text("Info")');
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"] .role.creator`);
    await web.page.waitForSelector(`#members li[data-user="${web.id}"] .role.member`);
    // A plain member gets no kick or role buttons, and may leave.
    assertEqual(await web.page.$$eval('#members button', (b) => b.length), 0, 'no member tools for a member');
    // Made an admin live: the page follows.
    await tcp.req('set_role', { group: group.id, user: web.id, role: 'admin' });
    await web.page.waitForSelector(`#members li[data-user="${web.id}"] .role.admin`);
    await web.page.waitForSelector('#invite-user-id');
    // Kicked live: the group goes away with a notice.
    await tcp.req('kick', { group: group.id, user: web.id });
    await web.page.waitForSelector('.toast:has-text("Owner Olga removed you from the group")');
    await web.page.waitForSelector('text=You are not a member of this group (anymore).');
    await showTab(web, 'groups');
    assert(!(await web.page.$(`#panel-groups a[href="#/g/${group.id}"]`)), 'the group left the list');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('the creator manages a group in the browser: edit, roles, transfer, kick, delete', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Greta'));
  const tcp = await tcpUser(t.server.tcpPort, 'Member Max');
  try {
    await showTab(web, 'groups');
    await web.page.fill('#new-group-name', 'Book club');
    await web.page.fill('#new-group-desc', 'we read');
    await web.page.click('#panel-groups button:has-text("Create group")');
    await web.page.waitForSelector('#conv-title:text("Book club")');
    const gid = Number((await web.page.evaluate(() => location.hash)).replace(/\D/g, ''));
    assert(gid > 0, 'the group has an id');

    // Public: the TCP user joins by id; the page sees it live.
    await tcp.req('join_group', { group: gid });
    await web.page.waitForSelector('#messages .note:has-text("Member Max joined.")');

    await web.page.click('a:has-text("Info")');
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"] .role.member`);
    // Edit: name and visibility.
    await web.page.fill('#edit-group-name', 'Book club (private)');
    await web.page.check('#edit-group-private');
    await web.page.click('button:has-text("Save changes")');
    const upd = await tcp.waitEvent((e) => e.ev === 'group_updated', 10000, 'group_updated');
    assertEqual([upd.group.name, upd.group.visibility], ['Book club (private)', 'private'], 'the update reached the member');
    await web.page.waitForSelector('#group-title:text("Book club (private)")');
    // Roles.
    await web.page.click(`#members li[data-user="${tcp.id}"] button:has-text("Make admin")`);
    await tcp.waitEvent((e) => e.ev === 'member_role' && e.user === tcp.id && e.role === 'admin', 10000, 'member_role admin');
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"] .role.admin`);
    await web.page.click(`#members li[data-user="${tcp.id}"] button:has-text("Make member")`);
    await tcp.waitEvent((e) => e.ev === 'member_role' && e.user === tcp.id && e.role === 'member', 10000, 'member_role member');
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"] .role.member`);
    await t.shot(web, 'group-members');
    // Transfer (asked first), then the page shows itself as admin.
    await web.page.click(`#members li[data-user="${tcp.id}"] button:has-text("Make creator")`);
    await web.page.waitForSelector('#confirm-dialog[open]');
    await web.page.click('#confirm-ok');
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"] .role.creator`);
    await web.page.waitForSelector(`#members li[data-user="${web.id}"] .role.admin`);
    // An admin cannot kick the creator: no button for it.
    assert(!(await web.page.$(`#members li[data-user="${tcp.id}"] button:has-text("Remove")`)), 'no kick of the creator');
    // The new creator gives it back; the page follows live.
    await tcp.req('transfer_group', { group: gid, user: web.id });
    await web.page.waitForSelector(`#members li[data-user="${web.id}"] .role.creator`);
    // Kick, asked first; the member is told.
    await web.page.click(`#members li[data-user="${tcp.id}"] button:has-text("Remove")`);
    await web.page.click('#confirm-ok');
    await tcp.waitEvent((e) => e.ev === 'removed_from_group' && e.group === gid && e.by === web.id, 10000, 'removed_from_group');
    await eventually(async () => !(await web.page.$(`#members li[data-user="${tcp.id}"]`)), { what: 'the member to go' });
    // Invite back (private now), accepted over TCP, then delete the group.
    await web.page.fill('#invite-user-id', String(tcp.id));
    await web.page.click('button:has-text("Invite")');
    await tcp.waitEvent((e) => e.ev === 'group_invite' && e.group.id === gid && e.by.id === web.id, 10000, 'group_invite');
    await tcp.req('join_group', { group: gid });
    await web.page.waitForSelector(`#members li[data-user="${tcp.id}"]`);
    await web.page.click('button:has-text("Delete the group")');
    await web.page.waitForSelector('#confirm-dialog[open]');
    await web.page.click('#confirm-ok');
    await tcp.waitEvent((e) => e.ev === 'group_deleted' && e.group === gid, 10000, 'group_deleted');
    await web.page.waitForSelector('.home');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('a member quits a group in the browser', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Quentin'));
  const tcp = await tcpUser(t.server.tcpPort, 'Host Hal');
  try {
    const { group } = await tcp.req('create_group', { name: 'Open house' });
    await showTab(web, 'groups');
    await web.page.fill('#join-group-id', String(group.id));
    await web.page.click('#panel-groups form[aria-label="Join a group"] button[type=submit]');
    await web.page.waitForSelector('#conv-title:text("Open house")');
    await tcp.req('group_chat', { group: group.id, text: 'hi all' });
    await waitForText(web, 'hi all');
    await web.page.click('a:has-text("Info")');
    await web.page.click('button:has-text("Leave the group")');
    await web.page.click('#confirm-ok');
    const left = await tcp.waitEvent((e) => e.ev === 'member_left' && e.group === group.id, 10000, 'member_left');
    assertEqual([left.user.id, left.by ?? null], [web.id, null], 'left by themselves');
    await web.page.waitForSelector('.home');
    assertClean(web);
  } finally {
    tcp.close();
  }
});

test('a member sees the group change live: renamed, members in and out, deleted', async (t) => {
  const web = t.track(await newUser(t.browser, t.server.url, 'Mia'));
  const owner = await tcpUser(t.server.tcpPort, 'Boss Bea');
  const other = await tcpUser(t.server.tcpPort, 'Other Otto');
  try {
    const { group } = await owner.req('create_group', { name: 'Live group', desc: 'before' });
    await showTab(web, 'groups');
    await web.page.fill('#join-group-id', String(group.id));
    await web.page.click('#panel-groups form[aria-label="Join a group"] button[type=submit]');
    await web.page.waitForSelector('#conv-title:text("Live group")');
    await owner.req('update_group', { group: group.id, name: 'Renamed group', visibility: 'private' });
    await web.page.waitForSelector('#conv-title:text("Renamed group")');
    await web.page.waitForSelector('#conv-sub:has-text("private group")');
    await owner.req('invite', { group: group.id, user: other.id });
    await other.req('join_group', { group: group.id });
    await web.page.waitForSelector('#messages .note:has-text("Other Otto joined.")');
    await owner.req('kick', { group: group.id, user: other.id });
    await web.page.waitForSelector('#messages .note:has-text("Other Otto was removed by Boss Bea.")');
    await owner.req('delete_group', { group: group.id });
    await web.page.waitForSelector('.toast:has-text("The group \\"Renamed group\\" was deleted.")');
    await web.page.waitForSelector('text=You are not a member of this group (anymore).');
    assertClean(web);
  } finally {
    owner.close();
    other.close();
  }
});
