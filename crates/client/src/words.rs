//! What went wrong, in the user's words: every error code the client can
//! get, said with the command's context ("bob(2) is not your friend yet:
//! send a request with addfriend:2"), connection failures said with what
//! happened to the command, and the field rules checked before sending,
//! counted the way the user counts (characters, not bytes, where the
//! rule allows).
//!
//! Pure: formatting only, from the [`Directory`] for names (and our role
//! in a group, to say who may do what).
//!
//! Over 500 lines, about half of them unit tests: one plain sentence per
//! error code and command is a long but flat list.

use chat_proto::{ErrorCode, Role, validate};

use crate::commands::{Command, GroupChange};
use crate::conn::ConnError;
use crate::state::Directory;
use crate::view;
use crate::wire::Failure;

/// Why a command ended without its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    Conn(ConnError),
    /// No reply within this many seconds.
    Timeout(u64),
}

/// `n` with thousands separators: 4,096.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A message text that the server would refuse, said before sending.
pub fn check_text(text: &str) -> Result<(), String> {
    let bytes = text.len();
    if bytes <= validate::TEXT_MAX_BYTES {
        return Ok(());
    }
    let chars = text.chars().count();
    // How many characters from the start fit in the limit.
    let fit = text
        .char_indices()
        .take_while(|(i, c)| i + c.len_utf8() <= validate::TEXT_MAX_BYTES)
        .count();
    if chars == bytes {
        return Err(format!(
            "message too long: {} characters, at most {} allowed; nothing was sent",
            count(chars),
            count(validate::TEXT_MAX_BYTES)
        ));
    }
    Err(format!(
        "message too long: its {} take {} bytes, and a message may take at most {} \
         (emoji and many other characters take 2 to 4 bytes each); the first {} fit; \
         nothing was sent",
        plural(chars, "character", "characters"),
        count(bytes),
        count(validate::TEXT_MAX_BYTES),
        plural(fit, "character", "characters"),
    ))
}

/// A user name the server would refuse.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err("the name is empty: type at least one character".into());
    }
    if chars > validate::USER_NAME_MAX_CHARS {
        return Err(format!(
            "the name is too long: {} characters, at most {} allowed",
            count(chars),
            validate::USER_NAME_MAX_CHARS
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the name may not contain control characters".into());
    }
    Ok(())
}

/// A password the server would refuse.
pub fn check_password(password: &str) -> Result<(), String> {
    let bytes = password.len();
    if (validate::PASSWORD_MIN_BYTES..=validate::PASSWORD_MAX_BYTES).contains(&bytes) {
        return Ok(());
    }
    let unit = if password.is_ascii() {
        "characters"
    } else {
        "bytes (accented letters and symbols take 2 to 4 bytes each)"
    };
    if bytes < validate::PASSWORD_MIN_BYTES {
        Err(format!(
            "the password is too short: at least {} {unit}",
            validate::PASSWORD_MIN_BYTES
        ))
    } else {
        Err(format!(
            "the password is too long: at most {} {unit}",
            validate::PASSWORD_MAX_BYTES
        ))
    }
}

/// A group name the server would refuse.
fn check_group_name(name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n > validate::GROUP_NAME_MAX_CHARS {
        return Err(format!(
            "the group name is too long: {} characters, at most {} allowed",
            count(n),
            validate::GROUP_NAME_MAX_CHARS
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the group name may not contain control characters".into());
    }
    Ok(())
}

/// A group description the server would refuse.
fn check_group_desc(desc: &str) -> Result<(), String> {
    let d = desc.chars().count();
    if d > validate::GROUP_DESC_MAX_CHARS {
        return Err(format!(
            "the description is too long: {} characters, at most {} allowed",
            count(d),
            validate::GROUP_DESC_MAX_CHARS
        ));
    }
    Ok(())
}

/// A command the server would refuse, said before sending: fields out
/// of range, commands aimed at ourselves, friend requests to someone we
/// block.
pub fn check(cmd: &Command, dir: &Directory) -> Result<(), String> {
    let me = dir.my_id();
    match cmd {
        Command::Chat { text, .. } | Command::GroupChat { text, .. } => check_text(text),
        Command::CreateGroup { name, desc, .. } => {
            check_group_name(name)?;
            check_group_desc(desc)
        }
        Command::UpdateGroup { change, .. } => match change {
            GroupChange::Name(name) => check_group_name(name),
            GroupChange::Desc(desc) => check_group_desc(desc),
            GroupChange::Visibility(_) => Ok(()),
        },
        Command::AddFriend(u) | Command::AcceptFriend(u) if *u == me => {
            Err("you cannot be your own friend".into())
        }
        Command::AddFriend(u) | Command::AcceptFriend(u)
            if dir.blocked.iter().any(|b| b.id == *u) =>
        {
            Err(format!(
                "you block {}: unblock:{u} first",
                view::someone(dir, *u)
            ))
        }
        Command::Block(u) if *u == me => Err("you cannot block yourself".into()),
        Command::Kick { group, user } if *user == me => Err(format!(
            "you cannot remove yourself; leave with quitgroup:{group}"
        )),
        Command::SetRole { user, .. } if *user == me => {
            Err("you cannot change your own role; the creator can".into())
        }
        Command::Transfer { user, .. } if *user == me => {
            Err("you cannot hand a group to yourself".into())
        }
        _ => Ok(()),
    }
}

/// The user a command is about, if any.
fn user_of(cmd: &Command) -> Option<u64> {
    match cmd {
        Command::Chat { to, .. } => Some(*to),
        Command::AddFriend(u)
        | Command::AcceptFriend(u)
        | Command::DeclineFriend(u)
        | Command::CancelFriend(u)
        | Command::Block(u)
        | Command::Unblock(u)
        | Command::RemoveFriend(u)
        | Command::History(u) => Some(*u),
        Command::Invite { user, .. }
        | Command::Kick { user, .. }
        | Command::SetRole { user, .. }
        | Command::Transfer { user, .. } => Some(*user),
        _ => None,
    }
}

/// The group a command is about, if any.
fn group_of(cmd: &Command) -> Option<u64> {
    match cmd {
        Command::GroupChat { group, .. }
        | Command::UpdateGroup { group, .. }
        | Command::Invite { group, .. }
        | Command::Kick { group, .. }
        | Command::SetRole { group, .. }
        | Command::Transfer { group, .. } => Some(*group),
        Command::JoinGroup(group)
        | Command::DeclineInvite(group)
        | Command::List(group)
        | Command::QuitGroup(group)
        | Command::DeleteGroup(group)
        | Command::GroupHistory(group) => Some(*group),
        _ => None,
    }
}

/// `forbidden`: who may do what the command tried, given our role.
fn forbidden(cmd: Option<&Command>, dir: &Directory) -> String {
    let Some(cmd) = cmd else {
        return "you are not allowed to do that".into();
    };
    let mine = group_of(cmd).and_then(|g| dir.my_role(g));
    match cmd {
        Command::DeleteGroup(_) => "only the group's creator can delete it".into(),
        Command::QuitGroup(g) => format!(
            "the creator cannot leave the group: first hand it to a member with \
             transfer:{g}:USERID, or delete it with deletegroup:{g}"
        ),
        Command::UpdateGroup { .. } => {
            "only the group's creator or an admin can change the group".into()
        }
        Command::Invite { .. } => "only the group's creator or an admin can invite".into(),
        Command::Kick { .. } => match mine {
            Some(Role::Admin) => "an admin can remove only plain members; the creator can \
                 remove admins"
                .into(),
            Some(Role::Member) => "only the group's creator or an admin can remove members".into(),
            _ => "the creator can remove anyone, an admin only plain members".into(),
        },
        Command::SetRole { .. } => "only the group's creator can make or unmake admins".into(),
        Command::Transfer { .. } => "only the group's creator can hand the group over".into(),
        _ => "you are not allowed to do that in this group".into(),
    }
}

/// A failed reply in plain words; `cmd` is the command it answers
/// (`None` for the menu's login and register, and for a re-login).
pub fn failure(cmd: Option<&Command>, f: &Failure, dir: &Directory) -> String {
    let Some(code) = f.code() else {
        return format!("the server refused it: {} ({})", f.error(), f.code_name());
    };
    let user = cmd.and_then(user_of);
    let group = cmd.and_then(group_of);
    let who = |id: u64| view::someone(dir, id);
    let group_name = |id: u64| view::group_label(dir, id);
    match code {
        ErrorCode::BadCredentials => match cmd {
            Some(Command::ChangePassword) => "the old password is wrong; nothing changed".into(),
            Some(Command::DeleteAccount) => "wrong password: the account was not deleted".into(),
            _ => "wrong user id or password (or the token is no longer valid)".into(),
        },
        ErrorCode::RateLimited => match f.retry_after() {
            // Only password logins carry `retry_after`.
            Some(s) => format!(
                "too many failed logins; try again in {} s",
                count(s as usize)
            ),
            None => "too many requests: slow down and try again in a moment".into(),
        },
        ErrorCode::Unavailable => {
            "the server cannot do that right now (a service behind it is down); \
             nothing changed, try again in a moment"
                .into()
        }
        ErrorCode::Internal => {
            "the server failed to do that (a fault on its side); try again later".into()
        }
        ErrorCode::NotLoggedIn => "you are not logged in: log in from the menu".into(),
        ErrorCode::AlreadyLoggedIn => "this connection is already logged in".into(),
        ErrorCode::NoSuchUser => match user {
            Some(u) => format!("there is no user with id {u}"),
            None => "there is no such user".into(),
        },
        ErrorCode::NoSuchGroup => match group {
            Some(g) => format!("there is no group with id {g} that you can see"),
            None => "there is no such group".into(),
        },
        ErrorCode::AlreadyFriends => match user {
            Some(u) => format!("{} is already your friend", who(u)),
            None => "you are already friends".into(),
        },
        ErrorCode::NotFriend => match (cmd, user) {
            (Some(Command::RemoveFriend(_)), Some(u)) => format!("{} is not your friend", who(u)),
            (_, Some(u)) => format!(
                "{} is not your friend yet: send a request with addfriend:{u}",
                who(u)
            ),
            _ => "you are not friends".into(),
        },
        ErrorCode::AlreadyMember => match (cmd, group) {
            (Some(Command::Invite { user, .. }), Some(g)) => {
                format!("{} is already in group {}", who(*user), group_name(g))
            }
            (_, Some(g)) => format!("you are already in group {}", group_name(g)),
            _ => "you are already in that group".into(),
        },
        ErrorCode::NotMember => match (cmd, group) {
            // "You or they": when we are in the group, it is them.
            (
                Some(
                    Command::Kick { user, .. }
                    | Command::SetRole { user, .. }
                    | Command::Transfer { user, .. },
                ),
                Some(g),
            ) if dir.group(g).is_some() => {
                format!("{} is not in group {}", who(*user), group_name(g))
            }
            (_, Some(g)) => format!(
                "you are not in group {}: join it with joingroup:{g}",
                group_name(g)
            ),
            _ => "you are not in that group".into(),
        },
        ErrorCode::Forbidden => forbidden(cmd, dir),
        ErrorCode::NoSuchRequest => match cmd {
            Some(Command::AcceptFriend(u) | Command::DeclineFriend(u)) => format!(
                "there is no friend request from {} (it may have been taken back)",
                who(*u)
            ),
            Some(Command::CancelFriend(u)) => {
                format!("you have no pending friend request to {}", who(*u))
            }
            Some(Command::DeclineInvite(g)) => {
                format!("you have no invite to group {}", group_name(*g))
            }
            _ => "there is no such pending request".into(),
        },
        ErrorCode::BadRequest => format!("the server refused it: {}", f.error()),
        ErrorCode::BadJson | ErrorCode::FrameTooLarge | ErrorCode::UnknownOp => format!(
            "the server did not understand the request ({}): this client and the server may \
             not be of the same version",
            code
        ),
    }
}

/// A command that ended without a reply, in plain words: whether it was
/// sent, and whether it may have been done.
pub fn undone(cmd: &Command, e: &Undone) -> String {
    let message = matches!(cmd, Command::Chat { .. } | Command::GroupChat { .. });
    match e {
        Undone::Conn(ConnError::NotConnected) => {
            "not done: not connected to the server (reconnecting); try again when it is back".into()
        }
        Undone::Conn(ConnError::QueueFull) => {
            "not sent: too many messages are already waiting for the connection".into()
        }
        Undone::Conn(ConnError::SessionEnded) => "not sent: the session has ended".into(),
        Undone::Conn(ConnError::Closed) => "not sent: the connection has been closed".into(),
        Undone::Conn(ConnError::Lost) if message => {
            "the connection dropped before the server answered; the message may not have been sent"
                .into()
        }
        Undone::Conn(ConnError::Lost) => "the connection dropped before the server answered: \
             it may or may not have been done (check with updatelist)"
            .into(),
        Undone::Timeout(secs) => {
            format!("no answer from the server within {secs} s: it may or may not have been done")
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::{ErrorBody, Group, User, Visibility};

    use super::*;

    fn failure_of(code: ErrorCode) -> Failure {
        Failure::Known(ErrorBody {
            code,
            error: "server words".into(),
            retry_after: None,
        })
    }

    #[test]
    fn text_length_is_said_in_characters() {
        assert!(check_text(&"a".repeat(4096)).is_ok());
        let e = check_text(&"a".repeat(5000)).unwrap_err();
        assert_eq!(
            e,
            "message too long: 5,000 characters, at most 4,096 allowed; nothing was sent"
        );
        let emoji = "😀".repeat(1100);
        let e = check_text(&emoji).unwrap_err();
        assert!(e.contains("1,100 characters take 4,400 bytes"), "{e}");
        assert!(e.contains("the first 1,024 characters fit"), "{e}");
        assert!(check_text(&"😀".repeat(1024)).is_ok());
    }

    #[test]
    fn names_passwords_and_groups() {
        assert!(check_user_name("carol").is_ok());
        assert!(check_user_name("  ").is_err());
        assert!(check_user_name(&"é".repeat(32)).is_ok());
        assert!(
            check_user_name(&"é".repeat(33))
                .unwrap_err()
                .contains("33 characters")
        );
        assert_eq!(
            check_password("abc").unwrap_err(),
            "the password is too short: at least 6 characters"
        );
        assert!(check_password("secret12").is_ok());
        assert!(
            check(
                &Command::CreateGroup {
                    name: "g".repeat(65),
                    desc: String::new(),
                    visibility: Visibility::Private,
                },
                &me_1()
            )
            .unwrap_err()
            .contains("65 characters")
        );
        assert!(
            check(
                &Command::UpdateGroup {
                    group: 3,
                    change: GroupChange::Desc("d".repeat(257)),
                },
                &me_1()
            )
            .unwrap_err()
            .contains("257 characters")
        );
        assert!(check(&Command::List(1), &me_1()).is_ok());
    }

    #[test]
    fn every_code_has_plain_words() {
        let mut dir = Directory::default();
        dir.learn(2, "carol");
        let chat = Command::Chat {
            to: 2,
            text: "hi".into(),
        };
        assert_eq!(
            failure(Some(&chat), &failure_of(ErrorCode::NotFriend), &dir),
            "carol(2) is not your friend yet: send a request with addfriend:2"
        );
        assert_eq!(
            failure(
                Some(&Command::JoinGroup(9)),
                &failure_of(ErrorCode::NoSuchGroup),
                &dir
            ),
            "there is no group with id 9 that you can see"
        );
        let limited = Failure::Known(ErrorBody {
            code: ErrorCode::RateLimited,
            error: "server words".into(),
            retry_after: Some(30),
        });
        assert_eq!(
            failure(None, &limited, &dir),
            "too many failed logins; try again in 30 s"
        );
        assert_eq!(
            failure(Some(&chat), &failure_of(ErrorCode::RateLimited), &dir),
            "too many requests: slow down and try again in a moment"
        );
        for code in ErrorCode::ALL {
            let words = failure(Some(&chat), &failure_of(code), &dir);
            // No code or field name leaks except for the version mismatch.
            if !matches!(code.as_str(), "bad_json" | "frame_too_large" | "unknown_op") {
                assert!(!words.contains(code.as_str()), "{code}: {words}");
            }
            assert!(!words.is_empty());
        }
        let newer = Failure::Unknown {
            code: "brand_new".into(),
            error: "server words".into(),
        };
        assert_eq!(
            failure(None, &newer, &dir),
            "the server refused it: server words (brand_new)"
        );
    }

    /// A directory where we (1) are an admin of group 7, `club`, and know
    /// carol (2).
    fn admin_of_club() -> Directory {
        let mut dir = Directory::default();
        dir.me = Some(User {
            id: 1,
            name: "me".into(),
            online: None,
        });
        dir.learn(2, "carol");
        dir.add_group(Group {
            id: 7,
            name: "club".into(),
            desc: String::new(),
            visibility: Visibility::Private,
            role: Some(Role::Admin),
        });
        dir
    }

    #[test]
    fn version_2_errors_say_what_to_do() {
        let dir = admin_of_club();
        let say = |cmd: Command, code| failure(Some(&cmd), &failure_of(code), &dir);
        assert_eq!(
            say(Command::AcceptFriend(2), ErrorCode::NoSuchRequest),
            "there is no friend request from carol(2) (it may have been taken back)"
        );
        assert_eq!(
            say(Command::CancelFriend(9), ErrorCode::NoSuchRequest),
            "you have no pending friend request to user 9"
        );
        assert_eq!(
            say(Command::DeclineInvite(8), ErrorCode::NoSuchRequest),
            "you have no invite to group 8"
        );
        // Forbidden says which role it takes, from ours.
        assert_eq!(
            say(Command::Kick { group: 7, user: 2 }, ErrorCode::Forbidden),
            "an admin can remove only plain members; the creator can remove admins"
        );
        assert_eq!(
            say(
                Command::SetRole {
                    group: 7,
                    user: 2,
                    role: Role::Admin
                },
                ErrorCode::Forbidden
            ),
            "only the group's creator can make or unmake admins"
        );
        assert_eq!(
            say(
                Command::Transfer { group: 7, user: 2 },
                ErrorCode::Forbidden
            ),
            "only the group's creator can hand the group over"
        );
        assert_eq!(
            say(Command::QuitGroup(7), ErrorCode::Forbidden),
            "the creator cannot leave the group: first hand it to a member with \
             transfer:7:USERID, or delete it with deletegroup:7"
        );
        let mut member = admin_of_club();
        member.set_my_role(7, Role::Member);
        assert_eq!(
            failure(
                Some(&Command::Kick { group: 7, user: 2 }),
                &failure_of(ErrorCode::Forbidden),
                &member
            ),
            "only the group's creator or an admin can remove members"
        );
        // Not a member: them when we are in the group, else us.
        assert_eq!(
            say(Command::Kick { group: 7, user: 2 }, ErrorCode::NotMember),
            "carol(2) is not in group club(7)"
        );
        assert_eq!(
            say(Command::Kick { group: 8, user: 2 }, ErrorCode::NotMember),
            "you are not in group 8: join it with joingroup:8"
        );
        assert_eq!(
            say(
                Command::Invite { group: 7, user: 2 },
                ErrorCode::AlreadyMember
            ),
            "carol(2) is already in group club(7)"
        );
        assert_eq!(
            say(Command::ChangePassword, ErrorCode::BadCredentials),
            "the old password is wrong; nothing changed"
        );
        assert_eq!(
            say(Command::DeleteAccount, ErrorCode::BadCredentials),
            "wrong password: the account was not deleted"
        );
        // Every new command gets words of its own for every code.
        for cmd in [
            Command::AcceptFriend(2),
            Command::DeclineFriend(2),
            Command::CancelFriend(2),
            Command::Block(2),
            Command::Unblock(2),
            Command::Invite { group: 7, user: 2 },
            Command::DeclineInvite(7),
            Command::ChangePassword,
        ] {
            for code in ErrorCode::ALL {
                let words = say(cmd.clone(), code);
                if !matches!(code.as_str(), "bad_json" | "frame_too_large" | "unknown_op") {
                    assert!(!words.contains(code.as_str()), "{code}: {words}");
                }
            }
        }
    }

    fn me_1() -> Directory {
        let mut dir = Directory::default();
        dir.me = Some(User {
            id: 1,
            name: "me".into(),
            online: None,
        });
        dir
    }

    #[test]
    fn commands_at_ourselves_are_refused_before_sending() {
        assert_eq!(
            check(&Command::AddFriend(1), &me_1()).unwrap_err(),
            "you cannot be your own friend"
        );
        assert!(check(&Command::AddFriend(2), &me_1()).is_ok());
        let mut blocking = me_1();
        blocking.learn(2, "bob");
        blocking.block(2);
        assert_eq!(
            check(&Command::AddFriend(2), &blocking).unwrap_err(),
            "you block bob(2): unblock:2 first"
        );
        assert!(check(&Command::Block(1), &me_1()).is_err());
        assert_eq!(
            check(&Command::Kick { group: 7, user: 1 }, &me_1()).unwrap_err(),
            "you cannot remove yourself; leave with quitgroup:7"
        );
        assert!(check(&Command::Transfer { group: 7, user: 1 }, &me_1()).is_err());
        assert!(
            check(
                &Command::SetRole {
                    group: 7,
                    user: 1,
                    role: Role::Member
                },
                &me_1()
            )
            .is_err()
        );
    }

    #[test]
    fn undone_commands_say_whether_they_were_sent() {
        let chat = Command::Chat {
            to: 2,
            text: "hi".into(),
        };
        assert!(undone(&chat, &Undone::Conn(ConnError::Lost)).contains("may not have been sent"));
        assert!(
            undone(&Command::AddFriend(2), &Undone::Conn(ConnError::Lost))
                .contains("may or may not have been done")
        );
        assert!(
            undone(&Command::List(1), &Undone::Conn(ConnError::NotConnected))
                .starts_with("not done: not connected")
        );
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
    }
}
