//! The account commands that ask before they send: `changepassword`
//! (the old password, then the new one twice) and `deleteaccount` (the
//! password, then `yes`). On a terminal passwords are read without echo;
//! in a script they are the next lines of input. Nothing is sent until
//! every answer is in and checked, and a mistake is said in plain words.

use chat_proto::Request;

use super::{App, Next};
use crate::term::Read;
use crate::{view, words};

/// Why a command asked for answers and sent nothing: `None` when it was
/// cancelled or refused (already said), `Some` when the session ends.
type NotSent = Option<Next>;

impl App {
    /// One answer: a line, `Err(None)` when the session ended meanwhile
    /// or the answer was empty (Ctrl-C), `Err(Some(Eof))` at the end of
    /// input.
    async fn answer_to(&mut self, prompt: &str, secret: bool) -> Result<String, NotSent> {
        match self.read(prompt, secret).await {
            None => Err(None),
            Some(Read::Eof) => Err(Some(Next::Eof)),
            Some(Read::Line(line)) => Ok(line),
        }
    }

    /// A refusal before sending: an error line, and a failed command.
    fn refuse(&mut self, tag: Option<&str>, why: &str) -> NotSent {
        self.failed = true;
        self.answer(tag, format!("error: {why}; nothing changed"));
        None
    }

    /// `changepassword`: asks for the old password and the new one twice.
    pub(super) async fn ask_new_password(&mut self, tag: Option<&str>) -> Result<Request, NotSent> {
        let old = self.answer_to("old password: ", true).await?;
        if old.is_empty() {
            return Err(self.refuse(tag, "no password given"));
        }
        let new = self.answer_to("new password: ", true).await?;
        if let Err(e) = words::check_password(&new) {
            return Err(self.refuse(tag, &e));
        }
        let again = self.answer_to("new password again: ", true).await?;
        if again != new {
            return Err(self.refuse(tag, "the two new passwords differ"));
        }
        Ok(Request::ChangePassword { old, new })
    }

    /// `deleteaccount`: asks for the password, then for `yes`.
    pub(super) async fn ask_deletion(&mut self, tag: Option<&str>) -> Result<Request, NotSent> {
        let password = self.answer_to("password: ", true).await?;
        if password.is_empty() {
            return Err(self.refuse(tag, "no password given"));
        }
        let me = view::someone(&self.dir, self.dir.my_id());
        let sure = self
            .answer_to(
                &format!("delete account {me} for good? type yes to confirm: "),
                false,
            )
            .await?;
        if !sure.trim().eq_ignore_ascii_case("yes") {
            self.answer(tag, "not deleted: the answer was not yes");
            return Err(None);
        }
        Ok(Request::DeleteAccount { password })
    }
}
