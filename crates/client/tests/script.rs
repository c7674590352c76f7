//! The newcomer's problems, in script mode (stdin not a terminal): each
//! test runs the `chatclient` binary against a real server in this
//! process and checks what a user would notice. Terminal-only behaviour
//! (echo, prompts, line editing) is in `pty.rs`.
//!
//! Some tests look at the bytes the client sends through [`Tap`], a TCP
//! relay between the client and the real server that records what passes
//! and can stop passing the server's answers (a frozen server).
//!
//! Over 500 lines: one scenario per newcomer's problem, each read top to
//! bottom, with the small harness (and [`Tap`]) at the top.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_testkit::{TestServer, fixture};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "password1";

struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Cli {
    fn spawn_at(addr: std::net::SocketAddr, args: &[&str], env: &[(&str, &str)]) -> Cli {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatclient"));
        cmd.arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .args(args)
            .env_remove("CHAT_USER")
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_TOKEN")
            .env_remove("COLUMNS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("chatclient starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Cli {
            child,
            stdin,
            stdout,
            seen: Vec::new(),
        }
    }

    async fn login(server: &TestServer, user: u64, extra: &[&str]) -> Cli {
        let id = user.to_string();
        let mut args = vec!["--user", &id, "--password", PASSWORD];
        args.extend_from_slice(extra);
        let mut cli = Cli::spawn_at(server.addr, &args, &[]);
        cli.expect("Type `help` to see other commands.").await;
        cli
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to chatclient");
        stdin.flush().await.expect("flush");
    }

    async fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, WAIT).await
    }

    async fn expect_within(&mut self, needle: &str, within: Duration) -> String {
        loop {
            let line = match tokio::time::timeout(within, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => panic!(
                    "chatclient exited before printing {needle:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
                Ok(Err(e)) => panic!("reading chatclient's output: {e}"),
                Err(_) => panic!(
                    "no line with {needle:?} within {within:?}; chatclient printed:\n{}",
                    self.seen.join("\n")
                ),
            };
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    async fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        loop {
            match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => self.seen.push(line),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => panic!("reading chatclient's output: {e}"),
                Err(_) => panic!("chatclient did not exit:\n{}", self.seen.join("\n")),
            }
        }
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("chatclient exits")
            .expect("wait");
        (status, self.seen.join("\n"))
    }
}

/// Runs `chatclient ARGS` with `script` as its whole stdin.
async fn run(server: &TestServer, args: &[&str], script: &str) -> (ExitStatus, String) {
    let mut cli = Cli::spawn_at(server.addr, args, &[]);
    let stdin = cli.stdin.as_mut().expect("stdin is open");
    stdin.write_all(script.as_bytes()).await.expect("write");
    cli.finish().await
}

async fn run_as(server: &TestServer, user: u64, script: &str) -> (ExitStatus, String) {
    run(
        server,
        &["--user", &user.to_string(), "--password", PASSWORD],
        script,
    )
    .await
}

async fn account(server: &TestServer, name: &str) -> u64 {
    let mut c = server.client().await.expect("connect");
    c.register(name, PASSWORD).await.expect("register")
}

/// `a` asks `b` to be friends and `b` accepts, over the raw protocol.
async fn befriend(server: &TestServer, a: u64, b: u64) {
    let mut ca = fixture::session(server, a).await.unwrap();
    let mut cb = fixture::session(server, b).await.unwrap();
    fixture::befriend(&mut ca, &mut cb).await.unwrap();
}

/// Two accounts that are friends.
async fn friends(server: &TestServer) -> (u64, u64) {
    let alice = account(server, "alice").await;
    let bob = account(server, "bob").await;
    befriend(server, alice, bob).await;
    (alice, bob)
}

fn line_of(out: &str, needle: &str) -> usize {
    out.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{out}"))
}

fn number_after(line: &str, prefix: &str) -> u64 {
    let at = line.find(prefix).expect("prefix present") + prefix.len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?} in {line:?}"))
}

/// A relay between the client and the server that records what the
/// client sends and can stop passing what the server answers.
struct Tap {
    addr: std::net::SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl Tap {
    async fn start(server: std::net::SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (frozen, watch) = tokio::sync::watch::channel(false);
        let log = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(server).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
                let watch = watch.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    while let Ok(n) = ur.read(&mut buf).await {
                        // A frozen server's answers are swallowed.
                        if n == 0 || (!*watch.borrow() && cw.write_all(&buf[..n]).await.is_err()) {
                            return;
                        }
                    }
                });
            }
        });
        Tap { addr, sent, frozen }
    }

    /// What the client sent so far, one JSON value per line.
    fn requests(&self) -> Vec<serde_json::Value> {
        let bytes = self.sent.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// Stops `server` and returns what a new one needs to start on the same
/// port and data.
async fn stop(server: TestServer) -> (u16, String, Option<tempfile::TempDir>) {
    let port = server.addr.port();
    let db = server.db.clone();
    let dir = server.stop().await.unwrap();
    (port, db, dir)
}

async fn start_again(port: u16, db: String) -> TestServer {
    let mut config = chat_testkit::test_config(db);
    config.port = port;
    TestServer::start_config(config).await.unwrap()
}

// ----- 1 and 7: keepalive and heartbeat -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_are_silent_and_the_login_promises_a_heartbeat() {
    let server = TestServer::start_with(|c| c.idle_timeout = 1)
        .await
        .unwrap();
    let alice = account(&server, "alice").await;
    let tap = Tap::start(server.addr).await;
    let id = alice.to_string();
    let mut a = Cli::spawn_at(
        tap.addr,
        &["--user", &id, "--password", PASSWORD, "--keepalive", "0.3"],
        &[],
    );
    a.expect("Type `help` to see other commands.").await;
    // Several keepalives, and three of the server's idle timeouts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    a.send("showme").await;
    a.expect(&format!("current user => account:{alice}")).await;
    let (status, out) = a.finish().await;
    assert!(status.success(), "{out}");
    assert!(!out.contains("warning"), "{out}");
    assert!(!out.contains("unknown request"), "{out}");
    assert!(!out.contains("connection"), "{out}");

    let sent = tap.requests();
    let login = sent.iter().find(|r| r["op"] == "login").expect("a login");
    // 0.3 s is promised as 5 s, the least the server takes; the pings
    // come more often than promised.
    assert_eq!(login["heartbeat"], json!(5), "{login}");
    let pings = sent.iter().filter(|r| r["op"] == "ping").count();
    assert!(pings >= 5, "{pings} pings in 2.5 s: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_heartbeat_is_20_seconds() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let tap = Tap::start(server.addr).await;
    let id = alice.to_string();
    let mut a = Cli::spawn_at(tap.addr, &["--user", &id, "--password", PASSWORD], &[]);
    a.expect("Type `help` to see other commands.").await;
    let (status, _) = a.finish().await;
    assert!(status.success());
    let sent = tap.requests();
    let login = sent.iter().find(|r| r["op"] == "login").expect("a login");
    assert_eq!(login["heartbeat"], json!(20), "{login}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_noticed_and_replaced() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let tap = Tap::start(server.addr).await;
    let id = alice.to_string();
    let mut a = Cli::spawn_at(
        tap.addr,
        &["--user", &id, "--password", PASSWORD, "--keepalive", "0.3"],
        &[],
    );
    a.expect("Type `help` to see other commands.").await;
    let _ = tap.frozen.send(true);
    // Three keepalives without an answer: the connection is given up.
    a.expect_within("no answer from the server for", Duration::from_secs(5))
        .await;
    let _ = tap.frozen.send(false);
    a.expect(&format!("logged in again as alice({alice})"))
        .await;
    let (status, _) = a.finish().await;
    assert!(status.success());
}

// ----- 3 and 4: outages -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_outage_messages_wait_and_other_commands_fail_at_once() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let mut a = Cli::login(&server, alice, &[]).await;
    let (port, db, _data) = stop(server).await;
    a.expect("the server closed the connection (it may be restarting)")
        .await;

    // Not a message: said at once, in plain words.
    let started = std::time::Instant::now();
    a.send("list:1").await;
    a.expect("list:1 -> error: not done: not connected to the server")
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    // A message waits for the connection, and the script goes on.
    a.send(&format!("chat:{bob}:sent during the outage")).await;
    a.expect("offline: the message will be sent when the connection is back")
        .await;
    a.send("help").await;
    a.expect("help -> show command list").await;
    // Several attempts fail meanwhile, silently.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let server = start_again(port, db).await;
    a.expect(&format!("logged in again as alice({alice})"))
        .await;
    let sent = a
        .expect(&format!("chat:{bob}:sent during the outage -> ["))
        .await;
    assert!(sent.ends_with(&format!(
        "alice({alice}) -> bob({bob}): sent during the outage"
    )));
    let (status, out) = a.finish().await;
    // list:1 failed.
    assert_eq!(status.code(), Some(1), "{out}");
    let drops = out.matches("closed the connection").count();
    let backs = out.matches("connection back").count();
    assert_eq!((drops, backs), (1, 1), "{out}");
    assert!(!out.contains("reconnecting failed"), "{out}");

    // Bob gets it, once.
    let mut raw = server.client().await.unwrap();
    let reply = raw.login(bob, PASSWORD).await.unwrap();
    assert_eq!(reply["unread"], json!(1), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_sent_before_exit_is_reported() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let mut a = Cli::login(&server, alice, &[]).await;
    let (_port, _db, _data) = stop(server).await;
    a.expect("the server closed the connection").await;
    a.send(&format!("chat:{bob}:never")).await;
    a.expect("offline:").await;
    let (status, out) = a.finish().await;
    assert_eq!(status.code(), Some(1), "{out}");
    line_of(
        &out,
        &format!(
            "chat:{bob}:never -> error: not sent: the client exited before the connection came back"
        ),
    );
}

// ----- 5: login asks for the id first -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_user_id_is_refused_before_the_password() {
    let server = TestServer::start().await.unwrap();
    // Before: `3` was read as the password and the client went on.
    let (status, out) = run(&server, &[], "1\ncarol\n3\n").await;
    line_of(&out, "error: `carol` is not a user id: ids are numbers");
    assert!(!out.contains("password"), "{out}");
    // `3` answered the menu: the client quit; the bad id makes it 1.
    assert_eq!(status.code(), Some(1), "{out}");
}

// ----- 6: errors in plain words, lengths before sending -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_plain_and_lengths_are_counted_in_characters() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let emoji = "😀".repeat(1100);
    let (status, out) = run_as(
        &server,
        alice,
        &format!("chat:{bob}:{emoji}\naddfriend:999999\nremovefriend:{alice}\njoingroup:424242\n"),
    )
    .await;
    assert_eq!(status.code(), Some(1), "{out}");
    let long = line_of(&out, "message too long");
    let line = out.lines().nth(long).unwrap();
    assert!(
        line.contains(
            "its 1,100 characters take 4,400 bytes, and a message may take at most 4,096"
        ),
        "{line}"
    );
    assert!(
        line.contains("the first 1,024 characters fit; nothing was sent"),
        "{line}"
    );
    // The tag is cut, not 4 KB long.
    assert!(line.len() < 400, "{line}");
    line_of(
        &out,
        "addfriend:999999 -> error: there is no user with id 999999",
    );
    line_of(
        &out,
        "joingroup:424242 -> error: there is no group with id 424242",
    );
    for code in [
        "bad_request",
        "no_such_user",
        "no_such_group",
        "not_friend",
        "`text`",
    ] {
        assert!(!out.contains(code), "{code} in:\n{out}");
    }
    // Nothing was sent to bob.
    let mut raw = server.client().await.unwrap();
    let reply = raw.login(bob, PASSWORD).await.unwrap();
    assert_eq!(reply["unread"], json!(0), "{reply}");
}

// ----- 8: history pages -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_hints_at_older_messages_and_more_pages_back() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let mut raw = server.client().await.unwrap();
    raw.login(alice, PASSWORD).await.unwrap();
    for i in 1..=60 {
        raw.ok(json!({"op": "chat", "to": bob, "text": format!("message {i:02}")}))
            .await
            .unwrap();
    }
    let (status, out) = run_as(&server, alice, &format!("history:{bob}\nmore\nmore\n")).await;
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let first = line_of(&out, &format!("history:{bob} -> history with bob({bob})"));
    // The newest 50, oldest first: 11 to 60.
    assert!(lines[first + 1].ends_with("message 11"), "{out}");
    assert!(lines[first + 50].ends_with("message 60"), "{out}");
    assert_eq!(
        lines[first + 51],
        "older messages exist: type `more` to see the 50 before these"
    );
    let second = line_of(&out, "more -> history with bob(");
    assert!(lines[second + 1].ends_with("message 01"), "{out}");
    assert!(lines[second + 10].ends_with("message 10"), "{out}");
    // No more hint: that was the start; a third `more` says so.
    assert!(
        lines[second + 11].starts_with("more -> nothing more to show"),
        "{out}"
    );
}

// ----- 9: tables fit the width -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_tables_fit_40_columns() {
    use unicode_width::UnicodeWidthStr as _;
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut raw = server.client().await.unwrap();
    let long = raw.signup("Bartholomew the Magnificent III").await.unwrap();
    befriend(&server, long, alice).await;
    let id = alice.to_string();
    let mut cli = Cli::spawn_at(
        server.addr,
        &["--user", &id, "--password", PASSWORD],
        &[("COLUMNS", "40")],
    );
    cli.send("creategroup:the long-named group of friends:and a description that goes on")
        .await;
    cli.send("showme").await;
    let (status, out) = cli.finish().await;
    assert!(status.success(), "{out}");
    let screen: Vec<&str> = out
        .lines()
        .skip(line_of(&out, "showme -> "))
        .take_while(|l| !l.starts_with("Type `help`"))
        .collect();
    assert!(screen.len() >= 9, "{out}");
    for line in &screen[1..] {
        assert!(line.width() <= 40, "{line:?} is wider than 40:\n{out}");
    }
    let rules: Vec<usize> = screen[1..]
        .iter()
        .filter(|l| l.starts_with("--"))
        .map(|l| l.width())
        .collect();
    assert!(rules.iter().all(|w| *w == 40), "{out}");
    // The long name is cut with an ellipsis on its row, the id kept.
    let row = screen[line_of(&screen.join("\n"), "Bartholomew")];
    assert!(row.trim_start().starts_with(&long.to_string()), "{row}");
    assert!(row.contains('…') && row.ends_with("online"), "{row}");
}

// ----- 10: feedback on sending -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_shows_with_its_time_and_a_note_when_the_friend_is_offline() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let (status, out) = run_as(&server, alice, &format!("chat:{bob}:are you there?\n")).await;
    assert!(status.success(), "{out}");
    let line = out.lines().nth(line_of(&out, "are you there?")).unwrap();
    // `chat:2:are you there? -> [HH:MM:SS] alice(1) -> bob(2): are you there?`
    let shown = line
        .strip_prefix(&format!("chat:{bob}:are you there? -> ["))
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(shown.find(']'), Some(8), "{line}");
    assert!(line.ends_with(&format!("] alice({alice}) -> bob({bob}): are you there?")));
    line_of(
        &out,
        &format!("bob({bob}) is offline: they will get it when they log in"),
    );

    // With bob online, no note.
    let mut b = Cli::login(&server, bob, &[]).await;
    let (_, out) = run_as(&server, alice, &format!("chat:{bob}:now?\n")).await;
    line_of(&out, &format!("-> bob({bob}): now?"));
    assert!(!out.contains("is offline"), "{out}");
    b.expect("now?").await;
    let _ = b.finish().await;
}

// ----- 11: register logs in; tokens -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_shown_and_logs_in_again() {
    let server = TestServer::start().await.unwrap();
    let (status, out) = run(
        &server,
        &[
            "--register",
            "dora",
            "--password",
            PASSWORD,
            "--print-token",
        ],
        "token\n",
    )
    .await;
    assert!(status.success(), "{out}");
    let reg = out
        .lines()
        .nth(line_of(&out, "registered account:"))
        .unwrap();
    let id = number_after(reg, "registered account:");
    assert!(reg.contains(&format!("your user id is {id}")), "{reg}");
    let printed = out.lines().nth(line_of(&out, "token: ")).unwrap();
    let token = printed.strip_prefix("token: ").unwrap().to_owned();
    assert!(!token.is_empty());
    // The `token` command shows the same one, with how to use it.
    line_of(&out, "token -> your session token");
    line_of(&out, &format!("--user {id} --token {token}"));

    let (status, out) = run(
        &server,
        &["--user", &id.to_string(), "--token", &token],
        "showme\n",
    )
    .await;
    assert!(status.success(), "{out}");
    line_of(&out, "showme -> ----");
    line_of(&out, &format!("current user => account:{id} username:dora"));
}

// ----- 12: exit status and tags -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_status_says_whether_every_command_worked() {
    let server = TestServer::start().await.unwrap();
    let (alice, bob) = friends(&server).await;
    let (status, out) = run_as(&server, alice, &format!("chat:{bob}:fine\nshowme\n")).await;
    assert_eq!(status.code(), Some(0), "{out}");
    let (status, out) = run_as(
        &server,
        alice,
        &format!("chat:{bob}:fine\nnonsense\nquit\n"),
    )
    .await;
    assert_eq!(status.code(), Some(1), "{out}");
    line_of(&out, "nonsense -> unknown command `nonsense`");
    // Cannot reach the server at all: 3.
    let port = chat_testkit::free_port().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatclient"))
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_chatclient"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit status:") && help.contains("1  a command failed"),
        "{help}"
    );
}

// ----- 13: the original's aliases -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addgroup_and_loginout_work_as_in_the_original() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut raw = server.client().await.unwrap();
    raw.signup("owner").await.unwrap();
    let r = raw
        .ok(json!({"op": "create_group", "name": "club", "desc": ""}))
        .await
        .unwrap();
    let gid = r["group"]["id"].as_u64().unwrap();
    let (status, out) = run_as(&server, alice, &format!("addgroup:{gid}\nloginout\n3\n")).await;
    assert!(status.success(), "{out}");
    line_of(&out, &format!("addgroup:{gid} -> joined group club({gid})"));
    line_of(&out, "loginout -> logged out");
    assert!(line_of(&out, "1. login") > line_of(&out, "loginout"));
}
