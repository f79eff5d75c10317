//! Exact binomial arithmetic for threshold tuning and the breaker: tail probabilities through
//! the regularised incomplete beta function, Clopper-Pearson upper bounds, and the least number
//! of error-free verdicts that can show an error rate is under a target. Pure and allocation-free.

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, nine terms; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The continued fraction of the incomplete beta function, evaluated by the modified Lentz
/// method; converges quickly for x < (a + 1) / (a + b + 2).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPSILON: f64 = 1e-15;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
    let mut h = d;
    // The number of terms grows like the square root of a + b; this bound covers a + b in the
    // hundreds of millions.
    for m in 1..100_000 {
        let m = f64::from(m);
        let even = m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// The regularised incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1].
pub fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// P(X <= k) for X ~ Binomial(n, p).
pub fn cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    if p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let ln_none = n as f64 * (-p).ln_1p();
    if k <= 1_000 && ln_none > -700.0 {
        // Few terms, none lost to underflow: sum them, each from the one before.
        let mut term = ln_none.exp();
        let mut sum = term;
        let odds = p / (1.0 - p);
        for i in 1..=k {
            term *= (n - i + 1) as f64 / i as f64 * odds;
            sum += term;
        }
        return sum.min(1.0);
    }
    // P(X <= k) = I_{1-p}(n - k, k + 1).
    incomplete_beta((n - k) as f64, (k + 1) as f64, 1.0 - p)
}

/// P(X >= k) for X ~ Binomial(n, p).
pub fn upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    1.0 - cdf(k - 1, n, p)
}

/// The exact (Clopper-Pearson) one-sided upper bound on a binomial proportion after `k` events
/// in `n` trials: the largest p under which seeing `k` or fewer events still has probability at
/// least `level`. It holds with probability at least `1 - level`. With no trials it is 1.
pub fn upper_bound(k: u64, n: u64, level: f64) -> f64 {
    if n == 0 || k >= n {
        return 1.0;
    }
    if k == 0 {
        // (1 - p)^n = level.
        return 1.0 - level.powf(1.0 / n as f64);
    }
    // cdf(k, n, p) falls as p grows; bisect for the p where it crosses `level`.
    let rate = k as f64 / n as f64;
    let (mut low, mut high) = (rate, 1.0f64);
    // The bound lies within a few standard errors of the rate: start from a bracket of six
    // (widened until it holds), then halve it to a precision far below any rate shown.
    let step = 6.0 * (rate * (1.0 - rate) / n as f64).sqrt() + 6.0 / n as f64;
    let mut guess = (rate + step).min(1.0);
    while guess < 1.0 && cdf(k, n, guess) > level {
        low = guess;
        guess = (guess + 2.0 * step).min(1.0);
    }
    high = high.min(guess.max(low));
    while high - low > 1e-13 * high.max(1e-3) {
        let mid = 0.5 * (low + high);
        if cdf(k, n, mid) > level {
            low = mid;
        } else {
            high = mid;
        }
    }
    high
}

/// The least number of verdicts, all of them "right", whose upper bound at `level` is at or
/// under `alpha`: the smallest n with (1 - alpha)^n <= level, that is ln(level) / ln(1 - alpha)
/// rounded up. No sample smaller than this can support a threshold, whatever it shows.
pub fn min_sample(alpha: f64, level: f64) -> u64 {
    let n = (level.ln() / (1.0 - alpha).ln()).ceil();
    // (1 - alpha)^n can miss `level` by a rounding error at an exact boundary.
    let n = n.max(1.0) as u64;
    if (1.0 - alpha).powf((n - 1) as f64) <= level { n - 1 } else { n }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn gamma_matches_factorials() {
        for (n, factorial) in [(1u32, 1.0f64), (2, 1.0), (5, 24.0), (11, 3_628_800.0), (21, 2.432_902_008_176_64e18)] {
            assert!(close(ln_gamma(f64::from(n)), factorial.ln(), 1e-13), "ln Γ({n})");
        }
        // Γ(1/2) = √π.
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-13));
    }

    #[test]
    fn binomial_tails_are_exact() {
        // P(X <= 2) for n = 10, p = 0.3 is 0.3827827864 (tables).
        assert!(close(cdf(2, 10, 0.3), 0.382_782_786_4, 1e-9));
        // P(X >= 5) for n = 20, p = 0.1 is 0.0431745 (tables).
        assert!(close(upper_tail(5, 20, 0.1), 0.043_174_495_3, 1e-8));
        // Both routes to the tail agree where either could be taken.
        for (k, n, p) in
            [(3u64, 149u64, 0.02f64), (17, 400, 0.05), (40, 1000, 0.03), (120, 5000, 0.025), (900, 30_000, 0.031)]
        {
            let by_beta = incomplete_beta((n - k) as f64, (k + 1) as f64, 1.0 - p);
            assert!(close(cdf(k, n, p), by_beta, 1e-9), "{k}/{n} at {p}: {} vs {by_beta}", cdf(k, n, p));
        }
        assert_eq!(cdf(10, 10, 0.5), 1.0);
        assert_eq!(upper_tail(0, 10, 0.5), 1.0);
        assert_eq!(upper_tail(11, 10, 0.5), 0.0);
    }

    #[test]
    fn clopper_pearson_upper_bounds() {
        // No errors in 149: 1 - 0.05^(1/149) = 0.0199048..., just under 2 %.
        assert!(close(upper_bound(0, 149, 0.05), 0.019_904_816, 1e-7));
        assert!(upper_bound(0, 148, 0.05) > 0.02);
        // One error in 10 at 95 %: 0.3942 (the root of (1-p)^10 + 10p(1-p)^9 = 0.05).
        assert!(close(upper_bound(1, 10, 0.05), 0.394_163_5, 1e-6));
        // The bound is where the tail equals the level.
        for (k, n) in [(1u64, 10u64), (5, 200), (30, 1000), (400, 100_000)] {
            let bound = upper_bound(k, n, 0.05);
            assert!(close(cdf(k, n, bound), 0.05, 1e-8), "cdf at the bound for {k}/{n}");
            assert!(bound > k as f64 / n as f64);
        }
        assert_eq!(upper_bound(0, 0, 0.05), 1.0);
        assert_eq!(upper_bound(7, 7, 0.05), 1.0);
        // Stricter levels give wider bounds.
        assert!(upper_bound(3, 300, 0.01) > upper_bound(3, 300, 0.05));
    }

    #[test]
    fn large_samples_stay_accurate() {
        // 2 % of ten million: the bound sits a hair above the rate (normal approximation:
        // 0.02 + 1.645 * sqrt(0.02 * 0.98 / 1e7) = 0.0200728).
        let bound = upper_bound(200_000, 10_000_000, 0.05);
        assert!((bound - 0.020_072_8).abs() < 2e-6, "{bound}");
    }

    #[test]
    fn minimum_samples() {
        assert_eq!(min_sample(0.02, 0.05), 149);
        assert_eq!(min_sample(0.01, 0.05), 299);
        assert_eq!(min_sample(0.05, 0.05), 59);
        assert_eq!(min_sample(0.02, 0.01), 228);
        // The minimum is exactly where an error-free sample's bound reaches the target.
        for (alpha, level) in [(0.02, 0.05), (0.01, 0.05), (0.05, 0.05), (0.02, 0.01)] {
            let n = min_sample(alpha, level);
            assert!(upper_bound(0, n, level) <= alpha);
            assert!(upper_bound(0, n - 1, level) > alpha);
        }
    }
}
