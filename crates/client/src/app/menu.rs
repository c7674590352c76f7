//! The login menu and the logins: from the flags, from the menu, and the
//! start and end of a session. A new account is logged in at once with
//! the password just typed; a login's token is kept for reconnecting and
//! shown on request (`token`, `--print-token`).

use chat_proto::reply::{LoggedIn, Registered};
use chat_proto::{Credential, Request};

use super::{App, AutoLogin, MENU, Next};
use crate::state::Directory;
use crate::term::Read;
use crate::{view, words};

impl App {
    pub(super) async fn auto_login(&mut self, auto: AutoLogin) -> bool {
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
            AutoLogin::Register { name, password } => self.register_and_login(name, password).await,
        }
    }

    /// The login menu; returns once logged in, or to quit.
    pub(super) async fn menu(&mut self) -> Next {
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
                    // The id is checked before the password is asked for,
                    // so that a script's next line is never taken for one.
                    match id.trim().parse::<u64>() {
                        Ok(user) => {
                            let Some(Read::Line(password)) = self.read("password: ", true).await
                            else {
                                return Next::Eof;
                            };
                            if self.login(user, Credential::Password(password)).await {
                                return Next::Menu;
                            }
                        }
                        Err(_) => {
                            self.failed = true;
                            self.error(format!(
                                "`{}` is not a user id: ids are numbers (registering shows \
                                 yours)",
                                id.trim()
                            ));
                        }
                    }
                }
                "2" | "register" => {
                    let Some(Read::Line(name)) = self.read("username: ", false).await else {
                        return Next::Eof;
                    };
                    if let Err(e) = words::check_user_name(&name) {
                        self.failed = true;
                        self.error(e);
                    } else {
                        let Some(Read::Line(password)) = self.read("password: ", true).await else {
                            return Next::Eof;
                        };
                        if self.register_and_login(name, password).await {
                            return Next::Menu;
                        }
                    }
                }
                "3" | "quit" => return Next::Quit,
                other => {
                    self.failed = true;
                    let other = other.to_owned();
                    self.error(format!("invalid choice `{other}`: type 1, 2 or 3"));
                }
            }
            self.say(MENU);
        }
    }

    /// Registers an account and logs it in with the same password; true
    /// once logged in.
    async fn register_and_login(&mut self, name: String, password: String) -> bool {
        if let Err(e) = words::check_password(&password) {
            self.failed = true;
            self.error(e);
            return false;
        }
        let request = Request::Register {
            name,
            password: password.clone(),
        };
        let Some(r) = self.call::<Registered>(request).await else {
            self.failed = true;
            return false;
        };
        let id = r.user.id;
        self.say(format!(
            "registered account:{id} username:{}; your user id is {id}: you log in with it",
            view::clean(&r.user.name)
        ));
        self.login(id, Credential::Password(password)).await
    }

    /// Logs in; on success shows the login screen and returns true.
    async fn login(&mut self, user: u64, credential: Credential) -> bool {
        let Some(li) = self
            .call::<LoggedIn>(Request::Login {
                user,
                credential,
                heartbeat: None,
            })
            .await
        else {
            self.failed = true;
            return false;
        };
        self.start_session(&li);
        true
    }

    fn start_session(&mut self, li: &LoggedIn) {
        self.dir = Directory::from_login(li);
        self.logged_in = true;
        self.session_over = false;
        self.token = Some(li.token.clone());
        self.inbox.new_session();
        self.jobs.new_session();
        let width = crate::term::width();
        self.say(view::login_screen(&self.dir, width));
        if self.settings.print_token {
            self.say(format!("token: {}", li.token));
        }
        if li.unread > 0 {
            self.say(format!("{} unread message(s):", li.unread));
        }
    }

    pub(super) fn end_session(&mut self) {
        self.dir = Directory::default();
        self.logged_in = false;
        self.token = None;
        self.more = None;
        self.inbox.new_session();
        self.jobs.new_session();
    }

    /// The `token` command: the session's token and how to use it.
    pub(super) fn show_token(&mut self, tag: Option<&str>) {
        let Some(token) = self.token.clone() else {
            return;
        };
        let me = self.dir.my_id();
        let server = self.settings.server.clone();
        self.answer(
            tag,
            format!(
                "your session token (keep it secret; `logout` revokes it):\n{token}\n\
                 log in with it: chatclient {server} --user {me} --token {token}"
            ),
        );
    }
}
