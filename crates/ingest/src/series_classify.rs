//! Counter series (remote-write, OTLP sums) to per-(SLI, bucket) good/total increments.

use std::collections::BTreeMap;

use crate::counter::{CounterTracker, SeriesKey, Skip};
use crate::remote_write::{LabelPair, Sample, WriteRequest, WriteRequestRef};
use crate::series::SeriesSelector;

/// How an SLI's good events are selected.
#[derive(Debug, Clone)]
pub enum GoodSeries {
    /// Counters of good events (`good = Σ good`).
    Good(SeriesSelector),
    /// Counters of bad events (`good = total − Σ bad`).
    Bad(SeriesSelector),
}

/// One SLI implemented by counter series.
#[derive(Debug, Clone)]
pub struct SeriesSli {
    /// The SLI's index, handed back in [`SliIncrement::sli`].
    pub sli: usize,
    pub total: SeriesSelector,
    pub good: GoodSeries,
}

/// How a series' sample values accumulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// Running totals (Prometheus counters, OTLP cumulative sums): increases are tracked.
    Cumulative,
    /// Each value is the increase since the previous one (OTLP delta sums): added directly.
    Delta,
}

/// Good and total increments of one SLI in one bucket (Unix seconds, bucket start).
/// Counter increases may be fractional; `0 <= good <= total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliIncrement {
    pub sli: usize,
    pub bucket: i64,
    pub good: f64,
    pub total: f64,
}

/// What happened to the samples fed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesStats {
    /// Series selected by at least one SLI.
    pub series_matched: u64,
    /// Series no SLI selects (not tracked).
    pub series_unmatched: u64,
    pub samples: u64,
    /// Samples that produced an increase (possibly zero).
    pub increases: u64,
    pub baselines: u64,
    pub out_of_order: u64,
    /// NaN, stale markers, infinities and negative values.
    pub not_finite: u64,
    pub too_many_series: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    good: f64,
    bad: f64,
    total: f64,
}

/// Turns counter series into SLI increments. Holds the [`CounterTracker`] (persist it with
/// [`CounterTracker::export`]) and accumulates until [`RemoteWriteClassifier::take`].
#[derive(Debug, Clone)]
pub struct RemoteWriteClassifier {
    slis: Vec<SeriesSli>,
    tracker: CounterTracker,
    acc: BTreeMap<(usize, i64), Acc>,
    stats: SeriesStats,
    scratch: Vec<(usize, bool, bool)>,
}

impl RemoteWriteClassifier {
    pub fn new(slis: Vec<SeriesSli>, tracker: CounterTracker) -> RemoteWriteClassifier {
        RemoteWriteClassifier {
            slis,
            tracker,
            acc: BTreeMap::new(),
            stats: SeriesStats::default(),
            scratch: Vec::new(),
        }
    }

    pub fn slis(&self) -> &[SeriesSli] {
        &self.slis
    }

    /// Replaces the SLIs (after a configuration reload), keeping the tracker: counters keep
    /// their baselines across reloads. Anything accumulated and not taken is dropped.
    pub fn set_slis(&mut self, slis: Vec<SeriesSli>) {
        self.slis = slis;
        self.acc.clear();
    }

    pub fn tracker(&self) -> &CounterTracker {
        &self.tracker
    }

    pub fn tracker_mut(&mut self) -> &mut CounterTracker {
        &mut self.tracker
    }

    pub fn stats(&self) -> SeriesStats {
        self.stats
    }

    /// Feeds a whole request and returns the increments it produced.
    pub fn classify(&mut self, req: &WriteRequest) -> Vec<SliIncrement> {
        for ts in &req.timeseries {
            self.feed_series(&ts.labels, &ts.samples, Temporality::Cumulative);
        }
        self.take()
    }

    /// Feeds a whole request decoded without copying its strings; the same increments as
    /// [`RemoteWriteClassifier::classify`] on the owned request.
    pub fn classify_ref(&mut self, req: &WriteRequestRef<'_>) -> Vec<SliIncrement> {
        for ts in req.series() {
            self.feed_series(ts.labels, ts.samples, Temporality::Cumulative);
        }
        self.take()
    }

    /// Feeds one series' samples (in the order sent). Labels may be owned or borrowed.
    pub fn feed_series<L: LabelPair>(
        &mut self,
        labels: &[L],
        samples: &[Sample],
        temporality: Temporality,
    ) {
        self.scratch.clear();
        for s in &self.slis {
            let total = s.total.matches(labels);
            let (good, bad) = match &s.good {
                GoodSeries::Good(g) => (g.matches(labels), false),
                GoodSeries::Bad(b) => (false, b.matches(labels)),
            };
            if total || good || bad {
                self.scratch.push((s.sli, total, good || bad));
            }
        }
        if self.scratch.is_empty() {
            self.stats.series_unmatched += 1;
            return;
        }
        self.stats.series_matched += 1;
        let key = SeriesKey::of(labels);
        let bucket_seconds = self.tracker.bucket_seconds();
        for sample in samples {
            self.stats.samples += 1;
            let inc = match temporality {
                Temporality::Cumulative => {
                    self.tracker.observe(key, sample.timestamp, sample.value)
                }
                Temporality::Delta if !sample.value.is_finite() => Err(Skip::NotFinite),
                Temporality::Delta if sample.value < 0.0 => Err(Skip::Negative),
                Temporality::Delta => Ok(crate::counter::Increase {
                    bucket: crate::counter::bucket_of(sample.timestamp, bucket_seconds),
                    value: sample.value,
                }),
            };
            let inc = match inc {
                Ok(i) => i,
                Err(skip) => {
                    match skip {
                        Skip::Baseline => self.stats.baselines += 1,
                        Skip::OutOfOrder => self.stats.out_of_order += 1,
                        Skip::NotFinite | Skip::Negative => self.stats.not_finite += 1,
                        Skip::TooManySeries => self.stats.too_many_series += 1,
                    }
                    continue;
                }
            };
            self.stats.increases += 1;
            for &(sli, total, good_or_bad) in &self.scratch {
                let a = self.acc.entry((sli, inc.bucket)).or_default();
                if total {
                    a.total += inc.value;
                }
                if good_or_bad {
                    // Only one of the two is used per SLI; see `take`.
                    a.good += inc.value;
                    a.bad += inc.value;
                }
            }
        }
    }

    /// Returns and clears the increments accumulated so far, sorted by (sli, bucket).
    pub fn take(&mut self) -> Vec<SliIncrement> {
        let acc = std::mem::take(&mut self.acc);
        let mut out = Vec::with_capacity(acc.len());
        for ((sli, bucket), a) in acc {
            let bad_mode = self
                .slis
                .iter()
                .find(|s| s.sli == sli)
                .is_some_and(|s| matches!(s.good, GoodSeries::Bad(_)));
            let total = a.total.max(0.0);
            // `total` is never NaN and never negative, so `clamp` cannot panic; `max` turns
            // `inf - inf` into 0.
            let good = if bad_mode {
                (total - a.bad.clamp(0.0, total)).max(0.0)
            } else {
                a.good.clamp(0.0, total)
            };
            out.push(SliIncrement {
                sli,
                bucket,
                good,
                total,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counter::FirstSample;
    use crate::remote_write::{Label, TimeSeries};

    fn sel(s: &str) -> SeriesSelector {
        SeriesSelector::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn series(code: &str, samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: vec![
                Label::new("__name__", "http_requests_total"),
                Label::new("job", "checkout"),
                Label::new("code", code),
            ],
            samples: samples
                .iter()
                .map(|&(t, v)| Sample {
                    value: v,
                    timestamp: t * 1000,
                })
                .collect(),
        }
    }

    fn classifier() -> RemoteWriteClassifier {
        RemoteWriteClassifier::new(
            vec![
                SeriesSli {
                    sli: 0,
                    total: sel(r#"http_requests_total{job="checkout"}"#),
                    good: GoodSeries::Good(sel(
                        r#"http_requests_total{job="checkout",code!~"5.."}"#,
                    )),
                },
                SeriesSli {
                    sli: 1,
                    total: sel(r#"http_requests_total{job="checkout"}"#),
                    good: GoodSeries::Bad(sel(
                        r#"http_requests_total{job="checkout",code=~"5.."}"#,
                    )),
                },
            ],
            CounterTracker::new(60, FirstSample::Baseline, 1000),
        )
    }

    #[test]
    fn good_and_bad_forms_agree() {
        let mut c = classifier();
        let req = WriteRequest {
            timeseries: vec![
                series("200", &[(0, 100.0), (30, 160.0), (90, 200.0)]),
                series("500", &[(0, 5.0), (30, 7.0), (90, 1.0)]), // reset at 90
                TimeSeries {
                    labels: vec![Label::new("__name__", "other")],
                    samples: vec![Sample {
                        value: 1.0,
                        timestamp: 0,
                    }],
                },
            ],
        };
        let got = c.classify(&req);
        let want = |sli| {
            vec![
                SliIncrement {
                    sli,
                    bucket: 0,
                    good: 60.0,
                    total: 62.0,
                },
                SliIncrement {
                    sli,
                    bucket: 60,
                    good: 40.0,
                    total: 41.0,
                },
            ]
        };
        assert_eq!(got[..2], want(0)[..]);
        assert_eq!(got[2..], want(1)[..]);
        let st = c.stats();
        assert_eq!(
            (
                st.series_matched,
                st.series_unmatched,
                st.baselines,
                st.increases
            ),
            (2, 1, 2, 4)
        );
        // Out of order and duplicates in a later request are ignored.
        let got = c.classify(&WriteRequest {
            timeseries: vec![series("200", &[(90, 500.0), (60, 1.0), (120, 210.0)])],
        });
        assert_eq!(
            got[0],
            SliIncrement {
                sli: 0,
                bucket: 120,
                good: 10.0,
                total: 10.0
            }
        );
        assert_eq!(c.stats().out_of_order, 2);
    }

    #[test]
    fn good_is_clamped_to_total() {
        // Good counter from a different metric growing faster than total.
        let mut c = RemoteWriteClassifier::new(
            vec![SeriesSli {
                sli: 3,
                total: sel("total"),
                good: GoodSeries::Good(sel("good")),
            }],
            CounterTracker::new(60, FirstSample::Baseline, 10),
        );
        c.feed_series(
            &[Label::new("__name__", "total")],
            &[
                Sample {
                    value: 0.0,
                    timestamp: 0,
                },
                Sample {
                    value: 5.0,
                    timestamp: 1000,
                },
            ],
            Temporality::Cumulative,
        );
        c.feed_series(
            &[Label::new("__name__", "good")],
            &[
                Sample {
                    value: 0.0,
                    timestamp: 0,
                },
                Sample {
                    value: 9.0,
                    timestamp: 1000,
                },
            ],
            Temporality::Cumulative,
        );
        // Delta series add directly.
        c.feed_series(
            &[Label::new("__name__", "total")],
            &[
                Sample {
                    value: 2.0,
                    timestamp: 61_000,
                },
                Sample {
                    value: f64::NAN,
                    timestamp: 62_000,
                },
            ],
            Temporality::Delta,
        );
        assert_eq!(
            c.take(),
            vec![
                SliIncrement {
                    sli: 3,
                    bucket: 0,
                    good: 5.0,
                    total: 5.0
                },
                SliIncrement {
                    sli: 3,
                    bucket: 60,
                    good: 0.0,
                    total: 2.0
                },
            ]
        );
        assert!(c.take().is_empty());
    }

    proptest::proptest! {
        /// Whatever the samples (resets, disorder, NaN, negatives, huge values), every
        /// increment has 0 <= good <= total, in both good and bad forms.
        #[test]
        fn good_within_total(
            batches in proptest::collection::vec(
                proptest::collection::vec((0usize..4, -5i64..300, proptest::num::f64::ANY), 0..40),
                1..4,
            )
        ) {
            let mut c = classifier();
            // The same requests through the borrowed decoding path.
            let mut b = classifier();
            const CODES: [&str; 4] = ["200", "500", "503", "404"];
            for batch in batches {
                let req = WriteRequest {
                    timeseries: batch
                        .iter()
                        .map(|&(code, t, v)| series(CODES[code], &[(t, v)]))
                        .collect(),
                };
                let got = c.classify(&req);
                for inc in &got {
                    proptest::prop_assert!(inc.good >= 0.0 && inc.good <= inc.total, "{:?}", inc);
                }
                let raw = prost::Message::encode_to_vec(&req);
                let borrowed = WriteRequestRef::decode(&raw);
                proptest::prop_assert!(borrowed.is_ok());
                if let Ok(borrowed) = borrowed {
                    let same = b.classify_ref(&borrowed);
                    proptest::prop_assert_eq!(same.len(), got.len());
                    for (x, y) in same.iter().zip(&got) {
                        proptest::prop_assert_eq!(
                            (x.sli, x.bucket, x.good.to_bits(), x.total.to_bits()),
                            (y.sli, y.bucket, y.good.to_bits(), y.total.to_bits())
                        );
                    }
                }
            }
            proptest::prop_assert_eq!(b.stats(), c.stats());
            let state = c.tracker().export();
            proptest::prop_assert_eq!(b.tracker().export(), state.clone());
            let mut t = CounterTracker::new(60, FirstSample::Baseline, 1000);
            t.import(&state);
            proptest::prop_assert_eq!(t.export(), state);
        }
    }
}
