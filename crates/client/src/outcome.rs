//! What a command asks of the server, and what the reply changes and
//! shows: [`request`] turns a [`Command`] into its [`Request`], [`apply`]
//! takes the reply into the [`Directory`] and returns the lines to print.
//!
//! Pure, no I/O: the app sends the request, waits for the reply and prints
//! the lines. Commands that are not one request and one reply (`help`,
//! `more` before it becomes a page, `token`, `logout`, `quit`) are the
//! app's.
//!
//! A history page asks for one message more than it shows: when that one
//! comes, older messages exist, and the page ends with a hint to `more`.
//!
//! Over 500 lines, most of them unit tests: one per kind of reply.

use chat_proto::reply::{Empty, GroupReply, History, Members, Sent, Synced, Whoami};
use chat_proto::{HistoryTarget, Msg, Request, User};
use serde::Deserialize;

use crate::commands::Command;
use crate::state::Directory;
use crate::view::{self, Clock};
use crate::wire::{BodyError, Reply};

/// How many messages one history page shows.
pub const HISTORY_PAGE: u32 = 50;

/// `add_friend`'s reply in both protocol versions: version 1 sends the
/// new `friend`; version 2 sends `status` (`"requested"`, or `"friends"`
/// with the `friend`).
#[derive(Debug, Deserialize)]
struct FriendReply {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    friend: Option<User>,
}

/// What a reply shows, and where `more` would continue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shown {
    pub lines: Vec<String>,
    /// After a history page: the page before it, when older messages exist.
    pub more: Option<(HistoryTarget, u64)>,
}

impl Shown {
    fn line(line: String) -> Shown {
        Shown {
            lines: vec![line],
            more: None,
        }
    }
}

/// The request `cmd` sends, or `None` for a command the app runs itself.
/// `cid` makes a message id for chats (called only for them).
pub fn request(cmd: &Command, cid: impl FnOnce() -> String) -> Option<Request> {
    let history = |target, before| Request::History {
        target,
        before,
        limit: HISTORY_PAGE + 1,
    };
    Some(match cmd {
        Command::Help | Command::More | Command::Token | Command::Logout | Command::Quit => {
            return None;
        }
        Command::Chat { to, text } => Request::Chat {
            to: *to,
            text: text.clone(),
            cid: Some(cid()),
        },
        Command::GroupChat { group, text } => Request::GroupChat {
            group: *group,
            text: text.clone(),
            cid: Some(cid()),
        },
        Command::AddFriend(user) => Request::AddFriend { user: *user },
        Command::RemoveFriend(user) => Request::RemoveFriend { user: *user },
        Command::CreateGroup { name, desc } => Request::CreateGroup {
            visibility: Default::default(),
            name: name.clone(),
            desc: desc.clone(),
        },
        Command::JoinGroup(group) => Request::JoinGroup { group: *group },
        Command::List(group) => Request::GroupMembers { group: *group },
        Command::QuitGroup(group) => Request::QuitGroup { group: *group },
        Command::DeleteGroup(group) => Request::DeleteGroup { group: *group },
        Command::ShowMe => Request::Whoami,
        Command::UpdateList => Request::Sync,
        Command::History(user) => history(HistoryTarget::With(*user), None),
        Command::GroupHistory(group) => history(HistoryTarget::Group(*group), None),
        Command::Page { target, before } => history(*target, Some(*before)),
    })
}

/// Whether a group history reply has senders whose names we do not know
/// (worth a member list fetch before showing it).
pub fn history_has_strangers(reply: &Reply, dir: &Directory) -> bool {
    reply
        .body::<History>()
        .is_ok_and(|h| h.messages.iter().any(|m| dir.user_name(m.from).is_none()))
}

/// Takes the reply to `cmd` into `dir`; returns what to show, or the
/// failure to report.
pub fn apply(
    cmd: &Command,
    reply: &Reply,
    dir: &mut Directory,
    clock: Clock,
    width: Option<usize>,
) -> Result<Shown, BodyError> {
    let line = match cmd {
        Command::Help | Command::More | Command::Token | Command::Logout | Command::Quit => {
            return Ok(Shown::default());
        }
        Command::Chat { to, text } => {
            let sent = reply.body::<Sent>()?;
            let mine = Msg {
                id: sent.msg.id,
                from: dir.my_id(),
                to: Some(*to),
                group: None,
                text: text.clone(),
                ts: sent.msg.ts,
                cid: None,
            };
            let mut lines = vec![view::msg_line(dir, clock, &mine)];
            if dir.friend(*to).is_some_and(|f| f.online == Some(false)) {
                lines.push(format!(
                    "{} is offline: they will get it when they log in",
                    view::who(dir, *to)
                ));
            }
            return Ok(Shown { lines, more: None });
        }
        Command::GroupChat { group, text } => {
            let sent = reply.body::<Sent>()?;
            let mine = Msg {
                id: sent.msg.id,
                from: dir.my_id(),
                to: None,
                group: Some(*group),
                text: text.clone(),
                ts: sent.msg.ts,
                cid: None,
            };
            view::msg_line(dir, clock, &mine)
        }
        Command::AddFriend(user) => {
            let r = reply.body::<FriendReply>()?;
            match (r.friend, r.status.as_deref()) {
                (Some(friend), _) => {
                    let line = format!("added friend {}", view::user_label(&friend));
                    dir.add_friend(friend);
                    line
                }
                (None, Some("requested")) => {
                    format!("friend request sent to {}", view::who(dir, *user))
                }
                (None, _) => {
                    return Err(BodyError::Malformed(
                        "an add_friend reply without `friend` or `status`".into(),
                    ));
                }
            }
        }
        Command::RemoveFriend(user) => {
            let label = view::who(dir, *user);
            reply.body::<Empty>()?;
            dir.remove_friend(*user);
            format!("removed friend {label}")
        }
        Command::CreateGroup { .. } => {
            let r = reply.body::<GroupReply>()?;
            let id = r.group.id;
            dir.add_group(r.group);
            format!("created group {}", view::group_label(dir, id))
        }
        Command::JoinGroup(group) => {
            let r = reply.body::<GroupReply>()?;
            dir.add_group(r.group);
            format!("joined group {}", view::group_label(dir, *group))
        }
        Command::List(group) => {
            let r = reply.body::<Members>()?;
            dir.learn_members(&r.members);
            let label = view::group_label(dir, *group);
            view::member_table(&label, &r.members, width)
        }
        Command::QuitGroup(group) => {
            let label = view::group_label(dir, *group);
            reply.body::<Empty>()?;
            dir.remove_group(*group);
            format!("left group {label}")
        }
        Command::DeleteGroup(group) => {
            let label = view::group_label(dir, *group);
            reply.body::<Empty>()?;
            dir.remove_group(*group);
            format!("deleted group {label}")
        }
        Command::ShowMe => {
            let r = reply.body::<Whoami>()?;
            dir.me = Some(User {
                online: None,
                ..r.user
            });
            view::login_screen(dir, width)
        }
        Command::UpdateList => {
            dir.apply_sync(reply.body::<Synced>()?);
            view::login_screen(dir, width)
        }
        Command::History(user) => {
            return history(reply, dir, clock, HistoryTarget::With(*user), false);
        }
        Command::GroupHistory(group) => {
            return history(reply, dir, clock, HistoryTarget::Group(*group), false);
        }
        Command::Page { target, .. } => return history(reply, dir, clock, *target, true),
    };
    Ok(Shown::line(line))
}

/// A history page: at most [`HISTORY_PAGE`] messages, and a hint when
/// the server had more.
fn history(
    reply: &Reply,
    dir: &Directory,
    clock: Clock,
    target: HistoryTarget,
    older: bool,
) -> Result<Shown, BodyError> {
    let mut h = reply.body::<History>()?;
    let title = match target {
        HistoryTarget::With(user) => view::who(dir, user),
        HistoryTarget::Group(group) => format!("group {}", view::group_label(dir, group)),
    };
    let page = HISTORY_PAGE as usize;
    let more = h.messages.len() > page;
    h.messages.truncate(page);
    let mut lines = vec![if older && h.messages.is_empty() {
        format!("no older messages with {title}")
    } else {
        view::history(dir, clock, &title, &h.messages)
    }];
    let oldest = h.messages.last().map(|m| m.id);
    let more = match oldest {
        Some(oldest) if more => {
            lines.push(format!(
                "older messages exist: type `more` to see the {page} before these"
            ));
            Some((target, oldest))
        }
        _ => None,
    };
    Ok(Shown { lines, more })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::wire::{self, Failure, Incoming};

    fn reply(v: serde_json::Value) -> Reply {
        match wire::parse(&v.to_string()).unwrap() {
            Incoming::Reply(r) => r,
            other => panic!("not a reply: {other:?}"),
        }
    }

    fn me() -> Directory {
        let mut d = Directory::default();
        d.me = Some(User {
            id: 1,
            name: "me".into(),
            online: None,
        });
        d
    }

    fn lines(
        cmd: &Command,
        r: serde_json::Value,
        d: &mut Directory,
    ) -> Result<Vec<String>, BodyError> {
        apply(cmd, &reply(r), d, Clock::Utc, None).map(|s| s.lines)
    }

    #[test]
    fn chats_carry_a_fresh_cid_and_others_none() {
        let cmd = Command::Chat {
            to: 2,
            text: "hi".into(),
        };
        assert_eq!(
            request(&cmd, || "c-1".into()),
            Some(Request::Chat {
                to: 2,
                text: "hi".into(),
                cid: Some("c-1".into())
            })
        );
        let called = std::cell::Cell::new(false);
        let r = request(&Command::List(3), || {
            called.set(true);
            String::new()
        });
        assert_eq!(r, Some(Request::GroupMembers { group: 3 }));
        assert!(!called.get());
        assert_eq!(request(&Command::Quit, String::new), None);
        assert_eq!(request(&Command::More, String::new), None);
        // One more than a page, to know whether older messages exist.
        assert_eq!(
            request(&Command::GroupHistory(4), String::new),
            Some(Request::History {
                target: HistoryTarget::Group(4),
                before: None,
                limit: HISTORY_PAGE + 1
            })
        );
        assert_eq!(
            request(
                &Command::Page {
                    target: HistoryTarget::With(2),
                    before: 99
                },
                String::new
            ),
            Some(Request::History {
                target: HistoryTarget::With(2),
                before: Some(99),
                limit: HISTORY_PAGE + 1
            })
        );
    }

    #[test]
    fn a_sent_message_shows_with_its_time_and_an_offline_note() {
        let mut d = me();
        d.add_friend(User {
            id: 2,
            name: "bob".into(),
            online: Some(false),
        });
        let chat = Command::Chat {
            to: 2,
            text: "hi".into(),
        };
        let sent = json!({"re": 1, "ok": true, "msg": {"id": 5, "ts": 61_000}});
        assert_eq!(
            lines(&chat, sent.clone(), &mut d).unwrap(),
            vec![
                "[00:01:01] me(1) -> bob(2): hi",
                "bob(2) is offline: they will get it when they log in"
            ]
        );
        d.set_online(2, true);
        assert_eq!(lines(&chat, sent.clone(), &mut d).unwrap().len(), 1);
        let group = Command::GroupChat {
            group: 3,
            text: "all".into(),
        };
        assert_eq!(
            lines(&group, sent, &mut d).unwrap(),
            vec!["[00:01:01] [group 3] me(1): all"]
        );
    }

    #[test]
    fn add_friend_speaks_both_protocol_versions() {
        let mut d = me();
        let v1 = json!({"re": 1, "ok": true, "friend": {"id": 2, "name": "bob", "online": true}});
        assert_eq!(
            lines(&Command::AddFriend(2), v1, &mut d).unwrap(),
            vec!["added friend bob(2)"]
        );
        assert_eq!(d.friends.len(), 1);
        let v2 = json!({"re": 2, "ok": true, "status": "requested"});
        assert_eq!(
            lines(&Command::AddFriend(3), v2, &mut d).unwrap(),
            vec!["friend request sent to 3"]
        );
        let v2_friends = json!({"re": 3, "ok": true, "status": "friends",
            "friend": {"id": 4, "name": "sam", "online": false}});
        assert_eq!(
            lines(&Command::AddFriend(4), v2_friends, &mut d).unwrap(),
            vec!["added friend sam(4)"]
        );
        assert_eq!(d.friends.len(), 2);
    }

    #[test]
    fn friends_and_groups_change_with_their_replies() {
        let mut d = me();
        d.add_friend(User {
            id: 2,
            name: "bob".into(),
            online: Some(true),
        });
        let out = lines(
            &Command::RemoveFriend(2),
            json!({"re": 2, "ok": true}),
            &mut d,
        );
        // The label is read before the friend is gone.
        assert_eq!(out.unwrap(), vec!["removed friend bob(2)"]);
        assert!(d.friends.is_empty());

        let group = json!({"id": 7, "name": "fun", "desc": "", "role": "creator"});
        let create = Command::CreateGroup {
            name: "fun".into(),
            desc: String::new(),
        };
        let out = lines(
            &create,
            json!({"re": 3, "ok": true, "group": group}),
            &mut d,
        );
        assert_eq!(out.unwrap(), vec!["created group fun(7)"]);
        let out = lines(
            &Command::DeleteGroup(7),
            json!({"re": 4, "ok": true}),
            &mut d,
        );
        assert_eq!(out.unwrap(), vec!["deleted group fun(7)"]);
        assert!(d.groups.is_empty());
    }

    #[test]
    fn a_failed_reply_changes_nothing() {
        let mut d = me();
        d.add_friend(User {
            id: 2,
            name: "bob".into(),
            online: Some(true),
        });
        let err = lines(
            &Command::RemoveFriend(2),
            json!({"re": 1, "ok": false, "code": "not_friend", "error": "no"}),
            &mut d,
        )
        .unwrap_err();
        assert_eq!(
            err,
            BodyError::Failed(Failure {
                code: "not_friend".into(),
                error: "no".into(),
                retry_after: None,
            })
        );
        assert_eq!(d.friends.len(), 1);
    }

    #[test]
    fn list_teaches_names_and_history_spots_strangers() {
        let mut d = me();
        let history = reply(json!({"re": 1, "ok": true, "messages": [
            {"id": 9, "from": 5, "group": 3, "text": "yo", "ts": 0}
        ]}));
        assert!(history_has_strangers(&history, &d));
        let members = json!({"re": 2, "ok": true, "members": [
            {"id": 5, "name": "sam", "online": false, "role": "member"}
        ]});
        let out = lines(&Command::List(3), members, &mut d).unwrap();
        assert!(out[0].starts_with("members of group 3:"), "{out:?}");
        assert!(!history_has_strangers(&history, &d));
        let out = apply(
            &Command::GroupHistory(3),
            &history,
            &mut d,
            Clock::Utc,
            None,
        )
        .unwrap();
        assert_eq!(
            out.lines,
            vec!["history with group 3, oldest first:\n[1970-01-01 00:00:00] sam(5): yo"]
        );
        assert_eq!(out.more, None);
    }

    #[test]
    fn a_full_page_of_history_offers_more() {
        let mut d = me();
        // Newest first, one more than a page: ids 160 down to 110.
        let messages: Vec<_> = (0..=HISTORY_PAGE as u64)
            .map(|i| json!({"id": 160 - i, "from": 1, "to": 2, "text": format!("m{}", 160 - i), "ts": 0}))
            .collect();
        let full = json!({"re": 1, "ok": true, "messages": messages});
        let out = apply(&Command::History(2), &reply(full), &mut d, Clock::Utc, None).unwrap();
        assert_eq!(out.lines.len(), 2);
        let shown = out.lines[0].lines().count() - 1;
        assert_eq!(shown, HISTORY_PAGE as usize);
        // The extra (oldest) one is not shown: it belongs to the next page.
        assert!(!out.lines[0].contains("m110"));
        assert!(out.lines[0].lines().nth(1).unwrap().ends_with("m111"));
        assert_eq!(
            out.lines[1],
            "older messages exist: type `more` to see the 50 before these"
        );
        assert_eq!(out.more, Some((HistoryTarget::With(2), 111)));

        let older = Command::Page {
            target: HistoryTarget::With(2),
            before: 111,
        };
        let last = json!({"re": 2, "ok": true, "messages": [
            {"id": 110, "from": 2, "to": 1, "text": "first", "ts": 0}
        ]});
        let out = apply(&older, &reply(last), &mut d, Clock::Utc, None).unwrap();
        assert_eq!(out.lines.len(), 1);
        assert_eq!(out.more, None);
        let none = json!({"re": 3, "ok": true, "messages": []});
        let out = apply(&older, &reply(none), &mut d, Clock::Utc, None).unwrap();
        assert_eq!(out.lines, vec!["no older messages with 2"]);
    }
}
