//! The command loop of a logged-in session: reads a line, runs the
//! command, prints what its reply shows.

use chat_proto::Request;
use chat_proto::reply::{Empty, Members, Reply};

use super::{App, Next};
use crate::commands::{self, Command, ParseError};
use crate::outcome;
use crate::term::Read;
use crate::view;

impl App {
    /// Reads and runs commands until `logout`, `quit` or the end of input.
    pub(super) async fn session(&mut self) -> Next {
        loop {
            let line = match self.read("> ", false).await {
                Some(Read::Eof) => return Next::Eof,
                Some(Read::Line(l)) => l,
                None => return Next::Menu,
            };
            match commands::parse(&line) {
                Err(ParseError::Empty) => {}
                Err(e) => self.say(e.to_string()),
                Ok(cmd) => {
                    if let Some(next) = self.command(cmd).await {
                        return next;
                    }
                }
            }
            if self.session_over {
                return Next::Menu;
            }
        }
    }

    pub(super) fn next_cid(&mut self) -> String {
        self.cid_next += 1;
        format!("{}-{}", self.cid_prefix, self.cid_next)
    }

    /// Runs one command; `Some` when the session ends.
    pub(super) async fn command(&mut self, cmd: Command) -> Option<Next> {
        match cmd {
            Command::Help => self.say(view::help()),
            Command::Quit => return Some(Next::Quit),
            Command::Logout => {
                self.flush_acks();
                // Back to the menu whatever the reply: the session's token is
                // forgotten by the connection as soon as this is sent.
                let logged_out = self
                    .call::<Empty>(Request::Logout { revoke: true })
                    .await
                    .is_some();
                self.end_session();
                if logged_out {
                    self.say("logged out");
                }
                return Some(Next::Menu);
            }
            cmd => {
                let request = outcome::request(&cmd, || self.next_cid())?;
                let reply = match self.request(request).await {
                    Ok(reply) => reply,
                    Err(e) => {
                        self.error(e);
                        return None;
                    }
                };
                if let Command::GroupHistory(group) = cmd {
                    self.names_for_history(group, &reply).await;
                }
                match outcome::apply(&cmd, &reply, &mut self.dir, self.clock) {
                    Ok(lines) => {
                        if let Command::List(group) = cmd {
                            self.inbox.members_known(group);
                        }
                        for line in lines {
                            self.say(line);
                        }
                    }
                    Err(e) => self.error(e),
                }
            }
        }
        None
    }

    /// Before a group's history is shown: quietly fetches its member list
    /// when senders' names are unknown (the history is worth showing
    /// without them).
    pub(super) async fn names_for_history(&mut self, group: u64, reply: &Reply) {
        if !outcome::history_has_strangers(reply, &self.dir) || self.inbox.has_members(group) {
            return;
        }
        if let Ok(Ok(m)) = self
            .request(Request::GroupMembers { group })
            .await
            .map(|r| r.body::<Members>())
        {
            self.dir.learn_members(&m.members);
            self.inbox.members_known(group);
        }
    }
}
