// A group's page: what it is, editing (admins and the creator), inviting,
// the members with their roles and what the user may do to each (the
// contract's rules: the creator may do everything; an admin may invite,
// kick plain members and update the group), and leaving or deleting.

import { h, fill } from '../dom.js';
import { ask } from './dialogs.js';
import { avatar, readId } from './sidebar.js';

const ROLE_ORDER = { creator: 0, admin: 1, member: 2 };

export class GroupPage {
  constructor(ui) {
    this.ui = ui;
    this.client = ui.client;
    this.gid = null;
  }

  mount(root, gid) {
    this.gid = gid;
    this.root = root;
    this.editForm = null;
    this.inviteForm = null;
    this.membersBox = h('section', { 'aria-labelledby': 'h-members' });
    this.aboutBox = h('section');
    this.bottomBox = h('section');
    this.page = h('div', { class: 'page', id: 'group-page' });
    fill(root, this.head(), this.page);
    this.update();
  }

  unmount() {
    this.gid = null;
  }

  get group() {
    return this.client.groups.get(this.gid);
  }

  head() {
    const g = this.group;
    return h('header', { class: 'conv-head' },
      h('a', { class: 'button-like', href: `#/g/${this.gid}`, 'aria-label': 'Back to the conversation' }, '←'),
      h('div', { class: 'title' }, h('h2', { id: 'group-title' }, g ? g.name : `Group ${this.gid}`),
        h('div', { class: 'sub' }, 'Group info and members')));
  }

  update() {
    if (this.gid === null) return;
    const g = this.group;
    if (!g && !this.client.listsKnown) {
      fill(this.page, h('p', { class: 'empty' }, 'Connecting…'));
      return;
    }
    if (!g) {
      fill(this.page, h('section', null, h('p', null, 'You are not a member of this group (anymore).'),
        h('a', { href: '#/' }, 'Back to your chats')));
      this.editForm = null;
      return;
    }
    const boss = g.role === 'creator' || g.role === 'admin';
    // The head's title follows renames.
    const title = this.root.querySelector('#group-title');
    if (title) title.textContent = g.name;

    fill(this.aboutBox,
      h('h2', null, 'About'),
      h('p', null, h('strong', null, g.name), ` · group id `, h('strong', { id: 'group-id' }, String(g.id))),
      h('p', { class: 'muted' }, g.desc ? g.desc : 'No description.'),
      h('p', { class: 'muted' }, g.visibility === 'public'
        ? `Public: anyone who knows the id ${g.id} can join.`
        : 'Private: only people who are invited can join.'),
      h('p', null, `You are ${g.role === 'member' ? 'a member' : `the ${g.role}`}.`));

    if (boss && !this.editForm) this.editForm = this.makeEditForm();
    if (!boss) this.editForm = null;
    if (this.editForm) this.fillEditForm(g);
    if (boss && !this.inviteForm) this.inviteForm = this.makeInviteForm();
    if (!boss) this.inviteForm = null;

    this.renderMembers(g);
    this.renderBottom(g);
    const sections = [this.aboutBox];
    if (this.editForm) sections.push(this.editForm.section);
    if (this.inviteForm) sections.push(this.inviteForm);
    sections.push(this.membersBox, this.bottomBox);
    // Rebuild the page only when its set of sections changed, so that what
    // is being typed in a form stays.
    const same = sections.length === this.page.children.length
      && sections.every((el, i) => el === this.page.children[i]);
    if (!same) fill(this.page, sections);
  }

  makeEditForm() {
    const name = h('input', { id: 'edit-group-name', maxlength: 64 });
    const desc = h('textarea', { id: 'edit-group-desc', maxlength: 256, rows: 2 });
    const pub = h('input', { type: 'radio', name: 'edit-vis', value: 'public', id: 'edit-group-public' });
    const priv = h('input', { type: 'radio', name: 'edit-vis', value: 'private', id: 'edit-group-private' });
    const form = h('form', { class: 'stack' },
      h('h2', null, 'Edit the group'),
      h('label', { for: 'edit-group-name' }, 'Name'), name,
      h('label', { for: 'edit-group-desc' }, 'Description'), desc,
      h('fieldset', null, h('legend', null, 'Who can join'),
        h('label', null, pub, 'Anyone with the id'), h('label', null, priv, 'Only people invited')),
      h('button', { type: 'submit', class: 'primary' }, 'Save changes'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const g = this.group;
      this.ui.run(form.querySelector('button'), async () => {
        const fields = {};
        if (name.value.trim() !== g.name) fields.name = name.value.trim();
        if (desc.value !== g.desc) fields.desc = desc.value;
        const vis = priv.checked ? 'private' : 'public';
        if (vis !== g.visibility) fields.visibility = vis;
        if (!Object.keys(fields).length) {
          this.ui.toast('Nothing changed.');
          return;
        }
        if (fields.name === '') throw new Error('The group needs a name.');
        await this.client.updateGroup(this.gid, fields);
        this.dirty = false;
        this.ui.toast('Group saved.');
      });
    });
    form.addEventListener('input', () => { this.dirty = true; });
    this.dirty = false;
    return { section: h('section', null, form), name, desc, pub, priv };
  }

  fillEditForm(g) {
    if (this.dirty) return;
    const f = this.editForm;
    f.name.value = g.name;
    f.desc.value = g.desc || '';
    f.pub.checked = g.visibility === 'public';
    f.priv.checked = g.visibility === 'private';
  }

  makeInviteForm() {
    const input = h('input', { id: 'invite-user-id', inputmode: 'numeric', autocomplete: 'off' });
    const form = h('form', { class: 'stack' },
      h('h2', null, 'Invite someone'),
      h('label', { for: 'invite-user-id' }, 'Their user id'),
      h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'primary' }, 'Invite')));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.ui.run(form.querySelector('button'), async () => {
        const uid = readId(input, 'A user id');
        await this.client.memberOp('invite', this.gid, uid);
        input.value = '';
        this.ui.toast(`Invitation sent to id ${uid}.`);
      });
    });
    return h('section', null, form);
  }

  renderMembers(g) {
    const ms = this.client.members.get(this.gid);
    if (!ms) {
      // Cleared by a reconnect: fetched again once logged in.
      if (this.client.loggedIn) this.client.loadMembers(this.gid).catch((e) => this.ui.error(e));
      fill(this.membersBox, h('h2', { id: 'h-members' }, 'Members'), h('p', { class: 'empty' }, 'Loading members…'));
      return;
    }
    const me = this.client.me.id;
    const list = [...ms.values()].sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.name.localeCompare(b.name));
    fill(this.membersBox,
      h('h2', { id: 'h-members' }, `Members (${list.length})`),
      h('ul', { class: 'list', id: 'members' }, list.map((m) => {
        const actions = [];
        if (m.id !== me) {
          const canKick = g.role === 'creator' || (g.role === 'admin' && m.role === 'member');
          if (g.role === 'creator') {
            if (m.role === 'member') actions.push(this.button('Make admin', () => this.client.memberOp('set_role', this.gid, m.id, { role: 'admin' }), `Make ${m.name} an admin`));
            if (m.role === 'admin') actions.push(this.button('Make member', () => this.client.memberOp('set_role', this.gid, m.id, { role: 'member' }), `Make ${m.name} a plain member`));
            actions.push(this.button('Make creator', () => ask({
              title: `Make ${m.name} the creator?`,
              text: `${m.name} becomes the creator of "${g.name}" and you become an admin. You cannot undo this yourself.`,
              ok: 'Transfer',
              danger: true,
              action: () => this.client.memberOp('transfer_group', this.gid, m.id),
            }), `Make ${m.name} the creator`));
          }
          if (canKick) {
            actions.push(this.button('Remove', () => ask({
              title: `Remove ${m.name}?`,
              text: `${m.name} will be removed from "${g.name}".`,
              ok: 'Remove',
              danger: true,
              action: () => this.client.memberOp('kick', this.gid, m.id),
            }), `Remove ${m.name} from the group`, 'danger'));
          }
        }
        return h('li', { class: 'person', dataset: { user: String(m.id) } },
          avatar(m.name, { online: !!m.online }),
          h('span', { class: 'who' },
            h('span', { class: 'name' }, m.id === me ? `${m.name} (you)` : m.name, ' ', h('span', { class: ['role', m.role] }, m.role)),
            h('span', { class: 'sub' }, `id ${m.id} · ${m.online ? 'online' : 'offline'}`)),
          h('span', { class: 'actions' }, actions));
      })));
  }

  renderBottom(g) {
    if (g.role === 'creator') {
      const del = this.button('Delete the group', () => ask({
        title: `Delete "${g.name}"?`,
        text: 'The group and its conversation are deleted for every member. This cannot be undone.',
        ok: 'Delete group',
        danger: true,
        action: async () => {
          await this.client.leaveGroup('delete_group', this.gid);
          this.ui.toast(`The group "${g.name}" was deleted.`);
          location.hash = '#/';
        },
      }), null, 'danger');
      fill(this.bottomBox, h('h2', null, 'Leave'),
        h('p', { class: 'muted' }, 'As the creator you cannot just leave: make another member the creator first, or delete the group.'),
        del);
    } else {
      const quit = this.button('Leave the group', () => ask({
        title: `Leave "${g.name}"?`,
        text: g.visibility === 'private' ? 'It is private: you can only come back if someone invites you again.' : `You can join again later with its id ${g.id}.`,
        ok: 'Leave',
        danger: true,
        action: async () => {
          await this.client.leaveGroup('quit_group', this.gid);
          this.ui.toast(`You left "${g.name}".`);
          location.hash = '#/';
        },
      }), null, 'danger');
      fill(this.bottomBox, h('h2', null, 'Leave'), quit);
    }
  }

  button(text, fn, label, cls) {
    const b = h('button', { type: 'button', class: ['small', cls], 'aria-label': label || false }, text);
    b.addEventListener('click', () => this.ui.run(b, fn));
    return b;
  }
}
