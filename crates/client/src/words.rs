//! What went wrong, in the user's words: every error code the client can
//! get, said with the command's context ("bob(2) is not your friend yet:
//! send a request with addfriend:2"), connection failures said with what
//! happened to the command, and the field rules checked before sending,
//! counted the way the user counts (characters, not bytes, where the
//! rule allows).
//!
//! Pure: formatting only, from the [`Directory`] for names.

use chat_proto::validate;

use crate::commands::Command;
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

/// A command's fields that the server would refuse, said before sending.
pub fn check(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Chat { text, .. } | Command::GroupChat { text, .. } => check_text(text),
        Command::CreateGroup { name, desc } => {
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
        _ => Ok(()),
    }
}

/// The user a command is about, if any.
fn user_of(cmd: &Command) -> Option<u64> {
    match cmd {
        Command::Chat { to, .. } => Some(*to),
        Command::AddFriend(u) | Command::RemoveFriend(u) | Command::History(u) => Some(*u),
        _ => None,
    }
}

/// The group a command is about, if any.
fn group_of(cmd: &Command) -> Option<u64> {
    match cmd {
        Command::GroupChat { group, .. }
        | Command::JoinGroup(group)
        | Command::List(group)
        | Command::QuitGroup(group)
        | Command::DeleteGroup(group)
        | Command::GroupHistory(group) => Some(*group),
        _ => None,
    }
}

/// A failed reply in plain words; `cmd` is the command it answers
/// (`None` for the menu's login and register, and for a re-login).
pub fn failure(cmd: Option<&Command>, f: &Failure, dir: &Directory) -> String {
    let user = cmd.and_then(user_of);
    let group = cmd.and_then(group_of);
    let who = |id: u64| match dir.user_name(id) {
        Some(_) => view::who(dir, id),
        None => format!("user {id}"),
    };
    let group_name = |id: u64| view::group_label(dir, id);
    match f.code.as_str() {
        "bad_credentials" => "wrong user id or password (or the token is no longer valid)".into(),
        "rate_limited" => match f.retry_after {
            Some(s) => format!(
                "too many attempts: wait {} and try again",
                plural(s as usize, "second", "seconds")
            ),
            None => "too many requests: slow down and try again in a moment".into(),
        },
        "unavailable" => "the server cannot do that right now (a service behind it is down); \
             nothing changed, try again in a moment"
            .into(),
        "internal" => "the server failed to do that (a fault on its side); try again later".into(),
        "not_logged_in" => "you are not logged in: log in from the menu".into(),
        "already_logged_in" => "this connection is already logged in".into(),
        "no_such_user" => match user {
            Some(u) => format!("there is no user with id {u}"),
            None => "there is no such user".into(),
        },
        "no_such_group" => match group {
            Some(g) => format!("there is no group with id {g} that you can see"),
            None => "there is no such group".into(),
        },
        "already_friends" => match user {
            Some(u) => format!("{} is already your friend", who(u)),
            None => "you are already friends".into(),
        },
        "not_friend" => match (cmd, user) {
            (Some(Command::RemoveFriend(_)), Some(u)) => format!("{} is not your friend", who(u)),
            (_, Some(u)) => format!(
                "{} is not your friend yet: send a request with addfriend:{u}",
                who(u)
            ),
            _ => "you are not friends".into(),
        },
        "already_member" => match group {
            Some(g) => format!("you are already in group {}", group_name(g)),
            None => "you are already in that group".into(),
        },
        "not_member" => match group {
            Some(g) => format!(
                "you are not in group {}: join it with joingroup:{g}",
                group_name(g)
            ),
            None => "you are not in that group".into(),
        },
        "forbidden" => match cmd {
            Some(Command::DeleteGroup(_)) => "only the group's creator can delete it".into(),
            Some(Command::QuitGroup(g)) => {
                format!("the creator cannot leave the group; delete it with deletegroup:{g}")
            }
            _ => "you are not allowed to do that in this group".into(),
        },
        "no_such_request" => "there is no such pending request".into(),
        "bad_request" => format!("the server refused it: {}", f.error),
        "bad_json" | "frame_too_large" | "unknown_op" => format!(
            "the server did not understand the request ({}): this client and the server may \
             not be of the same version",
            f.code
        ),
        _ => format!("the server refused it: {} ({})", f.error, f.code),
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
    use chat_proto::User;

    use super::*;

    fn failure_of(code: &str) -> Failure {
        Failure {
            code: code.into(),
            error: "server words".into(),
            retry_after: None,
        }
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
            check(&Command::CreateGroup {
                name: "g".repeat(65),
                desc: String::new()
            })
            .unwrap_err()
            .contains("65 characters")
        );
        assert!(check(&Command::List(1)).is_ok());
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
            failure(Some(&chat), &failure_of("not_friend"), &dir),
            "carol(2) is not your friend yet: send a request with addfriend:2"
        );
        assert_eq!(
            failure(
                Some(&Command::JoinGroup(9)),
                &failure_of("no_such_group"),
                &dir
            ),
            "there is no group with id 9 that you can see"
        );
        let limited = Failure {
            retry_after: Some(30),
            ..failure_of("rate_limited")
        };
        assert_eq!(
            failure(None, &limited, &dir),
            "too many attempts: wait 30 seconds and try again"
        );
        for code in chat_proto::ErrorCode::ALL {
            let words = failure(Some(&chat), &failure_of(code.as_str()), &dir);
            // No code or field name leaks except for the version mismatch.
            if !matches!(code.as_str(), "bad_json" | "frame_too_large" | "unknown_op") {
                assert!(!words.contains(code.as_str()), "{code}: {words}");
            }
            assert!(!words.is_empty());
        }
        assert_eq!(
            failure(None, &failure_of("brand_new"), &dir),
            "the server refused it: server words (brand_new)"
        );
        let _ = User {
            id: 1,
            name: String::new(),
            online: None,
        };
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
