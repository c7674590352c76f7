//! The field rules of the contract. Each check names the field it rejects,
//! so a `bad_request` reply tells the client exactly what to fix.

use std::fmt;

/// A field that is missing, of the wrong type or out of range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name on the wire.
    pub field: &'static str,
    /// What is wrong with it, in words.
    pub problem: String,
}

impl FieldError {
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        FieldError {
            field,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for FieldError {}

pub const USER_NAME_MAX_CHARS: usize = 32;
pub const PASSWORD_MIN_BYTES: usize = 6;
pub const PASSWORD_MAX_BYTES: usize = 128;
pub const GROUP_NAME_MAX_CHARS: usize = 64;
pub const GROUP_DESC_MAX_CHARS: usize = 256;
pub const TEXT_MAX_BYTES: usize = 4096;
pub const CID_MAX_CHARS: usize = 64;
pub const HISTORY_LIMIT_MAX: u32 = 100;
pub const HISTORY_LIMIT_DEFAULT: u32 = 50;
pub const ACK_MAX_IDS: usize = 1000;
/// Tokens are opaque, but a sane bound keeps hashing cheap.
pub const TOKEN_MAX_BYTES: usize = 256;

/// Whether `c` leaves no mark on screen: white space, control characters
/// (Unicode Cc), format characters (Cf: zero-width spaces and joiners,
/// bidirectional controls, the byte-order mark, tags...), the other
/// default-ignorable code points (variation selectors, Hangul fillers,
/// the combining grapheme joiner...) and the braille blank, a favourite
/// for names that look empty.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            // Format characters (Cf).
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                // (The tags, U+E0001 and U+E0020-U+E007F, are in the
                // last range below.)
                // The rest of Default_Ignorable_Code_Point.
                | '\u{034F}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{2065}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFF8}'
                | '\u{E0000}'..='\u{E0FFF}'
                // BRAILLE PATTERN BLANK.
                | '\u{2800}'
        )
}

/// Whether `c` changes the direction of the text around it: the embeddings
/// and overrides (U+202A-U+202E), the isolates (U+2066-U+2069) and the
/// marks (U+200E, U+200F, U+061C). In a name they let one user's name
/// pass for another's in a list; texts may keep them.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    )
}

fn name_like(field: &'static str, value: &str, max_chars: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(FieldError::new(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    if trimmed.chars().all(is_invisible) {
        return Err(FieldError::new(field, "must contain a visible character"));
    }
    Ok(trimmed.to_owned())
}

/// A user's name: 1 to 32 characters after trimming, no control characters,
/// no bidirectional controls, at least one visible character. Returns the
/// trimmed name.
pub fn user_name(value: &str) -> Result<String, FieldError> {
    name_like("name", value, USER_NAME_MAX_CHARS)
}

/// A group's name: 1 to 64 characters after trimming, no control characters,
/// no bidirectional controls, at least one visible character.
pub fn group_name(value: &str) -> Result<String, FieldError> {
    name_like("name", value, GROUP_NAME_MAX_CHARS)
}

/// A group's description: 0 to 256 characters.
pub fn group_desc(value: &str) -> Result<(), FieldError> {
    if value.chars().count() > GROUP_DESC_MAX_CHARS {
        return Err(FieldError::new(
            "desc",
            format!("must be at most {GROUP_DESC_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A password: 6 to 128 bytes.
pub fn password(value: &str) -> Result<(), FieldError> {
    let n = value.len();
    if !(PASSWORD_MIN_BYTES..=PASSWORD_MAX_BYTES).contains(&n) {
        return Err(FieldError::new(
            "password",
            format!("must be {PASSWORD_MIN_BYTES} to {PASSWORD_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A token: non-empty and of bounded length.
pub fn token(value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > TOKEN_MAX_BYTES {
        return Err(FieldError::new(
            "token",
            format!("must be 1 to {TOKEN_MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// A message text: 1 to 4096 bytes, with at least one visible character
/// (not only white space, nor only zero-width or other invisible ones).
pub fn text(value: &str) -> Result<(), FieldError> {
    if value.len() > TEXT_MAX_BYTES {
        return Err(FieldError::new(
            "text",
            format!("must be at most {TEXT_MAX_BYTES} bytes"),
        ));
    }
    if value.chars().all(is_invisible) {
        return Err(FieldError::new(
            "text",
            "must contain a visible character (not only white space or invisible ones)",
        ));
    }
    Ok(())
}

/// A client message id: 1 to 64 characters.
pub fn cid(value: &str) -> Result<(), FieldError> {
    let n = value.chars().count();
    if !(1..=CID_MAX_CHARS).contains(&n) {
        return Err(FieldError::new(
            "cid",
            format!("must be 1 to {CID_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A history page size: 1 to 100.
pub fn limit(value: u64) -> Result<u32, FieldError> {
    if !(1..=HISTORY_LIMIT_MAX as u64).contains(&value) {
        return Err(FieldError::new(
            "limit",
            format!("must be 1 to {HISTORY_LIMIT_MAX}"),
        ));
    }
    Ok(value as u32)
}

/// The ids of an `ack`: 1 to 1000 of them.
pub fn ack_ids(ids: &[u64]) -> Result<(), FieldError> {
    if ids.is_empty() || ids.len() > ACK_MAX_IDS {
        return Err(FieldError::new(
            "ids",
            format!("must hold 1 to {ACK_MAX_IDS} message ids"),
        ));
    }
    Ok(())
}

/// The new password of `change_password`: the password rules, naming
/// the field `new`.
pub fn new_password(value: &str) -> Result<(), FieldError> {
    password(value).map_err(|e| FieldError::new("new", e.problem))
}

/// Fewest and most seconds a client may promise between two frames
/// (`login`'s `heartbeat`).
pub const HEARTBEAT_MIN_SECS: u64 = 5;
pub const HEARTBEAT_MAX_SECS: u64 = 3600;

/// `heartbeat`: 5 to 3600 seconds.
pub fn heartbeat(value: u64) -> Result<u32, FieldError> {
    if !(HEARTBEAT_MIN_SECS..=HEARTBEAT_MAX_SECS).contains(&value) {
        return Err(FieldError::new(
            "heartbeat",
            format!("must be {HEARTBEAT_MIN_SECS} to {HEARTBEAT_MAX_SECS} seconds"),
        ));
    }
    Ok(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(user_name("  kirito ").unwrap(), "kirito");
        assert_eq!(user_name("   ").unwrap_err().field, "name");
        assert!(user_name(&"é".repeat(32)).is_ok());
        assert!(user_name(&"é".repeat(33)).is_err());
        assert!(user_name("a\u{7}b").is_err());
        assert!(group_name(&"x".repeat(64)).is_ok());
        assert!(group_name(&"x".repeat(65)).is_err());
        assert!(group_desc("").is_ok());
        assert!(group_desc(&"d".repeat(257)).is_err());
    }

    #[test]
    fn names_need_a_visible_character_and_no_bidi_controls() {
        for invisible in [
            "\u{200b}",
            "\u{feff}",
            "\u{200b}\u{feff}\u{2060}",
            "\u{3164}",
            "\u{2800}",
            " \u{200d} ",
        ] {
            for check in [user_name, group_name] {
                let e = check(invisible).unwrap_err();
                assert_eq!(e.field, "name", "{invisible:?}");
                assert!(e.problem.contains("visible"), "{invisible:?}: {e}");
            }
        }
        for bidi in [
            "\u{202e}nimda",
            "ad\u{2066}min\u{2069}",
            "a\u{200e}",
            "a\u{200f}",
            "a\u{61c}b",
            "\u{202a}x",
        ] {
            for check in [user_name, group_name] {
                let e = check(bidi).unwrap_err();
                assert_eq!(e.field, "name", "{bidi:?}");
                assert!(e.problem.contains("bidirectional"), "{bidi:?}: {e}");
            }
        }
        // Visible characters with invisible ones among them stay allowed,
        // as do scripts written right to left, and emoji sequences.
        assert_eq!(user_name("a\u{200b}b").unwrap(), "a\u{200b}b");
        assert!(user_name("سارا").is_ok());
        assert!(user_name("שרה").is_ok());
        assert!(group_name("👩\u{200d}💻 club").is_ok());
        assert!(user_name("\u{301}").is_ok(), "a lone accent still shows");
    }

    #[test]
    fn passwords_count_bytes() {
        assert!(password("12345").is_err());
        assert!(password("123456").is_ok());
        assert!(password(&"p".repeat(128)).is_ok());
        assert!(password(&"p".repeat(129)).is_err());
        // 3 characters of 2 bytes each make 6 bytes.
        assert!(password("ééé").is_ok());
    }

    #[test]
    fn texts_and_cids() {
        assert!(text("hi").is_ok());
        assert!(text(" \n\t ").is_err());
        for invisible in ["\u{200b}", "\u{feff}", " \u{200b}\u{2060} ", "\u{e0041}"] {
            assert_eq!(text(invisible).unwrap_err().field, "text", "{invisible:?}");
        }
        // Texts may carry bidirectional controls around visible text.
        assert!(text("\u{202e}olleh").is_ok());
        assert!(text("a\u{200b}").is_ok());
        assert!(text("").is_err());
        assert!(text(&"a".repeat(4096)).is_ok());
        assert!(text(&"a".repeat(4097)).is_err());
        assert!(cid("").is_err());
        assert!(cid(&"c".repeat(64)).is_ok());
        assert!(cid(&"c".repeat(65)).is_err());
    }

    #[test]
    fn limits_and_acks() {
        assert_eq!(limit(1).unwrap(), 1);
        assert_eq!(limit(100).unwrap(), 100);
        assert!(limit(0).is_err());
        assert!(limit(101).is_err());
        assert!(ack_ids(&[]).is_err());
        assert!(ack_ids(&[1; 1000]).is_ok());
        assert!(ack_ids(&[1; 1001]).is_err());
    }
}
