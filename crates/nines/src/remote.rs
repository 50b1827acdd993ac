//! What every command against a running server shares (`nines alerts list|ack|...`,
//! `nines incident`, `nines postmortem`, `nines toil`): where the server is (`--server`,
//! `NINES_SERVER`), the token (`NINES_TOKEN` only), the HTTP client, the exit codes and the
//! table/CSV helpers.
//!
//! Exit codes: 0 done, 1 the server refused (4xx: its message and error code on stderr),
//! 2 usage error, 3 the server could not be reached or failed (5xx).

use jiff::Timestamp;
use reqwest::{Method, Url};
use serde_json::Value;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Where the server is and how long to wait for it.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// The nines server. Requests carry the token in the NINES_TOKEN environment variable;
    /// reads need none when the server listens on loopback.
    #[arg(long, env = "NINES_SERVER", default_value = "http://127.0.0.1:9797")]
    server: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// Why a command against the server did not succeed; `exit` is the process exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit: u8,
    pub message: String,
}

impl Failure {
    pub(crate) fn usage(message: String) -> Failure {
        Failure { exit: 2, message }
    }

    pub(crate) fn runtime(message: String) -> Failure {
        Failure {
            exit: crate::EXIT_RUNTIME,
            message,
        }
    }
}

/// An error with its causes, as one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            let _ = write!(text, ": {more}");
        }
        source = s.source();
    }
    text
}

/// A refused request: the server's error `code`, `message` and `details` (the whole error
/// body), and the process exit code (1 for 4xx, 3 for 5xx).
pub(crate) struct Refusal {
    pub code: String,
    pub details: Value,
    pub failure: Failure,
}

/// The server's HTTP API with the caller's token.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
}

impl Client {
    pub(crate) fn new(remote: &Remote) -> Result<Client, Failure> {
        let bad = || {
            Failure::usage(format!(
                "--server {:?} is not an http(s) URL like http://127.0.0.1:9797",
                remote.server
            ))
        };
        let base = Url::parse(&remote.server).map_err(|_| bad())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad());
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(remote.timeout))
            .build()
            .map_err(|e| Failure::runtime(format!("starting the HTTP client: {}", chain(&e))))?;
        let token = std::env::var("NINES_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(Client { http, base, token })
    }

    /// The URL of `segments` under the server's base (each segment percent-encoded).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends one request; a 2xx answer's body as bytes, else the server's refusal: exit 1
    /// when it refused (4xx), 3 when it could not be reached or failed (5xx).
    pub(crate) async fn send_raw(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Refusal> {
        let unreachable = |failure: Failure| Refusal {
            code: String::new(),
            details: Value::Null,
            failure,
        };
        let mut request = self.http.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            unreachable(Failure::runtime(format!(
                "cannot reach {url}: {}",
                chain(&e)
            )))
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            unreachable(Failure::runtime(format!(
                "reading the answer of {url}: {}",
                chain(&e)
            )))
        })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
        let code = parsed
            .as_ref()
            .and_then(|v| v["error"]["code"].as_str())
            .unwrap_or("")
            .to_string();
        let mut message = match parsed.as_ref().and_then(|v| v["error"]["message"].as_str()) {
            Some(m) => format!("{m} ({code})"),
            None => {
                let text = String::from_utf8_lossy(&bytes);
                format!("{method} {url} answered {status}: {}", text.trim())
            }
        };
        if code == "auth.missing_token" {
            message.push_str("; set NINES_TOKEN to a token of this server");
        }
        let details = parsed
            .as_ref()
            .map_or(Value::Null, |v| v["error"]["details"].clone());
        Err(Refusal {
            code,
            details,
            failure: Failure {
                exit: if status.is_client_error() {
                    crate::EXIT_INVALID
                } else {
                    crate::EXIT_RUNTIME
                },
                message,
            },
        })
    }

    /// Like [`Client::send`], keeping the refusal's error code and details.
    pub(crate) async fn send_json(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let bytes = self.send_raw(method.clone(), url.clone(), body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Refusal {
            code: String::new(),
            details: Value::Null,
            failure: Failure::runtime(format!("{method} {url} answered without JSON: {e}")),
        })
    }

    /// Sends one request; a 2xx answer's JSON body (null when empty), else a [`Failure`]: 1
    /// when the server refused (4xx), 3 when it could not be reached or failed (5xx).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, Failure> {
        self.send_json(method, url, body)
            .await
            .map_err(|r| r.failure)
    }

    pub(crate) async fn get(&self, url: Url) -> Result<Value, Failure> {
        self.send(Method::GET, url, None).await
    }
}

/// Decodes a server answer into the shape the CLI reads.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    what: &str,
) -> Result<T, Failure> {
    serde_json::from_value(value)
        .map_err(|e| Failure::runtime(format!("the server's {what} has an unexpected shape: {e}")))
}

pub(crate) fn print_json(value: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::runtime(format!("writing JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// text helpers

pub(crate) fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// At most `max` characters, the cut marked with an ellipsis; one line.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// How long from `earlier` to `later`, coarsely: 45s, 12m, 3h4m, 2d5h.
pub(crate) fn age(later: Timestamp, earlier: Timestamp) -> String {
    let secs = later.as_second().saturating_sub(earlier.as_second()).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Rows as left-aligned columns two spaces apart (the first row is the header).
pub(crate) fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// RFC 4180: a field is quoted when it holds a comma, a quote or a line break.
pub(crate) fn csv(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let fields: Vec<String> = row
            .iter()
            .map(|f| {
                if f.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// A header row from string literals.
pub(crate) fn header(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

/// A string field of a JSON object ("" when absent or not a string).
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A time the server sent as unix seconds (or already as text), as RFC 3339; "-" for null.
pub(crate) fn when(v: &Value) -> String {
    match v {
        Value::Number(n) => n
            .as_i64()
            .and_then(|s| Timestamp::from_second(s).ok())
            .map_or_else(|| n.to_string(), |t| t.to_string()),
        Value::String(s) => s.clone(),
        _ => "-".into(),
    }
}

/// A number of seconds the server sent, as `1h 5m` ("-" for null).
pub(crate) fn seconds(v: &Value) -> String {
    match v.as_f64() {
        #[allow(clippy::cast_possible_truncation)]
        Some(s) if s.is_finite() => incident::postmortem::format_duration(s.round() as i64),
        _ => "-".into(),
    }
}

/// A time argument: RFC 3339 (2026-11-27T18:00:00Z) or a date (2026-11-27, midnight UTC);
/// returned as RFC 3339 for the server.
pub(crate) fn parse_time_arg(text: &str) -> Result<String, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t.to_string());
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        if let Ok(t) = format!("{d}T00:00:00Z").parse::<Timestamp>() {
            return Ok(t.to_string());
        }
    }
    Err(format!(
        "{text:?} is neither an RFC 3339 time like 2026-11-27T18:00:00Z nor a date like 2026-11-27"
    ))
}

/// Runs one remote command, printing a failure to stderr as `nines: <what>: ...` (e.g.
/// `nines: incident declare: ...`).
pub fn run(what: &str, work: impl std::future::Future<Output = Result<(), Failure>>) -> ExitCode {
    let result = match crate::app::runtime() {
        Ok(rt) => rt.block_on(work),
        Err(e) => Err(Failure::runtime(format!("{e:#}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("nines: {what}: {}", f.message);
            ExitCode::from(f.exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_coarse() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap_or_else(|e| panic!("{e}"));
        let now = t("2026-01-02T12:00:00Z");
        assert_eq!(age(now, t("2026-01-02T11:59:15Z")), "45s");
        assert_eq!(age(now, t("2026-01-02T11:48:00Z")), "12m");
        assert_eq!(age(now, t("2026-01-02T08:56:00Z")), "3h4m");
        assert_eq!(age(now, t("2025-12-31T07:00:00Z")), "2d5h");
        assert_eq!(age(now, t("2026-01-03T00:00:00Z")), "0s");
    }

    #[test]
    fn csv_quotes_only_when_needed_and_text_is_shortened() {
        let rows = vec![vec!["a".to_string(), "b,c".into(), "say \"hi\"".into()]];
        assert_eq!(csv(&rows), "a,\"b,c\",\"say \"\"hi\"\"\"\n");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = vec![header(&["A", "BB"]), vec!["xyz".into(), "1".into()]];
        assert_eq!(columns(&rows), "A    BB\nxyz  1\n");
    }
}
