//! The `chatclient` binary in a pseudo-terminal, where echo, prompts and
//! line editing matter: a real server in this process, the client on the
//! slave side of a pty (`nix::pty::openpty`, already built for
//! rustyline), keys written to the master and the screen read from it.
//!
//! [`Screen::text`] is what was written to the terminal with escape
//! sequences removed: enough to see what reached the screen (a password
//! that was echoed would be there) and in which order.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chat_testkit::{TestServer, fixture};
use nix::pty::{Winsize, openpty};
use serde_json::json;
use unicode_width::UnicodeWidthStr as _;

const WAIT: Duration = Duration::from_secs(15);
const PASSWORD: &str = "password1";

/// Removes escape sequences (CSI, OSC, two-byte) and carriage returns.
fn strip(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A client in a terminal of `cols` columns.
struct Screen {
    child: Child,
    keys: File,
    raw: Arc<Mutex<Vec<u8>>>,
    /// How much of [`Screen::text`] the expectations have passed.
    seen: usize,
}

impl Screen {
    fn spawn(server: &TestServer, args: &[&str], cols: u16) -> Screen {
        let size = Winsize {
            ws_row: 40,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let child = Command::new(env!("CARGO_BIN_EXE_chatclient"))
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .args(args)
            .env("TERM", "xterm")
            .env_remove("CHAT_USER")
            .env_remove("CHAT_PASSWORD")
            .env_remove("CHAT_TOKEN")
            .env_remove("COLUMNS")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("chatclient starts");
        let master = File::from(pty.master);
        let mut reader = master.try_clone().expect("dup");
        let raw = Arc::new(Mutex::new(Vec::new()));
        let sink = raw.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Screen {
            child,
            keys: master,
            raw,
            seen: 0,
        }
    }

    fn text(&self) -> String {
        strip(&self.raw.lock().unwrap())
    }

    fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw.lock().unwrap()).into_owned()
    }

    /// Types `keys` (a line ends with `\r`, as Enter sends).
    fn keys(&mut self, keys: &str) {
        self.keys.write_all(keys.as_bytes()).expect("type");
        self.keys.flush().expect("flush");
    }

    /// Waits until `needle` is on screen after what was already seen.
    fn expect(&mut self, needle: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(at) = text[self.seen.min(text.len())..].find(needle) {
                self.seen += at + needle.len();
                return;
            }
            assert!(
                Instant::now() < until,
                "{needle:?} not on screen within {WAIT:?}; the screen:\n{}",
                &text[self.seen.min(text.len())..]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `expect`, from a blocking test body inside an async test.
    async fn wait_for(&mut self, needle: &str) {
        tokio::task::block_in_place(|| self.expect(needle));
    }

    fn quit(mut self) -> String {
        self.keys("quit\r");
        let until = Instant::now() + WAIT;
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < until,
                "no exit after quit:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.text()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

// ----- 2: passwords -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_are_never_echoed() {
    let server = TestServer::start().await.unwrap();
    let secret = "s3cret-Pw";
    let mut t = Screen::spawn(&server, &[], 80);
    t.wait_for("choice: ").await;
    t.keys("2\r");
    t.wait_for("username: ").await;
    t.keys("erin\r");
    t.wait_for("password: ").await;
    t.keys(&format!("{secret}\r"));
    t.wait_for("registered account:").await;
    let text = t.text();
    let id: u64 = text[text.find("registered account:").unwrap() + 19..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    // Logged in at once with the password just typed.
    t.wait_for(&format!("current user => account:{id} username:erin"))
        .await;
    t.wait_for("> ").await;
    t.keys("logout\r");
    t.wait_for("logged out").await;
    t.wait_for("choice: ").await;
    t.keys("1\r");
    t.wait_for("userid: ").await;
    t.keys(&format!("{id}\r"));
    t.wait_for("password: ").await;
    // Backspace edits the hidden line.
    t.keys(&format!("{secret}x\x7f\r"));
    t.wait_for(&format!("current user => account:{id}")).await;
    let out = t.quit();
    assert!(
        !out.contains(secret),
        "the password reached the screen:\n{out}"
    );
    assert!(!out.contains("s3cret"), "{out}");

    // The password asked for by --user.
    let mut t = Screen::spawn(&server, &["--user", &id.to_string()], 80);
    t.wait_for("password: ").await;
    t.keys(&format!("{secret}\r"));
    t.wait_for(&format!("current user => account:{id}")).await;
    let out = t.quit();
    assert!(!out.contains("s3cret"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changepassword_and_deleteaccount_ask_without_echo() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut t = Screen::spawn(
        &server,
        &["--user", &alice.to_string(), "--password", PASSWORD],
        80,
    );
    t.wait_for("> ").await;
    t.keys("changepassword\r");
    t.wait_for("old password: ").await;
    t.keys(&format!("{PASSWORD}\r"));
    t.wait_for("new password: ").await;
    t.keys("Brand-new-99\r");
    t.wait_for("new password again: ").await;
    // Backspace edits the hidden line here too.
    t.keys("Brand-new-99x\x7f\r");
    t.wait_for("password changed; your other sessions were logged out")
        .await;
    t.wait_for("> ").await;
    // The new password works at once, for the deletion's question.
    t.keys("deleteaccount\r");
    t.wait_for("password: ").await;
    t.keys("Brand-new-99\r");
    t.wait_for(&format!(
        "delete account alice({alice}) for good? type yes to confirm: "
    ))
    .await;
    // The confirmation is no secret: it shows as typed.
    t.keys("no\r");
    t.wait_for("no").await;
    t.wait_for("not deleted: the answer was not yes").await;
    let out = t.quit();
    assert!(
        !out.contains("Brand-new"),
        "a password reached the screen:\n{out}"
    );
    assert!(!out.contains(PASSWORD), "{out}");

    // The new password is the one that logs in now.
    let mut raw = server.client().await.unwrap();
    raw.login(alice, "Brand-new-99").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_elsewhere_goes_back_to_the_menu() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut t = Screen::spawn(
        &server,
        &["--user", &alice.to_string(), "--password", PASSWORD],
        80,
    );
    t.wait_for("> ").await;
    let mut phone = server.client().await.unwrap();
    phone.login(alice, PASSWORD).await.unwrap();
    phone
        .ok(json!({"op": "change_password", "old": PASSWORD, "new": "from-my-phone"}))
        .await
        .unwrap();
    t.wait_for("this session was ended: your password was changed on another device")
        .await;
    t.wait_for("log in again with the new password").await;
    t.wait_for("3. quit").await;
    // The line at the prompt answers the menu.
    t.keys("1\r");
    t.wait_for("userid: ").await;
    t.keys(&format!("{alice}\r"));
    t.wait_for("password: ").await;
    t.keys("from-my-phone\r");
    t.wait_for(&format!("current user => account:{alice}"))
        .await;
    let out = t.quit();
    for never in ["could not log in again", "connection", "from-my-phone"] {
        assert!(!out.contains(never), "{never:?} on screen:\n{out}");
    }
}

// ----- 3 and 4: an outage at the prompt -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_keeps_the_prompt_responsive_and_says_so() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let bob = account(&server, "bob").await;
    befriend(&server, alice, bob).await;
    let mut t = Screen::spawn(
        &server,
        &["--user", &alice.to_string(), "--password", PASSWORD],
        80,
    );
    t.wait_for("Type `help` to see other commands.").await;
    t.wait_for("> ").await;

    let port = server.addr.port();
    let db = server.db.clone();
    let data = server.stop().await.unwrap();
    t.wait_for("the server closed the connection (it may be restarting)")
        .await;
    t.keys("\r");
    t.wait_for("[offline] > ").await;

    // A command that cannot wait is answered at once, in words.
    let asked = Instant::now();
    t.keys("list:1\r");
    t.wait_for("not done: not connected to the server").await;
    assert!(asked.elapsed() < Duration::from_secs(3));
    t.wait_for("[offline] > ").await;
    // Line editing works meanwhile: arrows recall and move, nothing raw.
    t.keys("\x1b[A\x1b[A\x1b[D\x05\x15");
    t.keys(&format!("chat:{bob}:typed offline\r"));
    t.wait_for("offline: the message will be sent when the connection is back")
        .await;
    t.wait_for("[offline] > ").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut config = chat_testkit::test_config(db);
    config.port = port;
    let _server = TestServer::start_config(config).await.unwrap();
    t.wait_for(&format!("logged in again as alice({alice})"))
        .await;
    // The prompt on screen, issued offline, now says so without a key.
    t.wait_for("[online]  > ").await;
    t.wait_for(&format!("alice({alice}) -> bob({bob}): typed offline"))
        .await;
    t.keys("\r");
    t.wait_for("\n> ").await;
    let raw = t.raw_text();
    let out = t.quit();
    assert!(!raw.contains("^[["), "raw keys were echoed:\n{out}");
    assert_eq!(out.matches("closed the connection").count(), 1, "{out}");
    assert_eq!(out.matches("connection back").count(), 1, "{out}");
    assert!(!out.contains("reconnecting failed"), "{out}");
    drop(data);
}

// ----- 9: 40 columns -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_screen_fits_a_40_column_terminal() {
    let server = TestServer::start().await.unwrap();
    let alice = account(&server, "alice").await;
    let mut raw = server.client().await.unwrap();
    let long = raw.signup("Bartholomew the Magnificent III").await.unwrap();
    befriend(&server, long, alice).await;
    // A friend request, waiting for alice's answer on her login screen.
    let mut klein = server.client().await.unwrap();
    klein.signup("Klein").await.unwrap();
    klein
        .ok(json!({"op": "add_friend", "user": alice}))
        .await
        .unwrap();
    raw.ok(
        json!({"op": "create_group", "name": "happy game", "desc": "happy play, every evening"}),
    )
    .await
    .unwrap();
    let gid = 1;
    let mut t = Screen::spawn(
        &server,
        &["--user", &alice.to_string(), "--password", PASSWORD],
        40,
    );
    t.wait_for("> ").await;
    t.keys(&format!("joingroup:{gid}\r"));
    t.wait_for("joined group").await;
    t.keys("showme\r");
    t.wait_for("Type `help`").await;
    let out = t.quit();
    let screen: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.contains("showme"))
        .skip(1)
        .take_while(|l| !l.starts_with("Type `help`"))
        .collect();
    assert!(screen.len() >= 9, "{out}");
    for line in &screen {
        assert!(line.width() <= 40, "{line:?} is wider than 40:\n{out}");
    }
    assert!(
        screen
            .iter()
            .any(|l| l.contains("Bartholomew") && l.contains('…')),
        "{out}"
    );
    assert!(screen.iter().any(|l| l.contains("happy g")), "{out}");
    assert!(
        screen.iter().any(|l| l.contains("friend requests")),
        "{out}"
    );
    assert!(screen.iter().any(|l| l.ends_with("Klein")), "{out}");
}
