//! Feeds arbitrary bytes, split at an arbitrary point, through the line
//! decoder and the request decoder, as a hostile client would. Any panic is
//! a bug.
#![no_main]

use chat_proto::{Frame, LineDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| b as usize % (data.len().max(1)));
    let mut dec = LineDecoder::new(1024, 16);
    for chunk in [&data[..split], &data[split..]] {
        dec.buffer().extend_from_slice(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(line)) => {
                    if let Ok(frame) = Frame::parse(&line) {
                        let _ = frame.request();
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    dec.clear();
                    break;
                }
            }
        }
    }
});
