//! The lists the client shows as tables, as the original client drew
//! them: the login screen (who you are, friends, groups, and what waits
//! for your answer), the `requests` screen and a group's members.
//!
//! A screen is a run of [`Part`]s, each under a rule with its title;
//! every table of a screen is drawn as wide as the widest, and the rules
//! with them, within the terminal's width (see [`crate::table`]). With
//! nothing pending, the login screen is the original's, line for line,
//! but for the group list's two new columns (TYPE, ROLE).
//!
//! Over 500 lines: a third of them unit tests pinning the screens at
//! full width and at 40 columns.

use chat_proto::{Group, Invite, Member, User};
use unicode_width::UnicodeWidthStr as _;

use super::{cell, online_word, role_word};
use crate::state::Directory;
use crate::table::{self, Column};

const LOGIN_USER: &str =
    "--------------------------------login user-------------------------------";
const FRIEND_LIST: &str =
    "--------------------------------friend list------------------------------";
const GROUP_LIST: &str =
    "--------------------------------group list--------------------------------";
const RULE: &str = "--------------------------------------------------------------------------";

const ID: Column = Column {
    header: "ID",
    min: 10,
    cut: false,
};

const NAME: Column = Column {
    header: "NAME",
    min: 20,
    cut: true,
};

/// A table drawn at least this wide: the text and its width.
type Draw<'a> = Box<dyn Fn(usize) -> (String, usize) + 'a>;

/// What one part of a screen holds under its rule.
enum Body<'a> {
    /// Lines of text, as they are.
    Text(String),
    /// A table.
    Table(Draw<'a>),
}

/// One part of a screen: a rule with a title, a body, and hints after
/// it (wrapped to the terminal's width).
struct Part<'a> {
    title: &'static str,
    /// The original client's rule for this title, used when the screen
    /// has the original width.
    original: Option<&'static str>,
    body: Body<'a>,
    hint: Option<String>,
}

/// The parts in order, a closing rule and `tail`, within `width`.
fn screen(parts: &[Part<'_>], width: Option<usize>, tail: Option<&str>) -> String {
    let widest = parts
        .iter()
        .filter_map(|p| match &p.body {
            Body::Table(draw) => Some(draw(0).1),
            Body::Text(_) => None,
        })
        .max()
        .unwrap_or(0);
    let rw = table::rule_width(widest, width);
    let original = rw == table::ORIGINAL_WIDTH;
    let mut out = String::new();
    for p in parts {
        match p.original {
            Some(text) if original => out.push_str(text),
            _ => out.push_str(&table::rule(p.title, rw)),
        }
        out.push('\n');
        match &p.body {
            Body::Text(text) => out.push_str(text),
            Body::Table(draw) => out.push_str(&draw(widest).0),
        }
        out.push('\n');
        if let Some(hint) = &p.hint {
            out.push_str(&wrap(hint, width, ""));
            out.push('\n');
        }
    }
    out.push_str(&if original {
        RULE.to_owned()
    } else {
        table::rule("", rw)
    });
    if let Some(tail) = tail {
        out.push('\n');
        out.push_str(tail);
    }
    out
}

/// `text` broken into lines of at most `width` columns, at spaces, the
/// lines after the first starting with `indent` (a word longer than a
/// line stays whole).
pub fn wrap(text: &str, width: Option<usize>, indent: &str) -> String {
    let Some(width) = width else {
        return text.to_owned();
    };
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        let w = word.width();
        if line > indent.width() && line + 1 + w > width {
            out.push('\n');
            out.push_str(indent);
            line = indent.width();
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += w;
    }
    out
}

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
        NAME,
        Column {
            header: "STATE",
            min: 40,
            cut: false,
        },
    ];
    table::table(&columns, &rows, width, at_least)
}

/// The group list table: the original's columns, then whether the group
/// is private and our role in it.
pub fn group_table(groups: &[Group], width: Option<usize>, at_least: usize) -> (String, usize) {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.id.to_string(),
                cell(&g.name),
                cell(&g.desc),
                g.visibility.as_str().to_owned(),
                g.role.map_or("", role_word).to_owned(),
            ]
        })
        .collect();
    let columns = [
        ID,
        NAME,
        Column {
            header: "DESC",
            min: 22,
            cut: true,
        },
        Column {
            header: "TYPE",
            min: 9,
            cut: false,
        },
        Column {
            header: "ROLE",
            min: 9,
            cut: false,
        },
    ];
    table::table(&columns, &rows, width, at_least)
}

/// Users by id and name (requests, blocked).
fn user_table(users: &[User], width: Option<usize>, at_least: usize) -> (String, usize) {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| vec![u.id.to_string(), cell(&u.name)])
        .collect();
    table::table(&[ID, NAME], &rows, width, at_least)
}

/// Invites: the group's id and name, and who invited.
fn invite_table(invites: &[Invite], width: Option<usize>, at_least: usize) -> (String, usize) {
    let rows: Vec<Vec<String>> = invites
        .iter()
        .map(|i| {
            vec![
                i.group.id.to_string(),
                cell(&i.group.name),
                format!("{}({})", cell(&i.by.name), i.by.id),
            ]
        })
        .collect();
    let columns = [
        ID,
        Column {
            header: "GROUP",
            min: 20,
            cut: true,
        },
        Column {
            header: "INVITED BY",
            min: 20,
            cut: true,
        },
    ];
    table::table(&columns, &rows, width, at_least)
}

const ANSWER_REQUEST: &str = "answer with accept:ID or decline:ID";
const ANSWER_INVITE: &str = "join with joingroup:ID, or say no with declineinvite:ID";

/// A part listing friend requests to us.
fn requests_in<'a>(dir: &'a Directory, width: Option<usize>) -> Part<'a> {
    Part {
        title: "friend requests",
        original: None,
        body: Body::Table(Box::new(move |w| user_table(&dir.requests_in, width, w))),
        hint: Some(ANSWER_REQUEST.into()),
    }
}

/// A part listing invites to us.
fn invites<'a>(dir: &'a Directory, width: Option<usize>) -> Part<'a> {
    Part {
        title: "group invites",
        original: None,
        body: Body::Table(Box::new(move |w| invite_table(&dir.invites, width, w))),
        hint: Some(ANSWER_INVITE.into()),
    }
}

/// The screen shown after login and by `showme` and `updatelist`: who you
/// are, your friends and your groups, as the original client showed them,
/// then friend requests and invites waiting for your answer, if any;
/// fitted to a terminal of `width` columns (`None`: no limit).
pub fn login_screen(dir: &Directory, width: Option<usize>) -> String {
    let mut account = String::new();
    if let Some(me) = &dir.me {
        let id = format!("current user => account:{}", me.id);
        let name = format!("username:{}", cell(&me.name));
        account = match width {
            // Too narrow for one line: the name goes on the next.
            Some(w) if id.width() + 1 + name.width() > w => {
                format!("{id}\n{}", table::fit(&name, w))
            }
            _ => format!("{id} {name}"),
        };
    }
    let mut parts = vec![
        Part {
            title: "login user",
            original: Some(LOGIN_USER),
            body: Body::Text(account),
            hint: None,
        },
        Part {
            title: "friend list",
            original: Some(FRIEND_LIST),
            body: Body::Table(Box::new(|w| friend_table(&dir.friends, width, w))),
            hint: None,
        },
        Part {
            title: "group list",
            original: Some(GROUP_LIST),
            body: Body::Table(Box::new(|w| group_table(&dir.groups, width, w))),
            hint: None,
        },
    ];
    if !dir.requests_in.is_empty() {
        parts.push(requests_in(dir, width));
    }
    if !dir.invites.is_empty() {
        parts.push(invites(dir, width));
    }
    screen(&parts, width, Some("Type `help` to see other commands."))
}

/// The `requests` screen: friend requests both ways, invites and blocked
/// users, each with what can be done about it.
pub fn requests_screen(dir: &Directory, width: Option<usize>) -> String {
    let none = |what: &str| Body::Text(format!("(no {what})"));
    let mut parts = Vec::new();
    parts.push(if dir.requests_in.is_empty() {
        Part {
            title: "friend requests",
            original: None,
            body: none("friend requests"),
            hint: None,
        }
    } else {
        requests_in(dir, width)
    });
    parts.push(Part {
        title: "your requests",
        original: None,
        body: if dir.requests_out.is_empty() {
            none("requests waiting for an answer")
        } else {
            Body::Table(Box::new(|w| user_table(&dir.requests_out, width, w)))
        },
        hint: (!dir.requests_out.is_empty()).then(|| "take one back with cancel:ID".into()),
    });
    parts.push(if dir.invites.is_empty() {
        Part {
            title: "group invites",
            original: None,
            body: none("invites"),
            hint: None,
        }
    } else {
        invites(dir, width)
    });
    parts.push(Part {
        title: "blocked",
        original: None,
        body: if dir.blocked.is_empty() {
            none("one blocked")
        } else {
            Body::Table(Box::new(|w| user_table(&dir.blocked, width, w)))
        },
        hint: (!dir.blocked.is_empty()).then(|| "unblock:ID lets one reach you again".into()),
    });
    screen(&parts, width, None)
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
        NAME,
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

#[cfg(test)]
mod tests {
    use chat_proto::{Role, Visibility};
    use unicode_width::UnicodeWidthStr as _;

    use super::super::testdata::{g, kirito, u};
    use super::*;

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
        ID                NAME                  DESC     TYPE     ROLE
         1          happy game            happy play   public   member
    200001                blue             blue test   public   member
--------------------------------------------------------------------------
Type `help` to see other commands.";
        assert_eq!(login_screen(&kirito(), None), expected);
        // A wide terminal changes nothing.
        assert_eq!(login_screen(&kirito(), Some(120)), expected);
    }

    fn pending() -> Directory {
        let mut d = kirito();
        d.groups[1].visibility = Visibility::Private;
        d.groups[1].role = Some(Role::Creator);
        d.add_request_in(u(3001, "asuna", true));
        let mut den = g(300, "the den", "");
        den.role = None;
        den.visibility = Visibility::Private;
        d.add_invite(chat_proto::Invite {
            group: den,
            by: u(3002, "klein", false),
        });
        d
    }

    #[test]
    fn requests_and_invites_follow_the_login_screen() {
        let expected = "\
--------------------------------group list--------------------------------
        ID                NAME                  DESC     TYPE     ROLE
         1          happy game            happy play   public   member
    200001                blue             blue test  private  creator
-----------------------------friend requests------------------------------
        ID                                                        NAME
      3001                                                       asuna
answer with accept:ID or decline:ID
------------------------------group invites-------------------------------
        ID               GROUP                              INVITED BY
       300             the den                             klein(3002)
join with joingroup:ID, or say no with declineinvite:ID
--------------------------------------------------------------------------
Type `help` to see other commands.";
        let screen = login_screen(&pending(), None);
        assert!(screen.ends_with(expected), "{screen}");
    }

    #[test]
    fn the_requests_screen_lists_all_four_with_what_to_do() {
        let mut d = pending();
        let empty = requests_screen(&Directory::default(), None);
        for none in [
            "(no friend requests)",
            "(no requests waiting for an answer)",
            "(no invites)",
            "(no one blocked)",
        ] {
            assert!(empty.contains(none), "{empty}");
        }
        d.learn(3003, "yui");
        d.add_request_out(3003);
        d.block(2002);
        let screen = requests_screen(&d, Some(40));
        for line in screen.lines() {
            assert!(line.width() <= 40, "{line:?} in\n{screen}");
        }
        for what in [
            "asuna",
            "accept:ID",
            "yui",
            "cancel:ID",
            "the den",
            "declineinvite:ID",
            "Tom",
            "unblock:ID",
        ] {
            assert!(screen.contains(what), "{what} in\n{screen}");
        }
        let titles: Vec<&str> = screen
            .lines()
            .filter(|l| l.starts_with('-') && l.trim_matches('-').len() > 1)
            .map(|l| l.trim_matches('-'))
            .collect();
        assert_eq!(
            titles,
            vec![
                "friend requests",
                "your requests",
                "group invites",
                "blocked"
            ]
        );
    }

    #[test]
    fn hints_wrap_at_spaces() {
        assert_eq!(wrap("a bb ccc", Some(4), ""), "a bb\nccc");
        assert_eq!(wrap("a bb ccc", Some(4), "  "), "a bb\n  ccc");
        assert_eq!(wrap("a bb ccc", None, ""), "a bb ccc");
        assert_eq!(wrap("toolongword x", Some(4), ""), "toolongword\nx");
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
        // With requests and invites waiting, still within 40 columns.
        let mut p = pending();
        p.add_request_in(u(3004, "a name far too long for forty columns", true));
        for line in login_screen(&p, Some(40)).lines() {
            assert!(line.width() <= 40, "{line:?}");
        }
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
}
