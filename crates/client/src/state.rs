//! What the client remembers about the logged-in user's world: the user,
//! the friend and group lists, the names of other users it has seen, and
//! the ids of messages it has already shown.
//!
//! Everything here is plain data updated from replies and events; nothing
//! does I/O, so the formatting in [`crate::view`] can be tested with it.

use std::collections::{HashMap, HashSet, VecDeque};

use chat_proto::reply::{LoggedIn, Synced};
use chat_proto::{Event, Group, Member, User};

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
    /// The groups we are in, in the server's order.
    pub groups: Vec<Group>,
    /// Names of users who are not (or no longer) friends, learnt from
    /// member lists, events and history, to show a sender's name.
    names: HashMap<u64, String>,
}

impl Directory {
    /// The state right after a login (or a re-login after a reconnect).
    pub fn from_login(li: &LoggedIn) -> Directory {
        let mut d = Directory {
            me: Some(li.user.clone()),
            ..Directory::default()
        };
        d.set_lists(li.lists.friends.clone(), li.lists.groups.clone());
        d
    }

    /// Our user id, 0 when logged out (no account has id 0 in practice,
    /// and nothing is compared against it then).
    pub fn my_id(&self) -> u64 {
        self.me.as_ref().map_or(0, |u| u.id)
    }

    /// Replaces both lists (login, `sync`).
    pub fn set_lists(&mut self, friends: Vec<User>, groups: Vec<Group>) {
        for f in &friends {
            self.learn(f.id, &f.name);
        }
        self.friends = friends;
        self.groups = groups;
    }

    pub fn apply_sync(&mut self, s: Synced) {
        self.set_lists(s.lists.friends, s.lists.groups);
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

    /// Adds or replaces a friend.
    pub fn add_friend(&mut self, user: User) {
        self.learn(user.id, &user.name);
        match self.friends.iter_mut().find(|f| f.id == user.id) {
            Some(f) => *f = user,
            None => self.friends.push(user),
        }
    }

    /// Removes a friend; returns it, if it was one.
    pub fn remove_friend(&mut self, id: u64) -> Option<User> {
        let i = self.friends.iter().position(|f| f.id == id)?;
        Some(self.friends.remove(i))
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

    /// Adds or replaces a group.
    pub fn add_group(&mut self, group: Group) {
        match self.groups.iter_mut().find(|g| g.id == group.id) {
            Some(g) => *g = group,
            None => self.groups.push(group),
        }
    }

    /// Removes a group; returns it, if we were in it.
    pub fn remove_group(&mut self, id: u64) -> Option<Group> {
        let i = self.groups.iter().position(|g| g.id == id)?;
        Some(self.groups.remove(i))
    }

    /// Applies an event, once it has been shown (its line is read from
    /// the directory as it was before).
    pub fn apply_event(&mut self, ev: &Event) {
        match ev {
            Event::Msg { .. } => {}
            Event::Presence { user, online } => {
                self.set_online(*user, *online);
            }
            Event::FriendAdded { user } => self.add_friend(user.clone()),
            Event::FriendRemoved { user } => {
                self.remove_friend(*user);
            }
            Event::GroupDeleted { group } => {
                self.remove_group(*group);
            }
            Event::MemberJoined { user, .. } | Event::MemberLeft { user, .. } => {
                self.learn(user.id, &user.name);
            }
            // Version 2 events: shown as they come; the lists follow at
            // the next `sync`.
            _ => {}
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
    use chat_proto::Role;

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
        d.set_lists(vec![user(2, "kir", false)], vec![]);
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
            role: Role::Creator,
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
            role: Role::Member,
        });
        d.apply_event(&Event::GroupDeleted { group: 5 });
        assert!(d.groups.is_empty());
    }
}
