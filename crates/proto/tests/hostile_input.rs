//! Properties of the two gates every byte from a client passes: the line
//! codec (a line's verdict must not depend on how TCP cut it into reads)
//! and the name and text rules (nothing invisible, no direction tricks in
//! names).

use chat_proto::LineDecoder;
use chat_proto::validate::{self, is_bidi_control, is_invisible};
use proptest::prelude::*;

/// What the decoder made of a stream: the frames, then whether it gave up.
fn decode_in_pieces(max: usize, raw: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, bool) {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (raw.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(raw.len());
    let mut dec = LineDecoder::new(max, 1);
    let mut frames = Vec::new();
    let mut from = 0;
    for to in cuts {
        dec.buffer().extend_from_slice(&raw[from..to]);
        from = to;
        loop {
            match dec.next_frame() {
                Ok(Some(line)) => frames.push(line.to_vec()),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

/// Line content: any byte but `\n`, with `\r` and blanks often.
fn content(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b' '),
            Just(b'x'),
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
        ],
        0..=max + 3,
    )
}

proptest! {
    /// A line is accepted or refused the same way whether it came in one
    /// read or many: a line of at most `max` bytes (without its `\n` and
    /// one `\r` before it) is a frame; a longer one is `frame_too_large`.
    #[test]
    fn a_lines_verdict_does_not_depend_on_the_reads(
        (max, body) in (1usize..48).prop_flat_map(|m| (Just(m), content(m))),
        crlf in any::<bool>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let mut raw = body.clone();
        if crlf {
            raw.push(b'\r');
        }
        raw.push(b'\n');
        let mut line = raw[..raw.len() - 1].to_vec();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let (frames, too_large) = decode_in_pieces(max, &raw, &cuts);
        let (whole_frames, whole_too_large) = decode_in_pieces(max, &raw, &[]);
        prop_assert_eq!(&frames, &whole_frames);
        prop_assert_eq!(too_large, whole_too_large);
        if line.len() > max {
            prop_assert!(too_large, "{} bytes over a limit of {}", line.len(), max);
            prop_assert!(frames.is_empty());
        } else if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            prop_assert!(!too_large);
            prop_assert!(frames.is_empty(), "a blank line is skipped");
        } else {
            prop_assert!(!too_large, "{} bytes under a limit of {} refused", line.len(), max);
            prop_assert_eq!(frames, vec![line]);
        }
    }

    /// However the invisible characters are mixed, a name or text made of
    /// nothing else is refused, naming the field.
    #[test]
    fn nothing_invisible_passes_for_a_name_or_a_text(
        s in proptest::collection::vec(prop_oneof![
            Just('\u{200b}'), Just('\u{200c}'), Just('\u{200d}'), Just('\u{2060}'),
            Just('\u{feff}'), Just('\u{00ad}'), Just('\u{034f}'), Just('\u{3164}'),
            Just('\u{ffa0}'), Just('\u{2800}'), Just('\u{fe0f}'), Just('\u{e0041}'),
            Just(' '), Just('\u{00a0}'), Just('\u{3000}'), Just('\u{2028}'),
        ], 1..20).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        prop_assert!(s.chars().all(is_invisible));
        prop_assert_eq!(validate::user_name(&s).unwrap_err().field, "name");
        prop_assert_eq!(validate::group_name(&s).unwrap_err().field, "name");
        prop_assert_eq!(validate::text(&s).unwrap_err().field, "text");
    }

    /// A bidirectional control anywhere in a name is refused, whatever
    /// surrounds it; in a text it is allowed.
    #[test]
    fn bidi_controls_never_pass_in_a_name(
        before in "[a-z]{0,10}",
        after in "[a-z]{1,10}",
        bidi in prop_oneof![
            (0x202Au32..=0x202E).prop_map(|c| char::from_u32(c).unwrap()),
            (0x2066u32..=0x2069).prop_map(|c| char::from_u32(c).unwrap()),
            Just('\u{200e}'), Just('\u{200f}'), Just('\u{061c}'),
        ],
    ) {
        prop_assert!(is_bidi_control(bidi));
        let name = format!("{before}{bidi}{after}");
        prop_assert_eq!(validate::user_name(&name).unwrap_err().field, "name");
        prop_assert_eq!(validate::group_name(&name).unwrap_err().field, "name");
        prop_assert!(validate::text(&name).is_ok());
    }

    /// Ordinary printable names are untouched by the new rules.
    #[test]
    fn printable_names_still_pass(
        name in "[\\p{L}\\p{N}][\\p{L}\\p{N} ._-]{0,30}"
            // Hangul fillers are letters (Lo) that show nothing.
            .prop_filter("a visible character", |n| !n.chars().all(is_invisible))
    ) {
        prop_assert_eq!(validate::user_name(&name).unwrap(), name.trim());
    }
}
