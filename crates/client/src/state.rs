//! What the client remembers about the logged-in user's world: the user,
//! the friend and group lists, friend requests both ways, blocked users
//! and group invites, the names of other users it has seen, and the ids
//! of messages it has already shown.
//!
//! Everything here is plain data updated from replies and events; nothing
//! does I/O, so the formatting in [`crate::view`] can be tested with it.
//!
//! Over 500 lines: a third of them unit tests, following the lists
//! through the events of both protocol versions.

use std::collections::{HashMap, HashSet, VecDeque};

use chat_proto::reply::{Lists, LoggedIn};
use chat_proto::{Event, Group, Invite, Member, Role, User};

/// At most this many names are remembered besides the friends'; past it
/// the cache starts over (names are only a nicety: ids always work).
const MAX_NAMES: usize = 50_000;

/// The logged-in user's view of users and groups.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Who we are.
    pub me: Option<User>,
    /// The friend list, in the server's order, with presence kept current
    /// by `presence` events.
    pub friends: Vec<User>,
    /// The groups we are in, in the server's order, with our role.
    pub groups: Vec<Group>,
    /// Friend requests waiting for our answer.
    pub requests_in: Vec<User>,
    /// Our friend requests waiting for theirs.
    pub requests_out: Vec<User>,
    /// Whom we block.
    pub blocked: Vec<User>,
    /// Invites to groups waiting for our answer.
    pub invites: Vec<Invite>,
    /// Names of users who are not (or no longer) friends, learnt from
    /// member lists, requests, events and history, to show a sender's
    /// name.
    names: HashMap<u64, String>,
}

/// Removes the user `id` from `list`; true when it was there.
fn drop_user(list: &mut Vec<User>, id: u64) -> bool {
    let before = list.len();
    list.retain(|u| u.id != id);
    list.len() != before
}

/// Adds `user` to `list`, or replaces the entry with its id.
fn put_user(list: &mut Vec<User>, user: User) {
    match list.iter_mut().find(|u| u.id == user.id) {
        Some(u) => *u = user,
        None => list.push(user),
    }
}

impl Directory {
    /// The state right after a login (or a re-login after a reconnect).
    pub fn from_login(li: &LoggedIn) -> Directory {
        let mut d = Directory {
            me: Some(li.user.clone()),
            ..Directory::default()
        };
        d.set_lists(li.lists.clone());
        d
    }

    /// Our user id, 0 when logged out (no account has id 0 in practice,
    /// and nothing is compared against it then).
    pub fn my_id(&self) -> u64 {
        self.me.as_ref().map_or(0, |u| u.id)
    }

    /// Replaces every list (login, `sync`).
    pub fn set_lists(&mut self, lists: Lists) {
        let people = lists
            .friends
            .iter()
            .chain(&lists.requests_in)
            .chain(&lists.requests_out)
            .chain(&lists.blocked)
            .chain(lists.invites.iter().map(|i| &i.by));
        for u in people {
            if self.names.get(&u.id) != Some(&u.name) {
                if self.names.len() >= MAX_NAMES {
                    self.names.clear();
                }
                self.names.insert(u.id, u.name.clone());
            }
        }
        self.friends = lists.friends;
        self.groups = lists.groups;
        self.requests_in = lists.requests_in;
        self.requests_out = lists.requests_out;
        self.blocked = lists.blocked;
        self.invites = lists.invites;
    }

    /// Remembers a user's name.
    pub fn learn(&mut self, id: u64, name: &str) {
        if self.names.get(&id).is_some_and(|n| n == name) {
            return;
        }
        if self.names.len() >= MAX_NAMES {
            self.names.clear();
        }
        self.names.insert(id, name.to_owned());
    }

    /// Takes over the names `old` had learnt (after a re-login, whose
    /// lists replace the old ones).
    pub fn merge_names(&mut self, old: Directory) {
        for (id, name) in old.names {
            if !self.names.contains_key(&id) && self.names.len() < MAX_NAMES {
                self.names.insert(id, name);
            }
        }
    }

    /// Remembers the names of a group's members.
    pub fn learn_members(&mut self, members: &[Member]) {
        for m in members {
            self.learn(m.id, &m.name);
        }
    }

    /// A user's name, if known: our own, a friend's, or one seen before.
    pub fn user_name(&self, id: u64) -> Option<&str> {
        if let Some(me) = self.me.as_ref().filter(|me| me.id == id) {
            return Some(&me.name);
        }
        if let Some(f) = self.friends.iter().find(|f| f.id == id) {
            return Some(&f.name);
        }
        self.names.get(&id).map(String::as_str)
    }

    /// A friend, if `id` is one.
    pub fn friend(&self, id: u64) -> Option<&User> {
        self.friends.iter().find(|f| f.id == id)
    }

    pub fn group(&self, id: u64) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Our role in a group we are in.
    pub fn my_role(&self, group: u64) -> Option<Role> {
        self.group(group).and_then(|g| g.role)
    }

    /// A pending invite to `group`.
    pub fn invite(&self, group: u64) -> Option<&Invite> {
        self.invites.iter().find(|i| i.group.id == group)
    }

    /// Adds or replaces a friend; a request either way is answered by it.
    pub fn add_friend(&mut self, user: User) {
        self.learn(user.id, &user.name);
        drop_user(&mut self.requests_in, user.id);
        drop_user(&mut self.requests_out, user.id);
        put_user(&mut self.friends, user);
    }

    /// Removes a friend; returns it, if it was one.
    pub fn remove_friend(&mut self, id: u64) -> Option<User> {
        let i = self.friends.iter().position(|f| f.id == id)?;
        Some(self.friends.remove(i))
    }

    /// Someone asked to be our friend.
    pub fn add_request_in(&mut self, user: User) {
        self.learn(user.id, &user.name);
        put_user(
            &mut self.requests_in,
            User {
                online: None,
                ..user
            },
        );
    }

    /// A request to `id` is pending (when we know their name, for the
    /// list; `requests` reloads it anyway).
    pub fn add_request_out(&mut self, id: u64) {
        if let Some(name) = self.user_name(id) {
            let user = User {
                id,
                name: name.to_owned(),
                online: None,
            };
            put_user(&mut self.requests_out, user);
        }
    }

    /// The request from `id` is gone (declined, withdrawn, accepted).
    pub fn drop_request_in(&mut self, id: u64) -> bool {
        drop_user(&mut self.requests_in, id)
    }

    /// Our request to `id` is gone.
    pub fn drop_request_out(&mut self, id: u64) -> bool {
        drop_user(&mut self.requests_out, id)
    }

    /// We block `id`: the friendship and requests both ways end.
    pub fn block(&mut self, id: u64) {
        self.remove_friend(id);
        drop_user(&mut self.requests_in, id);
        drop_user(&mut self.requests_out, id);
        self.invites.retain(|i| i.by.id != id);
        if let Some(name) = self.user_name(id) {
            let user = User {
                id,
                name: name.to_owned(),
                online: None,
            };
            put_user(&mut self.blocked, user);
        }
    }

    pub fn unblock(&mut self, id: u64) {
        drop_user(&mut self.blocked, id);
    }

    /// Records a friend's presence; false when they are not a friend.
    pub fn set_online(&mut self, id: u64, online: bool) -> bool {
        match self.friends.iter_mut().find(|f| f.id == id) {
            Some(f) => {
                f.online = Some(online);
                true
            }
            None => false,
        }
    }

    /// Adds or replaces a group we are in; an invite to it is used up.
    pub fn add_group(&mut self, group: Group) {
        self.invites.retain(|i| i.group.id != group.id);
        match self.groups.iter_mut().find(|g| g.id == group.id) {
            Some(g) => *g = group,
            None => self.groups.push(group),
        }
    }

    /// A group's new name, description or visibility; our role stays
    /// (updates come without it).
    pub fn update_group(&mut self, group: &Group) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group.id) {
            let role = group.role.or(g.role);
            *g = Group {
                role,
                ..group.clone()
            };
        }
    }

    /// Our role in `group` changed.
    pub fn set_my_role(&mut self, group: u64, role: Role) {
        if let Some(g) = self.groups.iter_mut().find(|g| g.id == group) {
            g.role = Some(role);
        }
    }

    /// Removes a group; returns it, if we were in it.
    pub fn remove_group(&mut self, id: u64) -> Option<Group> {
        let i = self.groups.iter().position(|g| g.id == id)?;
        Some(self.groups.remove(i))
    }

    /// An invite arrived (a repeated one replaces the old).
    pub fn add_invite(&mut self, invite: Invite) {
        self.learn(invite.by.id, &invite.by.name);
        match self
            .invites
            .iter_mut()
            .find(|i| i.group.id == invite.group.id)
        {
            Some(i) => *i = invite,
            None => self.invites.push(invite),
        }
    }

    /// The invite to `group` is gone; true when there was one.
    pub fn drop_invite(&mut self, group: u64) -> bool {
        let before = self.invites.len();
        self.invites.retain(|i| i.group.id != group);
        self.invites.len() != before
    }

    /// Applies an event, once it has been shown (its line is read from
    /// the directory as it was before).
    pub fn apply_event(&mut self, ev: &Event) {
        match ev {
            Event::Msg { .. } | Event::SessionEnded { .. } => {}
            Event::Presence { user, online } => {
                self.set_online(*user, *online);
            }
            Event::FriendRequest { user } => self.add_request_in(user.clone()),
            Event::FriendRequestCancelled { user } => {
                self.drop_request_in(*user);
            }
            Event::FriendAdded { user } => self.add_friend(user.clone()),
            Event::FriendRemoved { user } => {
                self.remove_friend(*user);
            }
            Event::GroupInvite { group, by } => self.add_invite(Invite {
                group: group.clone(),
                by: by.clone(),
            }),
            Event::GroupUpdated { group } => self.update_group(group),
            Event::GroupDeleted { group } => {
                self.remove_group(*group);
                self.drop_invite(*group);
            }
            Event::MemberJoined { user, .. } | Event::MemberLeft { user, .. } => {
                self.learn(user.id, &user.name);
            }
            Event::RemovedFromGroup { group, .. } => {
                self.remove_group(*group);
            }
            Event::MemberRole { group, user, role } => {
                if *user == self.my_id() {
                    self.set_my_role(*group, *role);
                }
            }
        }
    }
}

/// The ids of the last `cap` messages shown, to drop the duplicates that
/// at-least-once delivery produces, in bounded memory.
#[derive(Debug)]
pub struct RecentIds {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    cap: usize,
}

impl RecentIds {
    pub fn new(cap: usize) -> RecentIds {
        RecentIds {
            set: HashSet::with_capacity(cap.min(4096)),
            order: VecDeque::with_capacity(cap.min(4096)),
            cap: cap.max(1),
        }
    }

    /// Records `id`; false when it was already recorded (a duplicate).
    pub fn insert(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    pub fn contains(&self, id: u64) -> bool {
        self.set.contains(&id)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{Role, Visibility};

    use super::*;

    fn user(id: u64, name: &str, online: bool) -> User {
        User {
            id,
            name: name.into(),
            online: Some(online),
        }
    }

    #[test]
    fn recent_ids_drop_duplicates_and_forget_the_oldest() {
        let mut r = RecentIds::new(3);
        assert!(r.insert(1));
        assert!(!r.insert(1));
        assert!(r.insert(2));
        assert!(r.insert(3));
        assert!(r.insert(4));
        assert_eq!(r.len(), 3);
        // 1 was forgotten, so it counts as new again; 4 is still known.
        assert!(!r.insert(4));
        assert!(r.insert(1));
    }

    #[test]
    fn names_come_from_me_friends_and_members() {
        let mut d = Directory {
            me: Some(User {
                id: 1,
                name: "kirito".into(),
                online: None,
            }),
            ..Directory::default()
        };
        d.set_lists(Lists {
            friends: vec![user(2, "kir", false)],
            requests_in: vec![user(5, "ann", false)],
            ..Lists::default()
        });
        d.learn_members(&[Member {
            id: 3,
            name: "tom".into(),
            online: true,
            role: Role::Member,
        }]);
        assert_eq!(d.user_name(1), Some("kirito"));
        assert_eq!(d.user_name(2), Some("kir"));
        assert_eq!(d.user_name(3), Some("tom"));
        assert_eq!(d.user_name(4), None);
        assert_eq!(d.user_name(5), Some("ann"));
        // A removed friend's name is still known.
        assert!(d.remove_friend(2).is_some());
        assert!(d.friends.is_empty());
        assert_eq!(d.user_name(2), Some("kir"));
    }

    #[test]
    fn presence_and_group_updates() {
        let mut d = Directory::default();
        d.add_friend(user(2, "kir", false));
        assert!(d.set_online(2, true));
        assert_eq!(d.friends[0].online, Some(true));
        assert!(!d.set_online(9, true));
        d.add_group(Group {
            id: 5,
            name: "g".into(),
            desc: String::new(),
            visibility: Visibility::Public,
            role: Some(Role::Creator),
        });
        assert_eq!(d.group(5).map(|g| g.name.as_str()), Some("g"));
        assert!(d.remove_group(5).is_some());
        assert!(d.remove_group(5).is_none());
    }

    #[test]
    fn events_change_lists_and_names() {
        let mut d = Directory::default();
        d.apply_event(&Event::FriendAdded {
            user: user(2, "kir", true),
        });
        d.apply_event(&Event::Presence {
            user: 2,
            online: false,
        });
        assert_eq!(d.friends[0].online, Some(false));
        d.apply_event(&Event::MemberJoined {
            group: 5,
            user: user(3, "tom", true),
        });
        assert_eq!(d.user_name(3), Some("tom"));
        d.apply_event(&Event::FriendRemoved { user: 2 });
        assert!(d.friends.is_empty());
        d.add_group(Group {
            id: 5,
            name: "g".into(),
            desc: String::new(),
            visibility: Visibility::Public,
            role: Some(Role::Member),
        });
        d.apply_event(&Event::GroupDeleted { group: 5 });
        assert!(d.groups.is_empty());
    }

    fn group(id: u64, name: &str, role: Option<Role>) -> Group {
        Group {
            id,
            name: name.into(),
            desc: String::new(),
            visibility: Visibility::Private,
            role,
        }
    }

    #[test]
    fn requests_invites_and_roles_follow_the_events() {
        let mut d = Directory {
            me: Some(User {
                id: 1,
                name: "me".into(),
                online: None,
            }),
            ..Directory::default()
        };
        d.apply_event(&Event::FriendRequest {
            user: User {
                id: 2,
                name: "ann".into(),
                online: None,
            },
        });
        assert_eq!(d.requests_in.len(), 1);
        d.apply_event(&Event::FriendRequestCancelled { user: 2 });
        assert!(d.requests_in.is_empty());
        // The name stays known after the request is gone.
        assert_eq!(d.user_name(2), Some("ann"));
        d.add_request_in(user(3, "bob", true));
        d.add_request_out(2);
        assert_eq!(d.requests_out.len(), 1);
        // A new friendship answers the requests both ways.
        d.apply_event(&Event::FriendAdded {
            user: user(3, "bob", true),
        });
        assert!(d.requests_in.is_empty());
        d.add_friend(user(2, "ann", false));
        assert!(d.requests_out.is_empty());
        d.block(2);
        assert!(d.friend(2).is_none());
        assert_eq!(d.blocked.len(), 1);
        d.unblock(2);
        assert!(d.blocked.is_empty());

        d.apply_event(&Event::GroupInvite {
            group: group(7, "club", None),
            by: user(3, "bob", true),
        });
        assert!(d.invite(7).is_some());
        // Joining uses the invite up; the role comes with the group.
        d.add_group(group(7, "club", Some(Role::Member)));
        assert!(d.invite(7).is_none());
        d.apply_event(&Event::MemberRole {
            group: 7,
            user: 1,
            role: Role::Admin,
        });
        assert_eq!(d.my_role(7), Some(Role::Admin));
        // Someone else's role is not ours.
        d.apply_event(&Event::MemberRole {
            group: 7,
            user: 3,
            role: Role::Creator,
        });
        assert_eq!(d.my_role(7), Some(Role::Admin));
        // An update renames the group and keeps our role.
        d.apply_event(&Event::GroupUpdated {
            group: Group {
                visibility: Visibility::Public,
                ..group(7, "the club", None)
            },
        });
        let g = d.group(7).unwrap();
        assert_eq!(
            (g.name.as_str(), g.visibility, g.role),
            ("the club", Visibility::Public, Some(Role::Admin))
        );
        d.apply_event(&Event::RemovedFromGroup { group: 7, by: 3 });
        assert!(d.groups.is_empty());
        assert!(!d.drop_invite(7));
    }
}
