//! Everything the client shows, as strings: labels for users and groups,
//! the help list, messages and history here; the login screen and other
//! tables in [`lists`]; event lines in [`events`].
//!
//! Functions here only format; they read a [`Directory`] for names and
//! never change it, so the app decides when state changes and these can be
//! unit-tested. Text that came from other users is passed through
//! [`clean`] (or [`cell`]) so that nobody can send escape sequences to
//! your terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use chat_proto::{Group, Msg, Role, User};
use chrono::TimeZone as _;

use crate::commands::SPECS;
use crate::state::Directory;
use crate::table::left;

mod events;
mod lists;

pub use events::{event_line, group_update};
pub use lists::{login_screen, member_table, requests_screen};

/// How timestamps are shown: in the local time zone, or in UTC (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    Local,
    Utc,
}

impl Clock {
    fn format(self, ts: u64, pattern: &str) -> String {
        let ms = i64::try_from(ts).unwrap_or(i64::MAX);
        let shown = match self {
            Clock::Local => chrono::Local
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.format(pattern).to_string()),
            Clock::Utc => chrono::Utc
                .timestamp_millis_opt(ms)
                .single()
                .map(|t| t.format(pattern).to_string()),
        };
        shown.unwrap_or_else(|| format!("@{ts}"))
    }

    /// `HH:MM:SS` of a server timestamp (ms since the epoch).
    pub fn time(self, ts: u64) -> String {
        self.format(ts, "%H:%M:%S")
    }

    /// `YYYY-MM-DD HH:MM:SS` of a server timestamp.
    pub fn date_time(self, ts: u64) -> String {
        self.format(ts, "%Y-%m-%d %H:%M:%S")
    }
}

/// Text from the network made safe to print: control characters are shown
/// escaped (`\u{1b}`), except that a newline starts an indented line and a
/// tab stays a tab.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A table cell: control characters escaped, newlines included.
pub(crate) fn cell(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn online_word(online: Option<bool>) -> &'static str {
    if online.unwrap_or(false) {
        "online"
    } else {
        "offline"
    }
}

/// A user as `name(id)`, or the bare id when the name is unknown.
pub fn who(dir: &Directory, id: u64) -> String {
    match dir.user_name(id) {
        Some(name) => format!("{}({id})", cell(name)),
        None => id.to_string(),
    }
}

/// A user whose name we are given.
pub fn user_label(user: &User) -> String {
    format!("{}({})", cell(&user.name), user.id)
}

/// A group as `name(id)`, or the bare id when we are not in it.
pub fn group_label(dir: &Directory, id: u64) -> String {
    match dir.group(id) {
        Some(g) => format!("{}({id})", cell(&g.name)),
        None => id.to_string(),
    }
}

/// A user in a sentence: `name(id)`, or `user 7` when the name is
/// unknown.
pub fn someone(dir: &Directory, id: u64) -> String {
    match dir.user_name(id) {
        Some(name) => format!("{}({id})", cell(name)),
        None => format!("user {id}"),
    }
}

/// A group in a sentence: `name(id)` when we are in it, else `7`.
pub fn group_of(group: &Group) -> String {
    format!("{}({})", cell(&group.name), group.id)
}

/// A role in words: `creator`, `admin`, `member`.
pub fn role_word(role: Role) -> &'static str {
    role.as_str()
}

/// A role after "is now": `the creator`, `an admin`, `a plain member`.
pub fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::Creator => "the creator",
        Role::Admin => "an admin",
        Role::Member => "a plain member",
    }
}

/// The command list printed by `help`: the original's one line per
/// command when it fits in `width` columns, else each command's name and
/// what it does on one line and its forms indented below.
pub fn help(width: Option<usize>) -> String {
    let name_w = SPECS.iter().map(|s| s.name.len()).max().unwrap_or(0) + 4;
    let about_w = SPECS.iter().map(|s| s.about.len() + 2).max().unwrap_or(0) + 2;
    let forms = |s: &crate::commands::Spec| {
        let mut all = vec![s.usage.to_owned()];
        all.extend(s.forms.iter().map(|f| (*f).to_owned()));
        // Another name for it: `addgroup:groupid`.
        all.extend(s.aliases.iter().map(|a| s.usage.replacen(s.name, a, 1)));
        all
    };
    let wide = name_w + 2 + about_w + "usage-> ".len() + 2 + "joingroup:groupid".len();
    let mut out = String::from("show command list");
    if width.is_none_or(|w| w >= wide) {
        for s in SPECS {
            let about = format!("({})", s.about);
            let all: Vec<String> = forms(s).iter().map(|f| format!("`{f}`")).collect();
            let _ = write!(
                out,
                "\n{}: {}usage-> {}",
                left(s.name, name_w),
                left(&about, about_w),
                all.join(" or ")
            );
        }
    } else {
        for s in SPECS {
            let head = format!("{}: {}", s.name, s.about);
            let _ = write!(out, "\n{}", lists::wrap(&head, width, "    "));
            for f in forms(s) {
                let _ = write!(out, "\n  {f}");
            }
        }
    }
    out
}

/// A message as it arrives:
/// `[12:30:01] kir(2001): hello`,
/// `[12:30:01] [happy game(1)] kir(2001): hello`, or, for one we sent from
/// another session, `[12:30:01] kirito(2019) -> kir(2001): hello`.
pub fn msg_line(dir: &Directory, clock: Clock, msg: &Msg) -> String {
    let time = clock.time(msg.ts);
    let from = who(dir, msg.from);
    let text = clean(&msg.text);
    match (msg.group, msg.to) {
        (Some(g), _) => {
            let group = match dir.group(g) {
                Some(_) => group_label(dir, g),
                None => format!("group {g}"),
            };
            format!("[{time}] [{group}] {from}: {text}")
        }
        (None, Some(to)) if msg.from == dir.my_id() && to != msg.from => {
            format!("[{time}] {from} -> {}: {text}", who(dir, to))
        }
        _ => format!("[{time}] {from}: {text}"),
    }
}

/// A page of history, given newest first as the server sends it, shown
/// oldest first with dates: `[2026-11-27 12:30:01] kir(2001): hello`.
pub fn history(dir: &Directory, clock: Clock, title: &str, newest_first: &[Msg]) -> String {
    if newest_first.is_empty() {
        return format!("no messages with {title}");
    }
    let mut out = format!("history with {title}, oldest first:");
    for m in newest_first.iter().rev() {
        let _ = write!(
            out,
            "\n[{}] {}: {}",
            clock.date_time(m.ts),
            who(dir, m.from),
            clean(&m.text)
        );
    }
    out
}

#[cfg(test)]
pub(crate) mod testdata {
    //! The seed README's example account, for the tests of every view.

    use chat_proto::reply::{Lists, LoggedIn};
    use chat_proto::{Group, Role, User, Visibility};

    use crate::state::Directory;

    pub fn u(id: u64, name: &str, online: bool) -> User {
        User {
            id,
            name: name.into(),
            online: Some(online),
        }
    }

    /// A public group we are a plain member of.
    pub fn g(id: u64, name: &str, desc: &str) -> Group {
        Group {
            id,
            name: name.into(),
            desc: desc.into(),
            visibility: Visibility::Public,
            role: Some(Role::Member),
        }
    }

    /// The seed README's example account.
    pub fn kirito() -> Directory {
        Directory::from_login(&LoggedIn {
            user: User {
                id: 2019,
                name: "kirito".into(),
                online: None,
            },
            token: "t".into(),
            lists: Lists {
                friends: vec![
                    u(2001, "kir", false),
                    u(2002, "Tom", true),
                    u(2024, "addfriend", false),
                ],
                groups: vec![
                    g(1, "happy game", "happy play"),
                    g(200001, "blue", "blue test"),
                ],
                ..Lists::default()
            },
            unread: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::kirito;
    use super::*;

    #[test]
    fn help_lists_every_command_with_usage() {
        let h = help(None);
        assert!(h.starts_with("show command list\n"));
        for s in SPECS {
            assert!(h.contains(&format!("usage-> `{}`", s.usage)), "{}", s.name);
            for f in s.forms {
                assert!(h.contains(&format!(" or `{f}`")), "{f}");
            }
        }
        assert!(
            h.contains("joingroup         : (join a group or accept"),
            "{h}"
        );
        assert!(
            h.contains("`joingroup:groupid` or `addgroup:groupid` or `acceptinvite:groupid`"),
            "{h}"
        );
        assert!(h.contains("`logout` or `loginout`"), "{h}");
        // The usage column lines up.
        let cols: Vec<usize> = h
            .lines()
            .skip(1)
            .map(|l| l.find("usage->").unwrap())
            .collect();
        assert!(cols.windows(2).all(|w| w[0] == w[1]), "{h}");
        assert_eq!(help(Some(120)), h);
    }

    #[test]
    fn help_fits_a_narrow_terminal() {
        let h = help(Some(40));
        for line in h.lines() {
            assert!(line.len() <= 40, "{line:?}");
        }
        for s in SPECS {
            assert!(h.contains(&format!("\n{}: ", s.name)), "{}", s.name);
            assert!(h.contains(&format!("\n  {}\n", s.usage)) || h.ends_with(s.usage));
        }
        assert!(
            h.contains("\nmore: show older messages of the last\n    history\n"),
            "{h}"
        );
        assert!(h.contains("\n  addgroup:groupid"), "{h}");
    }

    fn msg(id: u64, from: u64, to: Option<u64>, group: Option<u64>, text: &str) -> Msg {
        Msg {
            id,
            from,
            to,
            group,
            text: text.into(),
            // 2026-11-26 21:00:00.123 UTC
            ts: 1_795_726_800_123,
            cid: None,
        }
    }

    #[test]
    fn messages_show_names_groups_and_time() {
        let d = kirito();
        let c = Clock::Utc;
        assert_eq!(
            msg_line(&d, c, &msg(1, 2001, Some(2019), None, "hello: you")),
            "[21:00:00] kir(2001): hello: you"
        );
        assert_eq!(
            msg_line(&d, c, &msg(2, 777, None, Some(1), "hi all")),
            "[21:00:00] [happy game(1)] 777: hi all"
        );
        assert_eq!(
            msg_line(&d, c, &msg(3, 2019, Some(2002), None, "from my phone")),
            "[21:00:00] kirito(2019) -> Tom(2002): from my phone"
        );
        assert_eq!(
            msg_line(&d, c, &msg(4, 2001, None, Some(9), "x")),
            "[21:00:00] [group 9] kir(2001): x"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let d = kirito();
        let line = msg_line(
            &d,
            Clock::Utc,
            &msg(1, 2001, Some(2019), None, "a\x1b[2Jb\nsecond\tline"),
        );
        assert_eq!(line, "[21:00:00] kir(2001): a\\u{1b}[2Jb\n    second\tline");
        assert_eq!(clean("plain"), Cow::Borrowed("plain"));
        assert_eq!(
            lists::group_table(&[testdata::g(1, "n", "a\nb")], None, 0)
                .0
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn history_is_oldest_first_with_dates() {
        let d = kirito();
        let mut newer = msg(2, 2019, Some(2001), None, "second");
        newer.ts += 61_000;
        let older = msg(1, 2001, Some(2019), None, "first");
        assert_eq!(
            history(&d, Clock::Utc, "kir(2001)", &[newer, older]),
            "history with kir(2001), oldest first:\n\
             [2026-11-26 21:00:00] kir(2001): first\n\
             [2026-11-26 21:01:01] kirito(2019): second"
        );
        assert_eq!(
            history(&d, Clock::Utc, "kir(2001)", &[]),
            "no messages with kir(2001)"
        );
    }
}
