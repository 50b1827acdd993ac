//! Data and nines' side of `scripts/bench-rules`: nines' evaluation vs Prometheus evaluating
//! the rules rulegen generates, over the same counters.
//!
//! ```sh
//! cargo run --release -p rulegen --example bench_data -- gen   SLOS DAYS DIR
//! cargo run --release -p rulegen --example bench_data -- nines SLOS DAYS DIR
//! ```
//!
//! `gen` writes into DIR:
//! - `data.om`: OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`. Per SLO
//!   `sN` two cumulative counters, `http_requests_total{code="200",slo="sN"}` and
//!   `{code="500",…}`, one sample a minute from START to END (both included; both counters are
//!   0 at START), timestamps in seconds. The sample at `t` counts every minute bucket that
//!   starts before `t`, so `V(T) − V(T − w)` is exactly the buckets starting in `[T − w, T)`.
//! - `rules.yml`: `rulegen::prometheus_rules` for the SLOs (for `promtool check rules`).
//! - `queries.tsv`: `slo  window_seconds  expr` with the expression of the generated recording
//!   rule `slo:sli_error:ratio_rate<W>` of that SLO (newlines replaced by spaces).
//! - `batched.tsv`: `window_seconds  expr`, the same ratio for all SLOs in one query
//!   (`sum by (slo) (…) / sum by (slo) (…)`).
//! - `meta.tsv`: `start end slos days`.
//!
//! `nines` regenerates the same per-minute (good, total) buckets in memory, builds one
//! `slo::Series` per SLO, writes `nines.tsv` (`slo  window_seconds  error_ratio`) at END and
//! prints the evaluation time per SLO-window (burn rates of every SLO × 8 windows, median of
//! 21 rounds), like `crates/slo/examples/bench_alerting.rs`.
//!
//! The 8 windows are rulegen's standard 5m … 3d plus the SLO period, 30d. rulegen records the
//! period from the 5m ratio (a mean of ratios, cheaper for Prometheus but a different
//! quantity); so that every window is the same ratio of events in both systems, the SLOs get a
//! policy whose ticket tier has a 30d long window, which makes rulegen record the 30d ratio
//! from the raw queries like the other windows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rulegen::{RuleSli, RuleSlo};
use slo::alerting::{AlertCondition, AlertPolicy, AlertTier, Severity, Strategy};
use slo::{burn_rate, Budgeting, Objective, Series};

const DAY: i64 = 86_400;
/// End of the data and evaluation time (a whole minute, 2023-11-15T00:00:00Z).
const END: i64 = 1_700_006_400;
const WINDOWS: [i64; 8] = [300, 1800, 3600, 7200, 21_600, DAY, 3 * DAY, 30 * DAY];
const OBJECTIVES: [f64; 4] = [0.99, 0.995, 0.999, 0.9995];

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
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Per-minute `(bucket_start, good, total)` of SLO `index` over `[start, END)`: diurnal
/// traffic (never zero), a background error ratio that drifts over the day (0.01%–0.2%), and
/// bursts (3 minutes to 4 hours at 1%–100% errors); every tenth SLO ends in a burst so the
/// short windows see one too.
fn traffic(index: u64, start: i64) -> Vec<(i64, u64, u64)> {
    let mut rng = Rng((index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let minutes = (END - start) / 60;
    let scale = 50.0 + rng.below(950) as f64;
    let phase = rng.unit() * std::f64::consts::TAU;
    let mut out = Vec::with_capacity(minutes as usize);
    let mut burst_left = 0u64;
    let mut burst_ratio = 0.0f64;
    for i in 0..minutes {
        let at = start + i * 60;
        let day = (at % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
        let total = (scale * (1.0 + 0.6 * (day + phase).sin())) as u64 + 1 + rng.below(20);
        let forced_tail = matches!(index % 10, 0) && minutes - i == 17;
        if burst_left == 0 && (rng.below(3000) == 0 || forced_tail) {
            burst_left = if forced_tail { 17 } else { 3 + rng.below(240) };
            burst_ratio = [0.01, 0.05, 0.2, 1.0][rng.below(4) as usize];
        }
        let ratio = if burst_left > 0 {
            burst_left -= 1;
            burst_ratio
        } else {
            0.0001 + 0.0019 * (0.5 + 0.5 * (2.0 * day - phase).cos())
        };
        let expected = total as f64 * ratio;
        // Whole expected errors, and the fraction as a coin flip.
        let bad = (expected as u64 + u64::from(rng.unit() < expected.fract())).min(total);
        out.push((at, total - bad, total));
    }
    out
}

fn rule_slo(index: usize) -> RuleSlo {
    let period = 30 * DAY;
    let mut policy = AlertPolicy::default_multiwindow(period);
    // Makes rulegen record the 30d ratio from the raw queries (see the module docs).
    policy.conditions.push(AlertCondition {
        strategy: Strategy::LongWindow,
        tiers: vec![AlertTier {
            severity: Severity::Ticket,
            long_window: period,
            short_window: None,
            burn_rate: 1.0,
            for_seconds: 0,
        }],
    });
    RuleSlo {
        service: "bench".into(),
        slo: format!("s{index}"),
        objective: OBJECTIVES[index % OBJECTIVES.len()],
        period_seconds: period,
        sli: RuleSli::ErrorRatio {
            error_query: format!(
                r#"sum(rate(http_requests_total{{slo="s{index}",code="500"}}[{{{{window}}}}]))"#
            ),
            total_query: format!(
                r#"sum(rate(http_requests_total{{slo="s{index}"}}[{{{{window}}}}]))"#
            ),
        },
        policy: Some(policy),
        labels: BTreeMap::new(),
    }
}

fn create(dir: &Path, name: &str) -> BufWriter<File> {
    let path = dir.join(name);
    match File::create(&path) {
        Ok(f) => BufWriter::with_capacity(1 << 20, f),
        Err(e) => fail(&format!("{}: {e}", path.display())),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("bench_data: {message}");
    std::process::exit(1)
}

fn check(result: std::io::Result<()>) {
    if let Err(e) = result {
        fail(&e.to_string());
    }
}

fn gen(slos: usize, start: i64, dir: &Path) {
    let rule_slos: Vec<RuleSlo> = (0..slos).map(rule_slo).collect();
    let rules = rulegen::prometheus_rules(&rule_slos).unwrap_or_else(|e| fail(&e.to_string()));
    check(std::fs::write(dir.join("rules.yml"), rules));

    // The generated recording rules, by (slo, window).
    let file = rulegen::rule_file(&rule_slos).unwrap_or_else(|e| fail(&e.to_string()));
    let mut queries = create(dir, "queries.tsv");
    for (index, slo) in rule_slos.iter().enumerate() {
        let group = format!("nines-slo-sli-recordings-{}", slo.id());
        let Some(group) = file.groups.iter().find(|g| g.name == group) else {
            fail(&format!("no group {group}"))
        };
        for w in WINDOWS {
            let name = format!("slo:sli_error:ratio_rate{}", rulegen::prom_duration(w));
            let Some(rule) = group
                .rules
                .iter()
                .find(|r| r.record.as_deref() == Some(&name))
            else {
                fail(&format!("no rule {name} in {}", group.name))
            };
            let expr = rule.expr.split_whitespace().collect::<Vec<_>>().join(" ");
            check(writeln!(queries, "s{index}\t{w}\t{expr}"));
        }
    }
    check(queries.flush());

    let mut batched = create(dir, "batched.tsv");
    for w in WINDOWS {
        let d = rulegen::prom_duration(w);
        check(writeln!(
            batched,
            "{w}\tsum by (slo) (rate(http_requests_total{{code=\"500\"}}[{d}])) / sum by (slo) (rate(http_requests_total[{d}]))"
        ));
    }
    check(batched.flush());

    // OpenMetrics: one family, each series' samples in time order.
    let mut om = create(dir, "data.om");
    check(writeln!(
        om,
        "# HELP http_requests Requests by SLO and status code.\n# TYPE http_requests counter"
    ));
    let mut line = String::with_capacity(128);
    for index in 0..slos {
        let buckets = traffic(index as u64, start);
        for code in ["200", "500"] {
            let mut value = 0u64;
            line.clear();
            let _ = writeln!(
                line,
                "http_requests_total{{code=\"{code}\",slo=\"s{index}\"}} 0 {start}"
            );
            check(om.write_all(line.as_bytes()));
            for &(at, good, total) in &buckets {
                value += if code == "200" { good } else { total - good };
                line.clear();
                let _ = writeln!(
                    line,
                    "http_requests_total{{code=\"{code}\",slo=\"s{index}\"}} {value} {}",
                    at + 60
                );
                check(om.write_all(line.as_bytes()));
            }
        }
    }
    check(writeln!(om, "# EOF"));
    check(om.flush());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn nines(slos: usize, start: i64, dir: &Path) {
    let t = Instant::now();
    let series: Vec<Series> = (0..slos)
        .map(|i| {
            Series::build(
                start,
                END,
                60,
                traffic(i as u64, start),
                &[],
                Budgeting::Occurrences,
            )
        })
        .collect();
    let build = t.elapsed();
    let objectives: Vec<Objective> = (0..slos)
        .map(|i| Objective::Target(OBJECTIVES[i % OBJECTIVES.len()]))
        .collect();

    // The answers: error ratio (bad / total) per SLO and window at END.
    let mut out = create(dir, "nines.tsv");
    for (i, s) in series.iter().enumerate() {
        for w in WINDOWS {
            let c = s.events(END - w, END);
            let ratio = if c.total == 0 {
                f64::NAN
            } else {
                c.bad() as f64 / c.total as f64
            };
            check(writeln!(out, "s{i}\t{w}\t{ratio}"));
        }
    }
    check(out.flush());

    // The timing: burn rate (window counts from the prefix sums, error ratio, / budget) of
    // every SLO and window, as `slo::evaluate` computes each of its burn rates.
    let mut runs = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..21 {
        let at = black_box(END);
        let t = Instant::now();
        for (s, objective) in series.iter().zip(&objectives) {
            for w in WINDOWS {
                let units = s.budget_units(Budgeting::Occurrences, at - w, at);
                checksum += black_box(burn_rate(units, *objective));
            }
        }
        runs.push(t.elapsed());
    }
    let per = median(runs).as_secs_f64() * 1e9 / (slos * WINDOWS.len()) as f64;
    println!("nines_ns_per_slo_window {per:.2}");
    println!(
        "nines_build_ms {:.1} ms ({} series of {} minute buckets)",
        build.as_secs_f64() * 1e3,
        slos,
        (END - start) / 60
    );
    println!("nines_checksum {checksum:.6}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_data gen|nines SLOS DAYS DIR";
    let [mode, slos, days, dir] = args.as_slice() else {
        fail(usage)
    };
    let slos: usize = slos.parse().unwrap_or_else(|_| fail(usage));
    let days: i64 = days.parse().unwrap_or_else(|_| fail(usage));
    if slos == 0 || !(1..=400).contains(&days) {
        fail("SLOS must be positive and DAYS in 1..=400");
    }
    let dir = PathBuf::from(dir);
    check(std::fs::create_dir_all(&dir));
    let start = END - days * DAY;
    match mode.as_str() {
        "gen" => {
            gen(slos, start, &dir);
            check(std::fs::write(
                dir.join("meta.tsv"),
                format!("{start}\t{END}\t{slos}\t{days}\n"),
            ));
        }
        "nines" => nines(slos, start, &dir),
        _ => fail(usage),
    }
}
