//! Multi-row statements, built once per size from constant pieces, and the
//! splitting of a batch into runs of those sizes.

use std::sync::LazyLock;

/// The sizes multi-row statements come in (powers of two, so a few
/// prepared statements cover every batch). Each statement is one round
/// trip to the database, so they are large: 512 messages bind 3584
/// values, within SQLite's limit of 32766.
pub const SIZES: [usize; 10] = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1];
/// Acks are an OR of (user, id) pairs; keep the expression shallow.
pub const MAX_ACKS: usize = 256;

fn build(head: &str, row: &str, sep: &str, tail: &str) -> Vec<String> {
    SIZES
        .iter()
        .map(|&n| format!("{head}{}{tail}", vec![row; n].join(sep)))
        .collect()
}

pub fn pick(table: &'static [String], n: usize) -> &'static str {
    let i = SIZES
        .iter()
        .position(|&s| s == n)
        .unwrap_or(SIZES.len() - 1);
    &table[i]
}

const MSG_COLS: &str =
    " INTO messages (id, sender_id, recipient_id, group_id, text, cid, ts) VALUES ";
const MSG_ROW: &str = "(?, ?, ?, ?, ?, ?, ?)";
pub static SQLITE_MESSAGES: LazyLock<Vec<String>> =
    LazyLock::new(|| build(&format!("INSERT OR IGNORE{MSG_COLS}"), MSG_ROW, ", ", ""));
pub static MYSQL_MESSAGES: LazyLock<Vec<String>> =
    LazyLock::new(|| build(&format!("INSERT IGNORE{MSG_COLS}"), MSG_ROW, ", ", ""));
pub static INBOX: LazyLock<Vec<String>> = LazyLock::new(|| {
    build(
        "INSERT INTO inbox (user_id, msg_id) VALUES ",
        "(?, ?)",
        ", ",
        "",
    )
});
/// Which of these (user, friend) pairs are friends.
pub static FRIEND_PAIRS: LazyLock<Vec<String>> = LazyLock::new(|| {
    build(
        "SELECT user_id, friend_id FROM friendships WHERE ",
        "(user_id = ? AND friend_id = ?)",
        " OR ",
        "",
    )
});
/// Which of these (group, user) pairs are memberships.
pub static MEMBER_PAIRS: LazyLock<Vec<String>> = LazyLock::new(|| {
    build(
        "SELECT group_id, user_id FROM group_members WHERE ",
        "(group_id = ? AND user_id = ?)",
        " OR ",
        "",
    )
});
/// Both dialects find each (user_id, msg_id) OR-term by primary key
/// (SQLite does not for a row-value IN list).
pub static ACKS: LazyLock<Vec<String>> = LazyLock::new(|| {
    build(
        "DELETE FROM inbox WHERE ",
        "(user_id = ? AND msg_id = ?)",
        " OR ",
        "",
    )
});

/// Splits items into runs whose lengths are in [`SIZES`].
pub fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    chunks_of(items, usize::MAX)
}

/// Like [`chunks`], with runs of at most `max` items.
pub fn chunks_of<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = SIZES
            .iter()
            .copied()
            .find(|&s| s <= rest.len() && s <= max)
            .unwrap_or(1);
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_everything_in_known_sizes() {
        for n in 0..300 {
            let items: Vec<usize> = (0..n).collect();
            let parts = chunks(&items);
            assert_eq!(parts.concat(), items);
            assert!(parts.iter().all(|p| SIZES.contains(&p.len())));
        }
        assert_eq!(
            pick(&ACKS, 2),
            "DELETE FROM inbox WHERE (user_id = ? AND msg_id = ?) OR (user_id = ? AND msg_id = ?)"
        );
        assert!(
            chunks_of(&[0; 1000], MAX_ACKS)
                .iter()
                .all(|c| c.len() <= 256)
        );
        assert!(pick(&SQLITE_MESSAGES, 64).matches('(').count() == 65);
    }
}
