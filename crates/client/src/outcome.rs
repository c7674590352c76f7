//! What a command asks of the server, and what the reply changes and
//! shows: [`request`] turns a [`Command`] into its [`Request`], [`apply`]
//! takes the reply into the [`Directory`] and returns the lines to print.
//!
//! Pure, no I/O: the app sends the request, waits for the reply and prints
//! the lines. Commands that are not one request and one reply (`help`,
//! `more` before it becomes a page, `token`, `logout`, `logoutall`,
//! `quit`, and the password prompts of `changepassword` and
//! `deleteaccount`) are the app's; the replies of the last two are
//! taken in here all the same.
//!
//! A history page asks for one message more than it shows: when that one
//! comes, older messages exist, and the page ends with a hint to `more`.
//!
//! Some replies lack names worth showing: a group history from members we
//! cannot name, a friend request to someone we never saw. [`names_needed`]
//! says which request would bring them (the member list, the lists), and
//! [`learn_names`] takes its answer in before the reply is shown.
//!
//! Over 500 lines, most of them unit tests: one per kind of reply.

use chat_proto::reply::{
    Empty, FriendAdded, FriendRequested, FriendStatus, GroupReply, History, Members, NewToken,
    Sent, Synced, Whoami,
};
use chat_proto::{Event, HistoryTarget, Msg, Request, Role, User, Visibility};

use crate::commands::{Command, GroupChange};
use crate::state::Directory;
use crate::view::{self, Clock};
use crate::wire::{BodyError, Reply};

/// How many messages one history page shows.
pub const HISTORY_PAGE: u32 = 50;

/// What a reply shows, and what the app keeps from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shown {
    pub lines: Vec<String>,
    /// After a history page: the page before it, when older messages exist.
    pub more: Option<(HistoryTarget, u64)>,
    /// After a password change: the session's new token.
    pub token: Option<String>,
}

impl Shown {
    fn line(line: String) -> Shown {
        Shown {
            lines: vec![line],
            ..Shown::default()
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
        Command::Help
        | Command::More
        | Command::Token
        | Command::Logout
        | Command::LogoutEverywhere
        | Command::ChangePassword
        | Command::DeleteAccount
        | Command::Quit => {
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
        Command::AcceptFriend(user) => Request::AcceptFriend { user: *user },
        Command::DeclineFriend(user) => Request::DeclineFriend { user: *user },
        Command::CancelFriend(user) => Request::CancelFriend { user: *user },
        Command::Block(user) => Request::Block { user: *user },
        Command::Unblock(user) => Request::Unblock { user: *user },
        Command::Requests | Command::UpdateList => Request::Sync,
        Command::RemoveFriend(user) => Request::RemoveFriend { user: *user },
        Command::CreateGroup {
            name,
            desc,
            visibility,
        } => Request::CreateGroup {
            name: name.clone(),
            desc: desc.clone(),
            visibility: *visibility,
        },
        Command::UpdateGroup { group, change } => {
            let (mut name, mut desc, mut visibility) = (None, None, None);
            match change {
                GroupChange::Name(n) => name = Some(n.clone()),
                GroupChange::Desc(d) => desc = Some(d.clone()),
                GroupChange::Visibility(v) => visibility = Some(*v),
            }
            Request::UpdateGroup {
                group: *group,
                name,
                desc,
                visibility,
            }
        }
        Command::JoinGroup(group) => Request::JoinGroup { group: *group },
        Command::DeclineInvite(group) => Request::DeclineInvite { group: *group },
        Command::Invite { group, user } => Request::Invite {
            group: *group,
            user: *user,
        },
        Command::Kick { group, user } => Request::Kick {
            group: *group,
            user: *user,
        },
        Command::SetRole { group, user, role } => Request::SetRole {
            group: *group,
            user: *user,
            role: *role,
        },
        Command::Transfer { group, user } => Request::TransferGroup {
            group: *group,
            user: *user,
        },
        Command::List(group) => Request::GroupMembers { group: *group },
        Command::QuitGroup(group) => Request::QuitGroup { group: *group },
        Command::DeleteGroup(group) => Request::DeleteGroup { group: *group },
        Command::ShowMe => Request::Whoami,
        Command::History(user) => history(HistoryTarget::With(*user), None),
        Command::GroupHistory(group) => history(HistoryTarget::Group(*group), None),
        Command::Page { target, before } => history(*target, Some(*before)),
    })
}

/// The request that would bring names `reply` lacks before it is shown:
/// a group history's senders we cannot name (the member list), or the
/// name of someone we just sent a friend request to (the lists, where it
/// is now pending). The app skips a member list it has fetched already.
pub fn names_needed(cmd: &Command, reply: &Reply, dir: &Directory) -> Option<Request> {
    match cmd {
        Command::GroupHistory(group) => reply
            .body::<History>()
            .is_ok_and(|h| h.messages.iter().any(|m| dir.user_name(m.from).is_none()))
            .then_some(Request::GroupMembers { group: *group }),
        Command::AddFriend(user) => reply
            .body::<FriendRequested>()
            .is_ok_and(|r| r.status == FriendStatus::Requested && dir.user_name(*user).is_none())
            .then_some(Request::Sync),
        _ => None,
    }
}

/// Takes in the answer to [`names_needed`]'s request; a failed one
/// teaches nothing, and the reply is shown with the names known.
pub fn learn_names(names: &Reply, dir: &mut Directory) {
    if let Ok(m) = names.body::<Members>() {
        dir.learn_members(&m.members);
    } else if let Ok(s) = names.body::<Synced>() {
        dir.set_lists(s.lists);
    }
}

/// Whether `ev` only repeats, for the session that made the change, what
/// the reply to `cmd` (still on its way) will say: the server tells every
/// member of a kick or a role change, its author included, just before
/// the reply. `me` is our user id.
pub fn echoes(cmd: &Command, ev: &Event, me: u64) -> bool {
    match (cmd, ev) {
        (
            Command::Kick { group, user },
            Event::MemberLeft {
                group: g,
                user: u,
                by: Some(by),
            },
        ) => g == group && u.id == *user && *by == me,
        (
            Command::SetRole { group, user, role },
            Event::MemberRole {
                group: g,
                user: u,
                role: r,
            },
        ) => g == group && u == user && r == role,
        (
            Command::Transfer { group, user },
            Event::MemberRole {
                group: g,
                user: u,
                role: r,
            },
        ) => g == group && ((u == user && *r == Role::Creator) || (*u == me && *r == Role::Admin)),
        _ => false,
    }
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
        Command::Help
        | Command::More
        | Command::Token
        | Command::Logout
        | Command::LogoutEverywhere
        | Command::Quit => {
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
            return Ok(Shown {
                lines,
                ..Shown::default()
            });
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
            let r = reply.body::<FriendRequested>()?;
            match (r.status, r.friend) {
                (FriendStatus::Friends, friend) => {
                    let friend = friend.unwrap_or_else(|| User {
                        id: *user,
                        name: dir.user_name(*user).unwrap_or_default().to_owned(),
                        online: None,
                    });
                    let line = format!("you and {} are friends now", view::user_label(&friend));
                    dir.add_friend(friend);
                    line
                }
                (FriendStatus::Requested, _) => {
                    dir.add_request_out(*user);
                    format!("friend request sent to {}", view::someone(dir, *user))
                }
            }
        }
        Command::AcceptFriend(_) => {
            let r = reply.body::<FriendAdded>()?;
            let line = format!("you and {} are friends now", view::user_label(&r.friend));
            dir.add_friend(r.friend);
            line
        }
        Command::DeclineFriend(user) => {
            reply.body::<Empty>()?;
            dir.drop_request_in(*user);
            format!(
                "declined the friend request from {}",
                view::someone(dir, *user)
            )
        }
        Command::CancelFriend(user) => {
            reply.body::<Empty>()?;
            dir.drop_request_out(*user);
            format!(
                "took back your friend request to {}",
                view::someone(dir, *user)
            )
        }
        Command::Block(user) => {
            reply.body::<Empty>()?;
            dir.block(*user);
            format!(
                "blocked {}: nothing from them reaches you until unblock:{user}",
                view::someone(dir, *user)
            )
        }
        Command::Unblock(user) => {
            reply.body::<Empty>()?;
            dir.unblock(*user);
            format!("unblocked {}", view::someone(dir, *user))
        }
        Command::Requests => {
            dir.set_lists(reply.body::<Synced>()?.lists);
            view::requests_screen(dir, width)
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
            let private = r.group.visibility == Visibility::Private;
            dir.add_group(r.group);
            let label = view::group_label(dir, id);
            if private {
                format!("created private group {label}: invite members with invite:{id}:USERID")
            } else {
                format!("created group {label}")
            }
        }
        Command::UpdateGroup { .. } => {
            let r = reply.body::<GroupReply>()?;
            let line = view::group_update(dir, &r.group);
            dir.update_group(&r.group);
            line
        }
        Command::JoinGroup(group) => {
            let r = reply.body::<GroupReply>()?;
            dir.add_group(r.group);
            format!("joined group {}", view::group_label(dir, *group))
        }
        Command::DeclineInvite(group) => {
            reply.body::<Empty>()?;
            let label = match dir.invite(*group) {
                Some(i) => view::group_of(&i.group),
                None => group.to_string(),
            };
            dir.drop_invite(*group);
            format!("declined the invite to group {label}")
        }
        Command::Invite { group, user } => {
            reply.body::<Empty>()?;
            format!(
                "invited {} to group {}",
                view::someone(dir, *user),
                view::group_label(dir, *group)
            )
        }
        Command::Kick { group, user } => {
            reply.body::<Empty>()?;
            format!(
                "removed {} from group {}",
                view::someone(dir, *user),
                view::group_label(dir, *group)
            )
        }
        Command::SetRole { group, user, role } => {
            reply.body::<Empty>()?;
            format!(
                "{} is now {} of group {}",
                view::someone(dir, *user),
                view::role_phrase(*role),
                view::group_label(dir, *group)
            )
        }
        Command::Transfer { group, user } => {
            reply.body::<Empty>()?;
            dir.set_my_role(*group, Role::Admin);
            format!(
                "{} is now the creator of group {}; you are an admin of it",
                view::someone(dir, *user),
                view::group_label(dir, *group)
            )
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
            dir.set_lists(reply.body::<Synced>()?.lists);
            view::login_screen(dir, width)
        }
        Command::ChangePassword => {
            let r = reply.body::<NewToken>()?;
            return Ok(Shown {
                lines: vec!["password changed; your other sessions were logged out".into()],
                token: Some(r.token),
                ..Shown::default()
            });
        }
        Command::DeleteAccount => {
            reply.body::<Empty>()?;
            let me = dir.my_id();
            format!(
                "account {} deleted: it cannot be used again",
                view::someone(dir, me)
            )
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
    Ok(Shown {
        lines,
        more,
        ..Shown::default()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use chat_proto::{ErrorBody, ErrorCode};

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
    fn add_friend_requests_or_makes_friends() {
        let mut d = me();
        let requested = reply(json!({"re": 2, "ok": true, "status": "requested"}));
        let add = Command::AddFriend(3);
        // A stranger's name comes from the lists, fetched first.
        assert_eq!(names_needed(&add, &requested, &d), Some(Request::Sync));
        let lists = reply(json!({"re": 3, "ok": true, "friends": [], "groups": [],
            "requests_out": [{"id": 3, "name": "ann"}]}));
        learn_names(&lists, &mut d);
        assert_eq!(names_needed(&add, &requested, &d), None);
        let out = apply(&add, &requested, &mut d, Clock::Utc, None).unwrap();
        assert_eq!(out.lines, vec!["friend request sent to ann(3)"]);
        assert_eq!(d.requests_out.len(), 1);
        // Unknown after all: the id alone.
        let out = apply(&Command::AddFriend(9), &requested, &mut d, Clock::Utc, None).unwrap();
        assert_eq!(out.lines, vec!["friend request sent to user 9"]);

        // They had asked first: friends at once.
        d.add_request_in(User {
            id: 4,
            name: "sam".into(),
            online: None,
        });
        let crossing = json!({"re": 3, "ok": true, "status": "friends",
            "friend": {"id": 4, "name": "sam", "online": false}});
        assert_eq!(
            lines(&Command::AddFriend(4), crossing, &mut d).unwrap(),
            vec!["you and sam(4) are friends now"]
        );
        assert_eq!(d.friends.len(), 1);
        assert!(d.requests_in.is_empty());
    }

    #[test]
    fn answering_requests_and_blocking() {
        let mut d = me();
        d.add_request_in(User {
            id: 2,
            name: "bob".into(),
            online: None,
        });
        let ok = || json!({"re": 1, "ok": true});
        let accepted = json!({"re": 1, "ok": true,
            "friend": {"id": 2, "name": "bob", "online": true}});
        assert_eq!(
            lines(&Command::AcceptFriend(2), accepted, &mut d).unwrap(),
            vec!["you and bob(2) are friends now"]
        );
        assert!(d.requests_in.is_empty() && d.friend(2).is_some());
        d.add_request_in(User {
            id: 3,
            name: "eve".into(),
            online: None,
        });
        assert_eq!(
            lines(&Command::DeclineFriend(3), ok(), &mut d).unwrap(),
            vec!["declined the friend request from eve(3)"]
        );
        assert!(d.requests_in.is_empty());
        d.add_request_out(3);
        assert_eq!(
            lines(&Command::CancelFriend(3), ok(), &mut d).unwrap(),
            vec!["took back your friend request to eve(3)"]
        );
        assert!(d.requests_out.is_empty());
        assert_eq!(
            lines(&Command::Block(2), ok(), &mut d).unwrap(),
            vec!["blocked bob(2): nothing from them reaches you until unblock:2"]
        );
        assert!(d.friend(2).is_none());
        assert_eq!(d.blocked.len(), 1);
        assert_eq!(
            lines(&Command::Unblock(2), ok(), &mut d).unwrap(),
            vec!["unblocked bob(2)"]
        );
        assert!(d.blocked.is_empty());
        let sync = json!({"re": 1, "ok": true, "friends": [], "groups": [],
            "requests_in": [{"id": 5, "name": "zed"}], "requests_out": [],
            "blocked": [], "invites": []});
        let out = lines(&Command::Requests, sync, &mut d).unwrap();
        assert!(out[0].contains("zed"), "{out:?}");
        assert!(out[0].contains("accept:ID"), "{out:?}");
        assert_eq!(d.requests_in.len(), 1);
    }

    #[test]
    fn groups_private_roles_invites_and_kicks() {
        let mut d = me();
        let ok = || json!({"re": 1, "ok": true});
        let private = json!({"re": 1, "ok": true, "group":
            {"id": 7, "name": "club", "desc": "", "visibility": "private", "role": "creator"}});
        let create = Command::CreateGroup {
            name: "club".into(),
            desc: String::new(),
            visibility: Visibility::Private,
        };
        assert_eq!(
            request(&create, String::new),
            Some(Request::CreateGroup {
                name: "club".into(),
                desc: String::new(),
                visibility: Visibility::Private
            })
        );
        assert_eq!(
            lines(&create, private, &mut d).unwrap(),
            vec!["created private group club(7): invite members with invite:7:USERID"]
        );
        d.learn(2, "bob");
        assert_eq!(
            lines(&Command::Invite { group: 7, user: 2 }, ok(), &mut d).unwrap(),
            vec!["invited bob(2) to group club(7)"]
        );
        let admin = Command::SetRole {
            group: 7,
            user: 2,
            role: Role::Admin,
        };
        assert_eq!(
            lines(&admin, ok(), &mut d).unwrap(),
            vec!["bob(2) is now an admin of group club(7)"]
        );
        assert_eq!(
            lines(&Command::Kick { group: 7, user: 2 }, ok(), &mut d).unwrap(),
            vec!["removed bob(2) from group club(7)"]
        );
        assert_eq!(
            lines(&Command::Transfer { group: 7, user: 2 }, ok(), &mut d).unwrap(),
            vec!["bob(2) is now the creator of group club(7); you are an admin of it"]
        );
        assert_eq!(d.my_role(7), Some(Role::Admin));

        let open = Command::UpdateGroup {
            group: 7,
            change: GroupChange::Visibility(Visibility::Public),
        };
        assert_eq!(
            request(&open, String::new),
            Some(Request::UpdateGroup {
                group: 7,
                name: None,
                desc: None,
                visibility: Some(Visibility::Public)
            })
        );
        let opened = json!({"re": 1, "ok": true, "group":
            {"id": 7, "name": "club", "desc": "", "visibility": "public", "role": "admin"}});
        assert_eq!(
            lines(&open, opened, &mut d).unwrap(),
            vec!["group club(7) is now public: anyone can join with joingroup:7"]
        );

        // An invite, declined; another, accepted by joining.
        d.add_invite(chat_proto::Invite {
            group: chat_proto::Group {
                id: 8,
                name: "den".into(),
                desc: String::new(),
                visibility: Visibility::Private,
                role: None,
            },
            by: User {
                id: 2,
                name: "bob".into(),
                online: None,
            },
        });
        assert_eq!(
            lines(&Command::DeclineInvite(8), ok(), &mut d).unwrap(),
            vec!["declined the invite to group den(8)"]
        );
        assert!(d.invites.is_empty());
    }

    #[test]
    fn the_authors_echo_of_a_kick_or_role_change_is_recognised() {
        let bob = User {
            id: 2,
            name: "bob".into(),
            online: Some(true),
        };
        let kick = Command::Kick { group: 7, user: 2 };
        let left = |by| Event::MemberLeft {
            group: 7,
            user: bob.clone(),
            by,
        };
        assert!(echoes(&kick, &left(Some(1)), 1));
        // Kicked by someone else, or left alone: news.
        assert!(!echoes(&kick, &left(Some(3)), 1));
        assert!(!echoes(&kick, &left(None), 1));
        let role = |user, role| Event::MemberRole {
            group: 7,
            user,
            role,
        };
        let admin = Command::SetRole {
            group: 7,
            user: 2,
            role: Role::Admin,
        };
        assert!(echoes(&admin, &role(2, Role::Admin), 1));
        assert!(!echoes(&admin, &role(2, Role::Member), 1));
        assert!(!echoes(&admin, &role(3, Role::Admin), 1));
        let transfer = Command::Transfer { group: 7, user: 2 };
        assert!(echoes(&transfer, &role(2, Role::Creator), 1));
        assert!(echoes(&transfer, &role(1, Role::Admin), 1));
        assert!(!echoes(&transfer, &role(3, Role::Admin), 1));
        assert!(!echoes(&Command::List(7), &role(2, Role::Creator), 1));
    }

    #[test]
    fn a_password_change_brings_a_new_token() {
        let mut d = me();
        let r = reply(json!({"re": 1, "ok": true, "token": "fresh"}));
        let shown = apply(&Command::ChangePassword, &r, &mut d, Clock::Utc, None).unwrap();
        assert_eq!(shown.token.as_deref(), Some("fresh"));
        assert_eq!(
            shown.lines,
            vec!["password changed; your other sessions were logged out"]
        );
        assert_eq!(request(&Command::ChangePassword, String::new), None);
        assert_eq!(request(&Command::DeleteAccount, String::new), None);
        let gone = lines(
            &Command::DeleteAccount,
            json!({"re": 2, "ok": true}),
            &mut d,
        );
        assert_eq!(
            gone.unwrap(),
            vec!["account me(1) deleted: it cannot be used again"]
        );
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
            visibility: Visibility::Public,
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
            BodyError::Failed(Failure::Known(ErrorBody {
                code: ErrorCode::NotFriend,
                error: "no".into(),
                retry_after: None,
            }))
        );
        assert_eq!(d.friends.len(), 1);
    }

    #[test]
    fn list_teaches_names_and_history_spots_strangers() {
        let mut d = me();
        let history = reply(json!({"re": 1, "ok": true, "messages": [
            {"id": 9, "from": 5, "group": 3, "text": "yo", "ts": 0}
        ]}));
        let group_history = Command::GroupHistory(3);
        assert_eq!(
            names_needed(&group_history, &history, &d),
            Some(Request::GroupMembers { group: 3 })
        );
        let members = json!({"re": 2, "ok": true, "members": [
            {"id": 5, "name": "sam", "online": false, "role": "member"}
        ]});
        let out = lines(&Command::List(3), members, &mut d).unwrap();
        assert!(out[0].starts_with("members of group 3:"), "{out:?}");
        assert_eq!(names_needed(&group_history, &history, &d), None);
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
