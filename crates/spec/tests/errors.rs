//! Every error at once, each with its exact `file:line:col: path: message`.

fn errors(text: &str) -> Vec<String> {
    match spec::load_str("nines.yaml", text) {
        Ok(_) => panic!("expected errors"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

fn assert_lines(actual: &[String], expected: &str) {
    let expected: Vec<&str> = expected.lines().filter(|l| !l.is_empty()).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    assert_eq!(actual, expected, "\nactual:\n{}\n", actual.join("\n"));
}

const NATIVE: &str = r#"apiVersion: nines/v1
services:
  - name: checkout
    slos:
      - name: availability
        sli:
          kind: availability
          source: access_log
          total: { path: "^/api/(" , method: [GET, 7], colour: red }
          good: { status: "<5x0" }
        objective: 99.9
        window: 30x
      - name: availability
        sli:
          kind: latency
          source: access_log
          good: { status: "<500" }
        objective: 120
        window: { calendar: year, timezone: Mars/Olympus }
        slice_target: 95
        bucket: 7m
        exclude:
          - { from: "2023-11-14T23:10:00Z", to: "2023-11-14T23:00:00Z" }
          - { from: "yesterday", to: "2023-11-14T23:00:00Z", reason: oops }
      - name: range
        description: [not, a, string]
        sli:
          kind: speed
          source: prometheus
          total: { path: x }
          good: "ok"
        objective: { min: 99.95, max: 99.0 }
        window: 28d
        budgeting: timeslices
      - sli: { kind: latency, source: otlp, good: { latency: "300" }, bad: "x" }
        objective: 0
        window: 1d
  - name: checkout
"#;

#[test]
fn a_native_file_with_many_errors_reports_all_of_them() {
    assert_lines(
        &errors(NATIVE),
        r#"
nines.yaml:9:26: services[0].slos[0].sli.total.path: invalid regex "^/api/(": unclosed group
nines.yaml:9:52: services[0].slos[0].sli.total.method[1]: expected a string, got a number
nines.yaml:9:56: services[0].slos[0].sli.total.colour: unknown field `colour`, expected one of `path`, `method`, `host`, `status`
nines.yaml:10:27: services[0].slos[0].sli.good.status: invalid status set "<5x0": "5x0" is not a three-digit status code
nines.yaml:12:17: services[0].slos[0].window: invalid duration "30x": expected a number followed by s, m, h, d or w (e.g. 30d)
nines.yaml:13:15: services[0].slos[1].name: duplicate SLO `availability` in service `checkout` (first defined at nines.yaml:5:15)
nines.yaml:17:17: services[0].slos[1].sli.good: a latency SLI needs a `latency` condition (e.g. latency: "<=300ms")
nines.yaml:18:20: services[0].slos[1].objective: must be between 0 and 100 (exclusive of 0), got 120
nines.yaml:19:29: services[0].slos[1].window.calendar: unknown calendar unit "year", expected one of `week`, `month`, `quarter`
nines.yaml:19:45: services[0].slos[1].window.timezone: unknown time zone "Mars/Olympus": use an IANA name such as Europe/Berlin
nines.yaml:20:23: services[0].slos[1].slice_target: `slice_target` requires `budgeting: timeslices`
nines.yaml:21:17: services[0].slos[1].bucket: must be between 1s and 1d and divide a day evenly (e.g. 1m, 5m, 1h), got 7m
nines.yaml:23:49: services[0].slos[1].exclude[0].to: must be after `from` (2023-11-14T23:10:00Z)
nines.yaml:24:21: services[0].slos[1].exclude[1].from: invalid time "yesterday": expected RFC 3339 such as 2023-11-14T23:00:00Z
nines.yaml:25:9: services[0].slos[2]: missing field `slice_target` (required with `budgeting: timeslices`)
nines.yaml:26:22: services[0].slos[2].description: expected a string, got a list
nines.yaml:28:17: services[0].slos[2].sli.kind: unknown SLI kind "speed", expected one of `availability`, `latency`, `freshness`, `correctness`, `durability`, `throughput`
nines.yaml:30:18: services[0].slos[2].sli.total: expected a metric selector or PromQL string, got a mapping
nines.yaml:32:39: services[0].slos[2].objective.max: must be above `min` (99.95), got 99
nines.yaml:35:9: services[0].slos[3]: missing field `name`
nines.yaml:35:62: services[0].slos[3].sli.good.latency: invalid latency bound "300": missing unit (use ms, s or m)
nines.yaml:35:76: services[0].slos[3].sli.bad: `bad` is only supported for remote_write and prometheus sources; use `good`
nines.yaml:36:20: services[0].slos[3].objective: must be between 0 and 100 (exclusive of 0), got 0
nines.yaml:38:11: services[1].name: duplicate service `checkout` (first defined at nines.yaml:3:11)
"#,
    );
}

#[test]
fn the_documented_objective_message() {
    let text = "apiVersion: nines/v1\nservices:\n  - name: checkout\n    slos:\n      - name: availability\n        sli: { kind: availability, source: access_log, good: { status: \"<500\" } }\n        objective: 99.9\n        window: 30d\n      - name: latency\n        sli: { kind: latency, source: access_log, good: { latency: \"<=300ms\" } }\n        window: 28d\n        objective: 120\n";
    assert_lines(
        &errors(text),
        "nines.yaml:12:20: services[0].slos[1].objective: must be between 0 and 100 (exclusive of 0), got 120",
    );
}

#[test]
fn objective_of_100_and_query_sources_need_good_or_bad() {
    let text = r#"apiVersion: nines/v1
services:
  - name: s
    slos:
      - name: perfect
        sli: { kind: availability, source: remote_write, total: "up" }
        objective: 100
        window: 30d
      - name: both
        sli: { kind: availability, source: prometheus, total: "a", good: "b", bad: "c" }
        objective: 99
        window: 90s
        bucket: 1m
      - name: no_total
        sli: { kind: availability, source: prometheus, good: "" }
        objective: 99
        window: 30d
        budgeting: weekly
"#;
    assert_lines(
        &errors(text),
        r#"
nines.yaml:6:14: services[0].slos[0].sli: missing field `good` (or `bad`)
nines.yaml:7:20: services[0].slos[0].objective: must be below 100: a 100% objective leaves no error budget
nines.yaml:10:84: services[0].slos[1].sli.bad: set `good` or `bad`, not both
nines.yaml:12:17: services[0].slos[1].window: must be a whole number of buckets (1m), got 90s
nines.yaml:15:14: services[0].slos[2].sli: missing field `total` (a metric selector or PromQL query)
nines.yaml:15:62: services[0].slos[2].sli.good: must not be empty
nines.yaml:18:20: services[0].slos[2].budgeting: unknown budgeting method "weekly", expected one of `occurrences`, `timeslices`
"#,
    );
}

#[test]
fn yaml_syntax_errors_carry_the_parser_location() {
    assert_lines(
        &errors("apiVersion: nines/v1\nservices:\n  - name: a\n    slos: [\n  - b\n"),
        r#"nines.yaml:5:3: invalid YAML: "-" is only valid inside a block"#,
    );
    assert_lines(
        &errors("apiVersion: nines/v1\napiVersion: nines/v1\n"),
        "nines.yaml:2:1: invalid YAML: duplicate key `apiVersion`",
    );
}

#[test]
fn documents_without_a_known_api_version() {
    assert_lines(
        &errors("- 1\n---\nservices: []\n---\napiVersion: v1\n---\napiVersion: 1\n"),
        r#"
nines.yaml:1:1: expected a mapping with `apiVersion`, got a list
nines.yaml:3:1: missing field `apiVersion` (`nines/v1` or `openslo/v1`)
nines.yaml:5:13: apiVersion: unsupported apiVersion "v1", expected `nines/v1` or `openslo/v1`
nines.yaml:7:13: apiVersion: expected `nines/v1` or `openslo/v1`, got a number
"#,
    );
}

const OPENSLO: &str = r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: api
spec:
  service: web
  indicatorRef: nowhere
  timeWindow:
    - duration: 1M
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - target: 1.5
      timeSliceWindow: 7m
    - targetPercent: 99
      timeSliceTarget: 0.9
  alertPolicies:
    - alertPolicyRef: missing
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: ok-sli
spec:
  ratioMetric:
    total:
      metricSource:
        metricSourceRef: nope
    good:
      metricSource:
        type: Prometheus
        spec: { promql_typo: x }
---
apiVersion: openslo/v2
kind: SLO
---
kind: Nope
apiVersion: openslo/v1
metadata: { name: "Bad Name" }
spec: {}
---
apiVersion: openslo/v1
kind: SLO
metadata: { name: cal }
spec:
  service: web
  indicator:
    metadata: { name: x }
    spec:
      thresholdMetric:
        metricSource: { type: Datadog, spec: { query: "avg:latency" } }
  timeWindow:
    - duration: 2w
      calendar: { startTime: "not a time", timeZone: Nowhere/Land }
  budgetingMethod: occurrences
  objectives:
    - target: 0.99
"#;

#[test]
fn an_openslo_file_with_many_errors_reports_all_of_them() {
    assert_lines(
        &errors(OPENSLO),
        r#"
nines.yaml:7:17: spec.indicatorRef: indicatorRef `nowhere` points to no SLI (known SLIs: ok-sli)
nines.yaml:9:17: spec.timeWindow[0].duration: a rolling window needs a fixed length (s, m, h, d or w), got "1M"; use a calendar window for months and quarters
nines.yaml:13:7: spec.objectives[0]: missing field `timeSliceTarget` (required with budgetingMethod Timeslices)
nines.yaml:13:15: spec.objectives[0].target: must be a ratio between 0 and 1 (exclusive of 0, exclusive of 1), got 1.5
nines.yaml:14:24: spec.objectives[0].timeSliceWindow: must be between 1s and 1d and divide a day evenly (e.g. 1m, 5m, 1h), got 7m
nines.yaml:18:23: spec.alertPolicies[0].alertPolicyRef: alertPolicyRef `missing` points to no AlertPolicy
nines.yaml:28:26: spec.ratioMetric.total.metricSource.metricSourceRef: metricSourceRef `nope` points to no DataSource
nines.yaml:32:15: spec.ratioMetric.good.metricSource.spec: a Prometheus metric source needs `query` (PromQL) in its spec
nines.yaml:34:13: apiVersion: unsupported apiVersion "openslo/v2", expected `nines/v1` or `openslo/v1`
nines.yaml:37:7: kind: unknown kind "Nope", expected one of `SLO`, `SLI`, `Service`, `DataSource`, `AlertPolicy`, `AlertCondition`, `AlertNotificationTarget`
nines.yaml:39:19: metadata.name: invalid name "Bad Name": use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit
nines.yaml:53:17: spec.timeWindow[0].duration: a calendar window must be 1w, 1M or 1Q (week, month, quarter), got "2w"
nines.yaml:54:30: spec.timeWindow[0].calendar.startTime: invalid time "not a time": expected e.g. 2022-01-01 12:00:00 or 2022-01-01T12:00:00Z
nines.yaml:54:54: spec.timeWindow[0].calendar.timeZone: unknown time zone "Nowhere/Land": use an IANA name such as Europe/Berlin
nines.yaml:55:20: spec.budgetingMethod: unknown budgetingMethod "occurrences", expected one of `Occurrences`, `Timeslices`, `RatioTimeslices`
"#,
    );
}

#[test]
fn openslo_references_across_files_and_duplicates() {
    let sli = "apiVersion: openslo/v1\nkind: SLI\nmetadata: { name: errors }\nspec:\n  ratioMetric:\n    good: { metricSource: { type: Prometheus, spec: { query: good } } }\n    total: { metricSource: { type: Prometheus, spec: { query: total } } }\n";
    let slo = "apiVersion: openslo/v1\nkind: SLO\nmetadata: { name: a }\nspec:\n  service: web\n  indicatorRef: errors\n  timeWindow: [{ duration: 28d, isRolling: true }]\n  budgetingMethod: Occurrences\n  objectives: [{ target: 0.99 }]\n";
    let native = "apiVersion: nines/v1\nservices:\n  - name: web\n    slos:\n      - name: a\n        sli: { kind: availability, source: prometheus, total: t, good: g }\n        objective: 99\n        window: 28d\n";
    let dir = std::env::temp_dir().join(format!("spec-refs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("1-slo.yaml"), slo).expect("write");
    std::fs::write(dir.join("2-sli.yaml"), format!("{sli}---\n{sli}")).expect("write");
    std::fs::write(dir.join("3-native.yaml"), native).expect("write");
    let result = spec::load_files(std::slice::from_ref(&dir));
    let d = |name: &str| dir.join(name).display().to_string();
    let shown: Vec<String> = result
        .expect_err("duplicates")
        .iter()
        .map(ToString::to_string)
        .collect();
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(
        shown,
        vec![
            format!(
                "{}:3:19: metadata.name: duplicate SLO `a` in service `web` (first defined at {}:5:9)",
                d("1-slo.yaml"),
                d("3-native.yaml")
            ),
            format!(
                "{}:11:19: metadata.name: duplicate SLI `errors` (first defined at {}:3:19)",
                d("2-sli.yaml"),
                d("2-sli.yaml")
            ),
        ]
    );
}
