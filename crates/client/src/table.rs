//! Right-aligned tables and banner rules that fit the terminal, as the
//! original client drew them (`        ID                NAME ...`).
//!
//! Widths are terminal columns (`unicode-width`: a CJK character or an
//! emoji takes two). At full width a column is at least its minimum (the
//! original's layout); on a narrow terminal the minimums go first, then
//! the text columns are cut, widest first, each cut cell ending in `…`.
//! Ids and states are never cut. Rules are as wide as the widest table
//! line, within the terminal, so that they line up.

use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

/// The original screens' rule width.
pub const ORIGINAL_WIDTH: usize = 74;
/// A cut column keeps at least this many columns of text.
const MIN_TEXT: usize = 4;

/// One column: its header, its minimum width (spacing included), and
/// whether its cells may be cut.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub min: usize,
    pub cut: bool,
}

/// `s` cut to `cols` terminal columns, ending in `…` when cut.
pub fn fit(s: &str, cols: usize) -> String {
    if s.width() <= cols {
        return s.to_owned();
    }
    if cols == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > cols - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` right-aligned in `width` terminal columns.
pub fn right(s: &str, width: usize) -> String {
    let mut out = " ".repeat(width.saturating_sub(s.width()));
    out.push_str(s);
    out
}

/// `s` left-aligned in `width` terminal columns.
pub fn left(s: &str, width: usize) -> String {
    let mut out = s.to_owned();
    out.push_str(&" ".repeat(width.saturating_sub(s.width())));
    out
}

/// The widths of the columns (two spaces of spacing included), within
/// `limit` columns when that is possible.
fn widths(columns: &[Column], rows: &[Vec<String>], limit: Option<usize>) -> Vec<usize> {
    let content: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].width())
                .chain([c.header.width()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let full: Vec<usize> = content
        .iter()
        .zip(columns)
        .map(|(w, c)| (*w).max(c.min))
        .collect();
    let Some(limit) = limit else { return full };
    if full.iter().sum::<usize>() <= limit {
        return full;
    }
    // Without the minimums, the room left over goes back to them in
    // order, so the table stays as close to the original as it can.
    let mut w = content;
    let mut spare = limit.saturating_sub(w.iter().sum());
    for (i, c) in columns.iter().enumerate() {
        let give = c.min.saturating_sub(w[i]).min(spare);
        w[i] += give;
        spare -= give;
    }
    // Then the widest text column loses a column at a time.
    while w.iter().sum::<usize>() > limit {
        let widest = (0..columns.len())
            .filter(|&i| columns[i].cut && w[i] > MIN_TEXT + 2)
            .max_by_key(|&i| w[i]);
        match widest {
            Some(i) => w[i] -= 1,
            // Nothing left to cut: the terminal wraps it.
            None => break,
        }
    }
    w
}

/// A table of right-aligned cells, at least `at_least` columns wide (the
/// last column takes the room); returns it and its width.
pub fn table(
    columns: &[Column],
    rows: &[Vec<String>],
    limit: Option<usize>,
    at_least: usize,
) -> (String, usize) {
    let mut widths = widths(columns, rows, limit);
    let total: usize = widths.iter().sum();
    if let Some(last) = widths.last_mut() {
        *last += at_least.saturating_sub(total);
    }
    let total = widths.iter().sum();
    let mut out = String::new();
    for (c, w) in columns.iter().zip(&widths) {
        out.push_str(&right(&fit(c.header, w - 2), *w));
    }
    for row in rows {
        out.push('\n');
        for ((cell, c), w) in row.iter().zip(columns).zip(&widths) {
            let cell = if c.cut {
                fit(cell, w - 2)
            } else {
                cell.clone()
            };
            out.push_str(&right(&cell, *w));
        }
    }
    (out, total)
}

/// A rule of `width` dashes with `title` in the middle
/// (`-----friend list-----`); no title gives a plain rule.
pub fn rule(title: &str, width: usize) -> String {
    let title = fit(title, width);
    let dashes = width.saturating_sub(title.width());
    let before = dashes / 2;
    format!(
        "{}{title}{}",
        "-".repeat(before),
        "-".repeat(dashes - before)
    )
}

/// The width rules should have for tables of `widest` columns on a
/// terminal of `limit` columns (the original's width when that fits).
pub fn rule_width(widest: usize, limit: Option<usize>) -> usize {
    let want = widest.max(ORIGINAL_WIDTH);
    match limit {
        Some(limit) => want.min(limit),
        None => want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [Column; 3] = [
        Column {
            header: "ID",
            min: 10,
            cut: false,
        },
        Column {
            header: "NAME",
            min: 20,
            cut: true,
        },
        Column {
            header: "STATE",
            min: 40,
            cut: false,
        },
    ];

    fn row(id: &str, name: &str, state: &str) -> Vec<String> {
        vec![id.into(), name.into(), state.into()]
    }

    #[test]
    fn fit_cuts_by_columns_with_an_ellipsis() {
        assert_eq!(fit("kirito", 6), "kirito");
        assert_eq!(fit("kirito", 5), "kiri…");
        // Wide characters take two columns each.
        assert_eq!(fit("小明小明", 5), "小明…");
        assert_eq!(fit("小明小明", 5).width(), 5);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn full_width_keeps_the_original_minimums() {
        let (t, w) = table(&COLS, &[row("2001", "kir", "offline")], None, 0);
        assert_eq!(w, 70);
        assert_eq!(
            t.lines().nth(1),
            Some("      2001                 kir                                 offline")
        );
    }

    #[test]
    fn narrow_terminals_drop_minimums_then_cut_names() {
        for limit in [40, 30, 24] {
            let rows = [
                row("2001", "kir", "offline"),
                row(
                    "200005",
                    &"a very long name indeed, far too long".repeat(2),
                    "online",
                ),
                row("7", "小明小明小明小明小明小明小明小明", "online"),
            ];
            let (t, w) = table(&COLS, &rows, Some(limit), 0);
            assert!(w <= limit, "{limit}: {w}\n{t}");
            for line in t.lines() {
                assert_eq!(line.width(), w, "{limit}:\n{t}");
            }
            assert!(t.contains("200005") && t.contains("offline"), "{t}");
            assert!(t.lines().nth(2).unwrap().contains('…'), "{t}");
        }
        // Short names at 40 columns are not cut.
        let (t, _) = table(&COLS, &[row("1", "alice", "online")], Some(40), 0);
        // Stretched to line up with a wider table.
        let (t2, w2) = table(&COLS, &[row("1", "alice", "online")], None, 80);
        assert_eq!(w2, 80);
        assert!(t2.lines().all(|l| l.width() == 80), "{t2}");
        assert!(t.contains("alice") && !t.contains('…'), "{t}");
    }

    #[test]
    fn rules_line_up_with_the_tables() {
        assert_eq!(rule("friend list", 20), "----friend list-----");
        assert_eq!(rule("", 5), "-----");
        assert_eq!(rule_width(70, None), 74);
        assert_eq!(rule_width(90, None), 90);
        assert_eq!(rule_width(90, Some(40)), 40);
    }
}
