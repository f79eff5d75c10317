//! How far a periodic reader of new rows has looked: the escalation sweeper (new items and
//! decisions) and the tuning breaker (new verdicts) look only at what is newer than what they
//! have seen, keyed by the rows' ids.
//!
//! A key is handed out when its row is written and the row shows when its transaction commits,
//! so a row can show below a key already seen (written before another that committed first). A
//! pass therefore looks back over two passes, at what is newer than the keys as the pass before
//! the last began, which covers any transaction shorter than a pass's interval, and every
//! [`FULL_LOOK_EVERY`] passes at everything, for a slower one. A new `Seen` has seen nothing,
//! so that the first pass of a process looks at everything.

/// How often a reader looks at everything again (once a minute at the sweepers' default
/// interval of two seconds).
pub const FULL_LOOK_EVERY: u64 = 30;

/// The keys of `N` tables as the last two passes began.
#[derive(Debug, Clone, Copy)]
pub struct Seen<const N: usize> {
    /// The newest keys as the last pass began.
    newest: [i64; N],
    /// The same as the pass before the last began: where the next pass looks from.
    from: [i64; N],
    passes: u64,
}

impl<const N: usize> Default for Seen<N> {
    fn default() -> Self {
        Seen { newest: [0; N], from: [0; N], passes: 0 }
    }
}

impl<const N: usize> Seen<N> {
    /// The keys the next pass looks from, 0 for everything.
    pub fn looks_from(&self) -> [i64; N] {
        if self.passes.is_multiple_of(FULL_LOOK_EVERY) { [0; N] } else { self.from }
    }

    /// Whether the next pass looks at everything.
    pub fn looks_at_everything(&self) -> bool {
        self.passes.is_multiple_of(FULL_LOOK_EVERY)
    }

    /// A pass that began with `newest` the newest keys is done.
    pub fn passed(&mut self, newest: [i64; N]) {
        *self = Seen { newest, from: self.newest, passes: self.passes + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_looks_back_over_two_passes_and_at_everything_every_so_often() {
        let mut seen = Seen::<2>::default();
        assert_eq!(seen.looks_from(), [0, 0], "the first pass looks at everything");
        seen.passed([10, 100]);
        assert_eq!(seen.looks_from(), [0, 0], "the second, back to before the first began");
        seen.passed([20, 200]);
        assert_eq!(seen.looks_from(), [10, 100], "the third, back to when the first began");
        seen.passed([30, 300]);
        assert_eq!(seen.looks_from(), [20, 200]);
        for pass in 4..=FULL_LOOK_EVERY as i64 {
            seen.passed([pass * 10, pass * 100]);
        }
        assert!(seen.looks_at_everything());
        assert_eq!(seen.looks_from(), [0, 0], "every FULL_LOOK_EVERY passes, everything again");
        seen.passed([1000, 10_000]);
        let last = FULL_LOOK_EVERY as i64 * 10;
        assert!(!seen.looks_at_everything());
        assert_eq!(seen.looks_from(), [last, last * 10], "and then on from where it was");
    }
}
