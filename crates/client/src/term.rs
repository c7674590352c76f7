//! Where lines come from and where output goes.
//!
//! On a terminal, rustyline reads lines on its own thread, one per prompt
//! the app asks for, and everything the app prints goes through
//! rustyline's external printer, so a message arriving while the user is
//! typing appears above the line being edited instead of garbling it.
//!
//! A prompt issued while the connection was down (`[offline] > `) is
//! redrawn as `[online]  > ` (the same width, which rustyline requires of
//! a prompt that changes while a line is edited) as soon as the
//! connection is back, so it never claims to be offline when it is not.
//!
//! A secret (a password) is read on a terminal without echo, and not
//! through rustyline, whose line stays on screen: the terminal's echo is
//! turned off for that one line, and only a newline shows when it ends.
//!
//! Otherwise (a script, a pipe, a test) lines are read from stdin as they
//! come, without prompts, and output goes straight to stdout, flushed line
//! by line so that whoever reads it sees each line as soon as it exists.

use std::borrow::Cow;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::os::fd::AsFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::termios::{self, LocalFlags, SetArg};

use rustyline::ExternalPrinter;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use tokio::sync::mpsc;

/// The command prompt while connected.
pub const ONLINE_PROMPT: &str = "> ";
/// The command prompt while the connection is down.
pub const OFFLINE_PROMPT: &str = "[offline] > ";
/// [`OFFLINE_PROMPT`] redrawn once the connection is back (same width).
pub const BACK_PROMPT: &str = "[online]  > ";

/// What a prompt issued as `issued` shows now.
pub fn live_prompt(issued: &str, offline: bool) -> &str {
    if issued == OFFLINE_PROMPT && !offline {
        BACK_PROMPT
    } else {
        issued
    }
}

/// Redraws the prompt with the connection's current state.
struct LivePrompt {
    offline: Arc<AtomicBool>,
}

impl Highlighter for LivePrompt {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        Cow::Borrowed(live_prompt(prompt, self.offline.load(Ordering::Relaxed)))
    }
}

impl Completer for LivePrompt {
    type Candidate = String;
}

impl Hinter for LivePrompt {
    type Hint = String;
}

impl Validator for LivePrompt {}

impl rustyline::Helper for LivePrompt {}

/// One read from the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Line(String),
    /// End of input (Ctrl-D, or the end of the script).
    Eof,
}

/// A prompt for the readline thread.
pub struct Prompt {
    text: String,
    /// Not to be kept in the history (a password).
    secret: bool,
}

/// The source of lines.
pub enum Input {
    Terminal {
        prompts: std::sync::mpsc::Sender<Prompt>,
        lines: mpsc::Receiver<Read>,
        /// A prompt was sent and its line has not been received yet.
        asked: bool,
        /// Whether the connection is down, for the prompt on screen.
        offline: Arc<AtomicBool>,
    },
    /// Lines read from stdin by a thread of their own (a blocked read
    /// must not keep the process from exiting).
    Script(mpsc::Receiver<Read>),
}

impl Input {
    /// Tells the prompt on screen whether the connection is down; it is
    /// redrawn with the next line printed.
    pub fn set_offline(&self, down: bool) {
        if let Input::Terminal { offline, .. } = self {
            offline.store(down, Ordering::Relaxed);
        }
    }

    /// The next line. Cancel-safe: when the future is dropped before a line
    /// arrives, the next call returns that line without prompting again
    /// (on a terminal the old prompt stays on screen until then).
    pub async fn next(&mut self, prompt: &str, secret: bool) -> Read {
        match self {
            Input::Terminal {
                prompts,
                lines,
                asked,
                ..
            } => {
                if !*asked {
                    let p = Prompt {
                        text: prompt.to_owned(),
                        secret,
                    };
                    if prompts.send(p).is_err() {
                        return Read::Eof;
                    }
                    *asked = true;
                }
                let read = lines.recv().await.unwrap_or(Read::Eof);
                *asked = false;
                read
            }
            Input::Script(lines) => lines.recv().await.unwrap_or(Read::Eof),
        }
    }
}

/// The sink of output lines.
pub enum Output {
    Printer(Box<dyn ExternalPrinter + Send>),
    Stdout,
}

impl Output {
    /// Prints `text` (which may span several lines) and a newline.
    pub fn line(&mut self, text: impl Into<String>) {
        let mut text = text.into();
        text.push('\n');
        match self {
            Output::Printer(p) => {
                if p.print(text.clone()).is_err() {
                    // The terminal is gone from under rustyline; stdout is
                    // the best we can do.
                    print!("{text}");
                }
            }
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                // A closed stdout (a reader that went away) is not worth
                // dying for: the session goes on.
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        }
    }
}

/// Reading and printing for a script: stdin lines, plain stdout.
pub fn script() -> (Input, Output) {
    let (tx, rx) = mpsc::channel(1);
    let reader = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                // Not UTF-8, or a read error: the input ends here.
                let Ok(line) = line else { break };
                if tx.blocking_send(Read::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Read::Eof);
        });
    if reader.is_err() {
        // Without a thread there is no input: behave as at its end.
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Read::Eof);
        return (Input::Script(rx), Output::Stdout);
    }
    (Input::Script(rx), Output::Stdout)
}

/// Reading and printing on a terminal, when stdin and stdout are both
/// terminals and rustyline can drive them; `None` otherwise.
pub fn terminal() -> Option<(Input, Output)> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return None;
    }
    let mut editor: rustyline::Editor<LivePrompt, rustyline::history::DefaultHistory> =
        rustyline::Editor::new().ok()?;
    let offline = Arc::new(AtomicBool::new(false));
    editor.set_helper(Some(LivePrompt {
        offline: offline.clone(),
    }));
    let printer = editor.create_external_printer().ok()?;
    let (prompt_tx, prompt_rx) = std::sync::mpsc::channel::<Prompt>();
    let (line_tx, line_rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("readline".into())
        .spawn(move || {
            // One line per prompt; ends when the app drops its sender.
            while let Ok(prompt) = prompt_rx.recv() {
                if prompt.secret {
                    if line_tx.blocking_send(read_secret(&prompt.text)).is_err() {
                        return;
                    }
                    continue;
                }
                let read = match editor.readline(&prompt.text) {
                    Ok(line) => {
                        if !prompt.secret && !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        Read::Line(line)
                    }
                    // Ctrl-C drops the line being typed.
                    Err(ReadlineError::Interrupted) => Read::Line(String::new()),
                    Err(_) => Read::Eof,
                };
                if line_tx.blocking_send(read).is_err() {
                    return;
                }
            }
        })
        .ok()?;
    Some((
        Input::Terminal {
            prompts: prompt_tx,
            lines: line_rx,
            asked: false,
            offline,
        },
        Output::Printer(Box::new(printer)),
    ))
}

/// The terminal's width in columns when output goes to a terminal, else
/// `COLUMNS` when set; `None` when nothing says (no limit).
pub fn width() -> Option<usize> {
    if std::io::stdout().is_terminal()
        && let Some(w) = terminal_width()
    {
        return Some(w);
    }
    let w: usize = std::env::var("COLUMNS").ok()?.trim().parse().ok()?;
    (w > 0).then_some(w)
}

fn terminal_width() -> Option<usize> {
    nix::ioctl_read_bad!(window_size, nix::libc::TIOCGWINSZ, nix::pty::Winsize);
    let mut size = nix::pty::Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ on stdout writes one `winsize` into `size`,
    // which lives for the whole call.
    unsafe { window_size(nix::libc::STDOUT_FILENO, &mut size) }.ok()?;
    (size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Puts the terminal's settings back when dropped.
struct Restore(Option<termios::Termios>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Reads a line from the terminal without echo: keys are read one by one
/// (Backspace and Ctrl-U edit, Ctrl-C gives up the line, Ctrl-D on an
/// empty line ends the input), and nothing of the line reaches the screen.
fn read_secret(prompt: &str) -> Read {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut out = std::io::stdout();
    let _ = out.write_all(prompt.as_bytes());
    let _ = out.flush();
    let saved = termios::tcgetattr(fd).ok();
    let _restore = Restore(saved.clone());
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG | LocalFlags::IEXTEN);
        quiet.control_chars[termios::SpecialCharacterIndices::VMIN as usize] = 1;
        quiet.control_chars[termios::SpecialCharacterIndices::VTIME as usize] = 0;
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &quiet);
    }
    let mut line: Vec<u8> = Vec::new();
    let read = loop {
        let mut byte = [0u8; 1];
        match nix::unistd::read(fd, &mut byte) {
            Ok(0) => break Read::Eof,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break Read::Eof,
        }
        match byte[0] {
            b'\r' | b'\n' => break Read::Line(String::from_utf8_lossy(&line).into_owned()),
            // Ctrl-C: the line is given up, as rustyline does.
            0x03 => break Read::Line(String::new()),
            0x04 if line.is_empty() => break Read::Eof,
            // Backspace: a whole UTF-8 character goes.
            0x7f | 0x08 => {
                while let Some(b) = line.pop() {
                    if b & 0xc0 != 0x80 {
                        break;
                    }
                }
            }
            0x15 => line.clear(),
            b => line.push(b),
        }
    };
    let _ = out.write_all(b"\r\n");
    let _ = out.flush();
    read
}

#[cfg(test)]
mod tests {
    use unicode_width::UnicodeWidthStr as _;

    use super::*;

    #[test]
    fn a_live_prompt_keeps_its_width() {
        assert_eq!(live_prompt(OFFLINE_PROMPT, true), OFFLINE_PROMPT);
        assert_eq!(live_prompt(OFFLINE_PROMPT, false), BACK_PROMPT);
        assert_eq!(BACK_PROMPT.width(), OFFLINE_PROMPT.width());
        assert_eq!(live_prompt(ONLINE_PROMPT, true), ONLINE_PROMPT);
        assert_eq!(live_prompt("password: ", false), "password: ");
    }
}
