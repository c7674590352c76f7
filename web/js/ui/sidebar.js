// The sidebar: three tabs. Chats (every friend and group, most recent
// first, with unread counts), People (add by id, requests in and out,
// friends with presence, blocked users) and Groups (invites, your groups,
// create, join by id).

import { $, h, fill, keepFocus } from '../dom.js';
import { convKey } from '../client.js';
import { ask } from './dialogs.js';
import { tablist } from './tabs.js';

export function initial(name) {
  const ch = [...String(name).trim()][0];
  return ch ? ch.toUpperCase() : '?';
}

/** A round avatar with the initial, and a presence dot for people. */
export function avatar(name, { group = false, online } = {}) {
  return h('span', { class: ['avatar', group && 'group'], 'aria-hidden': 'true' },
    initial(name),
    online === undefined ? null : h('span', { class: ['presence', online && 'on'] }));
}

/** Reads a positive whole number from an input, or says what is wrong. */
export function readId(input, what) {
  const t = input.value.trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) === 0) {
    throw new Error(`${what} is a number, such as 1001.`);
  }
  return Number(t);
}

export class Sidebar {
  constructor(ui) {
    this.ui = ui;
    this.client = ui.client;
    this.root = $('sidebar');
    this.panels = { chats: $('panel-chats'), people: $('panel-people'), groups: $('panel-groups') };
    this.tabs = tablist(this.root.querySelector('[role=tablist]'), (tab) => {
      this.tab = tab.dataset.tab;
      for (const [name, panel] of Object.entries(this.panels)) panel.hidden = name !== this.tab;
      this.render();
    });
    this.tab = 'chats';
    this.tabs.select($('tab-chats'));
  }

  show(tab) {
    this.tabs.select($(`tab-${tab}`));
  }

  render() {
    const c = this.client;
    $('count-chats').textContent = c.totalUnread ? String(c.totalUnread) : '';
    $('count-people').textContent = c.requestsIn.size ? String(c.requestsIn.size) : '';
    $('count-groups').textContent = c.invites.size ? String(c.invites.size) : '';
    $('tab-chats').setAttribute('aria-label', `Chats${c.totalUnread ? `, ${c.totalUnread} unread` : ''}`);
    $('tab-people').setAttribute('aria-label', `People${c.requestsIn.size ? `, ${c.requestsIn.size} friend requests` : ''}`);
    $('tab-groups').setAttribute('aria-label', `Groups${c.invites.size ? `, ${c.invites.size} invites` : ''}`);
    const panel = this.panels[this.tab];
    keepFocus(panel, () => {
      if (this.tab === 'chats') this.renderChats(panel);
      else if (this.tab === 'people') this.renderPeople(panel);
      else this.renderGroups(panel);
    });
  }

  // ---- chats ----

  renderChats(panel) {
    const c = this.client;
    const rows = [];
    for (const f of c.friends.values()) rows.push({ key: convKey('u', f.id), name: f.name, friend: f });
    for (const g of c.groups.values()) rows.push({ key: convKey('g', g.id), name: g.name, group: g });
    for (const r of rows) r.conv = c.convs.get(r.key);
    rows.sort((a, b) => ((b.conv && b.conv.lastId) || 0) - ((a.conv && a.conv.lastId) || 0)
      || a.name.localeCompare(b.name));
    if (!rows.length && !c.listsKnown) {
      fill(panel, h('p', { class: 'empty' }, 'Connecting…'));
      return;
    }
    if (!rows.length) {
      fill(panel, h('p', { class: 'empty' },
        'No chats yet. Add a friend by their id under People, or create or join a group under Groups.'));
      return;
    }
    fill(panel, h('ul', { class: 'list', 'aria-label': 'Chats' }, rows.map((r) => this.chatRow(r))));
  }

  chatRow(r) {
    const unread = r.conv ? r.conv.unread : 0;
    let sub;
    if (r.conv && r.conv.lastText) sub = r.conv.lastText;
    else if (r.friend) sub = r.friend.online ? 'online' : 'offline';
    else sub = `${r.group.visibility === 'private' ? 'Private' : 'Public'} group`;
    const label = [r.name, r.friend ? (r.friend.online ? 'online' : 'offline') : 'group',
      unread ? `${unread} unread` : ''].filter(Boolean).join(', ');
    return h('li', null,
      h('a', {
        class: 'entry', href: `#/${r.key.replace(':', '/')}`, 'aria-label': label,
        'aria-current': this.ui.openKey === r.key ? 'page' : false,
        dataset: { focus: `chat-${r.key}`, key: r.key },
      },
      avatar(r.name, { group: !!r.group, online: r.friend ? !!r.friend.online : undefined }),
      h('span', { class: 'who' }, h('span', { class: 'name' }, r.name), h('span', { class: 'sub' }, sub)),
      unread ? h('span', { class: 'badge' }, String(unread)) : null));
  }

  // ---- people ----

  /** The People tab's forms, made once so that a re-render keeps what is typed. */
  peopleForms() {
    if (this._people) return this._people;
    const c = this.client;
    const addInput = h('input', { id: 'add-friend-id', inputmode: 'numeric', autocomplete: 'off', placeholder: 'e.g. 1001', 'aria-describedby': 'add-friend-help' });
    const help = h('small', { id: 'add-friend-help', class: 'help' });
    const addForm = h('form', { class: 'stack inline', 'aria-label': 'Add a friend' },
      h('label', { for: 'add-friend-id' }, 'Add a friend by their user id'),
      h('div', { class: 'row' }, addInput, h('button', { type: 'submit', class: 'primary' }, 'Send request')),
      help);
    addForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ui.run(addForm.querySelector('button'), async () => {
        const id = readId(addInput, 'A user id');
        const r = await c.addFriend(id);
        addInput.value = '';
        if (r.status === 'friends') this.ui.toast(`You and ${r.friend.name} are now friends.`);
        else this.ui.toast(`Friend request sent to id ${id}. You will be friends once they accept.`);
      });
    });
    const blockInput = h('input', { id: 'block-id', inputmode: 'numeric', autocomplete: 'off' });
    const blockForm = h('form', { class: 'stack inline', 'aria-label': 'Block a user' },
      h('label', { for: 'block-id' }, 'Block someone by user id'),
      h('div', { class: 'row' }, blockInput, h('button', { type: 'submit' }, 'Block')));
    blockForm.addEventListener('submit', (e) => {
      e.preventDefault();
      let id;
      try {
        id = readId(blockInput, 'A user id');
      } catch (err) {
        this.ui.toast(err.message, { error: true });
        return;
      }
      this.confirmBlock(id, `user ${id}`).then((done) => {
        if (done) blockInput.value = '';
      });
    });
    this._people = { addForm, help, blockForm, lists: h('div') };
    return this._people;
  }

  renderPeople(panel) {
    const c = this.client;
    const f = this.peopleForms();
    f.help.textContent = `Your own id is ${c.me ? c.me.id : '?'}: give it to friends so they can add you.`;
    const ins = [...c.requestsIn.values()];
    const outs = [...c.requestsOut.values()];
    const friends = [...c.friends.values()].sort((a, b) => (b.online - a.online) || a.name.localeCompare(b.name));
    const blocked = [...c.blocked.values()];
    fill(f.lists,
      ins.length ? [h('h3', { id: 'h-requests-in' }, `Friend requests (${ins.length})`),
        h('ul', { class: 'list', 'aria-labelledby': 'h-requests-in' }, ins.map((u) => this.person(u, [
          this.button('Accept', 'primary', () => c.acceptFriend(u.id).then((fr) => this.ui.toast(`You and ${fr.name} are now friends.`)), `accept-${u.id}`, `Accept ${u.name}`),
          this.button('Decline', '', () => c.friendOp('decline_friend', u.id), `decline-${u.id}`, `Decline ${u.name}`),
          this.button('Block', 'danger', () => this.confirmBlock(u.id, u.name), `blockreq-${u.id}`, `Block ${u.name}`),
        ], 'wants to be your friend')))] : null,
      outs.length ? [h('h3', { id: 'h-requests-out' }, `Requests you sent (${outs.length})`),
        h('ul', { class: 'list', 'aria-labelledby': 'h-requests-out' }, outs.map((u) => this.person(u, [
          this.button('Cancel', '', () => c.friendOp('cancel_friend', u.id), `cancel-${u.id}`, `Cancel the request to ${u.name}`),
        ], 'waiting for an answer')))] : null,
      h('h3', { id: 'h-friends' }, `Friends (${friends.length})`),
      friends.length
        ? h('ul', { class: 'list', 'aria-labelledby': 'h-friends' }, friends.map((u) => this.person(u, [
          this.button('Chat', 'primary', () => { location.hash = `#/u/${u.id}`; }, `chatwith-${u.id}`, `Chat with ${u.name}`),
          this.button('Remove', '', () => this.confirmRemove(u), `remove-${u.id}`, `Remove ${u.name} from your friends`),
          this.button('Block', 'danger', () => this.confirmBlock(u.id, u.name), `block-${u.id}`, `Block ${u.name}`),
        ], u.online ? 'online' : 'offline', u.online)))
        : h('p', { class: 'empty' }, 'No friends yet. Send a request with their id above.'),
      blocked.length ? [h('h3', { id: 'h-blocked' }, `Blocked (${blocked.length})`),
        h('ul', { class: 'list', 'aria-labelledby': 'h-blocked' }, blocked.map((u) => this.person(u, [
          this.button('Unblock', '', () => c.friendOp('unblock', u.id).then(() => this.ui.toast(`${u.name} is unblocked. You are not friends again until one of you sends a request.`)), `unblock-${u.id}`, `Unblock ${u.name}`),
        ], 'blocked')))] : null);
    if (panel.firstChild !== f.addForm) fill(panel, f.addForm, f.lists, f.blockForm);
  }

  person(u, actions, sub, online) {
    return h('li', { class: 'person', dataset: { user: String(u.id) } },
      avatar(u.name, { online: online === undefined ? undefined : !!online }),
      h('span', { class: 'who' },
        h('span', { class: 'name' }, u.name),
        h('span', { class: 'sub' }, ` id ${u.id}${sub ? ` · ${sub}` : ''}`)),
      h('span', { class: 'actions' }, actions));
  }

  button(text, cls, fn, focus, label) {
    const b = h('button', { type: 'button', class: ['small', cls], dataset: { focus }, 'aria-label': label || false }, text);
    b.addEventListener('click', () => this.ui.run(b, fn));
    return b;
  }

  confirmRemove(u) {
    return ask({
      title: `Remove ${u.name}?`,
      text: `${u.name} will no longer be your friend: you cannot chat until one of you sends a new request.`,
      ok: 'Remove friend',
      danger: true,
      action: () => this.client.friendOp('remove_friend', u.id),
    });
  }

  confirmBlock(id, name) {
    return ask({
      title: `Block ${name}?`,
      text: `This ends your friendship and any requests, and they can no longer send you requests or group invites. They are not told.`,
      ok: 'Block',
      danger: true,
      action: () => this.client.friendOp('block', id),
    });
  }

  // ---- groups ----

  /** The Groups tab's forms, made once so that a re-render keeps what is typed. */
  groupForms() {
    if (this._groups) return this._groups;
    const c = this.client;
    const name = h('input', { id: 'new-group-name', maxlength: 64, autocomplete: 'off' });
    const desc = h('input', { id: 'new-group-desc', maxlength: 256, autocomplete: 'off' });
    const pub = h('input', { type: 'radio', name: 'new-group-vis', value: 'public', id: 'new-group-public', checked: true });
    const priv = h('input', { type: 'radio', name: 'new-group-vis', value: 'private', id: 'new-group-private' });
    const create = h('form', { class: 'stack inline', 'aria-labelledby': 'h-create-group' },
      h('h3', { id: 'h-create-group' }, 'Create a group'),
      h('label', { for: 'new-group-name' }, 'Name'), name,
      h('label', { for: 'new-group-desc' }, 'Description (optional)'), desc,
      h('fieldset', null, h('legend', null, 'Who can join'),
        h('label', null, pub, 'Anyone with the id'),
        h('label', null, priv, 'Only people invited')),
      h('button', { type: 'submit', class: 'primary' }, 'Create group'));
    create.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ui.run(create.querySelector('button'), async () => {
        if (!name.value.trim()) throw new Error('Give the group a name.');
        const g = await c.createGroup(name.value.trim(), desc.value, priv.checked ? 'private' : 'public');
        create.reset();
        this.ui.toast(`Group "${g.name}" created. Its id is ${g.id}.`);
        location.hash = `#/g/${g.id}`;
      });
    });
    const joinInput = h('input', { id: 'join-group-id', inputmode: 'numeric', autocomplete: 'off' });
    const join = h('form', { class: 'stack inline', 'aria-label': 'Join a group' },
      h('label', { for: 'join-group-id' }, 'Join a group by its id'),
      h('div', { class: 'row' }, joinInput, h('button', { type: 'submit' }, 'Join')));
    join.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ui.run(join.querySelector('button'), async () => {
        const g = await c.joinGroup(readId(joinInput, 'A group id'));
        joinInput.value = '';
        this.ui.toast(`You joined "${g.name}".`);
        location.hash = `#/g/${g.id}`;
      });
    });
    this._groups = { create, join, lists: h('div') };
    return this._groups;
  }

  renderGroups(panel) {
    const c = this.client;
    const f = this.groupForms();
    const invites = [...c.invites.values()];
    const groups = [...c.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
    fill(f.lists,
      invites.length ? [h('h3', { id: 'h-invites' }, `Invitations (${invites.length})`),
        h('ul', { class: 'list', 'aria-labelledby': 'h-invites' }, invites.map((i) => h('li', { class: 'person', dataset: { group: String(i.group.id) } },
          avatar(i.group.name, { group: true }),
          h('span', { class: 'who' },
            h('span', { class: 'name' }, i.group.name),
            h('span', { class: 'sub' }, ` ${i.group.visibility === 'private' ? 'private' : 'public'} group ${i.group.id} · invited by ${i.by.name}`)),
          h('span', { class: 'actions' },
            this.button('Join', 'primary', async () => {
              const g = await c.joinGroup(i.group.id);
              this.ui.toast(`You joined "${g.name}".`);
              location.hash = `#/g/${g.id}`;
            }, `join-${i.group.id}`, `Join ${i.group.name}`),
            this.button('Decline', '', () => c.declineInvite(i.group.id), `declineinv-${i.group.id}`, `Decline the invitation to ${i.group.name}`)))))] : null,
      h('h3', { id: 'h-groups' }, `Your groups (${groups.length})`),
      groups.length
        ? h('ul', { class: 'list', 'aria-labelledby': 'h-groups' }, groups.map((g) => h('li', null,
          h('a', {
            class: 'entry', href: `#/g/${g.id}`,
            'aria-current': this.ui.openKey === convKey('g', g.id) ? 'page' : false,
            dataset: { focus: `group-${g.id}` },
          },
          avatar(g.name, { group: true }),
          h('span', { class: 'who' },
            h('span', { class: 'name' }, g.name),
            h('span', { class: 'sub' }, `id ${g.id} · ${g.visibility} · you are ${g.role === 'member' ? 'a member' : `the ${g.role}`}`))))))
        : h('p', { class: 'empty' }, 'You are in no group yet.'));
    if (panel.firstChild !== f.lists) fill(panel, f.lists, f.join, f.create);
  }
}
