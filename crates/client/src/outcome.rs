//! What a command asks of the server, and what the reply changes and
//! shows: [`request`] turns a [`Command`] into its [`Request`], [`apply`]
//! takes the reply into the [`Directory`] and returns the lines to print.
//!
//! Pure, no I/O: the app sends the request, waits for the reply and prints
//! the lines. Commands that are not one request and one reply (`help`,
//! `logout`, `quit`) are the app's.

use chat_proto::reply::{
    Empty, FriendAdded, GroupReply, History, Members, Reply, ReplyError, Sent, Synced, Whoami,
};
use chat_proto::{HistoryTarget, Request, User};
use serde::de::DeserializeOwned;

use crate::commands::Command;
use crate::state::Directory;
use crate::view::{self, Clock};

/// How many messages one history page shows.
pub const HISTORY_PAGE: u32 = 50;

/// The request `cmd` sends, or `None` for a command the app runs itself.
/// `cid` makes a message id for chats (called only for them).
pub fn request(cmd: &Command, cid: impl FnOnce() -> String) -> Option<Request> {
    let history = |target| Request::History {
        target,
        before: None,
        limit: HISTORY_PAGE,
    };
    Some(match cmd {
        Command::Help | Command::Logout | Command::Quit => return None,
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
            name: name.clone(),
            desc: desc.clone(),
        },
        Command::JoinGroup(group) => Request::JoinGroup { group: *group },
        Command::List(group) => Request::GroupMembers { group: *group },
        Command::QuitGroup(group) => Request::QuitGroup { group: *group },
        Command::DeleteGroup(group) => Request::DeleteGroup { group: *group },
        Command::ShowMe => Request::Whoami,
        Command::UpdateList => Request::Sync,
        Command::History(user) => history(HistoryTarget::With(*user)),
        Command::GroupHistory(group) => history(HistoryTarget::Group(*group)),
    })
}

/// Whether a group history reply has senders whose names we do not know
/// (worth a member list fetch before showing it).
pub fn history_has_strangers(reply: &Reply, dir: &Directory) -> bool {
    reply
        .body::<History>()
        .is_ok_and(|h| h.messages.iter().any(|m| dir.user_name(m.from).is_none()))
}

/// Takes the reply to `cmd` into `dir`; returns the lines to show, or the
/// failure to report.
pub fn apply(
    cmd: &Command,
    reply: &Reply,
    dir: &mut Directory,
    clock: Clock,
) -> Result<Vec<String>, ReplyError> {
    fn body<T: DeserializeOwned>(reply: &Reply) -> Result<T, ReplyError> {
        reply.body::<T>()
    }
    let line = match cmd {
        Command::Help | Command::Logout | Command::Quit => return Ok(Vec::new()),
        Command::Chat { .. } | Command::GroupChat { .. } => {
            body::<Sent>(reply)?;
            return Ok(Vec::new());
        }
        Command::AddFriend(_) => {
            let r = body::<FriendAdded>(reply)?;
            let line = format!("added friend {}", view::user_label(&r.friend));
            dir.add_friend(r.friend);
            line
        }
        Command::RemoveFriend(user) => {
            let label = view::who(dir, *user);
            body::<Empty>(reply)?;
            dir.remove_friend(*user);
            format!("removed friend {label}")
        }
        Command::CreateGroup { .. } => {
            let r = body::<GroupReply>(reply)?;
            let id = r.group.id;
            dir.add_group(r.group);
            format!("created group {}", view::group_label(dir, id))
        }
        Command::JoinGroup(group) => {
            let r = body::<GroupReply>(reply)?;
            dir.add_group(r.group);
            format!("joined group {}", view::group_label(dir, *group))
        }
        Command::List(group) => {
            let r = body::<Members>(reply)?;
            dir.learn_members(&r.members);
            let label = view::group_label(dir, *group);
            view::member_table(&label, &r.members)
        }
        Command::QuitGroup(group) => {
            let label = view::group_label(dir, *group);
            body::<Empty>(reply)?;
            dir.remove_group(*group);
            format!("left group {label}")
        }
        Command::DeleteGroup(group) => {
            let label = view::group_label(dir, *group);
            body::<Empty>(reply)?;
            dir.remove_group(*group);
            format!("deleted group {label}")
        }
        Command::ShowMe => {
            let r = body::<Whoami>(reply)?;
            dir.me = Some(User {
                online: None,
                ..r.user
            });
            view::login_screen(dir)
        }
        Command::UpdateList => {
            dir.apply_sync(body::<Synced>(reply)?);
            view::login_screen(dir)
        }
        Command::History(user) => {
            let h = body::<History>(reply)?;
            let title = view::who(dir, *user);
            view::history(dir, clock, &title, &h.messages)
        }
        Command::GroupHistory(group) => {
            let h = body::<History>(reply)?;
            let title = format!("group {}", view::group_label(dir, *group));
            view::history(dir, clock, &title, &h.messages)
        }
    };
    Ok(vec![line])
}

#[cfg(test)]
mod tests {
    use chat_proto::reply::ErrorBody;
    use chat_proto::{ErrorCode, ServerFrame};
    use serde_json::json;

    use super::*;

    fn reply(v: serde_json::Value) -> Reply {
        match ServerFrame::parse(&v.to_string()).unwrap() {
            ServerFrame::Reply(r) => r,
            ServerFrame::Event(e) => panic!("not a reply: {e:?}"),
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
        assert_eq!(
            request(&Command::GroupHistory(4), String::new),
            Some(Request::History {
                target: HistoryTarget::Group(4),
                before: None,
                limit: HISTORY_PAGE
            })
        );
    }

    #[test]
    fn friends_and_groups_change_with_their_replies() {
        let mut d = me();
        let out = apply(
            &Command::AddFriend(2),
            &reply(
                json!({"re": 1, "ok": true, "friend": {"id": 2, "name": "bob", "online": true}}),
            ),
            &mut d,
            Clock::Utc,
        )
        .unwrap();
        assert_eq!(out, vec!["added friend bob(2)"]);
        assert_eq!(d.friends.len(), 1);

        let out = apply(
            &Command::RemoveFriend(2),
            &reply(json!({"re": 2, "ok": true})),
            &mut d,
            Clock::Utc,
        )
        .unwrap();
        // The label is read before the friend is gone.
        assert_eq!(out, vec!["removed friend bob(2)"]);
        assert!(d.friends.is_empty());

        let group = json!({"id": 7, "name": "fun", "desc": "", "role": "creator"});
        let out = apply(
            &Command::CreateGroup {
                name: "fun".into(),
                desc: String::new(),
            },
            &reply(json!({"re": 3, "ok": true, "group": group})),
            &mut d,
            Clock::Utc,
        )
        .unwrap();
        assert_eq!(out, vec!["created group fun(7)"]);
        let out = apply(
            &Command::DeleteGroup(7),
            &reply(json!({"re": 4, "ok": true})),
            &mut d,
            Clock::Utc,
        )
        .unwrap();
        assert_eq!(out, vec!["deleted group fun(7)"]);
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
        let err = apply(
            &Command::RemoveFriend(2),
            &reply(json!({"re": 1, "ok": false, "code": "not_friend", "error": "no"})),
            &mut d,
            Clock::Utc,
        )
        .unwrap_err();
        assert_eq!(
            err,
            ReplyError::Failed(ErrorBody {
                code: ErrorCode::NotFriend,
                error: "no".into()
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
        let out = apply(
            &Command::List(3),
            &reply(json!({"re": 2, "ok": true, "members": [
                {"id": 5, "name": "sam", "online": false, "role": "member"}
            ]})),
            &mut d,
            Clock::Utc,
        )
        .unwrap();
        assert!(out[0].starts_with("members of group 3:"), "{out:?}");
        assert!(!history_has_strangers(&history, &d));
        let out = apply(&Command::GroupHistory(3), &history, &mut d, Clock::Utc).unwrap();
        assert_eq!(
            out,
            vec!["history with group 3, oldest first:\n[1970-01-01 00:00:00] sam(5): yo"]
        );
    }
}
