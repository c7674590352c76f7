//! One record of the message log: everything one writer batch stored, in
//! one checksummed frame.
//!
//! ```text
//! frame   = len: u32 LE (payload bytes, > 0) | crc: u32 LE (CRC-32C of payload) | payload
//! payload = version: u8 (1) | items: u32 | item*
//! item    = 1 msg: id u64 | ts u64 | from u64 | kind u8 (0 user, 1 group) | target u64
//!                  | text: u32 len + bytes | cid: u8 (0 none, 1 some) [+ u16 len + bytes]
//!                  | recipients: u32 n + u64*n   (who got an inbox entry)
//!         | 2 ack: user u64 | ids: u32 n + u64*n
//! ```
//!
//! A frame that is cut short, or whose checksum does not match, ends the
//! log: it is the torn tail of a write that a crash interrupted, which never
//! got its fsync and so never answered anyone.

use crate::store::{NewMsg, Target};

const VERSION: u8 = 1;
pub const HEADER: usize = 8;
/// No batch comes near this; a larger length is a torn or foreign frame.
const MAX_FRAME: u32 = 1 << 30;
static CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// One item of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A new message and the users who got an inbox entry for it.
    Msg { msg: NewMsg, recipients: Vec<u64> },
    /// `user` acked these ids.
    Ack { user: u64, ids: Vec<u64> },
}

/// Appends one frame holding `items` to `out`.
pub fn encode(out: &mut Vec<u8>, items: &[Item]) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.push(VERSION);
    put32(out, items.len() as u32);
    for item in items {
        match item {
            Item::Msg { msg, recipients } => {
                out.push(1);
                put64(out, msg.id);
                put64(out, msg.ts);
                put64(out, msg.from);
                let (kind, target) = match msg.target {
                    Target::User(u) => (0, u),
                    Target::Group(g) => (1, g),
                };
                out.push(kind);
                put64(out, target);
                put32(out, msg.text.len() as u32);
                out.extend_from_slice(msg.text.as_bytes());
                match &msg.cid {
                    None => out.push(0),
                    Some(cid) => {
                        out.push(1);
                        // A cid is at most 64 characters (protocol.md).
                        out.extend_from_slice(&(cid.len() as u16).to_le_bytes());
                        out.extend_from_slice(cid.as_bytes());
                    }
                }
                put_ids(out, recipients);
            }
            Item::Ack { user, ids } => {
                out.push(2);
                put64(out, *user);
                put_ids(out, ids);
            }
        }
    }
    let payload = &out[start + HEADER..];
    let len = payload.len() as u32;
    let crc = CRC.checksum(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_ids(out: &mut Vec<u8>, ids: &[u64]) {
    put32(out, ids.len() as u32);
    for &id in ids {
        put64(out, id);
    }
}

/// Reads the frames of a log file from its start. Returns the records and
/// the length of the valid prefix: whatever follows it is a torn tail.
pub fn decode_all(bytes: &[u8]) -> (Vec<Vec<Item>>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some((items, len)) = decode_frame(&bytes[at..]) {
        records.push(items);
        at += len;
    }
    (records, at)
}

/// One frame at the start of `bytes`, and its length; `None` when there
/// is no whole, intact frame there.
fn decode_frame(bytes: &[u8]) -> Option<(Vec<Item>, usize)> {
    let len = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    if len == 0 || len > MAX_FRAME {
        return None;
    }
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let payload = bytes.get(HEADER..HEADER + len as usize)?;
    if CRC.checksum(payload) != crc {
        return None;
    }
    let items = Reader { b: payload, at: 0 }.items()?;
    Some((items, HEADER + len as usize))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn ids(&mut self) -> Option<Vec<u64>> {
        let n = self.u32()? as usize;
        // Each id takes 8 bytes: a count past the end is corrupt.
        if n > (self.b.len() - self.at) / 8 {
            return None;
        }
        (0..n).map(|_| self.u64()).collect()
    }

    fn items(mut self) -> Option<Vec<Item>> {
        if self.u8()? != VERSION {
            return None;
        }
        let n = self.u32()? as usize;
        let mut items = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            items.push(match self.u8()? {
                1 => {
                    let (id, ts, from) = (self.u64()?, self.u64()?, self.u64()?);
                    let target = match (self.u8()?, self.u64()?) {
                        (0, u) => Target::User(u),
                        (1, g) => Target::Group(g),
                        _ => return None,
                    };
                    let len = self.u32()? as usize;
                    let text = self.string(len)?;
                    let cid = match self.u8()? {
                        0 => None,
                        1 => {
                            let len = self.u16()? as usize;
                            Some(self.string(len)?)
                        }
                        _ => return None,
                    };
                    Item::Msg {
                        msg: NewMsg {
                            id,
                            ts,
                            from,
                            target,
                            text,
                            cid,
                        },
                        recipients: self.ids()?,
                    }
                }
                2 => Item::Ack {
                    user: self.u64()?,
                    ids: self.ids()?,
                },
                _ => return None,
            });
        }
        (self.at == self.b.len()).then_some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Item> {
        vec![
            Item::Msg {
                msg: NewMsg {
                    id: 7,
                    ts: 1_764_000_000_000,
                    from: 1,
                    target: Target::User(2),
                    text: "héllo".into(),
                    cid: Some("c-1".into()),
                },
                recipients: vec![2],
            },
            Item::Msg {
                msg: NewMsg {
                    id: 8,
                    ts: 1,
                    from: 1,
                    target: Target::Group(9),
                    text: "x".into(),
                    cid: None,
                },
                recipients: vec![2, 3, 4],
            },
            Item::Ack {
                user: 2,
                ids: vec![5, 6],
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        encode(&mut buf, &sample());
        encode(&mut buf, &sample()[2..]);
        let (records, valid) = decode_all(&buf);
        assert_eq!(valid, buf.len());
        assert_eq!(records, vec![sample(), sample()[2..].to_vec()]);
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_log() {
        let mut buf = Vec::new();
        encode(&mut buf, &sample());
        let first = buf.len();
        encode(&mut buf, &sample());
        // Cut anywhere inside the second frame: only the first is read.
        for cut in first..buf.len() {
            let (records, valid) = decode_all(&buf[..cut]);
            assert_eq!((records.len(), valid), (1, first), "cut at {cut}");
        }
        // A flipped bit in the second frame's payload.
        let mut bad = buf.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0x10;
        assert_eq!(decode_all(&bad).1, first);
        // Zeros where a frame should be (an extent allocated, never written).
        let mut zeros = buf[..first].to_vec();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(decode_all(&zeros).1, first);
    }
}
