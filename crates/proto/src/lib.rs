//! The chat wire protocol, version 2: typed frames and the line codec.
//!
//! Every frame is one JSON object on one line (see `docs/protocol.md`). This
//! crate owns the shape of everything that crosses the wire and nothing else:
//! it does no I/O and holds no policy beyond the field rules of the contract.
//!
//! Map:
//! - [`codec`]: splits a byte stream into lines with a length limit, and
//!   encodes a frame as one line.
//! - [`request`]: client-to-server requests, decoded with errors that name
//!   the offending field.
//! - [`reply`]: server-to-client replies (`re`/`ok`) and their bodies.
//! - [`event`]: server-pushed events (`ev`).
//! - [`types`]: the objects shared by the above (user, group, member, msg).
//! - [`validate`]: the field rules (lengths, ranges, control characters).
//! - [`error`]: the machine-readable error codes.

pub mod codec;
pub mod error;
pub mod event;
pub mod reply;
pub mod request;
pub mod types;
pub mod validate;

pub use codec::{FrameTooLarge, LineDecoder, encode_line};
pub use error::ErrorCode;
pub use event::EndReason;
pub use event::Event;
pub use reply::{ErrorBody, ServerFrame};
pub use request::{Credential, DecodeError, Frame, HistoryTarget, Op, Request, RequestFrame};
pub use types::{Group, Invite, Member, Msg, MsgRef, Role, User, Visibility};

/// Default maximum length of one frame, in bytes, without its newline.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024;
