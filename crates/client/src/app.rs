//! The client's loop: the login menu, then commands, one at a time, each
//! waiting for its reply, while events and connection news print as they
//! arrive.
//!
//! The app owns all the state ([`Directory`], the shown-message ids, the
//! acks to send) and all the output, so nothing else prints. Every wait
//! (for a line, for a reply, at exit) also takes in what the connection
//! reports, so events never queue up behind a slow typist.
//!
//! Messages are acknowledged (`ack`) once shown, in batches: whenever the
//! connection has nothing more queued for us. A group message from someone
//! whose name we do not know is held back while the group's member list is
//! fetched, with everything after it, so that messages keep their order.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher as _, RandomState};
use std::time::Duration;

use chat_proto::reply::{
    Empty, FriendAdded, GroupReply, History, LoggedIn, Members, Registered, Sent, Synced, Whoami,
};
use chat_proto::{Credential, Event, HistoryTarget, Member, Request, User};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::commands::{self, Command, ParseError};
use crate::conn::{Conn, Notice};
use crate::state::{Directory, RecentIds};
use crate::term::{Input, Output, Read};
use crate::view::{self, Clock};

const MENU: &str =
    "========================\n1. login\n2. register\n3. quit\n========================";
/// How long a command waits for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many message ids are remembered to drop duplicates.
const RECENT_IDS: usize = 10_000;
/// Events held back while names are fetched, at most; past it they are
/// shown with whatever names are known.
const MAX_HELD: usize = 1000;
/// How long a member list fetch for names may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the exit waits for held messages and for acks to be answered.
const EXIT_WAIT: Duration = Duration::from_secs(3);
/// How many messages one history page shows.
const HISTORY_PAGE: u32 = 50;

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
    clock: Clock,
    /// On a terminal failures of the automatic login lead to the menu; in
    /// a script they end the run.
    interactive: bool,
    dir: Directory,
    logged_in: bool,
    /// The connection refused our token after a reconnect; the session
    /// loop goes back to the menu at its next step.
    session_over: bool,
    seen: RecentIds,
    /// Ids of shown messages not acked yet.
    to_ack: Vec<u64>,
    /// Ack requests on their way, awaited at exit.
    acks: JoinSet<()>,
    /// Events waiting for a member list fetch, in arrival order.
    held: VecDeque<Event>,
    /// Groups whose members were fetched for names in this session.
    fetched: HashSet<u64>,
    fetch_tx: mpsc::Sender<Fetched>,
    fetch_rx: mpsc::Receiver<Fetched>,
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
        interactive: bool,
        clock: Clock,
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
            clock,
            interactive,
            dir: Directory::default(),
            logged_in: false,
            session_over: false,
            seen: RecentIds::new(RECENT_IDS),
            to_ack: Vec::new(),
            acks: JoinSet::new(),
            held: VecDeque::new(),
            fetched: HashSet::new(),
            fetch_tx,
            fetch_rx,
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
            && !self.interactive
        {
            self.finish(Duration::ZERO).await;
            return 1;
        }
        loop {
            let next = if self.logged_in {
                self.session().await
            } else {
                self.menu().await
            };
            match next {
                Next::Menu => continue,
                Next::Quit => {
                    self.finish(Duration::ZERO).await;
                    return 0;
                }
                Next::Eof => {
                    let linger = if self.interactive {
                        Duration::ZERO
                    } else {
                        linger
                    };
                    self.finish(linger).await;
                    return 0;
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

    // ----- login and the menu -----

    async fn auto_login(&mut self, auto: AutoLogin) -> bool {
        match auto {
            AutoLogin::Password { user, password } => {
                self.login(user, Credential::Password(password)).await
            }
            AutoLogin::AskPassword { user } => match self.read("password: ", true).await {
                Some(Read::Line(password)) => {
                    self.login(user, Credential::Password(password)).await
                }
                _ => false,
            },
            AutoLogin::Token { user, token } => self.login(user, Credential::Token(token)).await,
            AutoLogin::Register { name, password } => match self.register(name, &password).await {
                Some(id) => self.login(id, Credential::Password(password)).await,
                None => false,
            },
        }
    }

    /// The login menu; returns once logged in, or to quit.
    async fn menu(&mut self) -> Next {
        self.session_over = false;
        self.say(MENU);
        loop {
            let choice = match self.read("choice: ", false).await {
                Some(Read::Eof) => return Next::Eof,
                Some(Read::Line(l)) => l,
                None => continue,
            };
            match choice.trim() {
                "" => continue,
                "1" | "login" => {
                    let Some(Read::Line(id)) = self.read("userid: ", false).await else {
                        return Next::Eof;
                    };
                    let Some(Read::Line(password)) = self.read("password: ", true).await else {
                        return Next::Eof;
                    };
                    match id.trim().parse::<u64>() {
                        Ok(user) => {
                            if self.login(user, Credential::Password(password)).await {
                                return Next::Menu;
                            }
                        }
                        Err(_) => {
                            self.error(format!("`{}` is not a user id (a number)", id.trim()))
                        }
                    }
                }
                "2" | "register" => {
                    let Some(Read::Line(name)) = self.read("username: ", false).await else {
                        return Next::Eof;
                    };
                    let Some(Read::Line(password)) = self.read("password: ", true).await else {
                        return Next::Eof;
                    };
                    self.register(name, &password).await;
                }
                "3" | "quit" => return Next::Quit,
                other => {
                    let other = other.to_owned();
                    self.error(format!("invalid choice `{other}`: type 1, 2 or 3"));
                }
            }
            self.say(MENU);
        }
    }

    /// Registers an account; prints and returns its id.
    async fn register(&mut self, name: String, password: &str) -> Option<u64> {
        let request = Request::Register {
            name,
            password: password.to_owned(),
        };
        let r: Registered = self.call(request).await?;
        self.say(format!(
            "registered account:{} username:{}; log in with this id",
            r.user.id,
            view::clean(&r.user.name)
        ));
        Some(r.user.id)
    }

    /// Logs in; on success shows the login screen and returns true.
    async fn login(&mut self, user: u64, credential: Credential) -> bool {
        let Some(li) = self
            .call::<LoggedIn>(Request::Login { user, credential })
            .await
        else {
            return false;
        };
        self.start_session(&li);
        true
    }

    fn start_session(&mut self, li: &LoggedIn) {
        self.dir = Directory::from_login(li);
        self.logged_in = true;
        self.session_over = false;
        self.fetched.clear();
        self.held.clear();
        self.say(view::login_screen(&self.dir));
        if li.unread > 0 {
            self.say(format!("{} unread message(s):", li.unread));
        }
    }

    fn end_session(&mut self) {
        self.dir = Directory::default();
        self.logged_in = false;
        self.held.clear();
        self.fetched.clear();
    }

    // ----- commands -----

    /// Reads and runs commands until `logout`, `quit` or the end of input.
    async fn session(&mut self) -> Next {
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

    fn next_cid(&mut self) -> Option<String> {
        self.cid_next += 1;
        Some(format!("{}-{}", self.cid_prefix, self.cid_next))
    }

    /// Runs one command; `Some` when the session ends.
    async fn command(&mut self, cmd: Command) -> Option<Next> {
        match cmd {
            Command::Help => self.say(view::help()),
            Command::Chat { to, text } => {
                let cid = self.next_cid();
                self.call::<Sent>(Request::Chat { to, text, cid }).await;
            }
            Command::GroupChat { group, text } => {
                let cid = self.next_cid();
                self.call::<Sent>(Request::GroupChat { group, text, cid })
                    .await;
            }
            Command::AddFriend(user) => {
                if let Some(r) = self.call::<FriendAdded>(Request::AddFriend { user }).await {
                    self.say(format!("added friend {}", view::user_label(&r.friend)));
                    self.dir.add_friend(r.friend);
                }
            }
            Command::RemoveFriend(user) => {
                let label = view::who(&self.dir, user);
                if self
                    .call::<Empty>(Request::RemoveFriend { user })
                    .await
                    .is_some()
                {
                    self.dir.remove_friend(user);
                    self.say(format!("removed friend {label}"));
                }
            }
            Command::CreateGroup { name, desc } => {
                let request = Request::CreateGroup { name, desc };
                if let Some(r) = self.call::<GroupReply>(request).await {
                    let id = r.group.id;
                    self.dir.add_group(r.group);
                    let label = view::group_label(&self.dir, id);
                    self.say(format!("created group {label}"));
                }
            }
            Command::JoinGroup(group) => {
                if let Some(r) = self.call::<GroupReply>(Request::JoinGroup { group }).await {
                    self.dir.add_group(r.group);
                    let label = view::group_label(&self.dir, group);
                    self.say(format!("joined group {label}"));
                }
            }
            Command::List(group) => {
                if let Some(r) = self.call::<Members>(Request::GroupMembers { group }).await {
                    self.dir.learn_members(&r.members);
                    self.fetched.insert(group);
                    let label = view::group_label(&self.dir, group);
                    self.say(view::member_table(&label, &r.members));
                }
            }
            Command::QuitGroup(group) => {
                let label = view::group_label(&self.dir, group);
                if self
                    .call::<Empty>(Request::QuitGroup { group })
                    .await
                    .is_some()
                {
                    self.dir.remove_group(group);
                    self.say(format!("left group {label}"));
                }
            }
            Command::DeleteGroup(group) => {
                let label = view::group_label(&self.dir, group);
                if self
                    .call::<Empty>(Request::DeleteGroup { group })
                    .await
                    .is_some()
                {
                    self.dir.remove_group(group);
                    self.say(format!("deleted group {label}"));
                }
            }
            Command::ShowMe => {
                if let Some(r) = self.call::<Whoami>(Request::Whoami).await {
                    self.dir.me = Some(User {
                        online: None,
                        ..r.user
                    });
                    self.say(view::login_screen(&self.dir));
                }
            }
            Command::UpdateList => {
                if let Some(r) = self.call::<Synced>(Request::Sync).await {
                    self.dir.apply_sync(r);
                    self.say(view::login_screen(&self.dir));
                }
            }
            Command::History(user) => {
                let target = HistoryTarget::With(user);
                if let Some(h) = self.history(target).await {
                    let title = view::who(&self.dir, user);
                    self.say(view::history(&self.dir, self.clock, &title, &h.messages));
                }
            }
            Command::GroupHistory(group) => {
                let target = HistoryTarget::Group(group);
                if let Some(h) = self.history(target).await {
                    let unknown = h
                        .messages
                        .iter()
                        .any(|m| self.dir.user_name(m.from).is_none());
                    if unknown && !self.fetched.contains(&group) {
                        // Quietly: the history is worth showing without names.
                        if let Ok(Ok(m)) = self
                            .request(Request::GroupMembers { group })
                            .await
                            .map(|r| r.body::<Members>())
                        {
                            self.dir.learn_members(&m.members);
                            self.fetched.insert(group);
                        }
                    }
                    let title = format!("group {}", view::group_label(&self.dir, group));
                    self.say(view::history(&self.dir, self.clock, &title, &h.messages));
                }
            }
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
            Command::Quit => return Some(Next::Quit),
        }
        None
    }

    async fn history(&mut self, target: HistoryTarget) -> Option<History> {
        let request = Request::History {
            target,
            before: None,
            limit: HISTORY_PAGE,
        };
        self.call(request).await
    }

    // ----- waiting -----

    /// Sends a request and waits for its reply, taking in notices
    /// meanwhile; `Err` holds a line to show.
    async fn request(&mut self, request: Request) -> Result<chat_proto::reply::Reply, String> {
        let conn = self.conn.clone();
        let reply = conn.request(request);
        tokio::pin!(reply);
        let deadline = tokio::time::sleep(REPLY_TIMEOUT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                r = &mut reply => return r.map_err(|e| e.to_string()),
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                _ = &mut deadline => {
                    return Err(format!(
                        "no reply from the server within {} s",
                        REPLY_TIMEOUT.as_secs()
                    ));
                }
            }
        }
    }

    /// [`App::request`], decoding the reply as `T`; failures are printed
    /// as one `error: ...` line and give `None`.
    async fn call<T: DeserializeOwned>(&mut self, request: Request) -> Option<T> {
        match self.request(request).await {
            Err(e) => {
                self.error(e);
                None
            }
            Ok(reply) => match reply.body::<T>() {
                Ok(body) => Some(body),
                Err(e) => {
                    self.error(e);
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
    /// messages get their names, and sends and awaits the last acks.
    async fn finish(&mut self, linger: Duration) {
        let until = Instant::now() + linger;
        let hold_until = until + EXIT_WAIT;
        loop {
            let deadline = if self.held.is_empty() {
                until
            } else {
                hold_until
            };
            tokio::select! {
                biased;
                Some(n) = self.notices.recv() => self.on_notice(n),
                Some((g, m)) = self.fetch_rx.recv() => self.on_fetched(g, m),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        while let Some(ev) = self.held.pop_front() {
            self.process(ev);
        }
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
            Notice::Event(ev) => self.on_event(ev),
            Notice::Lost { error, retry_in } => self.say(format!(
                "connection lost ({error}), reconnecting in {:.1} s",
                retry_in.as_secs_f64()
            )),
            Notice::RetryFailed { error, retry_in } => self.say(format!(
                "reconnecting failed ({error}), trying again in {:.1} s",
                retry_in.as_secs_f64()
            )),
            Notice::Reconnected { login: None } => self.say("reconnected"),
            Notice::Reconnected { login: Some(li) } => {
                let names = std::mem::take(&mut self.dir);
                self.dir = Directory::from_login(&li);
                // Keep the names learnt before; the lists are new.
                self.dir.merge_names(names);
                self.fetched.clear();
                let me = view::user_label(&li.user);
                self.say(format!("reconnected as {me}"));
            }
            Notice::SessionRejected(e) => {
                self.error(format!("{}: {}", e.code, e.error));
                if self.logged_in {
                    self.say("the session has ended; log in again");
                    self.end_session();
                    self.session_over = true;
                }
            }
            Notice::Garbled(what) => self.say(format!("warning: the server sent {what}")),
        }
        if self.notices.is_empty() || self.to_ack.len() >= chat_proto::validate::ACK_MAX_IDS {
            self.flush_acks();
        }
    }

    fn on_event(&mut self, ev: Event) {
        if !self.held.is_empty() {
            self.held.push_back(ev);
            if self.held.len() > MAX_HELD {
                while let Some(ev) = self.held.pop_front() {
                    self.process(ev);
                }
            }
            return;
        }
        match self.needs_names(&ev) {
            Some(group) => {
                self.held.push_back(ev);
                self.fetch_members(group);
            }
            None => self.process(ev),
        }
    }

    /// The group whose members we should fetch before showing `ev`: a
    /// group message, new to us, from someone whose name we do not know.
    fn needs_names(&self, ev: &Event) -> Option<u64> {
        let Event::Msg { msg } = ev else { return None };
        let group = msg.group?;
        let unknown = self.dir.user_name(msg.from).is_none();
        (self.logged_in && unknown && !self.fetched.contains(&group) && !self.seen.contains(msg.id))
            .then_some(group)
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
        self.fetched.insert(group);
        while let Some(ev) = self.held.pop_front() {
            if let Some(next) = self.needs_names(&ev) {
                self.held.push_front(ev);
                self.fetch_members(next);
                return;
            }
            self.process(ev);
        }
    }

    /// Shows an event and applies it to the state.
    fn process(&mut self, ev: Event) {
        if let Event::Msg { msg } = &ev {
            if msg.from != self.dir.my_id() {
                // Duplicates are acked again: a redelivery means the first
                // ack did not make it.
                self.to_ack.push(msg.id);
            }
            if !self.seen.insert(msg.id) {
                return;
            }
        }
        let line = view::event_line(&self.dir, self.clock, &ev);
        self.say(line);
        match ev {
            Event::Msg { .. } => {}
            Event::Presence { user, online } => {
                self.dir.set_online(user, online);
            }
            Event::FriendAdded { user } => self.dir.add_friend(user),
            Event::FriendRemoved { user } => {
                self.dir.remove_friend(user);
            }
            Event::GroupDeleted { group } => {
                self.dir.remove_group(group);
            }
            Event::MemberJoined { user, .. } | Event::MemberLeft { user, .. } => {
                self.dir.learn(user.id, &user.name);
            }
        }
    }

    /// Sends the acks gathered so far, without waiting for the reply.
    fn flush_acks(&mut self) {
        while self.acks.try_join_next().is_some() {}
        while !self.to_ack.is_empty() {
            let n = self.to_ack.len().min(chat_proto::validate::ACK_MAX_IDS);
            let ids: Vec<u64> = self.to_ack.drain(..n).collect();
            let conn = self.conn.clone();
            self.acks.spawn(async move {
                // A lost ack only means a redelivery, dropped as a duplicate.
                let _ =
                    tokio::time::timeout(REPLY_TIMEOUT, conn.request(Request::Ack { ids })).await;
            });
        }
    }
}
