//! The machine-readable error codes of replies (`"code"`).

use serde::{Deserialize, Serialize};

/// Every error code of protocol version 2.
///
/// The first group can answer any op; the rest belong to particular ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    FrameTooLarge,
    UnknownOp,
    BadRequest,
    NotLoggedIn,
    RateLimited,
    Unavailable,
    Internal,
    BadCredentials,
    AlreadyLoggedIn,
    NoSuchUser,
    NoSuchGroup,
    AlreadyFriends,
    NotFriend,
    AlreadyMember,
    NotMember,
    Forbidden,
    NoSuchRequest,
}

impl ErrorCode {
    /// All codes, in the order of the contract.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadJson,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnknownOp,
        ErrorCode::BadRequest,
        ErrorCode::NotLoggedIn,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
        ErrorCode::BadCredentials,
        ErrorCode::AlreadyLoggedIn,
        ErrorCode::NoSuchUser,
        ErrorCode::NoSuchGroup,
        ErrorCode::AlreadyFriends,
        ErrorCode::NotFriend,
        ErrorCode::AlreadyMember,
        ErrorCode::NotMember,
        ErrorCode::Forbidden,
        ErrorCode::NoSuchRequest,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
            ErrorCode::BadCredentials => "bad_credentials",
            ErrorCode::AlreadyLoggedIn => "already_logged_in",
            ErrorCode::NoSuchUser => "no_such_user",
            ErrorCode::NoSuchGroup => "no_such_group",
            ErrorCode::AlreadyFriends => "already_friends",
            ErrorCode::NotFriend => "not_friend",
            ErrorCode::AlreadyMember => "already_member",
            ErrorCode::NotMember => "not_member",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NoSuchRequest => "no_such_request",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }
}
