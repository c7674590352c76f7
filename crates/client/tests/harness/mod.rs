//! The harness of `version2.rs`: a real server in this process
//! (`chat_testkit::TestServer`), `chatclient` as a child process driven
//! through stdin in script mode, and helpers to set users up over the raw
//! protocol. (`cli.rs` and `script.rs` keep their own copies, older than
//! this one.)

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chat_testkit::{TestServer, fixture};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a test waits for a line before failing.
pub const WAIT: Duration = Duration::from_secs(15);
/// Every account's password (the testkit's too).
pub const PASSWORD: &str = fixture::PASSWORD;

/// A running `chatclient` whose stdin stays open until [`Cli::finish`].
pub struct Cli {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything printed so far, for failure messages and checks.
    pub seen: Vec<String>,
}

impl Cli {
    pub fn spawn(server: &TestServer, args: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatclient"))
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .args(args)
            .env_remove("CHAT_USER")
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_TOKEN")
            .env_remove("COLUMNS")
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
    pub async fn login(server: &TestServer, user: u64) -> Cli {
        Cli::login_with(server, user, PASSWORD).await
    }

    pub async fn login_with(server: &TestServer, user: u64, password: &str) -> Cli {
        let id = user.to_string();
        let mut cli = Cli::spawn(server, &["--user", &id, "--password", password]);
        cli.expect("Type `help` to see other commands.").await;
        cli
    }

    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write to chatclient");
        stdin.flush().await.expect("flush to chatclient");
    }

    /// Reads lines until one contains `needle`; returns that line.
    pub async fn expect(&mut self, needle: &str) -> String {
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

    /// Waits for the client to exit on its own, stdin still open;
    /// returns its status and everything it printed.
    pub async fn exits(mut self) -> (ExitStatus, String) {
        self.drain().await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("chatclient exits")
            .expect("wait for chatclient");
        drop(self.stdin.take());
        (status, self.seen.join("\n"))
    }

    /// Closes stdin, reads the rest of the output and waits for the exit.
    pub async fn finish(mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        self.drain().await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("chatclient exits")
            .expect("wait for chatclient");
        (status, self.seen.join("\n"))
    }

    async fn drain(&mut self) {
        loop {
            match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
                Ok(Ok(Some(line))) => self.seen.push(line),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => panic!("reading chatclient's output: {e}"),
                Err(_) => panic!(
                    "chatclient did not exit; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

/// Runs a whole script as `user`, logged in through the flags; returns
/// the exit status and everything printed.
pub async fn run_as(server: &TestServer, user: u64, script: &str) -> (ExitStatus, String) {
    let mut cli = Cli::login(server, user).await;
    let stdin = cli.stdin.as_mut().expect("stdin is open");
    stdin.write_all(script.as_bytes()).await.expect("write");
    cli.finish().await
}

/// A new account, registered through the raw protocol.
pub async fn account(server: &TestServer, name: &str) -> u64 {
    let mut c = server.client().await.expect("connect");
    c.register(name, PASSWORD).await.expect("register")
}

/// `a` asks `b` to be friends and `b` accepts, over the raw protocol.
pub async fn befriend(server: &TestServer, a: u64, b: u64) {
    let mut ca = fixture::session(server, a).await.unwrap();
    let mut cb = fixture::session(server, b).await.unwrap();
    fixture::befriend(&mut ca, &mut cb).await.unwrap();
}

/// The number right after `prefix` in `line`.
pub fn number_after(line: &str, prefix: &str) -> u64 {
    let at = line.find(prefix).expect("prefix present") + prefix.len();
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?} in {line:?}"))
}
