//! SLIs with `source: prometheus` evaluated live from a Prometheus-compatible HTTP API (the
//! configuration's `prometheus:` section) instead of local counters. The answer has the
//! shape of [`store::Store::counts`] — `(bucket_start, good, total)` per bucket — so
//! reports, alert conditions and backtests do not know where their counts came from.
//!
//! Query semantics (documented in the README): `{{window}}` becomes the SLO's bucket width
//! and `/api/v1/query_range` is asked with `step` = the width at the bucket ends, so the
//! value at `t` covers the bucket `[t - width, t)`. A query whose range functions are
//! `rate`/`irate` (the form rule generation and Sloth use) is per second and is multiplied
//! by the width; `increase`/`*_over_time` queries are already events
//! ([`spec::query_scale`]). Several series in a result are summed; a bucket without a
//! point has no events. With `bad` (`error_query`), good = total − bad. The fractional
//! events Prometheus extrapolates are rounded on their running sum, so any run of buckets
//! is within one event (total) or two (good) of the unrounded sum.
//!
//! Prometheus refuses more than 11,000 points per series, so a long range is asked in
//! chunks of [`MAX_POINTS`]. Buckets whose end is older than the settle delay (two buckets
//! unless configured) are cached per SLO: after the first evaluation each tick only asks
//! for the last few buckets.

use crate::Error;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::BucketCount;

/// Points per `query_range` request: under Prometheus' limit of 11,000 per series.
pub const MAX_POINTS: i64 = 10_000;

/// Buckets one read may cover (400 days of minutes): a history request reaching years back
/// must not make the server ask Prometheus for millions of points and hold them.
pub const MAX_BUCKETS: i64 = 576_000;

/// Bytes of an HTTP error body kept in the error message.
const ERROR_BODY_BYTES: usize = 300;

/// The query texts of one Prometheus SLI, with `{{window}}` still in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliQueries {
    pub total: String,
    /// Exactly one of `good` and `bad` is set.
    pub good: Option<String>,
    pub bad: Option<String>,
}

impl SliQueries {
    /// The queries of an SLO that is evaluated from Prometheus, `None` for other sources.
    pub fn of(slo: &spec::SloConfig) -> Option<SliQueries> {
        if slo.sli.source != spec::SourceKind::Prometheus {
            return None;
        }
        match &slo.sli.query {
            spec::SliQuery::Queries { total, good, bad } => Some(SliQueries {
                total: total.clone(),
                good: good.clone(),
                bad: bad.clone(),
            }),
            _ => None,
        }
    }
}

/// Counts for `[from, to)` from wherever the SLO's events live: the Prometheus API for a
/// `source: prometheus` SLO when the configuration has a `prometheus:` section (`prom`),
/// the store otherwise.
pub async fn counts(
    store: &dyn store::Store,
    prom: Option<&Prometheus>,
    slo: &spec::SloConfig,
    from: i64,
    to: i64,
) -> Result<Vec<BucketCount>, Error> {
    match (prom, SliQueries::of(slo)) {
        (Some(prom), Some(queries)) => prom
            .counts(&slo.spec, &queries, from, to, crate::now())
            .await
            .map_err(|message| Error::Prometheus {
                slo: slo.spec.key(),
                message,
            }),
        _ => Ok(store.counts(&slo.spec.key(), from, to).await?),
    }
}

/// The running configuration's Prometheus API (`None` without a `prometheus:` section).
pub fn of_state(state: &crate::state::AppState) -> Result<Option<Arc<Prometheus>>, String> {
    state
        .prometheus
        .get(state.config().config.prometheus.as_ref())
}

/// [`counts`] with the server's store and Prometheus API.
pub async fn state_counts(
    state: &crate::state::AppState,
    slo: &spec::SloConfig,
    from: i64,
    to: i64,
) -> Result<Vec<BucketCount>, Error> {
    let prometheus = of_state(state).map_err(|message| Error::Prometheus {
        slo: slo.spec.key(),
        message,
    })?;
    counts(state.store.as_ref(), prometheus.as_deref(), slo, from, to).await
}

/// [`state_counts`] for the HTTP API: a Prometheus failure is the SLO's
/// `slo.evaluation_failed` (422), a store failure keeps its own code.
pub async fn api_counts(
    state: &crate::state::AppState,
    slo: &spec::SloConfig,
    from: i64,
    to: i64,
) -> Result<Vec<BucketCount>, crate::ApiError> {
    state_counts(state, slo, from, to)
        .await
        .map_err(|e| match e {
            Error::Store(err) => crate::ApiError::from(err),
            other => crate::ApiError::unprocessable("slo.evaluation_failed", other.to_string()),
        })
}

/// One configured Prometheus API: its HTTP client and the settled buckets of every SLO.
pub struct Prometheus {
    settings: spec::PrometheusSource,
    client: reqwest::Client,
    caches: Mutex<HashMap<String, Arc<tokio::sync::Mutex<BucketCache>>>>,
}

/// Settled buckets of one SLO (good, total as Prometheus answered them, before rounding).
#[derive(Default)]
struct BucketCache {
    /// What the buckets were computed with; a change empties the cache.
    fingerprint: String,
    buckets: BTreeMap<i64, (f64, f64)>,
    /// The longest range asked for: buckets older than twice that before now are dropped
    /// (a short read, such as a day for a sparkline, must not drop the SLO window).
    longest: i64,
}

impl Prometheus {
    pub fn new(settings: spec::PrometheusSource) -> Result<Prometheus, String> {
        let timeout =
            Duration::from_secs(u64::try_from(settings.timeout_seconds.max(1)).unwrap_or(30));
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("nines/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Prometheus {
            settings,
            client,
            caches: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &spec::PrometheusSource {
        &self.settings
    }

    /// Per-bucket counts of `[from, to)` (bucket starts), `now` deciding which buckets are
    /// settled (cached) and which are asked again next time.
    pub async fn counts(
        &self,
        spec: &slo::SloSpec,
        queries: &SliQueries,
        from: i64,
        to: i64,
        now: i64,
    ) -> Result<Vec<BucketCount>, String> {
        let width = spec.bucket_seconds.max(1);
        let first = from.div_euclid(width) * width;
        let end = to.div_euclid(width) * width + if to.rem_euclid(width) == 0 { 0 } else { width };
        if end <= first {
            return Ok(Vec::new());
        }
        if (end - first) / width > MAX_BUCKETS {
            return Err(format!(
                "{} buckets asked; at most {MAX_BUCKETS} are read from Prometheus at once",
                (end - first) / width
            ));
        }
        let settle = self.settings.settle_seconds.unwrap_or(2 * width);
        // A bucket is settled once its end is `settle` old.
        let settled_before = now - settle - width;
        let cache = self.cache(&spec.key());
        let mut cache = cache.lock().await;
        let fingerprint = format!("{width} {queries:?}");
        if cache.fingerprint != fingerprint {
            *cache = BucketCache {
                fingerprint,
                ..BucketCache::default()
            };
        }
        let starts: Vec<i64> = (0..(end - first) / width)
            .map(|i| first + i * width)
            .collect();
        let mut fetched: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let runs = merge_close(
            missing_runs(&starts, width, |s| cache.buckets.contains_key(&s)),
            MERGE_GAP * width,
        );
        if !runs.is_empty() {
            let auth = self.auth_header().await?;
            for (run_first, run_end) in runs {
                let values = self
                    .fetch(queries, width, run_first, run_end, auth.as_deref())
                    .await?;
                fetched.extend(values);
            }
        }
        for (&start, &value) in &fetched {
            if start <= settled_before {
                cache.buckets.insert(start, value);
            }
        }
        cache.longest = cache.longest.max(end - first);
        let keep_from = now - 2 * cache.longest;
        cache.buckets = cache.buckets.split_off(&keep_from);
        let values = starts.iter().map(|s| {
            let v = fetched
                .get(s)
                .or_else(|| cache.buckets.get(s))
                .copied()
                .unwrap_or((0.0, 0.0));
            (*s, v)
        });
        Ok(round_counts(values))
    }

    fn cache(&self, key: &str) -> Arc<tokio::sync::Mutex<BucketCache>> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.entry(key.to_string()).or_default().clone()
    }

    /// Good and total for every bucket in `[first, end)`, each bucket present (0 without
    /// points).
    async fn fetch(
        &self,
        queries: &SliQueries,
        width: i64,
        first: i64,
        end: i64,
        auth: Option<&str>,
    ) -> Result<BTreeMap<i64, (f64, f64)>, String> {
        let mut out: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let mut s = first;
        while s < end {
            out.insert(s, (0.0, 0.0));
            s += width;
        }
        let (good_query, good_is_bad) = match (&queries.good, &queries.bad) {
            (Some(good), _) => (good, false),
            (None, Some(bad)) => (bad, true),
            (None, None) => return Err("the SLI has neither a good nor a bad query".into()),
        };
        let total = self.range(&queries.total, width, first, end, auth).await?;
        let good = self.range(good_query, width, first, end, auth).await?;
        for (start, value) in total {
            if let Some(v) = out.get_mut(&start) {
                v.1 = value;
            }
        }
        for (start, value) in good {
            if let Some(v) = out.get_mut(&start) {
                v.0 = value;
            }
        }
        if good_is_bad {
            for v in out.values_mut() {
                v.0 = v.1 - v.0;
            }
        }
        Ok(out)
    }

    /// One query over the buckets `[first, end)`: events per bucket start, in chunks of at
    /// most [`MAX_POINTS`] points.
    async fn range(
        &self,
        query: &str,
        width: i64,
        first: i64,
        end: i64,
        auth: Option<&str>,
    ) -> Result<Vec<(i64, f64)>, String> {
        if !query.contains(spec::WINDOW_PLACEHOLDER) {
            return Err(format!(
                "query {query:?} has no {} placeholder, so it cannot be split into buckets",
                spec::WINDOW_PLACEHOLDER
            ));
        }
        let scale = match spec::query_scale(query)? {
            spec::QueryScale::PerSecond => width as f64,
            spec::QueryScale::Events => 1.0,
        };
        let text = query.replace(spec::WINDOW_PLACEHOLDER, &format!("{width}s"));
        let mut out = Vec::new();
        for (start, stop) in chunks(first + width, end, width) {
            let params = [
                ("query", text.clone()),
                ("start", start.to_string()),
                ("end", stop.to_string()),
                ("step", format!("{width}s")),
            ];
            let body = self.post("query_range", &params, auth).await?;
            for (t, v) in parse_matrix(&body)? {
                out.push((t - width, v * scale));
            }
        }
        Ok(out)
    }

    /// Good and total events of the last complete bucket before `at`, by instant queries:
    /// checks that the API answers and that Prometheus accepts the SLO's queries
    /// (`nines check --live`).
    pub async fn check(
        &self,
        spec: &slo::SloSpec,
        queries: &SliQueries,
        at: i64,
    ) -> Result<(f64, f64), String> {
        let width = spec.bucket_seconds.max(1);
        let t = at.div_euclid(width) * width;
        let mut values = Vec::new();
        for query in [
            Some(&queries.total),
            queries.good.as_ref(),
            queries.bad.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !query.contains(spec::WINDOW_PLACEHOLDER) {
                return Err(format!(
                    "query {query:?} has no {} placeholder",
                    spec::WINDOW_PLACEHOLDER
                ));
            }
            let scale = match spec::query_scale(query)? {
                spec::QueryScale::PerSecond => width as f64,
                spec::QueryScale::Events => 1.0,
            };
            let text = query.replace(spec::WINDOW_PLACEHOLDER, &format!("{width}s"));
            let value = self
                .instant(&text, t)
                .await
                .map_err(|e| format!("{query}: {e}"))?;
            values.push(value.unwrap_or(0.0) * scale);
        }
        match (values.as_slice(), queries.good.is_some()) {
            ([total, good], true) => Ok((*good, *total)),
            ([total, bad], false) => Ok((total - bad, *total)),
            _ => Err("the SLI has neither a good nor a bad query".into()),
        }
    }

    /// An instant query (`/api/v1/query`): the sum of the vector's values, `None` when it
    /// is empty. Used to check that the API answers.
    pub async fn instant(&self, query: &str, at: i64) -> Result<Option<f64>, String> {
        let auth = self.auth_header().await?;
        let params = [("query", query.to_string()), ("time", at.to_string())];
        let body = self.post("query", &params, auth.as_deref()).await?;
        parse_vector(&body)
    }

    /// POSTs a form to `/api/v1/<endpoint>` with the auth and tenant headers; the body of a
    /// 2xx answer, or the API's (or HTTP's) error.
    async fn post(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
        auth: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let url = format!("{}/api/v1/{endpoint}", self.settings.url);
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut request = self
            .client
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        if let Some(auth) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(tenant) = &self.settings.tenant {
            request = request.header(self.settings.tenant_header.as_str(), tenant.as_str());
        }
        let response = request
            .send()
            .await
            .map_err(|e| describe_send_error(&url, &e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(match api_error(&body) {
            Some(message) => format!("{url} answered {}: {message}", status.as_u16()),
            None => format!(
                "{url} answered HTTP {}: {}",
                status.as_u16(),
                excerpt(&body)
            ),
        })
    }

    /// The `Authorization` value, the secret read from its file now (so a rotated secret
    /// is used without a reload).
    async fn auth_header(&self) -> Result<Option<String>, String> {
        let read = |path: &std::path::Path| {
            let path = path.to_path_buf();
            async move {
                let text = tokio::fs::read_to_string(&path)
                    .await
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                let secret = text.trim().to_string();
                if secret.is_empty() {
                    return Err(format!("{} is empty", path.display()));
                }
                Ok::<String, String>(secret)
            }
        };
        match &self.settings.auth {
            spec::PrometheusAuth::None => Ok(None),
            spec::PrometheusAuth::Bearer { token_file } => {
                Ok(Some(format!("Bearer {}", read(token_file).await?)))
            }
            spec::PrometheusAuth::Basic {
                username,
                password_file,
            } => {
                let password = read(password_file).await?;
                Ok(Some(format!(
                    "Basic {}",
                    base64_encode(format!("{username}:{password}").as_bytes())
                )))
            }
        }
    }
}

/// The Prometheus API of the running configuration, rebuilt (with empty caches) when the
/// `prometheus:` section changes.
#[derive(Default)]
pub struct Sources {
    current: Mutex<Option<Arc<Prometheus>>>,
}

impl Sources {
    /// The API for `settings` (`None` when the configuration has no `prometheus:`).
    pub fn get(
        &self,
        settings: Option<&spec::PrometheusSource>,
    ) -> Result<Option<Arc<Prometheus>>, String> {
        let Some(settings) = settings else {
            return Ok(None);
        };
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = current.as_ref().filter(|p| p.settings == *settings) {
            return Ok(Some(p.clone()));
        }
        let p = Arc::new(Prometheus::new(settings.clone())?);
        *current = Some(p.clone());
        Ok(Some(p))
    }
}

fn describe_send_error(url: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("{url}: timed out")
    } else if e.is_connect() {
        format!("{url}: cannot connect")
    } else {
        format!("{url}: {e}")
    }
}

/// The start of a body, one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)]);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        "(empty body)".into()
    } else {
        line
    }
}

/// Standard base64 with padding (basic auth), to avoid a dependency for 10 lines.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs of consecutive bucket starts (`width` apart) that are not `cached`, as
/// `[first, end)`.
fn missing_runs(starts: &[i64], width: i64, cached: impl Fn(i64) -> bool) -> Vec<(i64, i64)> {
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for &s in starts.iter().filter(|&&s| !cached(s)) {
        let end = s + width;
        match runs.last_mut() {
            Some(run) if run.1 == s => run.1 = end,
            _ => runs.push((s, end)),
        }
    }
    runs
}

/// Runs less than this many buckets apart are asked as one (asking cached buckets again is
/// cheaper than another request).
const MERGE_GAP: i64 = 1_000;

/// Joins runs whose gap is under `gap` seconds.
fn merge_close(runs: Vec<(i64, i64)>, gap: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (first, end) in runs {
        match out.last_mut() {
            Some(last) if first - last.1 < gap => last.1 = end,
            _ => out.push((first, end)),
        }
    }
    out
}

/// Evaluation times `first_end ..= last` every `step`, split into `[start, end]` pairs of
/// at most [`MAX_POINTS`] points each.
fn chunks(first_end: i64, end: i64, step: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = first_end;
    while start <= end {
        let stop = (start + (MAX_POINTS - 1) * step).min(end);
        out.push((start, stop));
        start = stop + step;
    }
    out
}

/// Per-bucket counts from fractional ones: each bucket gets the change of the rounded
/// running sum, so any run of buckets is within one event (two for good, which may wait a
/// bucket for a total to count in) of its fractional sum. Negative
/// values (a `bad` above `total`, float noise) count as zero; good is at most total.
fn round_counts(values: impl IntoIterator<Item = (i64, (f64, f64))>) -> Vec<BucketCount> {
    let (mut good_sum, mut total_sum) = (0.0f64, 0.0f64);
    let (mut good_done, mut total_done) = (0u64, 0u64);
    let mut out = Vec::new();
    for (start, (good, total)) in values {
        let total = if total.is_finite() {
            total.max(0.0)
        } else {
            0.0
        };
        let good = if good.is_finite() {
            good.clamp(0.0, total)
        } else {
            0.0
        };
        total_sum += total;
        good_sum += good;
        let total_now = total_sum.round() as u64;
        let good_now = (good_sum.round() as u64).min(total_now);
        let t = total_now.saturating_sub(total_done);
        let g = good_now.saturating_sub(good_done).min(t);
        total_done += t;
        good_done += g;
        if t > 0 || g > 0 {
            out.push(BucketCount {
                bucket_start: start,
                good: g,
                total: t,
            });
        }
    }
    out
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct MatrixSeries {
    values: Vec<(serde_json::Value, String)>,
}

#[derive(Deserialize)]
struct VectorSample {
    value: (serde_json::Value, String),
}

/// The `errorType: error` of an API error answer.
fn api_error(body: &[u8]) -> Option<String> {
    let answer: Answer = serde_json::from_slice(body).ok()?;
    if answer.status == "success" {
        return None;
    }
    Some(format!(
        "{}: {}",
        answer.error_type.as_deref().unwrap_or("error"),
        answer.error.as_deref().unwrap_or("(no message)")
    ))
}

fn success_data(body: &[u8], expected: &str) -> Result<serde_json::Value, String> {
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not Prometheus API JSON: {e}"))?;
    if answer.status != "success" {
        return Err(api_error(body).unwrap_or_else(|| "error".into()));
    }
    let data = answer
        .data
        .ok_or_else(|| "the answer has no `data`".to_string())?;
    if data.result_type != expected {
        return Err(format!(
            "expected a {expected} result, got a {}: the query must give one number per time",
            data.result_type
        ));
    }
    Ok(data.result)
}

/// A sample value: Prometheus sends numbers as strings (`"1.5"`, `"NaN"`, `"+Inf"`). NaN
/// (a 0/0) is no value; infinities are refused.
fn sample(time: &serde_json::Value, value: &str) -> Result<Option<(i64, f64)>, String> {
    let t = time
        .as_f64()
        .filter(|t| t.is_finite())
        .ok_or_else(|| format!("bad sample time {time}"))?;
    let v: f64 = value
        .parse()
        .map_err(|_| format!("bad sample value {value:?}"))?;
    if v.is_nan() {
        return Ok(None);
    }
    if v.is_infinite() {
        return Err(format!("the query gave {value} at {t}"));
    }
    Ok(Some((t.round() as i64, v)))
}

/// A `query_range` answer: the values of every series summed per timestamp.
pub fn parse_matrix(body: &[u8]) -> Result<Vec<(i64, f64)>, String> {
    let result = success_data(body, "matrix")?;
    let series: Vec<MatrixSeries> =
        serde_json::from_value(result).map_err(|e| format!("bad matrix result: {e}"))?;
    let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
    for s in series {
        for (t, v) in &s.values {
            if let Some((t, v)) = sample(t, v)? {
                *sums.entry(t).or_insert(0.0) += v;
            }
        }
    }
    Ok(sums.into_iter().collect())
}

/// A `query` (instant) answer: the sum of the vector's values, `None` when it is empty.
pub fn parse_vector(body: &[u8]) -> Result<Option<f64>, String> {
    let result = success_data(body, "vector")?;
    let samples: Vec<VectorSample> =
        serde_json::from_value(result).map_err(|e| format!("bad vector result: {e}"))?;
    let mut sum = None;
    for s in samples {
        if let Some((_, v)) = sample(&s.value.0, &s.value.1)? {
            *sum.get_or_insert(0.0) += v;
        }
    }
    Ok(sum)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matrix_sums_series_and_skips_nan() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"code":"200"},"values":[[1700000060,"1.5"],[1700000120,"2"]]},
            {"metric":{"code":"500"},"values":[[1700000120,"0.5"],[1700000180,"NaN"]]}]}}"#;
        assert_eq!(
            parse_matrix(body).unwrap(),
            vec![(1_700_000_060, 1.5), (1_700_000_120, 2.5)]
        );
        let empty = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(parse_matrix(empty).unwrap(), vec![]);
    }

    #[test]
    fn errors_are_readable() {
        let err =
            br#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        assert_eq!(
            parse_matrix(err).unwrap_err(),
            "bad_data: 1:5: parse error: unexpected"
        );
        assert_eq!(
            api_error(err).unwrap(),
            "bad_data: 1:5: parse error: unexpected"
        );
        assert!(parse_matrix(b"<html>")
            .unwrap_err()
            .starts_with("the answer is not Prometheus API JSON"));
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#;
        assert!(parse_matrix(scalar)
            .unwrap_err()
            .contains("expected a matrix result, got a scalar"));
        let inf = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}}"#;
        assert!(parse_vector(inf).unwrap_err().contains("+Inf"));
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"3"]},{"metric":{},"value":[1.5,"4"]}]}}"#;
        assert_eq!(parse_vector(v).unwrap(), Some(7.0));
        assert_eq!(excerpt(b"  bad\n gateway "), "bad gateway");
    }

    #[test]
    fn chunks_stay_under_the_point_limit_and_cover_every_step() {
        let step = 60;
        let first = 1_000 * step;
        let end = first + 43_199 * step; // 43,200 points: 30 days of minutes
        let parts = chunks(first, end, step);
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], (first, first + 9_999 * step));
        let mut expected = first;
        for (a, b) in &parts {
            assert_eq!(*a, expected);
            assert!((b - a) / step < MAX_POINTS);
            expected = b + step;
        }
        assert_eq!(parts.last().unwrap().1, end);
        assert_eq!(chunks(10, 10, 5), vec![(10, 10)]);
        assert!(chunks(10, 5, 5).is_empty());
    }

    #[test]
    fn missing_runs_merge_neighbours() {
        let starts: Vec<i64> = (0..10).map(|i| i * 60).collect();
        let cached = |s: i64| s < 240 || s == 420;
        assert_eq!(
            missing_runs(&starts, 60, cached),
            vec![(240, 420), (480, 600)]
        );
        assert!(missing_runs(&starts, 60, |_| true).is_empty());
        assert_eq!(missing_runs(&[120], 60, |_| false), vec![(120, 180)]);
        assert_eq!(
            merge_close(vec![(0, 60), (120, 180), (10_000, 10_060)], 1000),
            vec![(0, 180), (10_000, 10_060)]
        );
    }

    #[test]
    fn rounding_keeps_running_sums_within_one_event() {
        let values: Vec<(i64, (f64, f64))> = (0..1000)
            .map(|i| {
                (
                    i * 60,
                    (0.3 + (i % 7) as f64 * 0.1, 0.7 + (i % 3) as f64 * 0.2),
                )
            })
            .collect();
        let rows = round_counts(values.clone());
        let mut exact = (0.0, 0.0);
        let mut counted = (0u64, 0u64);
        let mut rows_iter = rows.iter().peekable();
        for (start, (g, t)) in values {
            exact.0 += g.min(t);
            exact.1 += t;
            if let Some(r) = rows_iter.next_if(|r| r.bucket_start == start) {
                assert!(r.good <= r.total);
                counted.0 += r.good;
                counted.1 += r.total;
            }
            assert!((counted.1 as f64 - exact.1).abs() <= 0.5 + 1e-9);
            // good may wait one bucket for a total to fall in
            assert!((counted.0 as f64 - exact.0).abs() <= 2.0 + 1e-9);
        }
        // bad above total, NaN and negatives never make negative or excess counts
        let odd = round_counts([(0, (5.0, 3.0)), (60, (f64::NAN, -1.0)), (120, (1.0, 1.0))]);
        assert_eq!(
            odd.iter().map(|r| (r.good, r.total)).collect::<Vec<_>>(),
            vec![(3, 3), (1, 1)]
        );
    }

    /// What the fake API saw of one request.
    #[derive(Debug, Clone)]
    struct Seen {
        endpoint: String,
        query: String,
        start: i64,
        end: i64,
        step: String,
        authorization: Option<String>,
        tenant: Option<String>,
    }

    type Log = Arc<Mutex<Vec<Seen>>>;

    /// A fake Prometheus API: every series is 1 event per second, the `code="500"` one 0.25
    /// per second (`rate` answers), a query containing `bad_query` a 400 with Prometheus'
    /// error JSON, `slow` an answer after 3 s.
    async fn fake_api() -> (String, Log) {
        use axum::extract::{Path as AxPath, State};
        use axum::http::{HeaderMap, StatusCode};
        let log: Log = Arc::default();
        let handler = |State(log): State<Log>,
                       AxPath(endpoint): AxPath<String>,
                       headers: HeaderMap,
                       body: String| async move {
            let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect();
            let get = |k: &str| form.get(k).cloned().unwrap_or_default();
            let header = |k: &str| {
                headers
                    .get(k)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let seen = Seen {
                endpoint,
                query: get("query"),
                start: get("start").parse().unwrap_or(0),
                end: get("end").parse().unwrap_or(0),
                step: get("step"),
                authorization: header("authorization"),
                tenant: header("x-tenant"),
            };
            log.lock().unwrap().push(seen.clone());
            if seen.query.contains("bad_query") {
                let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}"#;
                return (StatusCode::BAD_REQUEST, body.to_string());
            }
            if seen.query.contains("slow") {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            let per_second = if seen.query.contains("500") {
                0.25
            } else {
                1.0
            };
            let step: i64 = seen.step.trim_end_matches('s').parse().unwrap_or(60);
            let mut values = Vec::new();
            let mut t = seen.start;
            while t <= seen.end {
                values.push(format!("[{t},\"{per_second}\"]"));
                t += step;
            }
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
                values.join(",")
            );
            (StatusCode::OK, body)
        };
        let app = axum::Router::new()
            .route("/api/v1/{endpoint}", axum::routing::post(handler))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), log)
    }

    fn settings(url: &str, auth: spec::PrometheusAuth, timeout: i64) -> spec::PrometheusSource {
        spec::PrometheusSource {
            url: url.to_string(),
            auth,
            tenant: Some("team-a".into()),
            tenant_header: "X-Tenant".into(),
            timeout_seconds: timeout,
            settle_seconds: None,
            origin: spec::Location::default(),
        }
    }

    fn slo_spec() -> slo::SloSpec {
        slo::SloSpec {
            service: "api".into(),
            name: "availability".into(),
            objective: slo::Objective::Target(0.999),
            window: slo::Window::Rolling {
                seconds: 30 * 86_400,
            },
            budgeting: slo::Budgeting::Occurrences,
            exclusions: Vec::new(),
            bucket_seconds: 60,
        }
    }

    fn queries(bad: &str) -> SliQueries {
        SliQueries {
            total: "sum(rate(http_requests_total[{{window}}]))".into(),
            good: None,
            bad: Some(bad.into()),
        }
    }

    #[tokio::test]
    async fn thirty_days_cold_then_only_the_recent_buckets() {
        let (url, log) = fake_api().await;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let prom = Prometheus::new(settings(
            &url,
            spec::PrometheusAuth::Bearer { token_file: token },
            5,
        ))
        .unwrap();
        let spec = slo_spec();
        let q = queries(r#"sum(rate(http_requests_total{code="500"}[{{window}}]))"#);
        let now = 1_700_006_400;
        let from = now - 30 * 86_400;
        let rows = prom.counts(&spec, &q, from, now, now).await.unwrap();
        assert_eq!(rows.len(), 43_200);
        assert!(
            rows.iter().all(|r| r.total == 60 && r.good == 45),
            "{:?}",
            &rows[..2]
        );
        assert_eq!(
            (rows[0].bucket_start, rows[43_199].bucket_start),
            (from, now - 60)
        );
        let seen = log.lock().unwrap().clone();
        // total and bad, 43,200 points each in chunks of at most 10,000
        assert_eq!(seen.len(), 10);
        for s in &seen {
            assert_eq!(s.endpoint, "query_range");
            assert_eq!(s.step, "60s");
            assert!(s.query.contains("[60s]"), "{}", s.query);
            assert!((s.end - s.start) / 60 < MAX_POINTS);
            assert_eq!(s.authorization.as_deref(), Some("Bearer s3cret"));
            assert_eq!(s.tenant.as_deref(), Some("team-a"));
        }
        assert_eq!(
            seen[0].start,
            from + 60,
            "the first point is the first bucket's end"
        );
        // A minute later only the unsettled tail (2 buckets of settle + the new one) is asked.
        log.lock().unwrap().clear();
        let later = now + 60;
        let rows = prom
            .counts(&spec, &q, from + 60, later, later)
            .await
            .unwrap();
        assert_eq!(rows.len(), 43_200);
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let asked = (seen[0].end - seen[0].start) / 60 + 1;
        assert!(asked <= 4, "asked {asked} points again");
        // A short read (a day, as the UI's sparkline asks) keeps the 30 days cached.
        log.lock().unwrap().clear();
        prom.counts(&spec, &q, later - 86_400, later, later)
            .await
            .unwrap();
        prom.counts(&spec, &q, from + 60, later, later)
            .await
            .unwrap();
        assert_eq!(
            log.lock().unwrap().len(),
            4,
            "only the unsettled tail, twice"
        );
        // Years of minutes are refused before anything is asked.
        log.lock().unwrap().clear();
        let err = prom
            .counts(&spec, &q, now - 2 * 365 * 86_400, now, now)
            .await
            .unwrap_err();
        assert!(err.starts_with("1051200 buckets asked"), "{err}");
        assert!(log.lock().unwrap().is_empty());
        // A single bucket is one point per query.
        let one = slo::SloSpec {
            name: "single".into(),
            ..slo_spec()
        };
        log.lock().unwrap().clear();
        let rows = prom.counts(&one, &q, now - 60, now, now).await.unwrap();
        assert_eq!((rows.len(), rows[0].total, rows[0].good), (1, 60, 45));
        let seen = log.lock().unwrap().clone();
        assert!(
            seen.iter().all(|s| s.start == now && s.end == now),
            "{seen:?}"
        );
        // A changed query is not answered from the old cache.
        log.lock().unwrap().clear();
        let other = queries(r#"sum(rate(http_requests_total{code="503"}[{{window}}]))"#);
        prom.counts(&spec, &other, from, now, now).await.unwrap();
        assert_eq!(log.lock().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn basic_auth_and_instant_queries() {
        let (url, log) = fake_api().await;
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("pw");
        std::fs::write(&password, "s3cret").unwrap();
        let prom = Prometheus::new(settings(
            &url,
            spec::PrometheusAuth::Basic {
                username: "nines".into(),
                password_file: password,
            },
            5,
        ))
        .unwrap();
        // the fake answers a matrix to everything: an instant query says so
        let err = prom.instant("vector(1)", 1_700_000_000).await.unwrap_err();
        assert!(
            err.contains("expected a vector result, got a matrix"),
            "{err}"
        );
        let seen = log.lock().unwrap().clone();
        assert_eq!(seen[0].endpoint, "query");
        assert_eq!(
            seen[0].authorization.as_deref(),
            Some("Basic bmluZXM6czNjcmV0")
        );
    }

    #[tokio::test]
    async fn errors_name_the_cause() {
        let (url, _log) = fake_api().await;
        let prom = Prometheus::new(settings(&url, spec::PrometheusAuth::None, 1)).unwrap();
        let spec = slo_spec();
        let at = 1_700_006_400;
        let err = prom
            .counts(
                &spec,
                &queries("sum(rate(bad_query[{{window}}]))"),
                at - 3600,
                at,
                at,
            )
            .await
            .unwrap_err();
        assert!(
            err.ends_with(r#"answered 400: bad_data: invalid parameter "query": 1:1: parse error"#),
            "{err}"
        );
        let err = prom
            .counts(
                &spec,
                &queries("sum(rate(slow[{{window}}]))"),
                at - 3600,
                at,
                at,
            )
            .await
            .unwrap_err();
        assert!(err.ends_with("timed out"), "{err}");
        let missing = Prometheus::new(spec::PrometheusSource {
            auth: spec::PrometheusAuth::Bearer {
                token_file: "/nonexistent/token".into(),
            },
            ..settings(&url, spec::PrometheusAuth::None, 1)
        })
        .unwrap();
        let err = missing
            .counts(
                &spec,
                &queries("sum(rate(x[{{window}}]))"),
                at - 3600,
                at,
                at,
            )
            .await
            .unwrap_err();
        assert!(err.starts_with("reading /nonexistent/token: "), "{err}");
        // nothing listens on port 9 of loopback
        let closed = Prometheus::new(settings(
            "http://127.0.0.1:9",
            spec::PrometheusAuth::None,
            1,
        ))
        .unwrap();
        let err = closed
            .counts(
                &spec,
                &queries("sum(rate(x[{{window}}]))"),
                at - 3600,
                at,
                at,
            )
            .await
            .unwrap_err();
        assert!(err.ends_with("cannot connect"), "{err}");
        let fixed = SliQueries {
            total: "sum(rate(x[5m]))".into(),
            good: Some("sum(rate(y[5m]))".into()),
            bad: None,
        };
        let err = prom
            .counts(&spec, &fixed, at - 3600, at, at)
            .await
            .unwrap_err();
        assert!(err.contains("has no {{window}} placeholder"), "{err}");
    }

    #[test]
    fn sources_keep_the_api_while_its_settings_stay() {
        let sources = Sources::default();
        assert!(sources.get(None).unwrap().is_none());
        let a = settings("http://127.0.0.1:9090", spec::PrometheusAuth::None, 5);
        let first = sources.get(Some(&a)).unwrap().unwrap();
        let same = sources.get(Some(&a.clone())).unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first, &same),
            "a reload with the same section keeps the caches"
        );
        let b = spec::PrometheusSource {
            tenant: Some("team-b".into()),
            ..a
        };
        let other = sources.get(Some(&b)).unwrap().unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other.settings().tenant.as_deref(), Some("team-b"));
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(base64_encode(b"nines:s3cret"), "bmluZXM6czNjcmV0");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_encode(b""), "");
    }
}
