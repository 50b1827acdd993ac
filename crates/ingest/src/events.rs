//! The body of `POST /api/v1/events`: a JSON array of events, each either pre-aggregated
//! increments of one SLO or one request described by its attributes.
//!
//! ```json
//! [{"time": "2026-01-01T00:00:00Z", "slo": "checkout/availability", "good": 95, "total": 100},
//!  {"time": 1767225600, "source": "checkout",
//!   "attributes": {"status": 503, "latency_ms": 87, "path": "/api/pay?x=1", "method": "POST"}}]
//! ```
//!
//! The decoder is pure and all or nothing: the first invalid event rejects the body, with its
//! index and a stable code, so the caller counts nothing of it. Classification against the
//! configured SLIs is the caller's (it knows the config).

use serde_json::{Map, Value};

/// Events may be at most this far in the future (clock skew), in seconds.
pub const MAX_FUTURE_SECONDS: i64 = 600;

/// Largest count of one increment (store counters are signed 64-bit).
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// Why a body was refused. `index` is the event's position (`None`: the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", index.map(|i| format!("event {i}: ")).unwrap_or_default())]
pub struct EventError {
    pub index: Option<usize>,
    /// Stable, e.g. `events.bad_time`.
    pub code: &'static str,
    pub message: String,
}

impl EventError {
    fn at(index: usize, code: &'static str, message: impl Into<String>) -> EventError {
        EventError {
            index: Some(index),
            code,
            message: message.into(),
        }
    }

    /// Whether the body as a whole is malformed (400) rather than one event invalid (422).
    pub fn is_malformed_body(&self) -> bool {
        self.index.is_none()
    }
}

/// One request, as its attributes describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub host: Option<String>,
    /// `None` when the event has no status: SLIs that judge by status must skip it.
    pub status: Option<u16>,
    /// Seconds.
    pub latency: Option<f64>,
}

/// One decoded event; `time` is unix seconds (the caller's `now` when absent).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Increment {
        time: i64,
        slo: String,
        good: u64,
        total: u64,
    },
    Request {
        time: i64,
        source: String,
        attributes: Attributes,
    },
}

impl Event {
    pub fn time(&self) -> i64 {
        match self {
            Event::Increment { time, .. } | Event::Request { time, .. } => *time,
        }
    }
}

/// A time written as RFC 3339 text or integer unix seconds.
pub fn parse_time_text(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second())
        .ok()
        .or_else(|| s.trim().parse::<i64>().ok())
}

/// A time given as RFC 3339 text or unix seconds (integer or fractional).
pub fn time_of(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_time_text(s),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// Latency attribute names and their scale to seconds, in order of preference.
const LATENCY_ATTRIBUTES: [(&str, f64); 5] = [
    ("latency_ms", 1e-3),
    ("duration_ms", 1e-3),
    ("latency_s", 1.0),
    ("latency_seconds", 1.0),
    ("duration_seconds", 1.0),
];

fn attributes(attrs: &Map<String, Value>) -> Result<Attributes, String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match attrs.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("attribute `{name}` must be a string")),
        }
    };
    let status = match attrs.get("status") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            number(v)
                .filter(|s| (0.0..=999.0).contains(s) && s.fract() == 0.0)
                .map(|s| s as u16)
                .ok_or("attribute `status` must be an integer from 0 to 999")?,
        ),
    };
    let mut latency = None;
    for (name, scale) in LATENCY_ATTRIBUTES {
        if let Some(v) = attrs.get(name).filter(|v| !v.is_null()) {
            let n = number(v)
                .filter(|n| *n >= 0.0)
                .ok_or_else(|| format!("attribute `{name}` must be a non-negative number"))?;
            latency = Some(n * scale);
            break;
        }
    }
    let path = text("path")?.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    Ok(Attributes {
        method: text("method")?.unwrap_or("").to_string(),
        path: path.to_string(),
        host: text("host")?.map(str::to_string),
        status,
        latency,
    })
}

fn event(i: usize, v: &Value, now: i64) -> Result<Event, EventError> {
    let invalid = |code, message: &str| EventError::at(i, code, message);
    let Some(obj) = v.as_object() else {
        return Err(invalid("events.invalid", "an event must be a JSON object"));
    };
    let time = match obj.get("time") {
        None | Some(Value::Null) => now,
        Some(v) => time_of(v).ok_or_else(|| {
            invalid(
                "events.bad_time",
                "`time` must be an RFC 3339 time or unix seconds",
            )
        })?,
    };
    if time > now.saturating_add(MAX_FUTURE_SECONDS) {
        return Err(EventError::at(
            i,
            "events.time_in_future",
            format!("`time` is {} s in the future", time - now),
        ));
    }
    if let Some(slo) = obj.get("slo") {
        let Some(slo) = slo.as_str() else {
            return Err(invalid(
                "events.invalid",
                "`slo` must be a string like service/slo",
            ));
        };
        let count = |name: &str| -> Result<u64, EventError> {
            obj.get(name)
                .and_then(Value::as_u64)
                .filter(|n| *n <= MAX_COUNT)
                .ok_or_else(|| {
                    EventError::at(
                        i,
                        "events.invalid_counts",
                        format!("`{name}` must be a non-negative integer"),
                    )
                })
        };
        let (good, total) = (count("good")?, count("total")?);
        if good > total {
            return Err(invalid(
                "events.invalid_counts",
                "`good` is greater than `total`",
            ));
        }
        return Ok(Event::Increment {
            time,
            slo: slo.to_string(),
            good,
            total,
        });
    }
    let Some(source) = obj.get("source") else {
        return Err(invalid(
            "events.invalid",
            "an event needs `slo` (pre-aggregated increments) or `source` (attributes)",
        ));
    };
    let Some(source) = source.as_str() else {
        return Err(invalid("events.invalid", "`source` must be a string"));
    };
    let empty = Map::new();
    let attrs = match obj.get("attributes") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("events.invalid", "`attributes` must be an object")),
    };
    let attributes = attributes(attrs).map_err(|m| EventError::at(i, "events.bad_attribute", m))?;
    Ok(Event::Request {
        time,
        source: source.to_string(),
        attributes,
    })
}

/// Decodes a whole body, with `now` (unix seconds) for events without a time.
pub fn parse_events(body: &[u8], now: i64) -> Result<Vec<Event>, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError {
        index: None,
        code: "request.bad_json",
        message: format!("the body is not valid JSON: {e}"),
    })?;
    let Value::Array(items) = value else {
        return Err(EventError {
            index: None,
            code: "events.not_an_array",
            message: "the body must be a JSON array of events".to_string(),
        });
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| event(i, v, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

    fn parse(text: &str) -> Result<Vec<Event>, EventError> {
        parse_events(text.as_bytes(), NOW)
    }

    #[test]
    fn both_kinds_with_every_time_form() {
        let events = parse(
            r#"[{"time": "2026-01-01T00:00:00Z", "slo": "a/b", "good": 95, "total": 100},
                {"time": 1767225000.9, "source": "checkout", "attributes":
                  {"status": "503", "latency_ms": 87, "path": "/api/pay?x=1", "method": "POST", "extra": [1]}},
                {"source": "web", "attributes": {"latency_seconds": 0.25}}]"#,
        );
        let events = events.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            events[0],
            Event::Increment {
                time: NOW,
                slo: "a/b".into(),
                good: 95,
                total: 100
            }
        );
        let Event::Request {
            time,
            source,
            attributes,
        } = &events[1]
        else {
            panic!("{:?}", events[1]);
        };
        assert_eq!((*time, source.as_str()), (1_767_225_000, "checkout"));
        assert_eq!(attributes.status, Some(503));
        assert_eq!(attributes.path, "/api/pay");
        assert_eq!(attributes.method, "POST");
        assert!((attributes.latency.unwrap_or(0.0) - 0.087).abs() < 1e-12);
        let Event::Request {
            time, attributes, ..
        } = &events[2]
        else {
            panic!("{:?}", events[2]);
        };
        assert_eq!(*time, NOW, "no time: now");
        assert_eq!(attributes.status, None, "no status stays unknown");
        assert_eq!(attributes.latency, Some(0.25));
    }

    #[test]
    fn every_refusal_has_its_index_and_code() {
        let cases = [
            ("{", None, "request.bad_json"),
            ("{}", None, "events.not_an_array"),
            ("[1]", Some(0), "events.invalid"),
            (
                r#"[{"slo": "a/b", "good": 1, "total": 1}, {"time": "soon", "slo": "a/b"}]"#,
                Some(1),
                "events.bad_time",
            ),
            (
                r#"[{"time": 1767229200, "slo": "a/b", "good": 1, "total": 1}]"#,
                Some(0),
                "events.time_in_future",
            ),
            (
                r#"[{"slo": "a/b", "good": 2, "total": 1}]"#,
                Some(0),
                "events.invalid_counts",
            ),
            (
                r#"[{"slo": "a/b", "good": -1, "total": 1}]"#,
                Some(0),
                "events.invalid_counts",
            ),
            (r#"[{"slo": 7}]"#, Some(0), "events.invalid"),
            (r#"[{"good": 1}]"#, Some(0), "events.invalid"),
            (
                r#"[{"source": "x", "attributes": []}]"#,
                Some(0),
                "events.invalid",
            ),
            (
                r#"[{"source": "x", "attributes": {"status": 1000}}]"#,
                Some(0),
                "events.bad_attribute",
            ),
            (
                r#"[{"source": "x", "attributes": {"latency_ms": -3}}]"#,
                Some(0),
                "events.bad_attribute",
            ),
            (
                r#"[{"source": "x", "attributes": {"path": 5}}]"#,
                Some(0),
                "events.bad_attribute",
            ),
        ];
        for (body, index, code) in cases {
            let err = parse(body)
                .err()
                .unwrap_or_else(|| panic!("{body} must fail"));
            assert_eq!((err.index, err.code), (index, code), "{body}: {err}");
        }
        let err = parse(r#"[{}, {}]"#).err();
        assert_eq!(
            err.map(|e| e.to_string()).unwrap_or_default(),
            "event 0: an event needs `slo` (pre-aggregated increments) or `source` (attributes)"
        );
    }
}
