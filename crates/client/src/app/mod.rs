//! The client's loop: the login menu, then commands, while events and
//! connection news print as they arrive.
//!
//! The app only wires: it reads input, sends requests and prints. What a
//! command sends and what its reply changes is [`crate::outcome`]'s; which
//! events to show, hold for names or ack is [`crate::inbox`]'s; errors in
//! plain words are [`crate::words`]'; the state is a [`Directory`]. The
//! app owns all the output, so nothing else prints. Every wait (for a
//! line, for a reply, at exit) also takes in what the connection reports,
//! so events never queue up behind a slow typist.
//!
//! Map: this file holds the state, the output, the waits and the events;
//! [`menu`] the menu and the logins; [`session`] the command loop;
//! [`account`] the questions of the account commands (passwords, `yes`).

use std::hash::{BuildHasher as _, RandomState};
use std::time::Duration;

use chat_proto::reply::Members;
use chat_proto::{EndReason, Event, Member, Request};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::conn::{Conn, Notice};
use crate::inbox::{Inbox, Step};
use crate::state::Directory;
use crate::term::{Input, Output, Read};
use crate::view::{self, Clock};
use crate::wire::{BodyError, Reply};
use crate::words;

mod account;
mod menu;
mod session;

const MENU: &str =
    "========================\n1. login\n2. register\n3. quit\n========================";
/// How long a command waits for its reply (messages waiting for the
/// connection excepted).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a member list fetch for names may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the exit waits for held messages, messages not sent yet and
/// acks.
const EXIT_WAIT: Duration = Duration::from_secs(3);

/// Exit statuses, documented in `--help`.
pub mod exit {
    /// Every command worked.
    pub const OK: i32 = 0;
    /// A command (or the login from the flags) failed.
    pub const FAILED: i32 = 1;
    /// Bad arguments (clap's own), or a --ca file that cannot be used.
    pub const USAGE: i32 = 2;
    /// The server could not be reached at start.
    pub const NO_SERVER: i32 = 3;
}

/// How to log in without the menu (from the command line).
#[derive(Debug, Clone)]
pub enum AutoLogin {
    Password {
        user: u64,
        password: String,
    },
    /// The password is read from the input first.
    AskPassword {
        user: u64,
    },
    Token {
        user: u64,
        token: String,
    },
    Register {
        name: String,
        password: String,
    },
}

/// What the app is told besides its input and connection.
#[derive(Debug, Clone)]
pub struct Settings {
    /// On a terminal failures of the automatic login lead to the menu; in
    /// a script they end the run, and answers are tagged with their
    /// command.
    pub interactive: bool,
    pub clock: Clock,
    /// Print the session's token after each login (`--print-token`).
    pub print_token: bool,
    /// `HOST PORT` as given, for the `--token` hint.
    pub server: String,
}

/// Where the loop goes next.
enum Next {
    Menu,
    Quit,
    /// The input ended.
    Eof,
}

/// The result of a group member fetch started for names.
type Fetched = (u64, Option<Vec<Member>>);

pub struct App {
    conn: Conn,
    notices: mpsc::Receiver<Notice>,
    input: Input,
    out: Output,
    settings: Settings,
    dir: Directory,
    logged_in: bool,
    /// The session's token, from the last login.
    token: Option<String>,
    /// As far as the connection has told us.
    online: bool,
    /// The connection refused our token after a reconnect; the session
    /// loop goes back to the menu at its next step.
    session_over: bool,
    /// A command failed (for the exit status).
    failed: bool,
    /// A script's session was ended from elsewhere: the run stops.
    stop: bool,
    /// Events on their way to the screen, and the acks they owe.
    inbox: Inbox,
    /// Ack requests on their way, awaited at exit.
    acks: JoinSet<()>,
    fetch_tx: mpsc::Sender<Fetched>,
    fetch_rx: mpsc::Receiver<Fetched>,
    /// Commands waiting for their replies.
    jobs: session::Jobs,
    /// Where `more` continues: the last history page, when older
    /// messages exist.
    more: Option<(chat_proto::HistoryTarget, u64)>,
    /// Makes `cid`s unique across runs: a random prefix and a counter.
    cid_prefix: String,
    cid_next: u64,
}

impl App {
    pub fn new(
        conn: Conn,
        notices: mpsc::Receiver<Notice>,
        input: Input,
        out: Output,
        settings: Settings,
    ) -> App {
        let (fetch_tx, fetch_rx) = mpsc::channel(8);
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let salt = RandomState::new().hash_one(millis) as u32;
        App {
            conn,
            notices,
            input,
            out,
            settings,
            dir: Directory::default(),
            logged_in: false,
            token: None,
            online: true,
            session_over: false,
            failed: false,
            stop: false,
            inbox: Inbox::new(),
            acks: JoinSet::new(),
            fetch_tx,
            fetch_rx,
            jobs: session::Jobs::default(),
            more: None,
            cid_prefix: format!("{millis:x}-{salt:08x}"),
            cid_next: 0,
        }
    }

    /// Runs until `quit` or the end of input; returns the exit status.
    /// `linger` is how long to keep printing events after the end of a
    /// script's input.
    pub async fn run(mut self, auto: Option<AutoLogin>, linger: Duration) -> i32 {
        if let Some(auto) = auto
            && !self.auto_login(auto).await
            && !self.settings.interactive
        {
            self.finish(Duration::ZERO).await;
            return exit::FAILED;
        }
        loop {
            let next = if self.logged_in {
                self.session().await
            } else {
                self.menu().await
            };
            match next {
                Next::Menu => continue,
                Next::Quit | Next::Eof => {
                    let linger = if self.settings.interactive || matches!(next, Next::Quit) {
                        Duration::ZERO
                    } else {
                        linger
                    };
                    self.finish(linger).await;
                    return if self.failed && !self.settings.interactive {
                        exit::FAILED
                    } else {
                        exit::OK
                    };
                }
            }
        }
    }

    // ----- output -----

    fn say(&mut self, text: impl Into<String>) {
        self.out.line(text);
    }

    fn error(&mut self, e: impl std::fmt::Display) {
        self.out.line(format!("error: {e}"));
    }

    /// An answer to a command: its first line tagged with the command
    /// (`chat:2:hi -> ...`) when `tag` is given.
    fn answer(&mut self, tag: Option<&str>, text: impl Into<String>) {
        let text = text.into();
        match tag {
            Some(tag) => self.out.line(format!("{tag} -> {text}")),
            None => self.out.line(text),
        }
    }

    /// The prompt for commands: it says when the connection is down.
    fn prompt(&self) -> &'static str {
        if self.online {
            crate::term::ONLINE_PROMPT
        } else {
            crate::term::OFFLINE_PROMPT
        }
    }

    /// Records the connection's state, for the prompt too.
    fn set_online(&mut self, online: bool) {
        self.online = online;
        self.input.set_offline(!online);
    }

    // ----- waiting -----

    /// Sends a request and waits for its reply, taking in notices
    /// meanwhile; `Err` holds a line to show. For the menu's steps, which
    /// wait for one reply at a time.
    async fn request(&mut self, request: Request) -> Result<Reply, String> {
        let conn = self.conn.clone();
        let reply = conn.request(request);
        tokio::pin!(reply);
        let deadline = tokio::time::sleep(REPLY_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                r = &mut reply => return r.map_err(|e| format!("not done: {e}")),
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                _ = &mut deadline => {
                    return Err(format!(
                        "no answer from the server within {} s",
                        REPLY_TIMEOUT.as_secs()
                    ));
                }
            }
        }
    }

    /// [`App::request`], decoding the reply as `T`; failures are printed
    /// as one `error: ...` line in plain words and give `None`.
    async fn call<T: DeserializeOwned>(&mut self, request: Request) -> Option<T> {
        match self.request(request).await {
            Err(e) => {
                self.error(e);
                None
            }
            Ok(reply) => match reply.body::<T>() {
                Ok(body) => Some(body),
                Err(BodyError::Failed(f)) => {
                    let words = words::failure(None, &f, &self.dir);
                    self.error(words);
                    None
                }
                Err(BodyError::Malformed(e)) => {
                    self.error(format!("the server's answer could not be read ({e})"));
                    None
                }
            },
        }
    }

    /// The next line of input, taking in notices meanwhile; `None` when
    /// the session ended meanwhile (the token was refused after a
    /// reconnect). The line being typed then answers the menu's prompt.
    async fn read(&mut self, prompt: &str, secret: bool) -> Option<Read> {
        loop {
            if self.session_over {
                return None;
            }
            tokio::select! {
                biased;
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                read = self.input.next(prompt, secret) => return Some(read),
            }
        }
    }

    /// Before exiting: shows what arrives within `linger`, lets held
    /// messages get their names and waiting messages go out, reports
    /// those that could not, and sends and awaits the last acks.
    async fn finish(&mut self, linger: Duration) {
        let until = Instant::now() + linger;
        let hold_until = until + EXIT_WAIT;
        loop {
            let deadline = if self.inbox.holding() || !self.jobs.is_empty() {
                hold_until
            } else {
                until
            };
            tokio::select! {
                biased;
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                Some(done) = self.jobs.next_done() => self.on_done(done),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        self.abandon_jobs();
        self.inbox.release();
        self.pump();
        self.flush_acks();
        let acks = &mut self.acks;
        let _ = tokio::time::timeout(EXIT_WAIT, async {
            while acks.join_next().await.is_some() {}
        })
        .await;
    }

    // ----- notices and events -----

    fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Event(ev) => {
                self.inbox.push(ev);
                self.pump();
            }
            Notice::UnknownEvent(name) => self.say(format!(
                "(the server sent an event this client does not know: `{name}`)"
            )),
            Notice::Lost { error } => {
                self.set_online(false);
                let why = if error == "the server closed the connection" {
                    "the server closed the connection (it may be restarting)".to_owned()
                } else {
                    format!("connection to the server lost ({error})")
                };
                self.say(format!(
                    "{why}; reconnecting in the background. Messages you send meanwhile \
                     go out when it is back."
                ));
                self.messages_wait();
            }
            Notice::Reconnected { login, down_for } => {
                self.set_online(true);
                let after = format!("after {:.0} s", down_for.as_secs_f64().max(1.0));
                match login {
                    None => self.say(format!("connection back {after}")),
                    Some(li) => {
                        let names = std::mem::take(&mut self.dir);
                        self.dir = Directory::from_login(&li);
                        // Keep the names learnt before; the lists are new.
                        self.dir.merge_names(names);
                        self.inbox.forget_fetched();
                        let me = view::user_label(&li.user);
                        self.say(format!("connection back {after}: logged in again as {me}"));
                    }
                }
            }
            Notice::SessionRejected(f) => {
                self.set_online(true);
                self.error(format!(
                    "could not log in again: {}",
                    words::failure(None, &f, &self.dir)
                ));
                if self.logged_in {
                    self.say("the session has ended; log in again");
                    self.end_session();
                    self.session_over = true;
                }
            }
            Notice::Garbled(what) => self.say(format!("warning: the server sent {what}")),
        }
        if self.inbox.acks_due(!self.notices.is_empty()) {
            self.flush_acks();
        }
    }

    /// Carries out what the inbox says: shows events, starts fetches.
    fn pump(&mut self) {
        while let Some(step) = self.inbox.next(&self.dir, self.logged_in) {
            match step {
                Step::Show(ev) => self.show(ev),
                Step::Fetch(group) => self.fetch_members(group),
            }
        }
    }

    /// Shows an event and applies it to the state.
    fn show(&mut self, ev: Event) {
        if let Event::SessionEnded { reason } = ev {
            self.ended_elsewhere(reason);
            return;
        }
        if !self.jobs.echoed(&ev, self.dir.my_id()) {
            let line = view::event_line(&self.dir, self.settings.clock, &ev);
            self.say(line);
        }
        self.dir.apply_event(&ev);
    }

    /// Another session ended this one (the connection has forgotten the
    /// token already): back to the menu, or, in a script, the end of the
    /// run, since the lines that follow were meant for the session.
    fn ended_elsewhere(&mut self, reason: EndReason) {
        // Our own `deleteaccount` or `logoutall` says so itself.
        if !self.logged_in || self.jobs.ending_session() {
            return;
        }
        let ev = Event::SessionEnded { reason };
        let line = view::event_line(&self.dir, self.settings.clock, &ev);
        self.say(line);
        self.end_session();
        self.session_over = true;
        if self.settings.interactive {
            match reason {
                EndReason::PasswordChanged => self.say("log in again with the new password"),
                EndReason::LoggedOut => self.say("log in again to go on"),
                EndReason::AccountDeleted => {}
            }
        } else {
            self.failed = true;
            self.stop = true;
            self.say("the session is over: the rest of the input is not run");
        }
    }

    fn fetch_members(&mut self, group: u64) {
        let conn = self.conn.clone();
        let tx = self.fetch_tx.clone();
        tokio::spawn(async move {
            let reply =
                tokio::time::timeout(FETCH_TIMEOUT, conn.request(Request::GroupMembers { group }))
                    .await;
            let members = match reply {
                Ok(Ok(r)) => r.body::<Members>().ok().map(|m| m.members),
                _ => None,
            };
            let _ = tx.send((group, members)).await;
        });
    }

    fn on_fetched(&mut self, group: u64, members: Option<Vec<Member>>) {
        if let Some(m) = members {
            self.dir.learn_members(&m);
        }
        self.inbox.fetched(group);
        self.pump();
    }

    /// Sends the acks gathered so far, without waiting for the reply.
    fn flush_acks(&mut self) {
        while self.acks.try_join_next().is_some() {}
        while let Some(ids) = self.inbox.take_acks() {
            let conn = self.conn.clone();
            self.acks.spawn(async move {
                // A lost ack only means a redelivery, dropped as a duplicate.
                let _ =
                    tokio::time::timeout(REPLY_TIMEOUT, conn.request(Request::Ack { ids })).await;
            });
        }
    }
}
