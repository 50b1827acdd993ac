//! Speed of the alerting maths.
//!
//! `cargo run --release -p slo --example bench_alerting`
//!
//! 1. Backtest of 90 days at 1-minute resolution (plus 30 days of history so the SLO window
//!    is full) through the workbook's six strategies, side by side: target ≤ 50 ms per SLO.
//! 2. Burn rates of 1,000 SLOs × 8 windows (5m … 30d) from prefix-sum series: target
//!    ≤ 1 µs per SLO-window. The 1,000 SLOs share 100 distinct 31-day series (memory: a
//!    31-day 1-minute series is 1.4 MB), each SLO with its own objective.

use slo::{
    burn_rate, compare_strategies, BacktestOptions, Budgeting, Objective, Series, SloSpec, Window,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;
const T0: i64 = 1_700_006_400;

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Minute buckets over `[from, to)`: diurnal traffic, background errors around 0.05%, and
/// now and then an incident (a few minutes to a few hours at 1%–100% errors).
fn synthetic(seed: u64, from: i64, to: i64) -> Vec<(i64, u64, u64)> {
    let mut rng = Rng(seed | 1);
    let minutes = (to - from) / 60;
    let mut out = Vec::with_capacity(minutes as usize);
    let mut incident_left = 0u64;
    let mut incident_ratio = 0.0f64;
    for i in 0..minutes {
        let at = from + i * 60;
        let hour = ((at % DAY) / 3600) as f64;
        let base = 600.0 + 400.0 * (hour / 24.0 * std::f64::consts::TAU).sin();
        let total = base as u64 + rng.below(100);
        if incident_left == 0 && rng.below(20_000) == 0 {
            incident_left = 3 + rng.below(240);
            incident_ratio = [0.01, 0.05, 0.2, 1.0][rng.below(4) as usize];
        }
        let bad = if incident_left > 0 {
            incident_left -= 1;
            (total as f64 * incident_ratio) as u64
        } else {
            u64::from(rng.below(2000) < total)
        };
        out.push((at, total - bad.min(total), total));
    }
    out
}

fn spec(objective: f64) -> SloSpec {
    SloSpec {
        service: "bench".into(),
        name: "availability".into(),
        objective: Objective::Target(objective),
        window: Window::Rolling { seconds: 30 * DAY },
        budgeting: Budgeting::Occurrences,
        exclusions: vec![],
        bucket_seconds: 60,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // 1. Backtest.
    let s = spec(0.999);
    let from = T0 - 120 * DAY;
    let start = T0 - 90 * DAY;
    let series = Series::build(
        from,
        T0,
        60,
        synthetic(7, from, T0),
        &[],
        Budgeting::Occurrences,
    );
    let options = BacktestOptions::default();
    let mut runs = Vec::new();
    let mut summary = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let results = compare_strategies(black_box(&series), &s, start, T0, &options);
        runs.push(t.elapsed());
        summary = results
            .iter()
            .map(|r| {
                (
                    r.policy.clone(),
                    r.metrics.alerts,
                    r.metrics.events,
                    r.metrics.precision,
                    r.metrics.recall,
                )
            })
            .collect();
    }
    let backtest = median(runs);
    println!(
        "backtest: 90 days × 1-minute buckets ({} steps) × 6 workbook strategies: {:.2} ms per SLO (median of 7; target ≤ 50 ms)",
        90 * 1440,
        backtest.as_secs_f64() * 1e3
    );
    for (name, alerts, events, precision, recall) in &summary {
        println!(
            "  {name:<16} alerts {alerts:>4}  events {events:>3}  precision {}  recall {}",
            precision.map_or("-".into(), |p| format!("{p:.3}")),
            recall.map_or("-".into(), |r| format!("{r:.3}")),
        );
    }

    // 2. Burn rates of 1,000 SLOs × 8 windows.
    const WINDOWS: [i64; 8] = [300, 1800, 3600, 7200, 21_600, DAY, 3 * DAY, 30 * DAY];
    let from = T0 - 31 * DAY;
    let distinct: Vec<Series> = (0..100u64)
        .map(|i| {
            Series::build(
                from,
                T0,
                60,
                synthetic(i + 11, from, T0),
                &[],
                Budgeting::Occurrences,
            )
        })
        .collect();
    let slos: Vec<(usize, SloSpec)> = (0..1000)
        .map(|i| {
            (
                i % distinct.len(),
                spec([0.99, 0.995, 0.999, 0.9995][i % 4]),
            )
        })
        .collect();
    let mut runs = Vec::new();
    let mut checksum = 0.0;
    for round in 0..21 {
        // Evaluate at a different minute each round, like successive evaluation ticks.
        let at = T0 - round * 60;
        let t = Instant::now();
        for (series_index, s) in &slos {
            let series = &distinct[*series_index];
            for w in WINDOWS {
                let units = series.budget_units(s.budgeting, at - w, at);
                checksum += black_box(burn_rate(units, s.objective));
            }
        }
        runs.push(t.elapsed());
    }
    let per = median(runs).as_secs_f64() * 1e9 / (slos.len() * WINDOWS.len()) as f64;
    println!(
        "evaluation: 1,000 SLOs × 8 windows: {per:.1} ns per SLO-window (median of 21; target ≤ 1000 ns) [checksum {checksum:.3}]"
    );
}
