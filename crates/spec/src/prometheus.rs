//! The native top-level `prometheus:` key: the Prometheus-compatible HTTP API (Prometheus,
//! Mimir, Cortex, Thanos, VictoriaMetrics) that `source: prometheus` SLIs are evaluated
//! from, live, instead of local counters.
//!
//! ```yaml
//! prometheus:
//!   url: https://mimir.example.com/prometheus   # the API root (`/api/v1/...` is appended)
//!   bearer_token_file: /run/secrets/prom-token  # or `username` + `password_file` (basic auth)
//!   tenant: team-a                              # sent as `X-Scope-OrgID: team-a`
//!   tenant_header: X-Scope-OrgID                # optional, the default
//!   timeout: 30s                                # per HTTP request, default 30s
//!   settle: 2m                                  # buckets older than this are cached, default 2 buckets
//! ```
//!
//! Secrets are only read from files (a Kubernetes secret mounted as a file, a systemd
//! credential): an inline `bearer_token` or `password` is an error. Relative file paths are
//! relative to the configuration file. The files are read when a query is sent, so a rotated
//! token is picked up without a reload.

use std::path::{Path as FsPath, PathBuf};

use crate::assemble::Builder;
use crate::common;
use crate::diag::{Path, Sink};
use crate::model::{PrometheusAuth, PrometheusSource};
use crate::node::{Node, Pos};
use crate::reader::fields;

/// The header Mimir and Cortex read the tenant from.
pub const DEFAULT_TENANT_HEADER: &str = "X-Scope-OrgID";

/// Per-request timeout when `timeout:` is absent.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 30;

const FIELDS: &[&str] = &[
    "url",
    "bearer_token_file",
    "bearer_token",
    "username",
    "password_file",
    "password",
    "tenant",
    "tenant_header",
    "timeout",
    "settle",
];

/// Reads the top-level `prometheus:` of a native document; `key` is where the key is (a
/// duplicate section is reported there, still checked but not kept).
pub(crate) fn section(sink: &mut Sink, node: &Node, path: &Path, key: Pos, builder: &mut Builder) {
    let first = builder.claim_prometheus(sink, key, path);
    let Some(source) = read(sink, node, path) else {
        return;
    };
    if first {
        builder.config.prometheus = Some(source);
    }
}

fn read(sink: &mut Sink, node: &Node, path: &Path) -> Option<PrometheusSource> {
    let f = fields(sink, node, path, FIELDS)?;
    let mut ok = true;
    for (inline, file) in [
        ("bearer_token", "bearer_token_file"),
        ("password", "password_file"),
    ] {
        if let Some(n) = f.get(inline) {
            sink.node(
                n,
                &f.path(inline),
                format!("secrets are not written in the configuration: put it in a file and set `{file}`"),
            );
            ok = false;
        }
    }
    let url = f
        .required(sink, "url")
        .and_then(|n| url(sink, n, &f.path("url")));
    let base = FsPath::new(&sink.file)
        .parent()
        .map(FsPath::to_path_buf)
        .unwrap_or_default();
    let file = |sink: &mut Sink, name: &str| -> Option<Option<PathBuf>> {
        let Some(text) = f.get(name).map(|n| (n, f.opt_str(sink, name))) else {
            return Some(None);
        };
        match text {
            (_, None) => None,
            (n, Some(t)) if t.trim().is_empty() => {
                sink.node(n, &f.path(name), "must not be empty");
                None
            }
            (_, Some(t)) => Some(Some(base.join(t))),
        }
    };
    let token_file = file(sink, "bearer_token_file");
    let password_file = file(sink, "password_file");
    let username = f.opt_str(sink, "username");
    let auth = match (token_file?, username, password_file?) {
        (None, None, None) => Some(PrometheusAuth::None),
        (Some(token_file), None, None) => Some(PrometheusAuth::Bearer { token_file }),
        (Some(_), _, _) => {
            let other = if f.has("username") {
                "username"
            } else {
                "password_file"
            };
            if let Some(n) = f.get(other) {
                sink.node(
                    n,
                    &f.path(other),
                    "set `bearer_token_file` or basic auth (`username`, `password_file`), not both",
                );
            }
            None
        }
        (None, Some(username), Some(password_file)) => Some(PrometheusAuth::Basic {
            username: username.to_string(),
            password_file,
        }),
        (None, Some(_), None) => {
            sink.node(
                f.node,
                &f.path,
                "`username` needs `password_file` (basic auth)",
            );
            None
        }
        (None, None, Some(_)) => {
            sink.node(
                f.node,
                &f.path,
                "`password_file` needs `username` (basic auth)",
            );
            None
        }
    };
    let header_name = |sink: &mut Sink, name: &str| -> Option<Option<String>> {
        let Some(n) = f.get(name) else {
            return Some(None);
        };
        let text = f.opt_str(sink, name)?;
        if text.is_empty() || !text.bytes().all(is_token_byte) {
            sink.node(
                n,
                &f.path(name),
                "must be an HTTP header name such as X-Scope-OrgID",
            );
            return None;
        }
        Some(Some(text.to_string()))
    };
    let tenant = match f.get("tenant") {
        None => Some(None),
        Some(n) => match f.opt_str(sink, "tenant") {
            Some(t) if !t.is_empty() && t.bytes().all(|b| (0x21..0x7f).contains(&b)) => {
                Some(Some(t.to_string()))
            }
            Some(_) => {
                sink.node(
                    n,
                    &f.path("tenant"),
                    "must be a non-empty tenant id of visible ASCII characters",
                );
                None
            }
            None => None,
        },
    };
    let tenant_header = header_name(sink, "tenant_header");
    let timeout = positive_duration(sink, &f, "timeout");
    let settle = positive_duration(sink, &f, "settle");
    if !ok {
        return None;
    }
    Some(PrometheusSource {
        url: url?,
        auth: auth?,
        tenant: tenant?,
        tenant_header: tenant_header?.unwrap_or_else(|| DEFAULT_TENANT_HEADER.to_string()),
        timeout_seconds: timeout?.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        settle_seconds: settle?,
        origin: crate::assemble::location(&sink.file, node.pos),
    })
}

fn positive_duration(
    sink: &mut Sink,
    f: &crate::reader::Fields<'_>,
    name: &str,
) -> Option<Option<i64>> {
    let Some(n) = f.get(name) else {
        return Some(None);
    };
    let seconds = common::duration(sink, n, &f.path(name))?;
    if seconds <= 0 {
        sink.node(n, &f.path(name), "must be at least 1s");
        return None;
    }
    Some(Some(seconds))
}

/// `http://` or `https://` with a host, no query or fragment; a trailing `/` is dropped.
fn url(sink: &mut Sink, node: &Node, path: &Path) -> Option<String> {
    let text = crate::reader::string(sink, node, path)?.trim();
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    let problem = match rest {
        None => Some("must start with http:// or https://"),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => Some("has no host"),
        Some(_) if text.contains(['?', '#']) => {
            Some("must not have a query or fragment (the API paths are appended to it)")
        }
        Some(_) if text.chars().any(|c| c.is_whitespace() || c.is_control()) => {
            Some("must not contain spaces")
        }
        Some(_) => None,
    };
    if let Some(problem) = problem {
        sink.node(
            node,
            path,
            format!("{problem}, e.g. http://prometheus:9090"),
        );
        return None;
    }
    Some(text.trim_end_matches('/').to_string())
}

/// RFC 9110 token characters (header names).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
