//! Per-bucket counters with prefix sums, so any window's totals are O(1).

use crate::{Budgeting, Exclusion};

/// Good and total events (or, for timeslices, good and total slices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub good: u64,
    pub total: u64,
}

impl Counts {
    pub fn bad(&self) -> u64 {
        self.total.saturating_sub(self.good)
    }
}

/// A dense run of buckets `[start, start + step * n)` with prefix sums of events and of
/// timeslices. Built once per evaluation; queried for many windows.
#[derive(Debug, Clone)]
pub struct Series {
    start: i64,
    step: i64,
    /// prefix_good[i] = sum of good over buckets 0..i (len n + 1); same for the others.
    prefix_good: Vec<u64>,
    prefix_total: Vec<u64>,
    prefix_good_slices: Vec<u64>,
    prefix_slices: Vec<u64>,
}

impl Series {
    /// Builds a series over `[start, end)` (rounded out to whole buckets of `step` seconds)
    /// from sparse `(bucket_start, good, total)` samples. Samples outside the range are
    /// ignored; samples at a finer resolution are summed into their bucket; buckets whose
    /// start falls in an exclusion count nothing. `good` above `total` is clamped, so bad
    /// counts are never negative.
    pub fn build(
        start: i64,
        end: i64,
        step: i64,
        samples: impl IntoIterator<Item = (i64, u64, u64)>,
        exclusions: &[Exclusion],
        budgeting: Budgeting,
    ) -> Series {
        let step = step.max(1);
        let start = start.div_euclid(step) * step;
        let n = if end > start {
            ((end - start) + step - 1) / step
        } else {
            0
        } as usize;
        let mut good = vec![0u64; n];
        let mut total = vec![0u64; n];
        for (at, g, t) in samples {
            if at < start {
                continue;
            }
            let idx = ((at - start) / step) as usize;
            if idx >= n {
                continue;
            }
            good[idx] = good[idx].saturating_add(g);
            total[idx] = total[idx].saturating_add(t);
        }
        for ex in exclusions {
            for (i, (g, t)) in good.iter_mut().zip(total.iter_mut()).enumerate() {
                let bucket = start + i as i64 * step;
                if bucket >= ex.from && bucket < ex.to {
                    *g = 0;
                    *t = 0;
                }
            }
        }
        let slice_target = match budgeting {
            Budgeting::Timeslices { slice_target } => slice_target,
            // Unused for occurrences, but keeps the slice prefix meaningful (any bad = bad).
            Budgeting::Occurrences => 1.0,
        };
        let mut series = Series {
            start,
            step,
            prefix_good: Vec::with_capacity(n + 1),
            prefix_total: Vec::with_capacity(n + 1),
            prefix_good_slices: Vec::with_capacity(n + 1),
            prefix_slices: Vec::with_capacity(n + 1),
        };
        let (mut pg, mut pt, mut pgs, mut ps) = (0u64, 0u64, 0u64, 0u64);
        series.push_prefix(pg, pt, pgs, ps);
        for i in 0..n {
            let g = good[i].min(total[i]);
            pg += g;
            pt += total[i];
            if total[i] > 0 {
                ps += 1;
                if g as f64 / total[i] as f64 >= slice_target {
                    pgs += 1;
                }
            }
            series.push_prefix(pg, pt, pgs, ps);
        }
        series
    }

    fn push_prefix(&mut self, good: u64, total: u64, good_slices: u64, slices: u64) {
        self.prefix_good.push(good);
        self.prefix_total.push(total);
        self.prefix_good_slices.push(good_slices);
        self.prefix_slices.push(slices);
    }

    /// The series of one SLO over `[start, end)`: its bucket width, exclusions and budgeting,
    /// so no caller can forget one of them.
    pub fn for_slo(
        spec: &crate::SloSpec,
        start: i64,
        end: i64,
        samples: impl IntoIterator<Item = (i64, u64, u64)>,
    ) -> Series {
        Series::build(
            start,
            end,
            spec.bucket_seconds,
            samples,
            &spec.exclusions,
            spec.budgeting,
        )
    }

    pub fn start(&self) -> i64 {
        self.start
    }

    pub fn step(&self) -> i64 {
        self.step
    }

    /// End of the last bucket: the series covers `[start, end)`.
    pub fn end(&self) -> i64 {
        let span = i128::from(self.step) * self.len() as i128;
        i64::try_from(i128::from(self.start) + span).unwrap_or(i64::MAX)
    }

    pub fn len(&self) -> usize {
        self.prefix_total.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of the first bucket whose start is >= `at`, clamped to 0..=len.
    fn index(&self, at: i64) -> usize {
        if at <= self.start {
            return 0;
        }
        // i128: `at` may be anything (a window start far in the past), never overflow.
        let step = i128::from(self.step);
        let idx = (i128::from(at) - i128::from(self.start) + step - 1) / step;
        usize::try_from(idx).unwrap_or(usize::MAX).min(self.len())
    }

    /// Events in the buckets whose start is in `[from, to)`.
    pub fn events(&self, from: i64, to: i64) -> Counts {
        let (a, b) = (self.index(from), self.index(to));
        if b <= a {
            return Counts::default();
        }
        Counts {
            good: self.prefix_good[b] - self.prefix_good[a],
            total: self.prefix_total[b] - self.prefix_total[a],
        }
    }

    /// Timeslices in `[from, to)`: good slices and slices that had traffic.
    pub fn slices(&self, from: i64, to: i64) -> Counts {
        let (a, b) = (self.index(from), self.index(to));
        if b <= a {
            return Counts::default();
        }
        Counts {
            good: self.prefix_good_slices[b] - self.prefix_good_slices[a],
            total: self.prefix_slices[b] - self.prefix_slices[a],
        }
    }

    /// The unit the budget counts in: events for occurrences, slices for timeslices.
    pub fn budget_units(&self, budgeting: Budgeting, from: i64, to: i64) -> Counts {
        match budgeting {
            Budgeting::Occurrences => self.events(from, to),
            Budgeting::Timeslices { .. } => self.slices(from, to),
        }
    }

    /// Budget units of buckets `a..b` by index (clamped to the series), without the
    /// time-to-index divisions: the backtest's inner loop.
    pub(crate) fn units_by_index(&self, budgeting: Budgeting, a: usize, b: usize) -> Counts {
        let b = b.min(self.len());
        if b <= a {
            return Counts::default();
        }
        let (good, total) = match budgeting {
            Budgeting::Occurrences => (&self.prefix_good, &self.prefix_total),
            Budgeting::Timeslices { .. } => (&self.prefix_good_slices, &self.prefix_slices),
        };
        Counts {
            good: good[b] - good[a],
            total: total[b] - total[a],
        }
    }

    /// Per-bucket `(bucket_start, good, total)` (events), for charts and debugging.
    pub fn buckets(&self) -> impl Iterator<Item = (i64, u64, u64)> + '_ {
        (0..self.len()).map(move |i| {
            (
                self.start + i as i64 * self.step,
                self.prefix_good[i + 1] - self.prefix_good[i],
                self.prefix_total[i + 1] - self.prefix_total[i],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(samples: &[(i64, u64, u64)], from: i64, to: i64, start: i64, end: i64) -> Counts {
        let mut buckets = std::collections::BTreeMap::<i64, Counts>::new();
        for &(at, g, t) in samples {
            let bucket = at.div_euclid(60) * 60;
            if bucket >= from && bucket < to && at >= start && bucket < end {
                let c = buckets.entry(bucket).or_default();
                c.good += g;
                c.total += t;
            }
        }
        let mut sum = Counts::default();
        for c in buckets.values() {
            sum.good += c.good.min(c.total);
            sum.total += c.total;
        }
        sum
    }

    #[test]
    fn windows_are_half_open_on_bucket_starts() {
        let s = Series::build(
            0,
            600,
            60,
            [(0, 1, 1), (60, 1, 2), (540, 3, 3)],
            &[],
            Budgeting::Occurrences,
        );
        assert_eq!(s.events(0, 60), Counts { good: 1, total: 1 });
        assert_eq!(s.events(60, 120), Counts { good: 1, total: 2 });
        assert_eq!(s.events(0, 600), Counts { good: 5, total: 6 });
        assert_eq!(s.events(-1000, 10_000), Counts { good: 5, total: 6 });
        assert_eq!(s.events(120, 120), Counts::default());
    }

    #[test]
    fn exclusions_remove_whole_buckets() {
        let ex = [Exclusion {
            from: 60,
            to: 180,
            reason: "maintenance".into(),
        }];
        let s = Series::build(
            0,
            300,
            60,
            [(0, 1, 1), (60, 0, 5), (120, 0, 5), (180, 1, 1)],
            &ex,
            Budgeting::Occurrences,
        );
        assert_eq!(s.events(0, 300), Counts { good: 2, total: 2 });
    }

    #[test]
    fn timeslices_count_minutes_with_traffic() {
        let b = Budgeting::Timeslices { slice_target: 0.95 };
        // minute 0: 100% good, minute 1: 90% good (bad slice), minute 2: no traffic.
        let s = Series::build(0, 180, 60, [(0, 10, 10), (60, 9, 10)], &[], b);
        assert_eq!(s.slices(0, 180), Counts { good: 1, total: 2 });
        assert_eq!(s.budget_units(b, 0, 180), Counts { good: 1, total: 2 });
    }

    proptest! {
        #[test]
        fn prefix_windows_equal_naive_sums(
            samples in proptest::collection::vec((0i64..6000, 0u64..50, 0u64..50), 0..200),
            from in -100i64..7000,
            len in 0i64..7000,
        ) {

            let series = Series::build(0, 6000, 60, samples.clone(), &[], Budgeting::Occurrences);
            // Query bounds are aligned to buckets the way the series sees them.
            let to = from + len;
            let align = |x: i64| ((x.max(0) + 59) / 60) * 60;
            let expected = naive(&samples, align(from), align(to), 0, 6000);
            prop_assert_eq!(series.events(from, to), expected);
        }
    }
}
