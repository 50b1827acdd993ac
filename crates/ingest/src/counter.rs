//! Cumulative counters to per-bucket increases, with Prometheus semantics: a decrease is a
//! reset (the increase is the new value), the first sample of a series is its baseline,
//! out-of-order and duplicate samples are ignored, and NaN (including the stale marker),
//! infinities and negative values are ignored. Pure: the caller persists [`TrackerState`] if it wants to survive restarts.

use std::collections::HashMap;

use crate::remote_write::LabelPair;

/// Prometheus' staleness marker, a NaN with this bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// A series identity: FNV-1a 64 over the sorted label pairs. Stable across processes and
/// versions, so persisted state stays valid.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct SeriesKey(pub u64);

impl SeriesKey {
    /// The key of a label set (owned or borrowed), whatever its order. Duplicate names are
    /// kept as sent. Labels already sorted (what senders send) are hashed without copying.
    pub fn of<L: LabelPair>(labels: &[L]) -> SeriesKey {
        let sorted = labels.windows(2).all(|w| match w {
            [a, b] => (a.name(), a.value()) <= (b.name(), b.value()),
            _ => true,
        });
        if sorted {
            return SeriesKey::hash_sorted(labels.iter().map(|l| (l.name(), l.value())));
        }
        let mut refs: Vec<(&str, &str)> = labels.iter().map(|l| (l.name(), l.value())).collect();
        SeriesKey::of_pairs(&mut refs)
    }

    /// The key of `(name, value)` pairs; sorts them in place.
    pub fn of_pairs(pairs: &mut [(&str, &str)]) -> SeriesKey {
        pairs.sort_unstable();
        SeriesKey::hash_sorted(pairs.iter().copied())
    }

    /// FNV-1a 64 over pairs in sorted order (the persisted definition of a key).
    fn hash_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> SeriesKey {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for (n, v) in pairs {
            eat(n.as_bytes());
            eat(&[0xff]);
            eat(v.as_bytes());
            eat(&[0xff]);
        }
        SeriesKey(h)
    }
}

/// What to do with a series' first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum FirstSample {
    /// It only sets the baseline (Prometheus `increase()` semantics).
    #[default]
    Baseline,
    /// It counts in full, as if the counter started at zero (for series known to be new).
    FromZero,
}

/// Why a sample produced no increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// First sample of the series: baseline only.
    Baseline,
    /// At or before the series' last accepted timestamp.
    OutOfOrder,
    /// NaN, the stale marker, or an infinity.
    NotFinite,
    /// A negative value: counters never go below zero.
    Negative,
    /// A new series while the tracker is full.
    TooManySeries,
}

/// One increase, attributed to the bucket (Unix seconds, bucket start) of the later sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Increase {
    pub bucket: i64,
    pub value: f64,
}

/// A series' last accepted sample.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LastSample {
    pub key: SeriesKey,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// The tracker's persistable state: plain data, serializable with serde.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct TrackerState {
    pub series: Vec<LastSample>,
}

/// One change [`CounterTracker::observe`] made to a series while journaling: its last
/// sample before (`None` for a new series) and after.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub previous: Option<LastSample>,
    pub current: LastSample,
}

/// The changes made since [`CounterTracker::start_journal`], in order. Hand it back to
/// [`CounterTracker::revert`] when the increments they produced could not be committed, so a
/// retry of the same samples counts again instead of being skipped as out of order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    pub changes: Vec<Change>,
}

impl Journal {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The newest sample of every series the journal touched, sorted by key: what to persist
    /// together with the increments.
    pub fn touched(&self) -> Vec<LastSample> {
        let mut latest: HashMap<SeriesKey, LastSample> = HashMap::new();
        for c in &self.changes {
            latest.insert(c.current.key, c.current);
        }
        let mut out: Vec<LastSample> = latest.into_values().collect();
        out.sort_unstable_by_key(|s| s.key);
        out
    }
}

/// The counter state machine. Memory is bounded by `max_series`; call
/// [`CounterTracker::forget_older_than`] to drop series that stopped reporting.
#[derive(Debug, Clone)]
pub struct CounterTracker {
    bucket_ms: i64,
    bucket_seconds: i64,
    first: FirstSample,
    max_series: usize,
    last: HashMap<SeriesKey, (i64, f64)>,
    journal: Option<Vec<Change>>,
    /// The newest timestamp ever accepted or imported (`i64::MIN` before any).
    newest: i64,
}

/// The bucket (Unix seconds) holding a millisecond timestamp.
#[inline]
pub fn bucket_of(timestamp_ms: i64, bucket_seconds: u32) -> i64 {
    let secs = i64::from(bucket_seconds.max(1));
    timestamp_ms.div_euclid(1000 * secs) * secs
}

impl CounterTracker {
    /// A tracker with `bucket_seconds`-wide buckets (0 is treated as 1) holding at most
    /// `max_series` series.
    pub fn new(bucket_seconds: u32, first: FirstSample, max_series: usize) -> CounterTracker {
        let bucket_seconds = i64::from(bucket_seconds.max(1));
        CounterTracker {
            bucket_ms: bucket_seconds * 1000,
            bucket_seconds,
            first,
            max_series,
            last: HashMap::new(),
            journal: None,
            newest: i64::MIN,
        }
    }

    /// Changes the bucket width of later increases (0 is treated as 1); the series' last
    /// samples are kept.
    pub fn set_bucket_seconds(&mut self, bucket_seconds: u32) {
        let bucket_seconds = i64::from(bucket_seconds.max(1));
        self.bucket_seconds = bucket_seconds;
        self.bucket_ms = bucket_seconds * 1000;
    }

    /// Starts recording every change `observe` makes (replacing a journal in progress).
    pub fn start_journal(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Stops recording and returns the changes since [`CounterTracker::start_journal`].
    pub fn take_journal(&mut self) -> Journal {
        Journal {
            changes: self.journal.take().unwrap_or_default(),
        }
    }

    /// Undoes a journal, newest change first. A series is only set back while it still
    /// holds the sample the journal set: a later change by someone else is kept. Returns how
    /// many changes were undone.
    pub fn revert(&mut self, journal: &Journal) -> usize {
        let mut undone = 0;
        for c in journal.changes.iter().rev() {
            let key = c.current.key;
            let still = self.last.get(&key).is_some_and(|&(ts, v)| {
                ts == c.current.timestamp_ms && v.to_bits() == c.current.value.to_bits()
            });
            if !still {
                continue;
            }
            match c.previous {
                Some(p) => {
                    self.last.insert(key, (p.timestamp_ms, p.value));
                }
                None => {
                    self.last.remove(&key);
                }
            }
            undone += 1;
        }
        undone
    }

    /// The newest sample timestamp the tracker has accepted or imported; `None` before any.
    /// Not lowered by [`CounterTracker::revert`] or forgetting.
    pub fn newest_timestamp(&self) -> Option<i64> {
        (self.newest != i64::MIN).then_some(self.newest)
    }

    /// The last accepted sample of one series.
    pub fn last_sample(&self, key: SeriesKey) -> Option<LastSample> {
        self.last
            .get(&key)
            .map(|&(timestamp_ms, value)| LastSample {
                key,
                timestamp_ms,
                value,
            })
    }

    fn record(&mut self, key: SeriesKey, previous: Option<(i64, f64)>, current: (i64, f64)) {
        if let Some(journal) = &mut self.journal {
            let sample = |(timestamp_ms, value): (i64, f64)| LastSample {
                key,
                timestamp_ms,
                value,
            };
            journal.push(Change {
                previous: previous.map(sample),
                current: sample(current),
            });
        }
    }

    pub fn bucket_seconds(&self) -> u32 {
        u32::try_from(self.bucket_seconds).unwrap_or(u32::MAX)
    }

    /// Number of series with a baseline.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    #[inline]
    fn bucket(&self, timestamp_ms: i64) -> i64 {
        timestamp_ms.div_euclid(self.bucket_ms) * self.bucket_seconds
    }

    /// Feeds one cumulative sample.
    pub fn observe(
        &mut self,
        key: SeriesKey,
        timestamp_ms: i64,
        value: f64,
    ) -> Result<Increase, Skip> {
        if !value.is_finite() {
            return Err(Skip::NotFinite);
        }
        if value < 0.0 {
            return Err(Skip::Negative);
        }
        let bucket = self.bucket(timestamp_ms);
        let full = self.last.len() >= self.max_series;
        match self.last.get_mut(&key) {
            Some((ts, prev)) => {
                if timestamp_ms <= *ts {
                    return Err(Skip::OutOfOrder);
                }
                let before = (*ts, *prev);
                self.newest = self.newest.max(timestamp_ms);
                let inc = if value < *prev { value } else { value - *prev };
                *ts = timestamp_ms;
                *prev = value;
                self.record(key, Some(before), (timestamp_ms, value));
                Ok(Increase { bucket, value: inc })
            }
            None if full => Err(Skip::TooManySeries),
            None => {
                self.last.insert(key, (timestamp_ms, value));
                self.newest = self.newest.max(timestamp_ms);
                self.record(key, None, (timestamp_ms, value));
                match self.first {
                    FirstSample::Baseline => Err(Skip::Baseline),
                    FirstSample::FromZero => Ok(Increase { bucket, value }),
                }
            }
        }
    }

    /// Drops series whose last sample is older than `timestamp_ms`; returns how many.
    pub fn forget_older_than(&mut self, timestamp_ms: i64) -> usize {
        let before = self.last.len();
        self.last.retain(|_, (ts, _)| *ts >= timestamp_ms);
        before - self.last.len()
    }

    /// The last accepted sample of every series, sorted by key.
    pub fn export(&self) -> TrackerState {
        let mut series: Vec<LastSample> = self
            .last
            .iter()
            .map(|(&key, &(timestamp_ms, value))| LastSample {
                key,
                timestamp_ms,
                value,
            })
            .collect();
        series.sort_unstable_by_key(|s| s.key);
        TrackerState { series }
    }

    /// Restores exported state (merged into the current one; the newer sample wins).
    /// Non-finite values and series beyond `max_series` are skipped.
    pub fn import(&mut self, state: &TrackerState) {
        for s in &state.series {
            if !s.value.is_finite() || s.value < 0.0 {
                continue;
            }
            let full = self.last.len() >= self.max_series;
            self.newest = self.newest.max(s.timestamp_ms);
            match self.last.get_mut(&s.key) {
                Some(cur) if cur.0 < s.timestamp_ms => *cur = (s.timestamp_ms, s.value),
                Some(_) => {}
                None if full => {}
                None => {
                    self.last.insert(s.key, (s.timestamp_ms, s.value));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote_write::Label;

    const K: SeriesKey = SeriesKey(1);

    /// Keys are persisted: owned and borrowed labels, sorted or not, give the key the store
    /// already holds (FNV-1a 64 over the sorted pairs, pinned here).
    #[test]
    fn series_keys_are_stable_and_equal_for_owned_and_borrowed_labels() {
        use crate::remote_write::LabelRef;
        let pairs = [
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("job", "checkout"),
        ];
        let orders: [[usize; 3]; 3] = [[0, 1, 2], [2, 0, 1], [1, 2, 0]];
        for order in orders {
            let owned: Vec<Label> = order
                .iter()
                .map(|&i| Label::new(pairs[i].0, pairs[i].1))
                .collect();
            let borrowed: Vec<LabelRef<'_>> = order
                .iter()
                .map(|&i| LabelRef {
                    name: pairs[i].0,
                    value: pairs[i].1,
                })
                .collect();
            assert_eq!(SeriesKey::of(&owned), SeriesKey(0x745f_fb8d_659c_e2aa));
            assert_eq!(SeriesKey::of(&borrowed), SeriesKey(0x745f_fb8d_659c_e2aa));
        }
        assert_eq!(
            SeriesKey::of::<Label>(&[]),
            SeriesKey(0xcbf2_9ce4_8422_2325)
        );
        // Duplicates and equal names with different values, in any order.
        let dup = [("a", "2"), ("a", "1"), ("a", "2"), ("", "")];
        let mut sorted = dup;
        sorted.sort_unstable();
        let want = SeriesKey::of_pairs(&mut dup.clone());
        for p in [dup, sorted] {
            let owned: Vec<Label> = p.iter().map(|&(n, v)| Label::new(n, v)).collect();
            let borrowed: Vec<LabelRef<'_>> = p
                .iter()
                .map(|&(name, value)| LabelRef { name, value })
                .collect();
            assert_eq!(SeriesKey::of(&owned), want);
            assert_eq!(SeriesKey::of(&borrowed), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn series_key_of_labels_equals_sorted_pairs(
            pairs in proptest::collection::vec(("[a-c]{0,2}", "[x-z]{0,2}"), 0..6)
        ) {
            let owned: Vec<crate::remote_write::Label> = pairs
                .iter()
                .map(|(n, v)| crate::remote_write::Label::new(n.as_str(), v.as_str()))
                .collect();
            let borrowed: Vec<crate::remote_write::LabelRef<'_>> = pairs
                .iter()
                .map(|(n, v)| crate::remote_write::LabelRef { name: n, value: v })
                .collect();
            let mut refs: Vec<(&str, &str)> =
                pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let want = SeriesKey::of_pairs(&mut refs);
            proptest::prop_assert_eq!(SeriesKey::of(&owned), want);
            proptest::prop_assert_eq!(SeriesKey::of(&borrowed), want);
        }
    }

    fn run(t: &mut CounterTracker, samples: &[(i64, f64)]) -> Vec<Result<(i64, f64), Skip>> {
        samples
            .iter()
            .map(|&(ts, v)| t.observe(K, ts, v).map(|i| (i.bucket, i.value)))
            .collect()
    }

    #[test]
    fn increases_and_resets() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        let got = run(
            &mut t,
            &[
                (0, 10.0),
                (15_000, 12.0),
                (60_000, 20.0),
                (75_000, 3.0), // reset
                (90_000, 3.0),
                (125_000, 4.5),
            ],
        );
        assert_eq!(
            got,
            vec![
                Err(Skip::Baseline),
                Ok((0, 2.0)),
                Ok((60, 8.0)),
                Ok((60, 3.0)),
                Ok((60, 0.0)),
                Ok((120, 1.5)),
            ]
        );
    }

    #[test]
    fn out_of_order_duplicates_nan() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        let stale = f64::from_bits(STALE_NAN_BITS);
        assert!(stale.is_nan());
        let got = run(
            &mut t,
            &[
                (30_000, 5.0),
                (30_000, 6.0), // duplicate
                (20_000, 1.0), // out of order (would look like a reset)
                (40_000, stale),
                (45_000, f64::NAN),
                (50_000, f64::INFINITY),
                (52_000, -1.0),
                (55_000, 7.0),
            ],
        );
        assert_eq!(
            got,
            vec![
                Err(Skip::Baseline),
                Err(Skip::OutOfOrder),
                Err(Skip::OutOfOrder),
                Err(Skip::NotFinite),
                Err(Skip::NotFinite),
                Err(Skip::NotFinite),
                Err(Skip::Negative),
                Ok((0, 2.0)),
            ]
        );
    }

    #[test]
    fn from_zero_negative_time_and_limits() {
        let mut t = CounterTracker::new(60, FirstSample::FromZero, 1);
        assert_eq!(
            t.observe(K, -1, 4.0).map(|i| (i.bucket, i.value)),
            Ok((-60, 4.0))
        );
        assert_eq!(t.observe(SeriesKey(2), 0, 1.0), Err(Skip::TooManySeries));
        assert_eq!(t.len(), 1);
        assert_eq!(bucket_of(59_999, 60), 0);
        assert_eq!(bucket_of(60_000, 60), 60);
        assert_eq!(bucket_of(-1, 60), -60);
        assert_eq!(bucket_of(i64::MIN, 1), i64::MIN.div_euclid(1000));
        assert_eq!(t.forget_older_than(0), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn export_import() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        let _ = t.observe(K, 1000, 5.0);
        let _ = t.observe(SeriesKey(9), 2000, 7.0);
        let state = t.export();
        let json = serde_json::to_string(&state).unwrap_or_else(|e| panic!("{e}"));
        let back: TrackerState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, state);
        let mut u = CounterTracker::new(60, FirstSample::Baseline, 10);
        u.import(&back);
        assert_eq!(u.observe(K, 3000, 6.0).map(|i| i.value), Ok(1.0));
        // Older imported state does not overwrite newer.
        u.import(&back);
        assert_eq!(u.observe(K, 4000, 6.5).map(|i| i.value), Ok(0.5));
    }

    #[test]
    fn key_ignores_order() {
        let a = [Label::new("a", "1"), Label::new("b", "2")];
        let b = [Label::new("b", "2"), Label::new("a", "1")];
        assert_eq!(SeriesKey::of(&a), SeriesKey::of(&b));
        let c = [Label::new("a", "12"), Label::new("b", "")];
        assert_ne!(SeriesKey::of(&a), SeriesKey::of(&c));
    }

    #[test]
    fn journal_reverts_what_it_set() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        let _ = t.observe(K, 1000, 5.0);
        t.start_journal();
        assert_eq!(t.observe(K, 2000, 7.0).map(|i| i.value), Ok(2.0));
        assert_eq!(t.observe(K, 3000, 9.0).map(|i| i.value), Ok(2.0));
        assert_eq!(t.observe(SeriesKey(2), 3000, 1.0), Err(Skip::Baseline));
        assert_eq!(t.observe(K, 2500, 1.0), Err(Skip::OutOfOrder));
        let journal = t.take_journal();
        assert_eq!(journal.changes.len(), 3);
        assert_eq!(
            journal.touched(),
            vec![
                LastSample {
                    key: K,
                    timestamp_ms: 3000,
                    value: 9.0
                },
                LastSample {
                    key: SeriesKey(2),
                    timestamp_ms: 3000,
                    value: 1.0
                },
            ]
        );
        // Not journaling any more.
        assert!(t.take_journal().is_empty());
        assert_eq!(t.revert(&journal), 3);
        assert_eq!(
            t.last_sample(K),
            Some(LastSample {
                key: K,
                timestamp_ms: 1000,
                value: 5.0
            })
        );
        assert_eq!(t.last_sample(SeriesKey(2)), None);
        // The retry counts again.
        assert_eq!(t.observe(K, 3000, 9.0).map(|i| i.value), Ok(4.0));

        // A series changed since by someone else is left alone.
        t.start_journal();
        let _ = t.observe(K, 4000, 10.0);
        let mine = t.take_journal();
        let _ = t.observe(K, 5000, 12.0);
        assert_eq!(t.revert(&mine), 0);
        assert_eq!(t.last_sample(K).map(|s| s.value), Some(12.0));
    }

    #[test]
    fn newest_timestamp_follows_accepted_and_imported_samples() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        assert_eq!(t.newest_timestamp(), None);
        let _ = t.observe(K, 5000, 1.0);
        let _ = t.observe(K, 4000, 1.0); // out of order: ignored
        let _ = t.observe(SeriesKey(2), 9000, f64::NAN); // not finite: ignored
        assert_eq!(t.newest_timestamp(), Some(5000));
        t.import(&TrackerState {
            series: vec![LastSample {
                key: SeriesKey(3),
                timestamp_ms: 7000,
                value: 2.0,
            }],
        });
        assert_eq!(t.newest_timestamp(), Some(7000));
        assert_eq!(t.forget_older_than(6000), 1);
        assert_eq!(t.newest_timestamp(), Some(7000));
    }

    #[test]
    fn rebucketing_keeps_samples() {
        let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
        let _ = t.observe(K, 0, 1.0);
        t.set_bucket_seconds(300);
        assert_eq!(
            t.observe(K, 299_000, 2.0).map(|i| (i.bucket, i.value)),
            Ok((0, 1.0))
        );
        assert_eq!(t.bucket_seconds(), 300);
    }

    proptest::proptest! {
        /// Increases are never negative and, without resets, sum to last − first.
        #[test]
        fn monotone_sums(steps in proptest::collection::vec((1i64..100_000, 0f64..1e6), 1..50)) {
            let mut t = CounterTracker::new(60, FirstSample::Baseline, 10);
            let (mut ts, mut v) = (0i64, 0f64);
            let _ = t.observe(K, ts, v);
            let mut sum = 0.0;
            for (dt, dv) in steps {
                ts += dt;
                v += dv;
                let inc = t.observe(K, ts, v).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
                proptest::prop_assert!(inc.value >= 0.0);
                sum += inc.value;
            }
            proptest::prop_assert!((sum - v).abs() <= 1e-6 * v.max(1.0));
        }
    }
}
