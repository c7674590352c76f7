//! The command loop of a logged-in session: reads a line, starts the
//! command, prints what its reply shows when it comes.
//!
//! Commands run as jobs, so the prompt never waits on the network for
//! long. In a script each command is waited for before the next line is
//! read (answers stay in order), except a message typed while the
//! connection is down, which waits for the connection in the background.
//! On a terminal the prompt comes back when the reply does, or after
//! [`QUICK`] at the latest; an answer that comes later is tagged with its
//! command (`chat:2:hi -> ...`), as every answer is in a script.

use std::collections::BTreeMap;
use std::time::Duration;

use chat_proto::Request;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{App, Next, REPLY_TIMEOUT};
use crate::commands::{self, Command, ParseError};
use crate::conn::{self, Conn};
use crate::outcome;
use crate::term::Read;
use crate::view;
use crate::wire::{BodyError, Reply};
use crate::words::{self, Undone};

/// On a terminal, how long the prompt waits for a reply before coming
/// back anyway.
const QUICK: Duration = Duration::from_millis(500);
/// Tags longer than this are cut (a long message's command line).
const TAG_CHARS: usize = 40;

type Done = (u64, Result<Reply, Undone>);

/// A command waiting for its reply.
struct Job {
    cmd: Command,
    /// The line as typed, for tagging its answer.
    tag: String,
    /// The next line is not read until this job is done.
    blocking: bool,
    /// Its answer is tagged even on a terminal (the prompt came back
    /// before it).
    late: bool,
    /// A group history waiting for the member list fetched for its names.
    names_for: Option<Reply>,
}

/// The commands waiting for their replies.
#[derive(Default)]
pub(super) struct Jobs {
    set: JoinSet<Done>,
    info: BTreeMap<u64, Job>,
    next_id: u64,
    /// On a terminal: when the prompt comes back even without the reply.
    quick_until: Option<Instant>,
}

impl Jobs {
    pub(super) fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The next finished job; `None` when there is none to wait for.
    pub(super) async fn next_done(&mut self) -> Option<Done> {
        loop {
            match self.set.join_next().await? {
                Ok(done) => return Some(done),
                // A job task cannot panic; one that did is forgotten.
                Err(_) => continue,
            }
        }
    }

    /// A new session: the prompt waits for nobody.
    pub(super) fn new_session(&mut self) {
        self.quick_until = None;
    }

    /// Whether `ev` only repeats what the reply to a command on its way
    /// will say (see [`outcome::echoes`]).
    pub(super) fn echoed(&self, ev: &chat_proto::Event, me: u64) -> bool {
        self.info.values().any(|j| outcome::echoes(&j.cmd, ev, me))
    }

    /// Whether a command that ends the session itself is on its way
    /// (`deleteaccount`, `logoutall`).
    pub(super) fn ending_session(&self) -> bool {
        self.info
            .values()
            .any(|j| matches!(j.cmd, Command::DeleteAccount | Command::LogoutEverywhere))
    }

    fn blocking(&self) -> bool {
        self.info.values().any(|j| j.blocking)
    }

    fn spawn(&mut self, id: u64, conn: &Conn, request: Request) {
        let conn = conn.clone();
        self.set.spawn(async move {
            let result = if conn::waits_for_reconnect(&request) {
                // Messages wait for the connection as long as it takes;
                // the exit puts a bound on that.
                conn.request(request).await.map_err(Undone::Conn)
            } else {
                match tokio::time::timeout(REPLY_TIMEOUT, conn.request(request)).await {
                    Ok(r) => r.map_err(Undone::Conn),
                    Err(_) => Err(Undone::Timeout(REPLY_TIMEOUT.as_secs())),
                }
            };
            (id, result)
        });
    }
}

/// A command line as a tag: trimmed, and cut when long.
fn tag_of(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() <= TAG_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(TAG_CHARS - 1).collect();
    format!("{cut}…")
}

impl App {
    /// Reads and runs commands until `logout`, `quit` or the end of input.
    pub(super) async fn session(&mut self) -> Next {
        loop {
            if self.stop {
                return Next::Quit;
            }
            if self.session_over || !self.logged_in {
                return Next::Menu;
            }
            let can_read = !self.jobs.blocking();
            let quick = self.jobs.quick_until;
            let prompt = self.prompt();
            tokio::select! {
                biased;
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                Some(done) = self.jobs.next_done() => self.on_done(done),
                _ = tokio::time::sleep_until(quick.unwrap_or_else(Instant::now)), if quick.is_some() => {
                    self.prompt_back();
                }
                read = self.input.next(prompt, false), if can_read => match read {
                    Read::Eof => return Next::Eof,
                    Read::Line(line) => {
                        if let Some(next) = self.on_line(&line).await {
                            return next;
                        }
                    }
                },
            }
        }
    }

    /// The quick wait is over: the prompt comes back, and the answers
    /// still due will be tagged.
    fn prompt_back(&mut self) {
        self.jobs.quick_until = None;
        for job in self.jobs.info.values_mut() {
            if !matches!(job.cmd, Command::Logout | Command::LogoutEverywhere) {
                job.blocking = false;
                job.late = true;
            }
        }
    }

    /// The connection dropped: messages in flight wait for it, and the
    /// prompt does not wait for them.
    pub(super) fn messages_wait(&mut self) {
        let mut waiting = Vec::new();
        for job in self.jobs.info.values_mut() {
            let message = matches!(job.cmd, Command::Chat { .. } | Command::GroupChat { .. });
            if message && job.names_for.is_none() {
                job.blocking = false;
                job.late = true;
                waiting.push(job.tag.clone());
            }
        }
        for tag in waiting {
            self.answer(
                Some(&tag),
                "waiting for the connection: it will be sent when it is back",
            );
        }
    }

    /// Runs one typed line; `Some` when the session ends.
    async fn on_line(&mut self, line: &str) -> Option<Next> {
        let tag = tag_of(line);
        let shown_tag = (!self.settings.interactive).then_some(tag.as_str());
        match commands::parse(line) {
            Err(ParseError::Empty) => None,
            Err(e) => {
                self.failed = true;
                self.answer(shown_tag, e.to_string());
                None
            }
            Ok(cmd) => self.start(cmd, tag).await,
        }
    }

    fn next_cid(&mut self) -> String {
        self.cid_next += 1;
        format!("{}-{}", self.cid_prefix, self.cid_next)
    }

    /// Starts one command (after asking for passwords, for the commands
    /// that need them); `Some` when the session ends.
    async fn start(&mut self, cmd: Command, tag: String) -> Option<Next> {
        let shown_tag = (!self.settings.interactive).then(|| tag.clone());
        let shown_tag = shown_tag.as_deref();
        let cmd = match cmd {
            Command::Help => {
                self.answer(shown_tag, view::help(crate::term::width()));
                return None;
            }
            Command::Quit => return Some(Next::Quit),
            Command::Token => {
                self.show_token(shown_tag);
                return None;
            }
            Command::More => match self.more {
                Some((target, before)) => Command::Page { target, before },
                None => {
                    self.answer(
                        shown_tag,
                        "nothing more to show: `more` continues the last history:ID or \
                         grouphistory:ID that had older messages",
                    );
                    return None;
                }
            },
            cmd => cmd,
        };
        if let Err(e) = words::check(&cmd, &self.dir) {
            self.failed = true;
            self.answer(shown_tag, format!("error: {e}"));
            return None;
        }
        let request = match cmd {
            // Back to the menu whatever the reply: the connection forgets
            // the session's token as soon as this is sent.
            Command::Logout | Command::LogoutEverywhere => {
                self.flush_acks();
                Request::Logout {
                    revoke: true,
                    everywhere: matches!(cmd, Command::LogoutEverywhere),
                }
            }
            Command::ChangePassword => match self.ask_new_password(shown_tag).await {
                Ok(request) => request,
                Err(next) => return next,
            },
            Command::DeleteAccount => match self.ask_deletion(shown_tag).await {
                Ok(request) => {
                    self.flush_acks();
                    request
                }
                Err(next) => return next,
            },
            _ => outcome::request(&cmd, || self.next_cid())?,
        };
        let waits = conn::waits_for_reconnect(&request);
        let queued = waits && !self.online;
        if queued {
            self.answer(
                shown_tag,
                "offline: the message will be sent when the connection is back",
            );
        }
        let id = self.jobs.next_id;
        self.jobs.next_id += 1;
        let interactive = self.settings.interactive;
        let logout = matches!(cmd, Command::Logout | Command::LogoutEverywhere);
        self.jobs.info.insert(
            id,
            Job {
                cmd,
                tag,
                blocking: logout || !queued,
                late: queued && interactive,
                names_for: None,
            },
        );
        if interactive && !queued && !logout {
            self.jobs.quick_until = Some(Instant::now() + QUICK);
        }
        self.jobs.spawn(id, &self.conn, request);
        None
    }

    /// A job finished: its reply is taken in and shown.
    pub(super) fn on_done(&mut self, (id, result): Done) {
        let Some(mut job) = self.jobs.info.remove(&id) else {
            return;
        };
        if !self.jobs.blocking() {
            self.jobs.quick_until = None;
        }
        let tag = (!self.settings.interactive || job.late).then(|| job.tag.clone());
        let tag = tag.as_deref();
        match job.cmd {
            Command::Logout => {
                self.end_session();
                match result {
                    Ok(r) if r.is_ok() => self.answer(tag, "logged out"),
                    _ => self.answer(tag, "logged out (the server was not told)"),
                }
                return;
            }
            Command::LogoutEverywhere => {
                self.end_session();
                let words = match result {
                    Ok(r) => match r.result {
                        Ok(_) => None,
                        Err(f) => Some(words::failure(Some(&job.cmd), &f, &self.dir)),
                    },
                    Err(undone) => Some(words::undone(&job.cmd, &undone)),
                };
                match words {
                    None => self.answer(tag, "logged out here and on every other device"),
                    Some(why) => {
                        self.failed = true;
                        self.answer(
                            tag,
                            format!(
                                "error: logged out here, but your other devices may still be \
                                 logged in: {why}"
                            ),
                        );
                    }
                }
                return;
            }
            _ => {}
        }
        let reply = match result {
            Ok(reply) => reply,
            Err(undone) => {
                self.failed = true;
                let words = words::undone(&job.cmd, &undone);
                self.answer(tag, format!("error: {words}"));
                return;
            }
        };
        let reply = match job.names_for.take() {
            // What was fetched for the reply's names.
            Some(first) => {
                outcome::learn_names(&reply, &mut self.dir);
                if let (true, Command::GroupHistory(group)) = (reply.is_ok(), &job.cmd) {
                    self.inbox.members_known(*group);
                }
                first
            }
            None => {
                let fetched = match job.cmd {
                    Command::GroupHistory(group) => self.inbox.has_members(group),
                    _ => false,
                };
                if let Some(names) = outcome::names_needed(&job.cmd, &reply, &self.dir)
                    && !fetched
                {
                    // Quietly: the reply is worth showing without names.
                    job.names_for = Some(reply);
                    self.jobs.info.insert(id, job);
                    self.jobs.spawn(id, &self.conn, names);
                    return;
                }
                reply
            }
        };
        let width = crate::term::width();
        match outcome::apply(&job.cmd, &reply, &mut self.dir, self.settings.clock, width) {
            Ok(shown) => {
                if let Command::List(group) = job.cmd {
                    self.inbox.members_known(group);
                }
                if matches!(
                    job.cmd,
                    Command::History(_) | Command::GroupHistory(_) | Command::Page { .. }
                ) {
                    self.more = shown.more;
                }
                if let Some(token) = shown.token {
                    self.token = Some(token);
                }
                let mut lines = shown.lines.into_iter();
                if let Some(first) = lines.next() {
                    self.answer(tag, first);
                }
                for line in lines {
                    self.say(line);
                }
                if matches!(job.cmd, Command::DeleteAccount) {
                    // The account is gone, and the session with it.
                    self.end_session();
                }
            }
            Err(BodyError::Failed(f)) => {
                self.failed = true;
                let words = words::failure(Some(&job.cmd), &f, &self.dir);
                self.answer(tag, format!("error: {words}"));
            }
            Err(BodyError::Malformed(e)) => {
                self.failed = true;
                self.answer(
                    tag,
                    format!("error: the server's answer could not be read ({e})"),
                );
            }
        }
    }

    /// At exit: what is still waiting will not be done.
    pub(super) fn abandon_jobs(&mut self) {
        let left = std::mem::take(&mut self.jobs.info);
        self.jobs.set.abort_all();
        for (_, job) in left {
            self.failed = true;
            let what = match job.cmd {
                Command::Chat { .. } | Command::GroupChat { .. } => {
                    "not sent: the client exited before the connection came back"
                }
                _ => "no answer from the server before the client exited",
            };
            self.answer(Some(&job.tag), format!("error: {what}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_the_line_cut_to_size() {
        assert_eq!(tag_of("  chat:2:hi \r"), "chat:2:hi");
        let long = format!("chat:2:{}", "😀".repeat(100));
        let tag = tag_of(&long);
        assert_eq!(tag.chars().count(), TAG_CHARS);
        assert!(tag.ends_with('…'));
    }
}
