//! The SQL that differs between SQLite and PostgreSQL, in one place: row locks and multi-row
//! `VALUES` lists. Everything else is written once, with `$1` placeholders both accept.
//!
//! SQLite has one writer at a time, so it needs no row locks: where PostgreSQL takes them, the
//! SQLite text has nothing.

use super::db::Backend;

impl Backend {
    /// `" for update"`: lock the rows read until the transaction ends.
    pub fn for_update(self) -> &'static str {
        match self {
            Backend::Postgres => " for update",
            Backend::Sqlite => "",
        }
    }

    /// `" for update of <table>"`: lock only that table's rows of a join (not the rows on the
    /// nullable side of an outer join, which cannot be locked).
    pub fn for_update_of(self, table: &str) -> String {
        match self {
            Backend::Postgres => format!(" for update of {table}"),
            Backend::Sqlite => String::new(),
        }
    }

    /// `" for update skip locked"`: lock the rows read, passing over those another transaction
    /// holds (how several instances share a queue without waiting for each other).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => " for update skip locked",
            Backend::Sqlite => "",
        }
    }

    /// [`Backend::skip_locked`] for the rows of one table of a join (PostgreSQL locks every
    /// joined table's rows otherwise).
    pub fn skip_locked_of(self, table: &str) -> String {
        match self {
            Backend::Postgres => format!(" for update of {table} skip locked"),
            Backend::Sqlite => String::new(),
        }
    }

    /// `row` (with `?` for each parameter) repeated `rows` times, for a multi-row insert:
    /// numbered `$1`, `$2`, … on PostgreSQL, left as `?` on SQLite. (For a named or numbered
    /// parameter sqlx asks SQLite its name, which SQLite finds by a linear scan: binding
    /// thousands of them costs quadratic time.)
    pub fn values(self, rows: usize, row: &str) -> String {
        if self == Backend::Sqlite {
            return vec![row; rows].join(", ");
        }
        let mut sql = String::with_capacity(rows * (row.len() + 40));
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            for c in row.chars() {
                if c == '?' {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                } else {
                    sql.push(c);
                }
            }
        }
        sql
    }

    /// Whether a multi-row statement of `rows` rows is kept prepared in its connection's cache
    /// (sqlx keeps up to 100 a connection). On SQLite a prepared statement lives in this process
    /// and grows with its text: the items insert holds 55 KB at 16 rows, 287 KB at 128 and
    /// 847 KB at 512, kept by each of the eight connections once a group that large reaches it;
    /// so only the sizes up to [`KEPT_ROWS`] are kept, and a larger one is prepared for its use
    /// (about 6 µs a row, beside some 25 to insert it). PostgreSQL keeps its prepared
    /// statements in the server, and keeps every chunk size. On both, only the sizes of
    /// [`chunks`] are kept: they come again and again, where any other size (the rest of an
    /// import, a group written whole) comes once in a while and kept would only push the others
    /// out of the cache.
    pub fn keeps_prepared(self, rows: usize) -> bool {
        CHUNKS.contains(&rows) && (self == Backend::Postgres || rows <= KEPT_ROWS)
    }
}

/// The largest multi-row statement SQLite keeps prepared (see [`Backend::keeps_prepared`]):
/// every size up to it, in every kind, fits in some 200 KB a connection.
pub const KEPT_ROWS: usize = 64;

/// A comma-separated list of ids for an `in (...)`, written into the statement: only for
/// numbers read from the database, never for text from a request. A statement whose list
/// changes with every use should not be kept prepared (`.persistent(false)`): it would only
/// push the statements that are used again out of the connection's cache.
pub fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter().map(|id| id.to_string()).collect::<Vec<_>>().join(", ")
}

/// Multi-row inserts are cut into chunks of these sizes (largest first): a group of any size
/// uses a few statements of at most ten distinct texts, which stay in each connection's
/// statement cache. 512 rows of up to 63 parameters stay below SQLite's limit of 32,766.
const CHUNKS: [usize; 10] = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1];

/// `0..len` cut into the chunk sizes above.
pub fn chunks(len: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for size in CHUNKS {
        while len - start >= size {
            ranges.push(start..start + size);
            start += size;
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_statements_are_kept_prepared_on_sqlite() {
        assert!(Backend::Sqlite.keeps_prepared(1) && Backend::Sqlite.keeps_prepared(KEPT_ROWS));
        assert!(!Backend::Sqlite.keeps_prepared(KEPT_ROWS + 1) && !Backend::Sqlite.keeps_prepared(512));
        assert!(Backend::Postgres.keeps_prepared(512));
    }

    #[test]
    fn only_chunk_sizes_are_kept_prepared() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            assert!(backend.keeps_prepared(32) && backend.keeps_prepared(1));
            assert!(!backend.keeps_prepared(7) && !backend.keeps_prepared(33), "{backend:?}");
        }
        assert!(!Backend::Postgres.keeps_prepared(500) && !Backend::Postgres.keeps_prepared(1000));
    }

    #[test]
    fn values_are_numbered_on_postgres_only() {
        assert_eq!(Backend::Sqlite.values(2, "(?, ?)"), "(?, ?), (?, ?)");
        assert_eq!(Backend::Postgres.values(2, "(?, 'x', ?)"), "($1, 'x', $2), ($3, 'x', $4)");
    }

    #[test]
    fn chunks_cover_every_row_once_in_few_sizes() {
        for len in [0, 1, 7, 512, 1000, 1537] {
            let ranges = chunks(len);
            assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), len);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(ranges.iter().all(|r| CHUNKS.contains(&r.len())));
        }
    }

    #[test]
    fn locks_only_on_postgres() {
        assert_eq!(Backend::Sqlite.for_update(), "");
        assert_eq!(Backend::Postgres.skip_locked(), " for update skip locked");
        assert_eq!(Backend::Postgres.for_update_of("w"), " for update of w");
        assert_eq!(Backend::Sqlite.for_update_of("w"), "");
    }
}
