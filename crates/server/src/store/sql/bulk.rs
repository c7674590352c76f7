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

/// Splits items into runs of at most `max`, each padded to the next size
/// in [`SIZES`] by repeating its last item: one statement (one round trip)
/// per run, for statements a repeated term does not change (a lookup or
/// a delete of pairs).
pub fn padded<T: Copy>(items: &[T], max: usize) -> Vec<Vec<T>> {
    items
        .chunks(max.max(1))
        .map(|run| {
            let size = SIZES
                .iter()
                .rev()
                .copied()
                .find(|&s| s >= run.len())
                .unwrap_or(run.len());
            let mut v = run.to_vec();
            if let Some(&last) = run.last() {
                v.resize(size, last);
            }
            v
        })
        .collect()
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

    #[test]
    fn padded_runs_keep_every_item_and_fill_with_the_last() {
        for n in 1..600 {
            let items: Vec<usize> = (0..n).collect();
            let runs = padded(&items, MAX_ACKS);
            assert_eq!(runs.len(), n.div_ceil(MAX_ACKS));
            let mut seen = Vec::new();
            for run in &runs {
                assert!(SIZES.contains(&run.len()) && run.len() <= MAX_ACKS);
                let distinct: Vec<usize> = run.iter().copied().fold(Vec::new(), |mut v, x| {
                    if v.last() != Some(&x) {
                        v.push(x);
                    }
                    v
                });
                seen.extend(distinct);
            }
            assert_eq!(seen, items);
        }
        assert_eq!(padded(&[7, 8, 9], 256), vec![vec![7, 8, 9, 9]]);
        assert!(padded::<u8>(&[], 256).is_empty());
    }
}
