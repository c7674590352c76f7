//! The login menu and the logins: from the flags, from the menu, and the
//! start and end of a session.

use chat_proto::reply::{LoggedIn, Registered};
use chat_proto::{Credential, Request};

use super::{App, AutoLogin, MENU, Next};
use crate::state::Directory;
use crate::term::Read;
use crate::view;

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
            AutoLogin::Register { name, password } => match self.register(name, &password).await {
                Some(id) => self.login(id, Credential::Password(password)).await,
                None => false,
            },
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
    pub(super) async fn register(&mut self, name: String, password: &str) -> Option<u64> {
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
    pub(super) async fn login(&mut self, user: u64, credential: Credential) -> bool {
        let Some(li) = self
            .call::<LoggedIn>(Request::Login { user, credential })
            .await
        else {
            return false;
        };
        self.start_session(&li);
        true
    }

    pub(super) fn start_session(&mut self, li: &LoggedIn) {
        self.dir = Directory::from_login(li);
        self.logged_in = true;
        self.session_over = false;
        self.inbox.new_session();
        self.say(view::login_screen(&self.dir));
        if li.unread > 0 {
            self.say(format!("{} unread message(s):", li.unread));
        }
    }

    pub(super) fn end_session(&mut self) {
        self.dir = Directory::default();
        self.logged_in = false;
        self.inbox.new_session();
    }
}
