//! The one codec of what nodes send each other over the bus: frames for a
//! user's sessions (with their message id as a typed field, so no node
//! ever re-reads it out of the JSON) and cache invalidations.
//!
//! Layout (big-endian): a kind byte, the origin node slot (2 bytes), then
//! - `F`: a frame: a flag byte (1 when a message id follows), the id (8
//!   bytes, present or not), then the frame's bytes as sent to clients;
//! - `I`: an invalidation: a kind byte (`f` friendship, `g` group) and two
//!   ids (8 bytes each; the second is 0 for a group);
//! - `E`: end the sessions of the user whose channel carries it: the
//!   `session_ended` frame follows (the origin ended its own already);
//! - `R`: replay the unacked messages from an id on (8 bytes) to the
//!   user whose channel carries it, or, on the invalidation channel, to
//!   every user of every node: publications were lost.
//!
//! A payload that does not decode is dropped by the receiver (and
//! counted): it can only come from a different version or a foreign
//! publisher on our prefix.

use bytes::Bytes;

use crate::outbox::OutFrame;

/// A change other nodes must forget from their caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    Friendship(u64, u64),
    Group(u64),
}

/// What one publication carries.
#[derive(Debug, Clone)]
pub enum Body {
    /// A frame for the sessions of the user whose channel carried it.
    Frame(OutFrame),
    /// A cache invalidation for every node.
    Invalidate(Invalidation),
    /// End every session of the channel's user, sending them this frame.
    EndSessions(Bytes),
    /// Replay unacked messages with ids from this one on (to the channel's
    /// user, or to everyone on the invalidation channel).
    Replay(u64),
}

/// One publication: who sent it, and what.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The node slot of the sender; a node ignores its own publications.
    pub origin: u16,
    pub body: Body,
}

const FRAME: u8 = b'F';
const INVALIDATE: u8 = b'I';
const END: u8 = b'E';
const REPLAY: u8 = b'R';

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let origin = self.origin.to_be_bytes();
        match &self.body {
            Body::Frame(f) => {
                let mut out = Vec::with_capacity(12 + f.bytes.len());
                out.push(FRAME);
                out.extend_from_slice(&origin);
                out.push(u8::from(f.msg_id.is_some()));
                out.extend_from_slice(&f.msg_id.unwrap_or(0).to_be_bytes());
                out.extend_from_slice(&f.bytes);
                out
            }
            Body::EndSessions(frame) => {
                let mut out = Vec::with_capacity(3 + frame.len());
                out.push(END);
                out.extend_from_slice(&origin);
                out.extend_from_slice(frame);
                out
            }
            Body::Replay(since) => {
                let mut out = Vec::with_capacity(11);
                out.push(REPLAY);
                out.extend_from_slice(&origin);
                out.extend_from_slice(&since.to_be_bytes());
                out
            }
            Body::Invalidate(what) => {
                let (kind, a, b) = match *what {
                    Invalidation::Friendship(a, b) => (b'f', a, b),
                    Invalidation::Group(g) => (b'g', g, 0),
                };
                let mut out = Vec::with_capacity(20);
                out.push(INVALIDATE);
                out.extend_from_slice(&origin);
                out.push(kind);
                out.extend_from_slice(&a.to_be_bytes());
                out.extend_from_slice(&b.to_be_bytes());
                out
            }
        }
    }

    pub fn decode(payload: &[u8]) -> Option<Envelope> {
        let (&kind, rest) = payload.split_first()?;
        let (origin, rest) = rest.split_first_chunk::<2>()?;
        let origin = u16::from_be_bytes(*origin);
        let body = match kind {
            FRAME => {
                let (&has_id, rest) = rest.split_first()?;
                let (id, bytes) = rest.split_first_chunk::<8>()?;
                Body::Frame(OutFrame {
                    bytes: Bytes::copy_from_slice(bytes),
                    msg_id: (has_id == 1).then(|| u64::from_be_bytes(*id)),
                })
            }
            END => Body::EndSessions(Bytes::copy_from_slice(rest)),
            REPLAY => {
                let since: [u8; 8] = rest.try_into().ok()?;
                Body::Replay(u64::from_be_bytes(since))
            }
            INVALIDATE => {
                let (&what, rest) = rest.split_first()?;
                let (a, rest) = rest.split_first_chunk::<8>()?;
                let (b, rest) = rest.split_first_chunk::<8>()?;
                if !rest.is_empty() {
                    return None;
                }
                let (a, b) = (u64::from_be_bytes(*a), u64::from_be_bytes(*b));
                Body::Invalidate(match what {
                    b'f' => Invalidation::Friendship(a, b),
                    b'g' => Invalidation::Group(a),
                    _ => return None,
                })
            }
            _ => return None,
        };
        Some(Envelope { origin, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: &Envelope) -> Envelope {
        Envelope::decode(&e.encode()).expect("decodes")
    }

    #[test]
    fn frames_keep_their_bytes_and_message_id() {
        for msg_id in [None, Some(0), Some(987), Some(u64::MAX)] {
            let e = Envelope {
                origin: 7,
                body: Body::Frame(OutFrame {
                    bytes: Bytes::from_static(b"{\"ev\":\"msg\"}\n"),
                    msg_id,
                }),
            };
            let d = round_trip(&e);
            assert_eq!(d.origin, 7);
            let Body::Frame(f) = d.body else {
                panic!("not a frame")
            };
            assert_eq!(
                (f.bytes.as_ref(), f.msg_id),
                (&b"{\"ev\":\"msg\"}\n"[..], msg_id)
            );
        }
    }

    #[test]
    fn invalidations_round_trip() {
        for what in [Invalidation::Friendship(3, 9), Invalidation::Group(12)] {
            let d = round_trip(&Envelope {
                origin: 31,
                body: Body::Invalidate(what),
            });
            assert_eq!(d.origin, 31);
            assert!(matches!(d.body, Body::Invalidate(w) if w == what));
        }
    }

    #[test]
    fn session_ends_keep_their_frame() {
        let d = round_trip(&Envelope {
            origin: 2,
            body: Body::EndSessions(Bytes::from_static(b"{\"ev\":\"session_ended\"}\n")),
        });
        assert_eq!(d.origin, 2);
        assert!(
            matches!(d.body, Body::EndSessions(f) if f.as_ref() == b"{\"ev\":\"session_ended\"}\n")
        );
    }

    #[test]
    fn replays_round_trip() {
        let d = round_trip(&Envelope {
            origin: 4,
            body: Body::Replay(1 << 52),
        });
        assert!(matches!(d.body, Body::Replay(s) if s == 1 << 52));
        assert!(Envelope::decode(b"R\x00\x01\x00").is_none());
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            &b""[..],
            b"F",
            b"F\x00",
            b"I\x00\x01f",
            b"X\x00\x01",
            b"I\x00\x01x\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            assert!(Envelope::decode(bad).is_none(), "{bad:?}");
        }
    }
}
