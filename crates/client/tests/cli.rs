//! Black-box tests of the `chatclient` binary: a real server in this
//! process (`chat_testkit::TestServer`), the client as a child
//! process driven through stdin in its non-interactive mode, and
//! assertions on what it prints. Other users are played by raw protocol
//! clients (`TestClient`) or by more `chatclient` processes.
//!
//! Over 500 lines: one scenario per test, each read top to bottom, with
//! the small harness at the top.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chat_testkit::{TestServer, fixture};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a test waits for a line before failing.
const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "password1";

/// A running `chatclient` whose stdin stays open until [`Cli::finish`].
struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything printed so far, for failure messages and order checks.
    seen: Vec<String>,
}

impl Cli {
    fn spawn(server: &TestServer, args: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatclient"))
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .args(args)
            .env_remove("CHAT_USER")
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("chatclient starts");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        Cli {
            child,
            stdin,
            stdout,
            seen: Vec::new(),
        }
    }

    /// Logged in as `user` through the flags, with the login screen read.
    async fn login(server: &TestServer, user: u64) -> Cli {
        let mut cli = Cli::spawn(
            server,
            &["--user", &user.to_string(), "--password", PASSWORD],
        );
        cli.expect("Type `help` to see other commands.").await;
        cli
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to chatclient");
        stdin.flush().await.expect("flush to chatclient");
    }

    /// Reads lines until one contains `needle`; returns that line.
    async fn expect(&mut self, needle: &str) -> String {
        loop {
            let line = match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => panic!(
                    "chatclient exited before printing {needle:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
                Ok(Err(e)) => panic!("reading chatclient's output: {e}"),
                Err(_) => panic!(
                    "no line with {needle:?} within {WAIT:?}; chatclient printed:\n{}",
                    self.seen.join("\n")
                ),
            };
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Closes stdin, reads the rest of the output and waits for the exit.
    async fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        loop {
            match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => self.seen.push(line),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => panic!("reading chatclient's output: {e}"),
                Err(_) => panic!(
                    "chatclient did not exit at the end of its input; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("chatclient exits")
            .expect("wait for chatclient");
        (status, self.seen.join("\n"))
    }
}

/// Runs `chatclient ARGS` with `script` as its whole stdin; returns the
/// exit status and everything it printed.
async fn run(server: &TestServer, args: &[&str], script: &str) -> (ExitStatus, String) {
    let mut cli = Cli::spawn(server, args);
    if !script.is_empty() {
        let stdin = cli.stdin.as_mut().expect("stdin is open");
        stdin.write_all(script.as_bytes()).await.expect("write");
    }
    cli.finish().await
}

/// Runs a script as `user`, logged in through the flags; the run must end
/// with status 0.
async fn run_as(server: &TestServer, user: u64, script: &str) -> String {
    let (status, out) = run(
        server,
        &["--user", &user.to_string(), "--password", PASSWORD],
        script,
    )
    .await;
    assert!(status.success(), "exit status {status}; output:\n{out}");
    out
}

/// A new account, registered through the raw protocol.
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

/// The index of the first line containing `needle`, or a failure that
/// shows the whole output.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_flags_prints_the_id_and_logs_in() {
    let server = TestServer::start().await.unwrap();
    let (status, out) = run(
        &server,
        &["--register", "alice", "--password", PASSWORD],
        "",
    )
    .await;
    assert!(status.success(), "{status}\n{out}");
    let line = &out
        .lines()
        .nth(line_of(&out, "registered account:"))
        .unwrap();
    let id = number_after(line, "registered account:");
    assert!(line.contains("username:alice"), "{line}");
    line_of(
        &out,
        &format!("current user => account:{id} username:alice"),
    );
    line_of(&out, "Type `help` to see other commands.");

    // The account really exists, with that password.
    let mut raw = server.client().await.unwrap();
    let reply = raw.login(id, PASSWORD).await.unwrap();
    assert_eq!(reply["user"]["name"], json!("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menu_registers_then_logs_in_from_stdin_lines() {
    let server = TestServer::start().await.unwrap();
    let mut cli = Cli::spawn(&server, &[]);
    cli.expect("1. login").await;
    cli.send("2").await;
    cli.send("carol").await;
    cli.send("secret12").await;
    let line = cli.expect("registered account:").await;
    let id = number_after(&line, "registered account:");
    assert!(line.contains(&format!("your user id is {id}")), "{line}");
    // Registering logs in at once, with the same password.
    cli.expect(&format!("current user => account:{id} username:carol"))
        .await;
    cli.send("logout").await;
    cli.expect("logged out").await;
    cli.expect("1. login").await;

    // A wrong password: an error line, and the menu again.
    cli.send("1").await;
    cli.send(&id.to_string()).await;
    cli.send("wrong-password").await;
    cli.expect("error: wrong user id or password").await;
    cli.expect("3. quit").await;

    cli.send("1").await;
    cli.send(&id.to_string()).await;
    cli.send("secret12").await;
    cli.expect(&format!("current user => account:{id} username:carol"))
        .await;
    cli.send("loginout").await;
    cli.expect("logged out").await;
    cli.expect("1. login").await;
    cli.send("3").await;
    let (status, out) = cli.finish().await;
    // The wrong password was a failure: the exit status says so.
    assert_eq!(status.code(), Some(1), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_chat_live_with_names_and_colons() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;

    // Alice asks, bob accepts: friends by consent.
    let mut b = Cli::login(&server, bob).await;
    let mut a = Cli::login(&server, alice).await;
    a.send(&format!("addfriend:{bob}")).await;
    a.expect(&format!("friend request sent to bob({bob})"))
        .await;
    b.expect(&format!(
        "alice({alice}) wants to be your friend: accept:{alice} to accept, decline:{alice} to \
         decline"
    ))
    .await;
    // Not friends yet: no chat.
    a.send(&format!("chat:{bob}:too early")).await;
    a.expect(&format!(
        "error: bob({bob}) is not your friend yet: send a request with addfriend:{bob}"
    ))
    .await;
    b.send(&format!("accept:{alice}")).await;
    b.expect(&format!("you and alice({alice}) are friends now"))
        .await;
    a.expect(&format!("you and bob({bob}) are friends now"))
        .await;
    a.send(&format!("chat:{bob}:hello: with colons")).await;
    let (status, out) = a.finish().await;
    assert_eq!(status.code(), Some(1), "the early chat failed:\n{out}");
    assert_eq!(out.matches("error").count(), 1, "{out}");

    let line = b.expect("hello: with colons").await;
    // `[HH:MM:SS] alice(ID): text`
    assert!(
        line.starts_with('[') && line.ends_with(&format!("] alice({alice}): hello: with colons")),
        "{line}"
    );
    assert_eq!(line.find(']'), Some(9), "{line}");

    // Bob answers; the history shows both, oldest first, with names.
    b.send(&format!("chat:{alice}:hi alice")).await;
    b.send(&format!("history:{alice}")).await;
    b.expect(&format!("history with alice({alice}), oldest first:"))
        .await;
    let first = b.expect("hello: with colons").await;
    let second = b.expect("hi alice").await;
    assert!(first.contains(&format!("alice({alice}): ")), "{first}");
    assert!(second.contains(&format!("bob({bob}): ")), "{second}");
    let (status, out) = b.finish().await;
    assert!(status.success(), "{out}");
    assert!(!out.contains("error"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_show_after_login_and_are_acked() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    befriend(&server, alice, bob).await;

    let out = run_as(
        &server,
        alice,
        &format!("chat:{bob}:first\nchat:{bob}:second: later\n"),
    )
    .await;
    assert!(!out.contains("error"), "{out}");

    let mut b = Cli::login(&server, bob).await;
    b.expect("2 unread message(s):").await;
    b.expect(&format!("alice({alice}): first")).await;
    b.expect(&format!("alice({alice}): second: later")).await;
    let (status, _) = b.finish().await;
    assert!(status.success());

    // The client acked what it showed before exiting: nothing is pending.
    let mut raw = server.client().await.unwrap();
    let reply = raw.login(bob, PASSWORD).await.unwrap();
    assert_eq!(reply["unread"], json!(0), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_create_join_chat_list_and_history() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;

    let mut a = Cli::login(&server, alice).await;
    a.send("creategroup:fun:a: fun group").await;
    let line = a.expect("created group fun(").await;
    let gid = number_after(&line, "created group fun(");

    let out = run_as(
        &server,
        bob,
        &format!("joingroup:{gid}\ngroupchat:{gid}:hi all: x\nlist:{gid}\n"),
    )
    .await;
    line_of(&out, &format!("joined group fun({gid})"));
    let members = line_of(&out, &format!("members of group fun({gid}):"));
    let lines: Vec<&str> = out.lines().collect();
    let header = members + 1;
    for column in ["ID", "NAME", "ROLE", "STATE"] {
        assert!(lines[header].contains(column), "{}", lines[header]);
    }
    let alice_row = line_of(&out, "alice");
    let bob_row = line_of(&out, " bob ");
    for (row, id, role) in [(alice_row, alice, "creator"), (bob_row, bob, "member")] {
        let cells: Vec<&str> = lines[row].split_whitespace().collect();
        assert_eq!(cells[0], id.to_string(), "{}", lines[row]);
        assert_eq!(cells[2], role, "{}", lines[row]);
        assert_eq!(cells[3], "online", "{}", lines[row]);
    }
    assert!(header > line_of(&out, "members of group"));
    assert!(!out.contains("error"), "{out}");

    a.expect(&format!("bob({bob}) joined group fun({gid})"))
        .await;
    let line = a.expect("hi all: x").await;
    assert!(
        line.ends_with(&format!("] [fun({gid})] bob({bob}): hi all: x")),
        "{line}"
    );
    a.send(&format!("grouphistory:{gid}")).await;
    a.expect(&format!("history with group fun({gid}), oldest first:"))
        .await;
    a.expect(&format!("bob({bob}): hi all: x")).await;
    a.send(&format!("deletegroup:{gid}")).await;
    a.expect(&format!("deleted group fun({gid})")).await;
    let (status, out) = a.finish().await;
    assert!(status.success());
    assert!(!out.contains("error"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_from_strangers_get_their_names() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    let mut carol = server.client().await.unwrap();
    let carol_id = carol.signup("carol").await.unwrap();
    let mut raw = server.client().await.unwrap();
    raw.login(alice, PASSWORD).await.unwrap();
    let r = raw
        .ok(json!({"op": "create_group", "name": "club", "desc": ""}))
        .await
        .unwrap();
    let gid = r["group"]["id"].as_u64().unwrap();
    carol
        .ok(json!({"op": "join_group", "group": gid}))
        .await
        .unwrap();
    let mut b = Cli::login(&server, bob).await;
    b.send(&format!("joingroup:{gid}")).await;
    b.expect(&format!("joined group club({gid})")).await;

    // Bob is friends with neither; the client finds carol's name.
    carol
        .ok(json!({"op": "group_chat", "group": gid, "text": "hello club"}))
        .await
        .unwrap();
    let line = b.expect("hello club").await;
    assert!(
        line.ends_with(&format!("[club({gid})] carol({carol_id}): hello club")),
        "{line}"
    );
    let (status, _) = b.finish().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_unknown_commands_and_usage() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let stranger = account(&server, "stranger").await;
    let (status, out) = run(
        &server,
        &["--user", &alice.to_string(), "--password", PASSWORD],
        &format!(
            "chat:{stranger}:hi\nchat:abc\nchat:{stranger}\nfoo\naddfriend\njoingroup:999999\nhelp\n"
        ),
    )
    .await;
    // Commands failed: the exit status says so.
    assert_eq!(status.code(), Some(1), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let start = line_of(&out, "Type `help`") + 1;
    // Each answer names its command; errors are in plain words.
    let expected = [
        format!(
            "chat:{stranger}:hi -> error: user {stranger} is not your friend yet: send a \
             request with addfriend:{stranger}"
        ),
        "chat:abc -> usage: chat:friendid:message".to_owned(),
        format!("chat:{stranger} -> usage: chat:friendid:message"),
        "foo -> unknown command `foo`; type `help` to see the commands".to_owned(),
        "addfriend -> usage: addfriend:userid".to_owned(),
        "joingroup:999999 -> error: there is no group with id 999999 that you can see".to_owned(),
    ];
    assert_eq!(&lines[start..start + expected.len()], &expected, "{out}");
    let help = line_of(&out, "help -> show command list");
    assert!(help >= start + expected.len());
    for usage in [
        "chat:friendid:message",
        "addfriend:userid",
        "creategroup:groupname:groupdesc",
        "joingroup:groupid",
        "groupchat:groupid:message",
        "list:groupid",
        "quitgroup:groupid",
        "deletegroup:groupid",
        "removefriend:friendid",
        "history:friendid",
        "grouphistory:groupid",
        "showme",
        "updatelist",
        "logout",
        "quit",
    ] {
        line_of(&out, &format!("usage-> `{usage}`"));
    }
    assert!(
        !out.contains("not_friend") && !out.contains("no_such_group"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_flag_alone_reads_the_password_first() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let (status, out) = run(
        &server,
        &["--user", &alice.to_string()],
        &format!("{PASSWORD}\nshowme\n"),
    )
    .await;
    assert!(status.success(), "{out}");
    let screens = out
        .lines()
        .filter(|l| *l == format!("current user => account:{alice} username:alice"))
        .count();
    // The login screen, then `showme`'s.
    assert_eq!(screens, 2, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flag_login_exits_nonzero() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let (status, out) = run(
        &server,
        &[
            "--user",
            &alice.to_string(),
            "--password",
            "not-the-password",
        ],
        "showme\n",
    )
    .await;
    assert_eq!(status.code(), Some(1), "{out}");
    line_of(&out, "error: wrong user id or password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_exits_while_stdin_stays_open() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut a = Cli::login(&server, alice).await;
    a.send("quit").await;
    let status = tokio::time::timeout(WAIT, a.child.wait())
        .await
        .expect("chatclient exits after quit")
        .unwrap();
    assert!(status.success());
}

/// Stops `server` and starts a new one on the same port, on the same data
/// (`same_data`) or on a fresh database. Returns the new server and its
/// data folder, which must live as long as it.
async fn restart(server: TestServer, same_data: bool) -> (TestServer, Option<tempfile::TempDir>) {
    let port = server.addr.port();
    let old_db = server.db.clone();
    let old_dir = server.stop().await.unwrap();
    let (db, dir) = if same_data {
        (old_db, old_dir)
    } else {
        let fresh = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", fresh.path().join("chat.db").display());
        (db, Some(fresh))
    };
    let mut config = chat_testkit::test_config(db);
    config.port = port;
    (TestServer::start_config(config).await.unwrap(), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_logs_in_again_with_its_token() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    befriend(&server, alice, bob).await;

    let mut b = Cli::login(&server, bob).await;
    let (server, _data) = restart(server, true).await;
    b.expect("the server closed the connection").await;
    b.expect(&format!("logged in again as bob({bob})")).await;

    // The session works again: messages arrive and commands get replies.
    let mut raw = server.client().await.unwrap();
    raw.login(alice, PASSWORD).await.unwrap();
    raw.ok(json!({"op": "chat", "to": bob, "text": "still there?"}))
        .await
        .unwrap();
    b.expect(&format!("alice({alice}): still there?")).await;
    b.send(&format!("chat:{alice}:yes")).await;
    let ev = raw.event_of("msg").await.unwrap();
    assert_eq!(ev["msg"]["text"], json!("yes"));
    let (status, out) = b.finish().await;
    assert!(status.success());
    assert!(!out.contains("error"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_goes_back_to_the_menu() {
    let server = TestServer::start().await.unwrap();
    let bob = account(&server, "bob").await;
    let mut b = Cli::login(&server, bob).await;
    // A server that has never heard of bob's token.
    let (_server, _data) = restart(server, false).await;
    b.expect("the server closed the connection").await;
    b.expect("error: could not log in again: wrong user id or password")
        .await;
    b.expect("the session has ended; log in again").await;
    b.expect("1. login").await;
    b.send("3").await;
    let (status, _) = b.finish().await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_outlast_the_idle_timeout() {
    let server = TestServer::start_with(|c| c.idle_timeout = 1)
        .await
        .unwrap();
    let alice = account(&server, "alice").await;
    let mut a = Cli::spawn(
        &server,
        &[
            "--user",
            &alice.to_string(),
            "--password",
            PASSWORD,
            "--keepalive",
            "0.3",
        ],
    );
    a.expect("Type `help` to see other commands.").await;
    // Three idle timeouts without a command: only the pings keep it open.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.send("showme").await;
    a.expect(&format!("current user => account:{alice} username:alice"))
        .await;
    let (status, out) = a.finish().await;
    assert!(status.success());
    assert!(!out.contains("connection lost"), "{out}");
}
