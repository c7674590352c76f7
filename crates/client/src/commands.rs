//! The commands a logged-in user types, in the original client's syntax:
//! a name, then arguments separated by `:` (`chat:2001:hello`).
//!
//! [`parse`] turns a line into a [`Command`]; [`SPECS`] is the table that
//! `help` prints and that a malformed command's usage line comes from.
//! A message or a group description may itself contain `:`: the line is
//! split only as many times as the command has fields before its last one.
//! The original client's other names for two commands are kept as
//! aliases: `addgroup` (= `joingroup`) and `loginout` (= `logout`).

use chat_proto::HistoryTarget;

/// A command, parsed and ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Chat {
        to: u64,
        text: String,
    },
    AddFriend(u64),
    RemoveFriend(u64),
    CreateGroup {
        name: String,
        desc: String,
    },
    JoinGroup(u64),
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
    /// Show the session's token.
    Token,
    Logout,
    Quit,
}

/// What follows a command's name, and how it becomes a [`Command`].
#[derive(Debug, Clone)]
pub enum Args {
    /// Nothing: the name alone is the command.
    Bare(Command),
    /// `:id`.
    Id(fn(u64) -> Command),
    /// `:id:text`, the text non-empty and free to contain `:`.
    IdText(fn(u64, String) -> Command),
    /// `:name` or `:name:desc`, the description free to contain `:`.
    NameDesc(fn(String, String) -> Command),
}

/// One line of the command table.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What the user types before the first `:`.
    pub name: &'static str,
    /// Other names for the same command (the original client's).
    pub aliases: &'static [&'static str],
    /// What it does, for `help`.
    pub about: &'static str,
    /// The full syntax, shown by `help` and after a malformed command.
    pub usage: &'static str,
    /// How the arguments are read.
    pub args: Args,
}

/// Specs are equal when they name the same command (names are unique).
impl PartialEq for Spec {
    fn eq(&self, other: &Spec) -> bool {
        self.name == other.name
    }
}

impl Eq for Spec {}

/// Every command, in the order `help` lists them.
pub const SPECS: &[Spec] = &[
    Spec {
        name: "help",
        aliases: &[],
        about: "show this list",
        usage: "help",
        args: Args::Bare(Command::Help),
    },
    Spec {
        name: "chat",
        aliases: &[],
        about: "chat with a friend",
        usage: "chat:friendid:message",
        args: Args::IdText(|to, text| Command::Chat { to, text }),
    },
    Spec {
        name: "addfriend",
        aliases: &[],
        about: "add a friend",
        usage: "addfriend:friendid",
        args: Args::Id(Command::AddFriend),
    },
    Spec {
        name: "removefriend",
        aliases: &[],
        about: "remove a friend",
        usage: "removefriend:friendid",
        args: Args::Id(Command::RemoveFriend),
    },
    Spec {
        name: "creategroup",
        aliases: &[],
        about: "create a group",
        usage: "creategroup:groupname:groupdesc",
        args: Args::NameDesc(|name, desc| Command::CreateGroup { name, desc }),
    },
    Spec {
        name: "joingroup",
        aliases: &["addgroup"],
        about: "join a group",
        usage: "joingroup:groupid",
        args: Args::Id(Command::JoinGroup),
    },
    Spec {
        name: "groupchat",
        aliases: &[],
        about: "chat with a group",
        usage: "groupchat:groupid:message",
        args: Args::IdText(|group, text| Command::GroupChat { group, text }),
    },
    Spec {
        name: "list",
        aliases: &[],
        about: "show the members of a group",
        usage: "list:groupid",
        args: Args::Id(Command::List),
    },
    Spec {
        name: "quitgroup",
        aliases: &[],
        about: "leave a group",
        usage: "quitgroup:groupid",
        args: Args::Id(Command::QuitGroup),
    },
    Spec {
        name: "deletegroup",
        aliases: &[],
        about: "delete a group you created",
        usage: "deletegroup:groupid",
        args: Args::Id(Command::DeleteGroup),
    },
    Spec {
        name: "history",
        aliases: &[],
        about: "show the chat with a friend",
        usage: "history:friendid",
        args: Args::Id(Command::History),
    },
    Spec {
        name: "grouphistory",
        aliases: &[],
        about: "show a group's chat",
        usage: "grouphistory:groupid",
        args: Args::Id(Command::GroupHistory),
    },
    Spec {
        name: "more",
        aliases: &[],
        about: "show older messages of the last history",
        usage: "more",
        args: Args::Bare(Command::More),
    },
    Spec {
        name: "showme",
        aliases: &[],
        about: "show my details and lists",
        usage: "showme",
        args: Args::Bare(Command::ShowMe),
    },
    Spec {
        name: "updatelist",
        aliases: &[],
        about: "reload my friend and group lists",
        usage: "updatelist",
        args: Args::Bare(Command::UpdateList),
    },
    Spec {
        name: "token",
        aliases: &[],
        about: "show my session token, for --token",
        usage: "token",
        args: Args::Bare(Command::Token),
    },
    Spec {
        name: "logout",
        aliases: &["loginout"],
        about: "log out, back to the menu",
        usage: "logout",
        args: Args::Bare(Command::Logout),
    },
    Spec {
        name: "quit",
        aliases: &[],
        about: "exit the chat",
        usage: "quit",
        args: Args::Bare(Command::Quit),
    },
];

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
            ParseError::Usage(spec) => write!(f, "usage: {}", spec.usage),
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
        assert_eq!(usage_of("addfriend"), "addfriend:friendid");
        assert_eq!(usage_of("addfriend:"), "addfriend:friendid");
        assert_eq!(usage_of("addfriend:1:2"), "addfriend:friendid");
        assert_eq!(usage_of("list:abc"), "list:groupid");
        assert_eq!(
            usage_of("addfriend:99999999999999999999999"),
            "addfriend:friendid"
        );
    }

    #[test]
    fn creategroup_desc_is_optional_and_may_hold_colons() {
        assert_eq!(
            parse("creategroup:happy game:happy play: all day"),
            Ok(Command::CreateGroup {
                name: "happy game".into(),
                desc: "happy play: all day".into()
            })
        );
        assert_eq!(
            parse("creategroup:solo"),
            Ok(Command::CreateGroup {
                name: "solo".into(),
                desc: String::new()
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
            let line = spec
                .usage
                .replace("friendid", "1")
                .replace("groupid", "2")
                .replace("groupname", "g")
                .replace("groupdesc", "d")
                .replace("message", "m");
            assert!(parse(&line).is_ok(), "{line}");
            assert!(spec.usage.starts_with(spec.name));
        }
    }
}
