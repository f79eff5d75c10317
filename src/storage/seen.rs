//! How far a periodic reader of new rows has looked: the escalation sweeper (new items and
//! decisions) and the tuning breaker (new verdicts) look only at what is newer than what they
//! have seen, keyed by the rows' ids.
//!
//! A key is handed out when its row is written and the row shows when its transaction commits,
//! so a row can show below a key already seen (written before another that committed first). A
//! pass therefore looks back over two passes, at what is newer than the keys as the pass before
//! the last began, which covers any transaction shorter than a pass's interval; every
//! [`FAR_LOOK_EVERY`] passes it looks back as far again in far looks (to the keys as the far look
//! before the last began), for a slower one; and every [`FULL_LOOK_EVERY`] passes at everything.
//! A look at everything reads every open escalation or escalated item, which grows with the
//! database (over 0.5 s on a 1,000,000-item SQLite database in the soak benchmark): once a
//! minute was too often for what it guards against, a transaction open longer than a minute. A
//! new `Seen` has seen nothing, so that the first pass of a process looks at everything.

/// How often a reader looks back over the last two far looks (once a minute at the sweepers'
/// default interval of two seconds).
pub const FAR_LOOK_EVERY: u64 = 30;

/// How often a reader looks at everything again (every half hour at two seconds).
pub const FULL_LOOK_EVERY: u64 = 30 * FAR_LOOK_EVERY;

/// The keys of `N` tables as the last two passes began, and as the last two far looks began.
#[derive(Debug, Clone, Copy)]
pub struct Seen<const N: usize> {
    /// The newest keys as the last pass began.
    newest: [i64; N],
    /// The same as the pass before the last began: where the next pass looks from.
    from: [i64; N],
    /// The newest keys as the far look before the last began, and as the last one began: the
    /// next far look looks from the first.
    far: [[i64; N]; 2],
    passes: u64,
}

impl<const N: usize> Default for Seen<N> {
    fn default() -> Self {
        Seen { newest: [0; N], from: [0; N], far: [[0; N]; 2], passes: 0 }
    }
}

impl<const N: usize> Seen<N> {
    /// The keys the next pass looks from, 0 for everything.
    pub fn looks_from(&self) -> [i64; N] {
        if self.looks_at_everything() {
            [0; N]
        } else if self.passes.is_multiple_of(FAR_LOOK_EVERY) {
            self.far[0]
        } else {
            self.from
        }
    }

    /// Whether the next pass looks at everything.
    pub fn looks_at_everything(&self) -> bool {
        self.passes.is_multiple_of(FULL_LOOK_EVERY)
    }

    /// A pass that began with `newest` the newest keys is done.
    pub fn passed(&mut self, newest: [i64; N]) {
        let far = if self.passes.is_multiple_of(FAR_LOOK_EVERY) { [self.far[1], newest] } else { self.far };
        *self = Seen { newest, from: self.newest, far, passes: self.passes + 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs passes until the one numbered `pass` (0 for the first) is next, each beginning
    /// with the newest keys `[pass * 10, pass * 100]`.
    fn pass_to(seen: &mut Seen<2>, done: &mut u64, pass: u64) {
        while *done < pass {
            let keys = *done as i64;
            seen.passed([keys * 10, keys * 100]);
            *done += 1;
        }
    }

    #[test]
    fn a_pass_looks_back_over_two_passes() {
        let mut seen = Seen::<2>::default();
        assert_eq!(seen.looks_from(), [0, 0], "the first pass looks at everything");
        seen.passed([10, 100]);
        assert_eq!(seen.looks_from(), [0, 0], "the second, back to before the first began");
        seen.passed([20, 200]);
        assert_eq!(seen.looks_from(), [10, 100], "the third, back to when the first began");
        seen.passed([30, 300]);
        assert_eq!(seen.looks_from(), [20, 200]);
        assert!(!seen.looks_at_everything());
    }

    #[test]
    fn far_looks_go_back_over_two_far_looks_and_full_ones_to_the_start() {
        let (mut seen, mut done) = (Seen::<2>::default(), 0);
        let far = FAR_LOOK_EVERY;
        pass_to(&mut seen, &mut done, far);
        assert_eq!(seen.looks_from(), [0, 0], "the first far look: only a full look came before it");
        assert!(!seen.looks_at_everything());
        pass_to(&mut seen, &mut done, far + 1);
        assert_eq!(seen.looks_from(), [(far as i64 - 1) * 10, (far as i64 - 1) * 100], "then back over two passes");
        pass_to(&mut seen, &mut done, 2 * far);
        assert_eq!(seen.looks_from(), [0, 0], "back to when the full look began");
        pass_to(&mut seen, &mut done, 3 * far);
        let first_far = far as i64 * 10;
        assert_eq!(seen.looks_from(), [first_far, first_far * 10], "back to when the far look before the last began");
        pass_to(&mut seen, &mut done, FULL_LOOK_EVERY);
        assert!(seen.looks_at_everything());
        assert_eq!(seen.looks_from(), [0, 0], "every FULL_LOOK_EVERY passes, everything again");
        pass_to(&mut seen, &mut done, FULL_LOOK_EVERY + 2);
        let last = FULL_LOOK_EVERY as i64 * 10;
        assert_eq!(seen.looks_from(), [last, last * 10], "and then on from where it was");
    }
}
