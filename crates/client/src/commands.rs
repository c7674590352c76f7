//! The commands a logged-in user types, in the original client's syntax:
//! a name, then arguments separated by `:` (`chat:2001:hello`).
//!
//! [`parse`] turns a line into a [`Command`]; [`SPECS`] is the table that
//! `help` prints and that a malformed command's usage line comes from.
//! A message or a group description may itself contain `:`: the line is
//! split only as many times as the command has fields before its last one.
//! The original client's other names for two commands are kept as
//! aliases: `addgroup` (= `joingroup`) and `loginout` (= `logout`); the
//! newer commands have the aliases a newcomer might try first
//! (`acceptfriend`, `setrole`, `passwd`, ...).
//!
//! Over 500 lines: the table of every command, and its unit tests.

use chat_proto::{HistoryTarget, Role, Visibility};

/// What `updategroup` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChange {
    Name(String),
    Desc(String),
    Visibility(Visibility),
}

/// A command, parsed and ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Chat {
        to: u64,
        text: String,
    },
    /// Sends a friend request, or accepts theirs when they asked first.
    AddFriend(u64),
    AcceptFriend(u64),
    DeclineFriend(u64),
    /// Takes back a request we sent.
    CancelFriend(u64),
    Block(u64),
    Unblock(u64),
    /// Friend requests both ways, invites and blocked users.
    Requests,
    RemoveFriend(u64),
    CreateGroup {
        name: String,
        desc: String,
        visibility: Visibility,
    },
    UpdateGroup {
        group: u64,
        change: GroupChange,
    },
    /// Joins a public group, or accepts an invite to a private one.
    JoinGroup(u64),
    DeclineInvite(u64),
    Invite {
        group: u64,
        user: u64,
    },
    Kick {
        group: u64,
        user: u64,
    },
    /// `role` is admin or member.
    SetRole {
        group: u64,
        user: u64,
        role: Role,
    },
    Transfer {
        group: u64,
        user: u64,
    },
    GroupChat {
        group: u64,
        text: String,
    },
    List(u64),
    QuitGroup(u64),
    DeleteGroup(u64),
    ShowMe,
    UpdateList,
    History(u64),
    GroupHistory(u64),
    /// `more`: the page before the last history shown.
    More,
    /// A history page before a message id; what `more` becomes once the
    /// app knows which history it continues (never typed as such).
    Page {
        target: HistoryTarget,
        before: u64,
    },
    /// Asks for the old password and the new one twice, then changes it.
    ChangePassword,
    /// Asks for the password and a `yes`, then deletes the account.
    DeleteAccount,
    /// Show the session's token.
    Token,
    Logout,
    /// Logs out here and ends every other session of the account.
    LogoutEverywhere,
    Quit,
}

/// What follows a command's name, and how it becomes a [`Command`].
#[derive(Debug, Clone)]
pub enum Args {
    /// Nothing: the name alone is the command.
    Bare(Command),
    /// `:id`.
    Id(fn(u64) -> Command),
    /// `:id:id`.
    IdId(fn(u64, u64) -> Command),
    /// `:id:text`, the text non-empty and free to contain `:`.
    IdText(fn(u64, String) -> Command),
    /// `:name` or `:name:desc`, the description free to contain `:`.
    NameDesc(fn(String, String) -> Command),
    /// Anything else: what follows the first `:` (if any) is read by the
    /// function, `None` meaning a usage error.
    Other(fn(Option<&str>) -> Option<Command>),
}

/// One line of the command table.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What the user types before the first `:`.
    pub name: &'static str,
    /// Other names for the same command.
    pub aliases: &'static [&'static str],
    /// What it does, for `help`.
    pub about: &'static str,
    /// The full syntax, shown by `help` and after a malformed command.
    pub usage: &'static str,
    /// Other forms of the same command, shown after `usage`.
    pub forms: &'static [&'static str],
    /// How the arguments are read.
    pub args: Args,
}

impl Spec {
    /// Every form of the syntax, for a malformed command's hint.
    pub fn usages(&self) -> String {
        let mut out = self.usage.to_owned();
        for f in self.forms {
            out.push_str(" or ");
            out.push_str(f);
        }
        out
    }
}

/// Specs are equal when they name the same command (names are unique).
impl PartialEq for Spec {
    fn eq(&self, other: &Spec) -> bool {
        self.name == other.name
    }
}

impl Eq for Spec {}

const fn entry(
    name: &'static str,
    aliases: &'static [&'static str],
    about: &'static str,
    usage: &'static str,
    args: Args,
) -> Spec {
    Spec {
        name,
        aliases,
        about,
        usage,
        forms: &[],
        args,
    }
}

/// Every command, in the order `help` lists them.
pub const SPECS: &[Spec] = &[
    entry(
        "help",
        &[],
        "show this list",
        "help",
        Args::Bare(Command::Help),
    ),
    entry(
        "chat",
        &[],
        "chat with a friend",
        "chat:friendid:message",
        Args::IdText(|to, text| Command::Chat { to, text }),
    ),
    entry(
        "addfriend",
        &[],
        "ask someone to be your friend",
        "addfriend:userid",
        Args::Id(Command::AddFriend),
    ),
    entry(
        "accept",
        &["acceptfriend"],
        "accept a friend request",
        "accept:userid",
        Args::Id(Command::AcceptFriend),
    ),
    entry(
        "decline",
        &["declinefriend"],
        "decline a friend request",
        "decline:userid",
        Args::Id(Command::DeclineFriend),
    ),
    entry(
        "cancel",
        &["cancelfriend"],
        "take back a request you sent",
        "cancel:userid",
        Args::Id(Command::CancelFriend),
    ),
    entry(
        "requests",
        &["invites"],
        "show requests, invites, blocked",
        "requests",
        Args::Bare(Command::Requests),
    ),
    entry(
        "removefriend",
        &[],
        "remove a friend",
        "removefriend:friendid",
        Args::Id(Command::RemoveFriend),
    ),
    entry(
        "block",
        &[],
        "block a user",
        "block:userid",
        Args::Id(Command::Block),
    ),
    entry(
        "unblock",
        &[],
        "unblock a user",
        "unblock:userid",
        Args::Id(Command::Unblock),
    ),
    entry(
        "creategroup",
        &[],
        "create a group anyone can join",
        "creategroup:groupname:groupdesc",
        Args::NameDesc(|name, desc| Command::CreateGroup {
            name,
            desc,
            visibility: Visibility::Public,
        }),
    ),
    entry(
        "createprivate",
        &["createprivategroup"],
        "create a group for invitees only",
        "createprivate:groupname:groupdesc",
        Args::NameDesc(|name, desc| Command::CreateGroup {
            name,
            desc,
            visibility: Visibility::Private,
        }),
    ),
    Spec {
        name: "updategroup",
        aliases: &[],
        about: "rename, describe, open or close",
        usage: "updategroup:groupid:name:groupname",
        forms: &[
            "updategroup:groupid:desc:groupdesc",
            "updategroup:groupid:private",
            "updategroup:groupid:public",
        ],
        args: Args::Other(update_group),
    },
    entry(
        "joingroup",
        &["addgroup", "acceptinvite"],
        "join a group or accept an invite",
        "joingroup:groupid",
        Args::Id(Command::JoinGroup),
    ),
    entry(
        "declineinvite",
        &[],
        "decline an invite to a group",
        "declineinvite:groupid",
        Args::Id(Command::DeclineInvite),
    ),
    entry(
        "invite",
        &[],
        "invite someone to a group",
        "invite:groupid:userid",
        Args::IdId(|group, user| Command::Invite { group, user }),
    ),
    entry(
        "kick",
        &[],
        "remove someone from a group",
        "kick:groupid:userid",
        Args::IdId(|group, user| Command::Kick { group, user }),
    ),
    entry(
        "role",
        &["setrole"],
        "make a member admin or not",
        "role:groupid:userid:admin|member",
        Args::Other(set_role),
    ),
    entry(
        "transfer",
        &["transfergroup"],
        "hand your group to a member",
        "transfer:groupid:userid",
        Args::IdId(|group, user| Command::Transfer { group, user }),
    ),
    entry(
        "groupchat",
        &[],
        "chat with a group",
        "groupchat:groupid:message",
        Args::IdText(|group, text| Command::GroupChat { group, text }),
    ),
    entry(
        "list",
        &[],
        "show the members of a group",
        "list:groupid",
        Args::Id(Command::List),
    ),
    entry(
        "quitgroup",
        &[],
        "leave a group",
        "quitgroup:groupid",
        Args::Id(Command::QuitGroup),
    ),
    entry(
        "deletegroup",
        &[],
        "delete a group you created",
        "deletegroup:groupid",
        Args::Id(Command::DeleteGroup),
    ),
    entry(
        "history",
        &[],
        "show the chat with a friend",
        "history:friendid",
        Args::Id(Command::History),
    ),
    entry(
        "grouphistory",
        &[],
        "show a group's chat",
        "grouphistory:groupid",
        Args::Id(Command::GroupHistory),
    ),
    entry(
        "more",
        &[],
        "show older messages of the last history",
        "more",
        Args::Bare(Command::More),
    ),
    entry(
        "showme",
        &[],
        "show my details and lists",
        "showme",
        Args::Bare(Command::ShowMe),
    ),
    entry(
        "updatelist",
        &[],
        "reload my friend and group lists",
        "updatelist",
        Args::Bare(Command::UpdateList),
    ),
    entry(
        "changepassword",
        &["passwd", "password"],
        "change my password",
        "changepassword",
        Args::Bare(Command::ChangePassword),
    ),
    entry(
        "deleteaccount",
        &[],
        "delete my account for good",
        "deleteaccount",
        Args::Bare(Command::DeleteAccount),
    ),
    entry(
        "token",
        &[],
        "show my session token, for --token",
        "token",
        Args::Bare(Command::Token),
    ),
    entry(
        "logout",
        &["loginout"],
        "log out, back to the menu",
        "logout",
        Args::Bare(Command::Logout),
    ),
    entry(
        "logoutall",
        &["logouteverywhere"],
        "log out here and everywhere else",
        "logoutall",
        Args::Bare(Command::LogoutEverywhere),
    ),
    entry(
        "quit",
        &[],
        "exit the chat",
        "quit",
        Args::Bare(Command::Quit),
    ),
];

fn id(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// `groupid:name:text`, `groupid:desc:text`, `groupid:private`,
/// `groupid:public` (also `groupid:visibility:private`).
fn update_group(rest: Option<&str>) -> Option<Command> {
    let (group, rest) = rest?.split_once(':')?;
    let group = id(group)?;
    let (field, value) = match rest.split_once(':') {
        Some((f, v)) => (f.trim().to_ascii_lowercase(), Some(v)),
        None => (rest.trim().to_ascii_lowercase(), None),
    };
    let visibility = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "private" => Some(Visibility::Private),
        "public" => Some(Visibility::Public),
        _ => None,
    };
    let change = match (field.as_str(), value) {
        ("name", Some(v)) if !v.trim().is_empty() => GroupChange::Name(v.trim().to_owned()),
        ("desc" | "description", Some(v)) => GroupChange::Desc(v.trim().to_owned()),
        ("private" | "public", None) => GroupChange::Visibility(visibility(&field)?),
        ("visibility", Some(v)) => GroupChange::Visibility(visibility(v)?),
        _ => return None,
    };
    Some(Command::UpdateGroup { group, change })
}

/// `groupid:userid:admin` or `groupid:userid:member`.
fn set_role(rest: Option<&str>) -> Option<Command> {
    let mut parts = rest?.split(':');
    let group = id(parts.next()?)?;
    let user = id(parts.next()?)?;
    let role = match parts.next()?.trim().to_ascii_lowercase().as_str() {
        "admin" => Role::Admin,
        "member" => Role::Member,
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Command::SetRole { group, user, role })
}

/// Why a line is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace: not an error worth printing.
    Empty,
    /// The name before the first `:` is not a command.
    Unknown(String),
    /// A known command with missing, extra or malformed arguments.
    Usage(&'static Spec),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Empty => Ok(()),
            ParseError::Unknown(name) => write!(
                f,
                "unknown command `{name}`; type `help` to see the commands"
            ),
            ParseError::Usage(spec) => write!(f, "usage: {}", spec.usages()),
        }
    }
}

/// The spec of the command called `name` (or one of its aliases).
pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name))
}

/// Parses one line typed at the command prompt.
pub fn parse(line: &str) -> Result<Command, ParseError> {
    let line = line.trim();
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let (name, rest) = match line.split_once(':') {
        Some((name, rest)) => (name.trim(), Some(rest)),
        None => (line, None),
    };
    let name = name.to_ascii_lowercase();
    let Some(spec) = spec(&name) else {
        return Err(ParseError::Unknown(name));
    };
    let usage = || ParseError::Usage(spec);
    match &spec.args {
        Args::Bare(cmd) => match rest {
            None => Ok(cmd.clone()),
            Some(_) => Err(usage()),
        },
        Args::Id(make) => {
            let id = rest.and_then(|r| r.trim().parse().ok()).ok_or_else(usage)?;
            Ok(make(id))
        }
        Args::IdText(make) => {
            let (id, text) = rest.and_then(|r| r.split_once(':')).ok_or_else(usage)?;
            let id = id.trim().parse().map_err(|_| usage())?;
            if text.trim().is_empty() {
                return Err(usage());
            }
            Ok(make(id, text.to_owned()))
        }
        Args::NameDesc(make) => {
            let rest = rest.ok_or_else(usage)?;
            let (name, desc) = rest.split_once(':').unwrap_or((rest, ""));
            let name = name.trim();
            if name.is_empty() {
                return Err(usage());
            }
            Ok(make(name.to_owned(), desc.trim().to_owned()))
        }
        Args::IdId(make) => {
            let (a, b) = rest.and_then(|r| r.split_once(':')).ok_or_else(usage)?;
            match (id(a), id(b)) {
                (Some(a), Some(b)) => Ok(make(a, b)),
                _ => Err(usage()),
            }
        }
        Args::Other(read) => read(rest).ok_or_else(usage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_of(line: &str) -> &'static str {
        match parse(line) {
            Err(ParseError::Usage(spec)) => spec.usage,
            other => panic!("{line:?}: expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn bare_commands() {
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("  showme \r"), Ok(Command::ShowMe));
        assert_eq!(parse("updatelist"), Ok(Command::UpdateList));
        assert_eq!(parse("logout"), Ok(Command::Logout));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse("QUIT"), Ok(Command::Quit));
        assert_eq!(usage_of("quit:now"), "quit");
        assert_eq!(usage_of("help:"), "help");
    }

    #[test]
    fn chat_keeps_colons_in_the_message() {
        assert_eq!(
            parse("chat:2001:hello: with colons"),
            Ok(Command::Chat {
                to: 2001,
                text: "hello: with colons".into()
            })
        );
        assert_eq!(
            parse("groupchat: 7 ::x:"),
            Ok(Command::GroupChat {
                group: 7,
                text: ":x:".into()
            })
        );
        assert_eq!(
            parse("chat:1:  spaced  "),
            Ok(Command::Chat {
                to: 1,
                text: "  spaced".into()
            })
        );
    }

    #[test]
    fn malformed_chats_show_usage() {
        assert_eq!(usage_of("chat"), "chat:friendid:message");
        assert_eq!(usage_of("chat:2001"), "chat:friendid:message");
        assert_eq!(usage_of("chat:2001:"), "chat:friendid:message");
        assert_eq!(usage_of("chat:2001:   "), "chat:friendid:message");
        assert_eq!(usage_of("chat:bob:hi"), "chat:friendid:message");
        assert_eq!(usage_of("chat:-1:hi"), "chat:friendid:message");
        assert_eq!(usage_of("groupchat:x:hi"), "groupchat:groupid:message");
    }

    #[test]
    fn id_commands() {
        assert_eq!(parse("addfriend:2002"), Ok(Command::AddFriend(2002)));
        assert_eq!(
            parse("removefriend: 2002 "),
            Ok(Command::RemoveFriend(2002))
        );
        assert_eq!(parse("joingroup:3"), Ok(Command::JoinGroup(3)));
        assert_eq!(parse("list:3"), Ok(Command::List(3)));
        assert_eq!(parse("quitgroup:3"), Ok(Command::QuitGroup(3)));
        assert_eq!(parse("deletegroup:3"), Ok(Command::DeleteGroup(3)));
        assert_eq!(parse("history:2002"), Ok(Command::History(2002)));
        assert_eq!(parse("grouphistory:3"), Ok(Command::GroupHistory(3)));
        assert_eq!(usage_of("addfriend"), "addfriend:userid");
        assert_eq!(usage_of("addfriend:"), "addfriend:userid");
        assert_eq!(usage_of("addfriend:1:2"), "addfriend:userid");
        assert_eq!(usage_of("list:abc"), "list:groupid");
        assert_eq!(
            usage_of("addfriend:99999999999999999999999"),
            "addfriend:userid"
        );
    }

    #[test]
    fn creategroup_desc_is_optional_and_may_hold_colons() {
        assert_eq!(
            parse("creategroup:happy game:happy play: all day"),
            Ok(Command::CreateGroup {
                name: "happy game".into(),
                desc: "happy play: all day".into(),
                visibility: Visibility::Public
            })
        );
        assert_eq!(
            parse("creategroup:solo"),
            Ok(Command::CreateGroup {
                name: "solo".into(),
                desc: String::new(),
                visibility: Visibility::Public
            })
        );
        assert_eq!(usage_of("creategroup"), "creategroup:groupname:groupdesc");
        assert_eq!(
            usage_of("creategroup: :desc"),
            "creategroup:groupname:groupdesc"
        );
    }

    #[test]
    fn unknown_and_empty() {
        assert_eq!(parse("   "), Err(ParseError::Empty));
        assert_eq!(parse("hello"), Err(ParseError::Unknown("hello".into())));
        assert_eq!(
            parse("loginut:1"),
            Err(ParseError::Unknown("loginut".into()))
        );
        assert_eq!(
            ParseError::Unknown("x".into()).to_string(),
            "unknown command `x`; type `help` to see the commands"
        );
        assert_eq!(
            ParseError::Usage(spec("chat").unwrap()).to_string(),
            "usage: chat:friendid:message"
        );
    }

    #[test]
    fn the_original_aliases() {
        assert_eq!(parse("addgroup:3"), Ok(Command::JoinGroup(3)));
        assert_eq!(parse("loginout"), Ok(Command::Logout));
        assert_eq!(parse("LOGINOUT"), Ok(Command::Logout));
        assert_eq!(usage_of("addgroup:x"), "joingroup:groupid");
        assert_eq!(usage_of("loginout:1"), "logout");
        assert_eq!(parse("more"), Ok(Command::More));
        assert_eq!(parse("token"), Ok(Command::Token));
    }

    #[test]
    fn every_spec_parses() {
        for spec in SPECS {
            // The usage line, with placeholders replaced by plausible values,
            // must parse.
            for usage in std::iter::once(&spec.usage).chain(spec.forms) {
                let line = usage
                    .replace("friendid", "1")
                    .replace("userid", "3")
                    .replace("groupid", "2")
                    .replace("groupname", "g")
                    .replace("groupdesc", "d")
                    .replace("message", "m")
                    .replace("admin|member", "admin");
                assert!(parse(&line).is_ok(), "{line}");
                assert!(usage.starts_with(spec.name));
            }
            for alias in spec.aliases {
                assert_eq!(self::spec(alias), Some(spec), "{alias}");
            }
        }
        // Names and aliases are unique.
        let mut names: Vec<&str> = SPECS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn friend_requests_and_blocks() {
        assert_eq!(parse("accept:5"), Ok(Command::AcceptFriend(5)));
        assert_eq!(parse("acceptfriend: 5"), Ok(Command::AcceptFriend(5)));
        assert_eq!(parse("decline:5"), Ok(Command::DeclineFriend(5)));
        assert_eq!(parse("declinefriend:5"), Ok(Command::DeclineFriend(5)));
        assert_eq!(parse("cancel:5"), Ok(Command::CancelFriend(5)));
        assert_eq!(parse("cancelfriend:5"), Ok(Command::CancelFriend(5)));
        assert_eq!(parse("block:5"), Ok(Command::Block(5)));
        assert_eq!(parse("unblock:5"), Ok(Command::Unblock(5)));
        assert_eq!(parse("requests"), Ok(Command::Requests));
        assert_eq!(parse("invites"), Ok(Command::Requests));
        assert_eq!(usage_of("accept"), "accept:userid");
        assert_eq!(usage_of("block:bob"), "block:userid");
        assert_eq!(usage_of("requests:1"), "requests");
    }

    #[test]
    fn group_roles_invites_and_kicks() {
        assert_eq!(
            parse("invite:7:5"),
            Ok(Command::Invite { group: 7, user: 5 })
        );
        assert_eq!(
            parse("kick: 7 : 5 "),
            Ok(Command::Kick { group: 7, user: 5 })
        );
        assert_eq!(
            parse("transfer:7:5"),
            Ok(Command::Transfer { group: 7, user: 5 })
        );
        assert_eq!(
            parse("transfergroup:7:5"),
            Ok(Command::Transfer { group: 7, user: 5 })
        );
        assert_eq!(
            parse("role:7:5:admin"),
            Ok(Command::SetRole {
                group: 7,
                user: 5,
                role: Role::Admin
            })
        );
        assert_eq!(
            parse("setrole:7:5: Member "),
            Ok(Command::SetRole {
                group: 7,
                user: 5,
                role: Role::Member
            })
        );
        assert_eq!(
            usage_of("role:7:5:creator"),
            "role:groupid:userid:admin|member"
        );
        assert_eq!(usage_of("role:7:5"), "role:groupid:userid:admin|member");
        assert_eq!(
            usage_of("role:7:5:admin:x"),
            "role:groupid:userid:admin|member"
        );
        assert_eq!(usage_of("invite:7"), "invite:groupid:userid");
        assert_eq!(usage_of("kick:7:bob"), "kick:groupid:userid");
        assert_eq!(usage_of("kick:7:5:6"), "kick:groupid:userid");
        assert_eq!(parse("joingroup:7"), Ok(Command::JoinGroup(7)));
        assert_eq!(parse("acceptinvite:7"), Ok(Command::JoinGroup(7)));
        assert_eq!(parse("declineinvite:7"), Ok(Command::DeclineInvite(7)));
    }

    #[test]
    fn private_groups_and_updates() {
        assert_eq!(
            parse("createprivate:club:members: only"),
            Ok(Command::CreateGroup {
                name: "club".into(),
                desc: "members: only".into(),
                visibility: Visibility::Private
            })
        );
        let update = |change| Ok(Command::UpdateGroup { group: 7, change });
        assert_eq!(
            parse("updategroup:7:name:new: name"),
            update(GroupChange::Name("new: name".into()))
        );
        assert_eq!(
            parse("updategroup:7:desc:"),
            update(GroupChange::Desc(String::new()))
        );
        assert_eq!(
            parse("updategroup:7:Private"),
            update(GroupChange::Visibility(Visibility::Private))
        );
        assert_eq!(
            parse("updategroup:7:visibility:public"),
            update(GroupChange::Visibility(Visibility::Public))
        );
        for bad in [
            "updategroup",
            "updategroup:7",
            "updategroup:7:name:",
            "updategroup:7:colour:red",
            "updategroup:7:private:yes",
            "updategroup:x:public",
        ] {
            assert_eq!(usage_of(bad), "updategroup:groupid:name:groupname", "{bad}");
        }
        assert_eq!(
            ParseError::Usage(spec("updategroup").unwrap()).to_string(),
            "usage: updategroup:groupid:name:groupname or updategroup:groupid:desc:groupdesc \
             or updategroup:groupid:private or updategroup:groupid:public"
        );
    }

    #[test]
    fn account_commands() {
        assert_eq!(parse("changepassword"), Ok(Command::ChangePassword));
        assert_eq!(parse("passwd"), Ok(Command::ChangePassword));
        assert_eq!(parse("deleteaccount"), Ok(Command::DeleteAccount));
        assert_eq!(parse("logoutall"), Ok(Command::LogoutEverywhere));
        assert_eq!(parse("logouteverywhere"), Ok(Command::LogoutEverywhere));
        // Passwords are never typed on the command line.
        assert_eq!(usage_of("changepassword:old:new"), "changepassword");
        assert_eq!(usage_of("deleteaccount:pw"), "deleteaccount");
    }
}
