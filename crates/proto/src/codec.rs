//! The line codec: one JSON object per `\n`-terminated line, with a limit on
//! the length of a line so that a peer can never make the buffer grow
//! without bound.

use bytes::BytesMut;
use serde::Serialize;

/// A line longer than the limit arrived (or is arriving).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame longer than {max} bytes")]
pub struct FrameTooLarge {
    pub max: usize,
}

/// Splits a byte stream into frames.
///
/// Feed it bytes by appending to [`LineDecoder::buffer`], then call
/// [`LineDecoder::next_frame`] until it returns `Ok(None)`. A trailing `\r`
/// is stripped and blank lines are skipped. Once a line exceeds the limit
/// the decoder reports [`FrameTooLarge`] without waiting for its end.
#[derive(Debug)]
pub struct LineDecoder {
    buf: BytesMut,
    /// How far `buf` has been searched for a newline already, so a long
    /// line arriving in many small reads is scanned once, not quadratically.
    scanned: usize,
    max: usize,
}

impl LineDecoder {
    /// A decoder whose buffer starts at `initial` bytes of capacity.
    pub fn new(max: usize, initial: usize) -> Self {
        LineDecoder {
            buf: BytesMut::with_capacity(initial),
            scanned: 0,
            max,
        }
    }

    /// The maximum line length, in bytes without the newline.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The buffer to read more bytes into.
    pub fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Gives back memory after a burst: when nothing is pending and the
    /// buffer grew past `keep` bytes, it is replaced by a small one.
    pub fn shrink(&mut self, keep: usize, initial: usize) {
        if self.buf.is_empty() && self.buf.capacity() > keep {
            self.buf = BytesMut::with_capacity(initial);
            self.scanned = 0;
        }
    }

    /// The next complete, non-blank line, without its line ending.
    pub fn next_frame(&mut self) -> Result<Option<BytesMut>, FrameTooLarge> {
        loop {
            let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = self.buf.len();
                // A `\r` at the very end may be the first half of a `\r\n`
                // whose `\n` is still on its way: it does not count, just as
                // it will not count once the line is complete. A `\r`
                // followed by anything but `\n` is part of the line and
                // counts then.
                let partial = self.buf.len() - usize::from(self.buf.last() == Some(&b'\r'));
                if partial > self.max {
                    return Err(FrameTooLarge { max: self.max });
                }
                return Ok(None);
            };
            let end = self.scanned + pos;
            self.scanned = 0;
            let mut line = self.buf.split_to(end + 1);
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(line.len() - 1);
            }
            if line.len() > self.max {
                return Err(FrameTooLarge { max: self.max });
            }
            if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// Drops everything buffered (after an error that ends the connection).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.scanned = 0;
    }
}

/// Encodes `value` as one frame: its JSON followed by `\n`.
pub fn encode_line<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // Serialising our own types to a Vec cannot fail: they hold no maps with
    // non-string keys and Vec writes are infallible.
    serde_json::to_writer(&mut out, value).expect("protocol types always serialise");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(dec: &mut LineDecoder) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(f) = dec.next_frame().unwrap() {
            out.push(String::from_utf8(f.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn splits_lines_and_skips_blanks() {
        let mut dec = LineDecoder::new(100, 16);
        dec.buffer()
            .extend_from_slice(b"{\"a\":1}\r\n\n  \r\n{\"b\":2}\n{\"c\"");
        assert_eq!(frames(&mut dec), vec!["{\"a\":1}", "{\"b\":2}"]);
        dec.buffer().extend_from_slice(b":3}\n");
        assert_eq!(frames(&mut dec), vec!["{\"c\":3}"]);
        assert_eq!(dec.pending(), 0);
    }

    #[test]
    fn byte_by_byte() {
        let mut dec = LineDecoder::new(100, 1);
        let mut got = Vec::new();
        for b in b"{\"op\":\"ping\"}\n{\"op\":\"x\"}\n" {
            dec.buffer().extend_from_slice(&[*b]);
            got.extend(frames(&mut dec));
        }
        assert_eq!(got, vec!["{\"op\":\"ping\"}", "{\"op\":\"x\"}"]);
    }

    #[test]
    fn too_long_without_newline_is_reported_early() {
        let mut dec = LineDecoder::new(10, 4);
        dec.buffer().extend_from_slice(b"0123456789");
        assert_eq!(dec.next_frame(), Ok(None));
        dec.buffer().extend_from_slice(b"a");
        assert_eq!(dec.next_frame(), Err(FrameTooLarge { max: 10 }));
    }

    #[test]
    fn a_crlf_line_at_the_limit_passes_when_the_lf_comes_later() {
        let mut dec = LineDecoder::new(10, 4);
        dec.buffer().extend_from_slice(b"0123456789\r");
        assert_eq!(dec.next_frame(), Ok(None));
        dec.buffer().extend_from_slice(b"\n");
        assert_eq!(dec.next_frame().unwrap().unwrap().as_ref(), b"0123456789");
        // One byte more is too long, whether the `\r` is last or not.
        dec.buffer().extend_from_slice(b"0123456789a\r");
        assert_eq!(dec.next_frame(), Err(FrameTooLarge { max: 10 }));
        dec.clear();
        dec.buffer().extend_from_slice(b"0123456789\r");
        assert_eq!(dec.next_frame(), Ok(None));
        dec.buffer().extend_from_slice(b"x");
        assert_eq!(dec.next_frame(), Err(FrameTooLarge { max: 10 }));
    }

    #[test]
    fn exactly_the_limit_passes() {
        let mut dec = LineDecoder::new(10, 4);
        dec.buffer()
            .extend_from_slice(b"0123456789\r\n01234567890\n");
        assert_eq!(dec.next_frame().unwrap().unwrap().as_ref(), b"0123456789");
        assert_eq!(dec.next_frame(), Err(FrameTooLarge { max: 10 }));
    }
}
