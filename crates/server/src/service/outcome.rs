//! What an op answers: an [`Answer`] (the reply's success fields) or a
//! [`Failure`] (a wire code and words for people), now or once the writer
//! has committed ([`Outcome`]). Store, hashing and field errors become
//! wire codes here, and nowhere else.

use std::future::Future;
use std::pin::Pin;

use chat_proto::ErrorCode;
use chat_proto::reply::{self, Empty};
use chat_proto::validate::FieldError;
use serde::Serialize;

use crate::auth::HashError;
use crate::store::StoreError;

/// The success fields of a reply, encoded once its `re` is known.
pub struct Answer(Box<dyn Body>);

trait Body: Send {
    fn encode(&self, re: Option<u64>) -> Vec<u8>;
}

impl<T: Serialize + Send> Body for T {
    fn encode(&self, re: Option<u64>) -> Vec<u8> {
        reply::ok_line(re, self)
    }
}

impl Answer {
    /// A reply carrying `body`'s fields.
    pub fn new<T: Serialize + Send + 'static>(body: T) -> Answer {
        Answer(Box::new(body))
    }

    /// A reply with no fields besides `ok`.
    pub fn empty() -> Answer {
        Answer::new(Empty {})
    }

    /// The reply as one line.
    pub fn encode(&self, re: Option<u64>) -> Vec<u8> {
        self.0.encode(re)
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.encode(None)))
    }
}

/// A request that failed: the wire code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds before a retry may pass (`rate_limited` logins).
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same failure, telling the client when to retry.
    pub fn retry_after(mut self, secs: u64) -> Failure {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The failed reply as one line.
    pub fn encode(&self, re: Option<u64>) -> Vec<u8> {
        crate::metrics::error(self.code);
        reply::err_line_retry(re, self.code, &self.message, self.retry_after)
    }
}

/// What one op answers.
pub type OpResult = Result<Answer, Failure>;

/// Encodes a result as the reply line to request `re`.
pub fn encode(re: Option<u64>, result: &OpResult) -> Vec<u8> {
    match result {
        Ok(answer) => answer.encode(re),
        Err(failure) => failure.encode(re),
    }
}

/// When and how an op answers.
pub enum Outcome {
    /// The reply, now.
    Reply(OpResult),
    /// The reply once the writer has committed; the session reads on
    /// meanwhile and keeps replies in request order.
    Later(Pin<Box<dyn Future<Output = OpResult> + Send>>),
    /// The reply now, then work that must follow it before the next
    /// request is read (a login's inbox replay).
    ReplyThen(OpResult, Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// The one place where store errors become wire codes. Details of internal
/// errors are logged, not sent.
impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        match e {
            StoreError::Unavailable(detail)
            | StoreError::Conflict(detail)
            | StoreError::CommitUnknown(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                Failure::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; nothing was changed, retry later",
                )
            }
            StoreError::Internal(detail) => {
                tracing::error!(error = %detail, "store error");
                Failure::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl From<FieldError> for Failure {
    fn from(e: FieldError) -> Failure {
        Failure::new(ErrorCode::BadRequest, e.to_string())
    }
}

impl From<HashError> for Failure {
    fn from(e: HashError) -> Failure {
        tracing::error!(error = %e, "password hashing failed");
        Failure::new(ErrorCode::Internal, "internal error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::MsgRef;
    use chat_proto::reply::Sent;

    #[test]
    fn answers_encode_with_their_request_id() {
        let a = Answer::new(Sent {
            msg: MsgRef { id: 5, ts: 6 },
        });
        assert_eq!(
            a.encode(Some(3)),
            b"{\"re\":3,\"ok\":true,\"msg\":{\"id\":5,\"ts\":6}}\n"
        );
        assert_eq!(Answer::empty().encode(None), b"{\"re\":null,\"ok\":true}\n");
        let f = Failure::new(ErrorCode::NotFriend, "no");
        assert_eq!(
            encode(Some(1), &Err(f)),
            b"{\"re\":1,\"ok\":false,\"code\":\"not_friend\",\"error\":\"no\"}\n"
        );
    }
}
