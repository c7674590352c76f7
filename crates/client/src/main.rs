//! `chatclient`: the terminal client of the chat server.
//!
//! Map:
//! - `main.rs`: the command line; builds the runtime and hands over.
//! - [`app`]: the loop (menu, commands, events, acks, exit): wiring only.
//! - [`outcome`]: what each command sends, and what its reply changes and
//!   shows (pure).
//! - [`inbox`]: which events to show, hold for names, drop as duplicates
//!   or ack (pure).
//! - [`words`]: errors in plain words; field checks before sending (pure).
//! - [`conn`]: the connection task (requests and replies, events,
//!   reconnecting and logging in again); [`backoff`]: when to retry;
//!   [`wire`]: lines out, lenient decoding of what comes in.
//! - [`commands`]: parsing `chat:2001:hello` into a [`commands::Command`].
//! - [`view`]: formatting screens, messages and events; [`table`]: tables
//!   that fit the terminal.
//! - [`state`]: what the client knows (lists, names, shown message ids).
//! - [`term`]: lines in and out, on a terminal (rustyline) or a script.
//!
//! Architecture invariant: only `conn` touches the socket, only `app`
//! prints, and wire types come from `chat-proto`.

mod app;
mod backoff;
mod commands;
mod conn;
mod inbox;
mod outcome;
mod state;
mod table;
mod term;
mod tls;
mod view;
mod wire;
mod words;

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tokio::sync::mpsc;

use crate::app::{App, AutoLogin, Settings, exit};
use crate::conn::Conn;
use crate::view::Clock;

/// Shown after the options by `--help`.
const SCRIPT_HELP: &str = "\
When stdin is not a terminal, lines are read from it without prompts:
  without login flags, menu answers first: `1`, user id, password (login),
  or `2`, name, password (register, then logged in), or `3` (quit);
  with --user and no password, the password is the first line;
  then one command per line (`help` lists them); `changepassword` reads
  the old password and the new one twice from the next lines, and
  `deleteaccount` the password and `yes`. Each command waits for
  its reply, and each answer starts with the command it answers
  (`chat:2:hi -> ...`). A message typed while the server is unreachable
  is sent when the connection is back. At the end of input the client
  prints what is still due and exits.

Exit status:
  0  every command worked
  1  a command failed (an error, a malformed command, a message not
     sent), the login from the flags failed, or the session was ended
     from another device (a password change, logoutall, deleteaccount)
  2  bad command-line arguments
  3  the server could not be reached at start";

/// Terminal client for the chat server.
///
/// Without login flags it shows the menu (1. login, 2. register, 3. quit).
/// When stdin is not a terminal it reads the same answers and commands
/// line by line (e.g. `1`, the user id, the password, then commands), and
/// exits at the end of input after printing the replies still due.
#[derive(Debug, Parser)]
#[command(name = "chatclient", version, about, long_about = None, after_help = SCRIPT_HELP)]
struct Args {
    /// Server host name or address.
    #[arg(default_value = "127.0.0.1")]
    host: String,

    /// Server port.
    #[arg(default_value_t = 6000)]
    port: u16,

    /// Log in as this user id, with --password or --token; without either
    /// the password is asked for (read as the first line of a script).
    #[arg(
        long,
        env = "CHAT_USER",
        value_name = "ID",
        conflicts_with = "register"
    )]
    user: Option<u64>,

    /// Password for --user or --register.
    #[arg(long, env = "CHAT_PASSWORD", value_name = "PW", hide_env_values = true)]
    password: Option<String>,

    /// Log in with a session token from an earlier login (with --user).
    #[arg(
        long,
        env = "CHAT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        requires = "user",
        conflicts_with = "password"
    )]
    token: Option<String>,

    /// Register a new account with this name (and --password), then log in.
    #[arg(long, value_name = "NAME", requires = "password")]
    register: Option<String>,

    /// Print the session's token after logging in (for --token later).
    #[arg(long)]
    print_token: bool,

    /// After the end of scripted input, keep showing arriving events for
    /// this many seconds before exiting.
    #[arg(long, value_name = "SECS", default_value_t = 0.2)]
    linger: f64,

    /// Send a `ping` after this many seconds without sending anything (the
    /// login promises the server as much, so a frozen client goes offline
    /// for its friends soon), and give the connection up after three times
    /// this without hearing from the server.
    #[arg(long, value_name = "SECS", default_value_t = conn::KEEPALIVE.as_secs_f64())]
    keepalive: f64,

    /// Show times in UTC instead of the local time zone.
    #[arg(long)]
    utc: bool,

    /// Speak TLS to the server (a server started with --tls-cert). The
    /// certificate must name HOST and be signed by an authority the
    /// system trusts, or by --ca.
    #[arg(long)]
    tls: bool,

    /// Trust only this certificate authority (PEM) for --tls: for a
    /// private one. Implies --tls.
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
}

impl Args {
    /// The login the flags ask for, if any.
    fn auto_login(&self) -> Option<AutoLogin> {
        if let Some(name) = &self.register {
            return Some(AutoLogin::Register {
                name: name.clone(),
                password: self.password.clone().unwrap_or_default(),
            });
        }
        let user = self.user?;
        Some(match (&self.token, &self.password) {
            (Some(token), _) => AutoLogin::Token {
                user,
                token: token.clone(),
            },
            (None, Some(password)) => AutoLogin::Password {
                user,
                password: password.clone(),
            },
            (None, None) => AutoLogin::AskPassword { user },
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let auto = args.auto_login();
    let linger = Duration::try_from_secs_f64(args.linger).unwrap_or(Duration::ZERO);
    let keepalive = Duration::try_from_secs_f64(args.keepalive).unwrap_or(conn::KEEPALIVE);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chatclient: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async move {
        let (notice_tx, notices) = mpsc::channel(256);
        let tls = if args.tls || args.ca.is_some() {
            match tls::Tls::new(args.ca.as_deref()) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::USAGE;
                }
            }
        } else {
            None
        };
        let conn = match Conn::connect(&args.host, args.port, tls, keepalive, notice_tx).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "chatclient: cannot connect to {}:{}: {e}",
                    args.host, args.port
                );
                return exit::NO_SERVER;
            }
        };
        let (input, out, interactive) = match term::terminal() {
            Some((i, o)) => (i, o, true),
            None => {
                let (i, o) = term::script();
                (i, o, false)
            }
        };
        let settings = Settings {
            interactive,
            clock: if args.utc { Clock::Utc } else { Clock::Local },
            print_token: args.print_token,
            server: format!("{} {}", args.host, args.port),
        };
        App::new(conn, notices, input, out, settings)
            .run(auto, linger)
            .await
    });
    let _ = std::io::stdout().flush();
    // A read of stdin may still be blocked in the runtime's blocking pool
    // (a script that keeps stdin open after `quit`): do not wait for it.
    rt.shutdown_background();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
