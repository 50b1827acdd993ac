//! Before/after comparison around a change (a deploy, a config change): did the error ratio
//! move, and is the move more than chance?
//!
//! The test is the two-proportion z-test on bad/total before and after, with the pooled ratio.
//! It suits the event counts SLIs have (hundreds to millions per window); with fewer than
//! [`MIN_EVENTS`] events on either side the verdict is `insufficient_data`.

use crate::report::burn_rate;
use crate::{Counts, Objective};
use serde::Serialize;

/// Fewest events each side needs for a verdict.
pub const MIN_EVENTS: u64 = 30;

/// |z| above this is significant (two-sided, 95%).
pub const Z_CRITICAL: f64 = 1.96;

/// One side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Side {
    pub good: u64,
    pub total: u64,
    /// `None` without events.
    pub sli: Option<f64>,
    pub error_ratio: Option<f64>,
    pub burn_rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The error ratio rose by more than chance explains.
    Worse,
    /// It fell by more than chance explains.
    Better,
    /// Any difference is within chance.
    NoSignificantChange,
    /// Too few events on one side to say.
    InsufficientData,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    pub before: Side,
    pub after: Side,
    /// After minus before, in SLI points (`None` when a side has no events).
    pub sli_change: Option<f64>,
    /// After over before; `None` when the before burn rate is 0.
    pub burn_rate_factor: Option<f64>,
    /// The two-proportion z statistic (positive: more errors after); `None` without a verdict.
    pub z: Option<f64>,
    pub verdict: Verdict,
}

fn side(c: Counts, objective: Objective) -> Side {
    let ratio = (c.total > 0).then(|| c.bad() as f64 / c.total as f64);
    Side {
        good: c.good.min(c.total),
        total: c.total,
        sli: ratio.map(|r| 1.0 - r),
        error_ratio: ratio,
        burn_rate: burn_rate(c, objective),
    }
}

/// Compares the counts before and after a change.
pub fn compare(before: Counts, after: Counts, objective: Objective) -> Comparison {
    let b = side(before, objective);
    let a = side(after, objective);
    let sli_change = a.sli.zip(b.sli).map(|(a, b)| a - b);
    let burn_rate_factor = (b.burn_rate > 0.0).then(|| a.burn_rate / b.burn_rate);
    if before.total < MIN_EVENTS || after.total < MIN_EVENTS {
        return Comparison {
            before: b,
            after: a,
            sli_change,
            burn_rate_factor,
            z: None,
            verdict: Verdict::InsufficientData,
        };
    }
    let (n1, n2) = (before.total as f64, after.total as f64);
    let (p1, p2) = (before.bad() as f64 / n1, after.bad() as f64 / n2);
    let pooled = (before.bad() + after.bad()) as f64 / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    // No errors on either side (or only errors): nothing varies, nothing changed.
    let z = if variance > 0.0 {
        (p2 - p1) / variance.sqrt()
    } else {
        0.0
    };
    let verdict = if z > Z_CRITICAL {
        Verdict::Worse
    } else if z < -Z_CRITICAL {
        Verdict::Better
    } else {
        Verdict::NoSignificantChange
    };
    Comparison {
        before: b,
        after: a,
        sli_change,
        burn_rate_factor,
        z: Some(z),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(good: u64, total: u64) -> Counts {
        Counts { good, total }
    }

    const SLO: Objective = Objective::Target(0.999);

    #[test]
    fn a_deploy_that_triples_errors_is_worse() {
        // 0.1% → 0.3% errors over 100,000 requests each side.
        let r = compare(c(99_900, 100_000), c(99_700, 100_000), SLO);
        assert_eq!(r.verdict, Verdict::Worse);
        // Pooled p = 0.002, variance = 0.002 × 0.998 × 2e-5: z = 0.002 / 1.99800e-4 ≈ 10.01.
        let z = r.z.unwrap_or(0.0);
        assert!(
            (z - 0.002 / (0.002f64 * 0.998 * 2e-5).sqrt()).abs() < 1e-9,
            "{z}"
        );
        assert!((r.before.burn_rate - 1.0).abs() < 1e-9);
        assert!((r.after.burn_rate - 3.0).abs() < 1e-9);
        assert!((r.burn_rate_factor.unwrap_or(0.0) - 3.0).abs() < 1e-9);
        assert!((r.sli_change.unwrap_or(0.0) + 0.002).abs() < 1e-12);
    }

    #[test]
    fn a_fix_is_better_and_noise_is_no_change() {
        let better = compare(c(9_900, 10_000), c(9_990, 10_000), SLO);
        assert_eq!(better.verdict, Verdict::Better);
        // 10 vs 12 errors in 10,000: z ≈ 0.43, chance.
        let noise = compare(c(9_990, 10_000), c(9_988, 10_000), SLO);
        assert_eq!(noise.verdict, Verdict::NoSignificantChange);
        let z = noise.z.unwrap_or(f64::NAN);
        assert!(z > 0.0 && z < 1.0, "{z}");
    }

    #[test]
    fn too_few_events_or_no_errors_at_all() {
        let few = compare(c(10, 10), c(0, 29), SLO);
        assert_eq!(few.verdict, Verdict::InsufficientData);
        assert_eq!(few.z, None);
        assert_eq!(few.after.sli, Some(0.0));
        let empty = compare(c(0, 0), c(5, 5), SLO);
        assert_eq!(empty.before.sli, None);
        assert_eq!(empty.sli_change, None);
        assert_eq!(empty.burn_rate_factor, None);
        let clean = compare(c(500, 500), c(800, 800), SLO);
        assert_eq!(clean.verdict, Verdict::NoSignificantChange);
        assert_eq!(clean.z, Some(0.0));
    }
}
