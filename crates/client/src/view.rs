//! Everything the client shows, as strings: the login screen's tables, the
//! help list, member lists, messages, history and event lines.
//!
//! Functions here only format; they read a [`Directory`] for names and
//! never change it, so the app decides when state changes and these can be
//! unit-tested. Text that came from other users is passed through
//! [`clean`] so that nobody can send escape sequences to your terminal.
//!
//! Over 500 lines, about half of them unit tests pinning the original
//! screens; table layout lives in [`crate::table`].

use std::borrow::Cow;
use std::fmt::Write as _;

use chat_proto::{Event, Group, Member, Msg, Role, User};
use chrono::TimeZone as _;

use crate::commands::SPECS;
use crate::state::Directory;
use crate::table::{self, Column, left};
use unicode_width::UnicodeWidthStr as _;

const LOGIN_USER: &str =
    "--------------------------------login user-------------------------------";
const FRIEND_LIST: &str =
    "--------------------------------friend list------------------------------";
const GROUP_LIST: &str =
    "--------------------------------group list--------------------------------";
const RULE: &str = "--------------------------------------------------------------------------";

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
fn cell(s: &str) -> String {
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

const ID: Column = Column {
    header: "ID",
    min: 10,
    cut: false,
};

/// The friend list table, within `width` columns; and its width.
pub fn friend_table(friends: &[User], width: Option<usize>, at_least: usize) -> (String, usize) {
    let rows: Vec<Vec<String>> = friends
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                cell(&f.name),
                online_word(f.online).to_owned(),
            ]
        })
        .collect();
    let columns = [
        ID,
        Column {
            header: "NAME",
            min: 20,
            cut: true,
        },
        Column {
            header: "STATE",
            min: 40,
            cut: false,
        },
    ];
    table::table(&columns, &rows, width, at_least)
}

/// The group list table, within `width` columns; and its width.
pub fn group_table(groups: &[Group], width: Option<usize>, at_least: usize) -> (String, usize) {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| vec![g.id.to_string(), cell(&g.name), cell(&g.desc)])
        .collect();
    let columns = [
        ID,
        Column {
            header: "NAME",
            min: 20,
            cut: true,
        },
        Column {
            header: "DESC",
            min: 40,
            cut: true,
        },
    ];
    table::table(&columns, &rows, width, at_least)
}

/// The screen shown after login and by `showme` and `updatelist`: who you
/// are, your friends and your groups, as the original client showed them,
/// fitted to a terminal of `width` columns (`None`: no limit).
pub fn login_screen(dir: &Directory, width: Option<usize>) -> String {
    // Both tables as wide as the wider one, and the rules with them.
    let (_, fw) = friend_table(&dir.friends, width, 0);
    let (_, gw) = group_table(&dir.groups, width, 0);
    let (friends, _) = friend_table(&dir.friends, width, fw.max(gw));
    let (groups, _) = group_table(&dir.groups, width, fw.max(gw));
    let rw = table::rule_width(fw.max(gw), width);
    let original = rw == table::ORIGINAL_WIDTH;
    let rule = |title: &str, original_text: &str| {
        if original {
            original_text.to_owned()
        } else {
            table::rule(title, rw)
        }
    };
    let mut out = String::new();
    out.push_str(&rule("login user", LOGIN_USER));
    out.push('\n');
    if let Some(me) = &dir.me {
        let account = format!("current user => account:{}", me.id);
        let name = format!("username:{}", cell(&me.name));
        match width {
            // Too narrow for one line: the name goes on the next.
            Some(w) if account.width() + 1 + name.width() > w => {
                let _ = writeln!(out, "{account}\n{}", table::fit(&name, w));
            }
            _ => {
                let _ = writeln!(out, "{account} {name}");
            }
        }
    }
    out.push_str(&rule("friend list", FRIEND_LIST));
    out.push('\n');
    out.push_str(&friends);
    out.push('\n');
    out.push_str(&rule("group list", GROUP_LIST));
    out.push('\n');
    out.push_str(&groups);
    out.push('\n');
    out.push_str(&rule("", RULE));
    out.push_str("\nType `help` to see other commands.");
    out
}

/// A group's members with their role and presence (`list:groupid`),
/// within `width` columns.
pub fn member_table(group: &str, members: &[Member], width: Option<usize>) -> String {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                cell(&m.name),
                role_word(m.role).to_owned(),
                online_word(Some(m.online)).to_owned(),
            ]
        })
        .collect();
    let mut out = format!("members of group {group}:\n");
    let columns = [
        ID,
        Column {
            header: "NAME",
            min: 20,
            cut: true,
        },
        Column {
            header: "ROLE",
            min: 12,
            cut: false,
        },
        Column {
            header: "STATE",
            min: 12,
            cut: false,
        },
    ];
    out.push_str(&table::table(&columns, &rows, width, 0).0);
    out
}

fn role_word(role: Role) -> &'static str {
    role.as_str()
}

/// The command list printed by `help`.
pub fn help() -> String {
    let name_w = SPECS.iter().map(|s| s.name.len()).max().unwrap_or(0) + 4;
    let about_w = SPECS.iter().map(|s| s.about.len() + 2).max().unwrap_or(0) + 2;
    let mut out = String::from("show command list");
    for s in SPECS {
        let about = format!("({})", s.about);
        let _ = write!(
            out,
            "\n{}: {}usage-> `{}`",
            left(s.name, name_w),
            left(&about, about_w),
            s.usage
        );
        for alias in s.aliases {
            // The original client's name for it: `addgroup:groupid`.
            let _ = write!(out, " or `{}`", s.usage.replacen(s.name, alias, 1));
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

/// The line shown for an event, read from `dir` as it was before the event
/// is applied.
pub fn event_line(dir: &Directory, clock: Clock, ev: &Event) -> String {
    match ev {
        Event::Msg { msg } => msg_line(dir, clock, msg),
        Event::Presence { user, online } => {
            format!("{} is now {}", who(dir, *user), online_word(Some(*online)))
        }
        Event::FriendAdded { user } => format!("{} is now your friend", user_label(user)),
        Event::FriendRemoved { user } => format!("{} is no longer your friend", who(dir, *user)),
        Event::GroupDeleted { group } => {
            format!(
                "group {} was deleted by its creator",
                group_label(dir, *group)
            )
        }
        Event::MemberJoined { group, user } => format!(
            "{} joined group {}",
            user_label(user),
            group_label(dir, *group)
        ),
        Event::MemberLeft { group, user, .. } => format!(
            "{} left group {}",
            user_label(user),
            group_label(dir, *group)
        ),
        // The version 2 events get their words in the client's next
        // version; meanwhile they are shown as they came.
        other => format!(
            "event: {}",
            String::from_utf8_lossy(&other.to_line()).trim_end()
        ),
    }
}

#[cfg(test)]
mod tests {
    use chat_proto::reply::LoggedIn;

    use super::*;

    fn u(id: u64, name: &str, online: bool) -> User {
        User {
            id,
            name: name.into(),
            online: Some(online),
        }
    }

    fn g(id: u64, name: &str, desc: &str) -> Group {
        Group {
            id,
            name: name.into(),
            desc: desc.into(),
            role: Role::Member,
        }
    }

    /// The seed README's example account.
    fn kirito() -> Directory {
        Directory::from_login(&LoggedIn {
            user: User {
                id: 2019,
                name: "kirito".into(),
                online: None,
            },
            token: "t".into(),
            friends: vec![
                u(2001, "kir", false),
                u(2002, "Tom", true),
                u(2024, "addfriend", false),
            ],
            groups: vec![
                g(1, "happy game", "happy play"),
                g(200001, "blue", "blue test"),
            ],
            unread: 0,
        })
    }

    #[test]
    fn login_screen_matches_the_original_layout() {
        let expected = "\
--------------------------------login user-------------------------------
current user => account:2019 username:kirito
--------------------------------friend list------------------------------
        ID                NAME                                   STATE
      2001                 kir                                 offline
      2002                 Tom                                  online
      2024           addfriend                                 offline
--------------------------------group list--------------------------------
        ID                NAME                                    DESC
         1          happy game                              happy play
    200001                blue                               blue test
--------------------------------------------------------------------------
Type `help` to see other commands.";
        assert_eq!(login_screen(&kirito(), None), expected);
        // A wide terminal changes nothing.
        assert_eq!(login_screen(&kirito(), Some(120)), expected);
    }

    #[test]
    fn tables_widen_for_long_and_wide_names() {
        let (t, _) = friend_table(&[u(1, &"n".repeat(30), true), u(2, "小明", false)], None, 0);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        // Every line is equally wide on screen, so the columns line up.
        let w = lines[0].width();
        assert!(lines.iter().all(|l| l.width() == w), "{t}");
        assert!(lines[1].contains(&"n".repeat(30)));
        assert!(lines[2].ends_with("offline"));
    }

    #[test]
    fn the_login_screen_fits_40_columns() {
        let mut d = kirito();
        d.friends
            .push(u(2025, "a name far too long for forty columns", true));
        d.groups.push(g(
            200011,
            "testupdate",
            "a long description of the group, too",
        ));
        let screen = login_screen(&d, Some(40));
        let lines: Vec<&str> = screen.lines().collect();
        for line in &lines {
            assert!(line.width() <= 40, "{line:?} in\n{screen}");
        }
        // Rules and tables line up at one width.
        let rules: Vec<usize> = lines
            .iter()
            .filter(|l| l.starts_with("---"))
            .map(|l| l.width())
            .collect();
        assert_eq!(rules.len(), 4);
        assert!(rules.iter().all(|w| *w == rules[0]), "{screen}");
        assert!(screen.contains("…"), "{screen}");
        assert!(
            screen.contains("2025") && screen.contains("200011"),
            "{screen}"
        );
        // With long names and no limit, the rules widen with the table.
        let wide = login_screen(&d, None);
        let widths: Vec<usize> = wide
            .lines()
            .filter(|l| l.starts_with("---") || l.trim_start().starts_with("ID"))
            .map(|l| l.width())
            .collect();
        assert!(widths.iter().all(|w| *w == widths[0]), "{wide}");
    }

    #[test]
    fn member_table_shows_role_and_state() {
        let t = member_table(
            "happy game(1)",
            &[
                Member {
                    id: 2019,
                    name: "kirito".into(),
                    online: true,
                    role: Role::Creator,
                },
                Member {
                    id: 2001,
                    name: "kir".into(),
                    online: false,
                    role: Role::Member,
                },
            ],
            None,
        );
        assert_eq!(
            t,
            "members of group happy game(1):\n        ID                NAME        ROLE       STATE\n      \
             2019              kirito     creator      online\n      2001                 kir      member     offline"
        );
    }

    #[test]
    fn help_lists_every_command_with_usage() {
        let h = help();
        assert!(h.starts_with("show command list\n"));
        for s in SPECS {
            assert!(h.contains(&format!("usage-> `{}`", s.usage)), "{}", s.name);
        }
        assert!(h.contains("joingroup       : (join a group)"), "{h}");
        assert!(
            h.contains("`joingroup:groupid` or `addgroup:groupid`"),
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
            group_table(&[g(1, "n", "a\nb")], None, 0).0.lines().count(),
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

    #[test]
    fn event_lines() {
        let d = kirito();
        let line = |ev: Event| event_line(&d, Clock::Utc, &ev);
        assert_eq!(
            line(Event::Presence {
                user: 2001,
                online: true
            }),
            "kir(2001) is now online"
        );
        assert_eq!(
            line(Event::FriendAdded {
                user: u(5, "sam", true)
            }),
            "sam(5) is now your friend"
        );
        assert_eq!(
            line(Event::FriendRemoved { user: 2002 }),
            "Tom(2002) is no longer your friend"
        );
        assert_eq!(
            line(Event::GroupDeleted { group: 1 }),
            "group happy game(1) was deleted by its creator"
        );
        assert_eq!(
            line(Event::GroupDeleted { group: 8 }),
            "group 8 was deleted by its creator"
        );
        assert_eq!(
            line(Event::MemberJoined {
                group: 1,
                user: u(5, "sam", true)
            }),
            "sam(5) joined group happy game(1)"
        );
        assert_eq!(
            line(Event::MemberLeft {
                group: 8,
                user: u(5, "sam", false)
            }),
            "sam(5) left group 8"
        );
    }
}
