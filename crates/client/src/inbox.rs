//! Incoming events on their way to the screen: duplicates dropped by
//! message id, group events naming strangers (a message, a kick by an
//! admin, a role change) held back (with everything after them, so that
//! order is kept) while the group's member list is fetched for names,
//! and the ids of shown messages gathered for `ack`.
//!
//! Pure state, no I/O: the app pushes what the connection delivers, then
//! pulls [`Step`]s with [`Inbox::next`] and carries them out (print an
//! event, start a member list fetch), reports finished fetches with
//! [`Inbox::fetched`], and sends the ids that [`Inbox::take_acks`] hands
//! out. Pulling one step at a time matters: showing an event may teach the
//! directory a name (`member_joined`), which decides whether the next
//! event still needs a fetch.

use std::collections::{HashSet, VecDeque};

use chat_proto::Event;

use crate::state::{Directory, RecentIds};

/// How many message ids are remembered to drop duplicates.
const RECENT_IDS: usize = 10_000;
/// Events held back while names are fetched, at most; past it they are
/// shown with whatever names are known.
pub const MAX_HELD: usize = 1000;

/// What the app should do next with the inbox's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show this event, then apply it to the directory.
    Show(Event),
    /// Fetch this group's member list, then call [`Inbox::fetched`].
    Fetch(u64),
}

#[derive(Debug)]
pub struct Inbox {
    /// Ids of messages shown already (duplicates are dropped).
    seen: RecentIds,
    /// Ids of shown messages not acked yet.
    to_ack: Vec<u64>,
    /// Events not shown yet, in arrival order.
    queue: VecDeque<Event>,
    /// Groups whose members were fetched for names in this session.
    fetched: HashSet<u64>,
    /// The group whose member list the front of `queue` waits for.
    waiting: Option<u64>,
    /// Show everything queued without looking for names (too much held,
    /// or exiting).
    draining: bool,
}

impl Default for Inbox {
    fn default() -> Inbox {
        Inbox::new()
    }
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox {
            seen: RecentIds::new(RECENT_IDS),
            to_ack: Vec::new(),
            queue: VecDeque::new(),
            fetched: HashSet::new(),
            waiting: None,
            draining: false,
        }
    }

    /// A session starts or ends: what was held belonged to the old one.
    /// Shown ids and unsent acks are kept.
    pub fn new_session(&mut self) {
        self.queue.clear();
        self.fetched.clear();
        self.waiting = None;
        self.draining = false;
    }

    /// After logging in again, member lists may have changed: names are
    /// looked for again.
    pub fn forget_fetched(&mut self) {
        self.fetched.clear();
    }

    /// An event arrived.
    pub fn push(&mut self, ev: Event) {
        self.queue.push_back(ev);
        if self.waiting.is_some() && self.queue.len() > MAX_HELD {
            // Waiting any longer costs memory and shows nothing: show
            // it all with the names we have.
            self.waiting = None;
            self.draining = true;
        }
    }

    /// Whether events are waiting for a member list.
    pub fn holding(&self) -> bool {
        !self.queue.is_empty()
    }

    /// The next thing to do, or `None` until more arrives or a fetch ends.
    /// `logged_in` is false when names cannot be fetched.
    pub fn next(&mut self, dir: &Directory, logged_in: bool) -> Option<Step> {
        loop {
            if self.waiting.is_some() && !self.draining {
                return None;
            }
            let Some(front) = self.queue.front() else {
                self.draining = false;
                return None;
            };
            if !self.draining
                && let Some(group) = self.needs_names(dir, logged_in, front)
            {
                self.waiting = Some(group);
                return Some(Step::Fetch(group));
            }
            let ev = self.queue.pop_front()?;
            if let Some(ev) = self.admit(dir, ev) {
                return Some(Step::Show(ev));
            }
        }
    }

    /// A member list fetch for `group` ended (whether or not it worked):
    /// its messages are shown with what is known now.
    pub fn fetched(&mut self, group: u64) {
        self.fetched.insert(group);
        if self.waiting == Some(group) {
            self.waiting = None;
        }
    }

    /// Whether `group`'s members were fetched or listed in this session.
    pub fn has_members(&self, group: u64) -> bool {
        self.fetched.contains(&group)
    }

    /// The members of `group` were listed (`list:ID`): no fetch needed.
    pub fn members_known(&mut self, group: u64) {
        self.fetched.insert(group);
    }

    /// From now on, show everything queued without waiting for names
    /// (the client is exiting).
    pub fn release(&mut self) {
        self.waiting = None;
        self.draining = !self.queue.is_empty();
    }

    /// Whether the acks gathered so far should go out now: when nothing
    /// more is about to arrive, or when a full batch is ready.
    pub fn acks_due(&self, more_coming: bool) -> bool {
        !self.to_ack.is_empty()
            && (!more_coming || self.to_ack.len() >= chat_proto::validate::ACK_MAX_IDS)
    }

    /// The next batch of ids to ack (at most the protocol's limit).
    pub fn take_acks(&mut self) -> Option<Vec<u64>> {
        if self.to_ack.is_empty() {
            return None;
        }
        let n = self.to_ack.len().min(chat_proto::validate::ACK_MAX_IDS);
        Some(self.to_ack.drain(..n).collect())
    }

    /// The group whose members we should fetch before showing `ev`: a
    /// group message, new to us, from someone whose name we do not know;
    /// a member removed by someone we cannot name; a role change of
    /// someone we cannot name. (A kick of ourselves cannot be helped: we
    /// are no longer allowed to list the members.)
    fn needs_names(&self, dir: &Directory, logged_in: bool, ev: &Event) -> Option<u64> {
        let (group, who) = match ev {
            Event::Msg { msg } if !self.seen.contains(msg.id) => (msg.group?, msg.from),
            Event::MemberLeft {
                group,
                by: Some(by),
                ..
            } => (*group, *by),
            Event::MemberRole { group, user, .. } => (*group, *user),
            _ => return None,
        };
        let unknown = dir.user_name(who).is_none();
        (logged_in && unknown && !self.fetched.contains(&group)).then_some(group)
    }

    /// Records a message about to be shown; `None` for a duplicate.
    fn admit(&mut self, dir: &Directory, ev: Event) -> Option<Event> {
        if let Event::Msg { msg } = &ev {
            if msg.from != dir.my_id() {
                // Duplicates are acked again: a redelivery means the first
                // ack did not make it.
                self.to_ack.push(msg.id);
            }
            if !self.seen.insert(msg.id) {
                return None;
            }
        }
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{Msg, User};

    use super::*;

    fn me() -> Directory {
        let mut d = Directory::default();
        d.me = Some(User {
            id: 1,
            name: "me".into(),
            online: None,
        });
        d
    }

    fn dm(id: u64, from: u64) -> Event {
        Event::Msg {
            msg: Msg {
                id,
                from,
                to: Some(1),
                group: None,
                text: format!("m{id}"),
                ts: 0,
                cid: None,
            },
        }
    }

    fn gm(id: u64, from: u64, group: u64) -> Event {
        Event::Msg {
            msg: Msg {
                id,
                from,
                to: None,
                group: Some(group),
                text: format!("g{id}"),
                ts: 0,
                cid: None,
            },
        }
    }

    /// Every step until the inbox has nothing to do.
    fn steps(inbox: &mut Inbox, dir: &Directory) -> Vec<Step> {
        std::iter::from_fn(|| inbox.next(dir, true)).collect()
    }

    fn shown_ids(steps: &[Step]) -> Vec<u64> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Show(Event::Msg { msg }) => Some(msg.id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn duplicates_are_shown_once_and_acked_each_time() {
        let dir = me();
        let mut inbox = Inbox::new();
        inbox.push(dm(10, 2));
        inbox.push(dm(10, 2));
        inbox.push(dm(11, 2));
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![10, 11]);
        assert_eq!(inbox.take_acks(), Some(vec![10, 10, 11]));
        assert_eq!(inbox.take_acks(), None);
        // A redelivery after the first ack is acked again, not shown.
        inbox.push(dm(10, 2));
        assert!(steps(&mut inbox, &dir).is_empty());
        assert_eq!(inbox.take_acks(), Some(vec![10]));
    }

    #[test]
    fn own_messages_are_shown_but_not_acked() {
        let dir = me();
        let mut inbox = Inbox::new();
        inbox.push(dm(5, 1));
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![5]);
        assert_eq!(inbox.take_acks(), None);
    }

    #[test]
    fn a_stranger_in_a_group_holds_what_follows_until_names_are_fetched() {
        let mut dir = me();
        let mut inbox = Inbox::new();
        inbox.push(gm(20, 7, 3));
        inbox.push(dm(21, 2));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        assert!(inbox.holding());
        // More arrives while the fetch runs: it waits too.
        inbox.push(dm(22, 2));
        assert!(steps(&mut inbox, &dir).is_empty());
        // The fetch taught us the name; all three show, in order.
        dir.learn(7, "tom");
        inbox.fetched(3);
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![20, 21, 22]);
        assert!(!inbox.holding());
        // The group is not fetched twice in a session, even for another
        // stranger.
        inbox.push(gm(23, 8, 3));
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![23]);
        inbox.new_session();
        inbox.push(gm(24, 8, 3));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
    }

    #[test]
    fn kicks_and_roles_by_strangers_wait_for_names_too() {
        let mut dir = me();
        let mut inbox = Inbox::new();
        let kicked = Event::MemberLeft {
            group: 3,
            user: User {
                id: 8,
                name: "sam".into(),
                online: Some(false),
            },
            by: Some(7),
        };
        inbox.push(kicked.clone());
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        dir.learn(7, "tom");
        inbox.fetched(3);
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Show(kicked)]);
        // Left of their own accord: the event names them already.
        let left = Event::MemberLeft {
            group: 4,
            user: User {
                id: 9,
                name: "eve".into(),
                online: Some(false),
            },
            by: None,
        };
        inbox.push(left.clone());
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Show(left)]);
        let role = Event::MemberRole {
            group: 5,
            user: 10,
            role: chat_proto::Role::Admin,
        };
        inbox.push(role);
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(5)]);
    }

    #[test]
    fn a_failed_fetch_still_releases_the_messages() {
        let dir = me();
        let mut inbox = Inbox::new();
        inbox.push(gm(30, 7, 3));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        inbox.fetched(3);
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![30]);
    }

    #[test]
    fn known_names_seen_ids_and_listed_groups_need_no_fetch() {
        let mut dir = me();
        dir.learn(7, "tom");
        let mut inbox = Inbox::new();
        inbox.push(gm(40, 7, 3));
        inbox.push(gm(40, 8, 3)); // a duplicate id from a stranger
        inbox.members_known(4);
        inbox.push(gm(41, 9, 4));
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![40, 41]);
        // Logged out: nothing can be fetched, so nothing waits.
        inbox.push(gm(42, 9, 5));
        assert_eq!(
            inbox.next(&dir, false).map(|s| shown_ids(&[s])),
            Some(vec![42])
        );
    }

    #[test]
    fn a_second_stranger_waits_for_its_own_group() {
        let mut dir = me();
        let mut inbox = Inbox::new();
        inbox.push(gm(50, 7, 3));
        inbox.push(gm(51, 8, 4));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        dir.learn(7, "tom");
        inbox.fetched(3);
        assert_eq!(
            steps(&mut inbox, &dir),
            vec![Step::Show(gm(50, 7, 3)), Step::Fetch(4)]
        );
        // A late answer for another group does not release group 4's.
        inbox.fetched(9);
        assert!(steps(&mut inbox, &dir).is_empty());
        inbox.fetched(4);
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![51]);
    }

    #[test]
    fn too_much_held_is_shown_without_names() {
        let dir = me();
        let mut inbox = Inbox::new();
        inbox.push(gm(1, 7, 3));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        for id in 2..=(MAX_HELD as u64 + 1) {
            inbox.push(dm(id, 2));
        }
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)).len(), MAX_HELD + 1);
        assert!(!inbox.holding());
        // Afterwards names are looked for again as usual.
        inbox.push(gm(5000, 8, 6));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(6)]);
    }

    #[test]
    fn release_shows_what_is_held_at_exit() {
        let dir = me();
        let mut inbox = Inbox::new();
        inbox.push(gm(60, 7, 3));
        inbox.push(dm(61, 2));
        assert_eq!(steps(&mut inbox, &dir), vec![Step::Fetch(3)]);
        inbox.release();
        assert_eq!(shown_ids(&steps(&mut inbox, &dir)), vec![60, 61]);
    }

    #[test]
    fn acks_go_out_when_idle_or_in_full_batches() {
        let dir = me();
        let mut inbox = Inbox::new();
        assert!(!inbox.acks_due(false));
        inbox.push(dm(1, 2));
        steps(&mut inbox, &dir);
        assert!(inbox.acks_due(false));
        assert!(!inbox.acks_due(true));
        for id in 2..=(chat_proto::validate::ACK_MAX_IDS as u64 + 5) {
            inbox.push(dm(id, 2));
        }
        steps(&mut inbox, &dir);
        assert!(inbox.acks_due(true));
        let first = inbox.take_acks().unwrap();
        assert_eq!(first.len(), chat_proto::validate::ACK_MAX_IDS);
        assert_eq!(inbox.take_acks().unwrap().len(), 5);
    }
}
