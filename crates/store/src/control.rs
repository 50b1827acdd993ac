//! Control-plane records: API tokens, changes (deployments), persisted alert states. Validation is shared
//! by every backend so they accept and reject the same input.

use std::fmt;
use std::str::FromStr;

use crate::StoreError;

/// What an API token may do. Each role includes the ones before it, except `Ingest`, which may only send
/// telemetry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenRole {
    /// Telemetry only.
    Ingest,
    /// Read everything.
    Viewer,
    /// Viewer, plus alerts, silences and incidents.
    Responder,
    /// Everything.
    Admin,
}

impl TokenRole {
    pub const ALL: [TokenRole; 4] = [
        TokenRole::Ingest,
        TokenRole::Viewer,
        TokenRole::Responder,
        TokenRole::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Ingest => "ingest",
            TokenRole::Viewer => "viewer",
            TokenRole::Responder => "responder",
            TokenRole::Admin => "admin",
        }
    }
}

impl fmt::Display for TokenRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}: expected ingest, viewer, responder or admin")
            })
    }
}

/// An API token as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub name: String,
    pub role: TokenRole,
    /// SHA-256 of the secret, 64 lowercase hex digits (see [`token_sha256`](crate::token_sha256)).
    pub sha256: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` while the token is active. Ignored by `insert_token`.
    pub revoked_at: Option<i64>,
}

impl TokenRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A deployment, config push, flag flip... anything that may explain a change in an SLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub service: String,
    pub version: String,
    /// When the change happened, unix seconds.
    pub at: i64,
    pub description: String,
    /// When it was recorded, unix seconds.
    pub created_at: i64,
}

/// A stored change and the id the store gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub id: i64,
    pub change: Change,
}

/// The state of one alerting tier of one SLO, persisted by the evaluator so a restart resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertStateRecord {
    /// `"service/slo"`.
    pub slo: String,
    /// The tier, e.g. `"page"` or `"ticket"`.
    pub tier: String,
    /// e.g. `"inactive"`, `"pending"`, `"firing"`.
    pub state: String,
    /// Since when it has been in this state, unix seconds.
    pub since: i64,
    pub updated_at: i64,
}

fn invalid(what: &'static str, reason: &'static str) -> StoreError {
    StoreError::InvalidInput { what, reason }
}

pub(crate) fn validate_token(token: &TokenRecord) -> Result<(), StoreError> {
    if token.name.is_empty() {
        return Err(invalid("token", "the name is empty"));
    }
    validate_sha256(&token.sha256)
}

pub(crate) fn validate_sha256(sha256: &str) -> Result<(), StoreError> {
    let hex = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex {
        Ok(())
    } else {
        Err(invalid(
            "token",
            "the sha256 is not 64 lowercase hexadecimal digits",
        ))
    }
}

pub(crate) fn validate_change(change: &Change) -> Result<(), StoreError> {
    if change.service.is_empty() {
        return Err(invalid("change", "the service is empty"));
    }
    Ok(())
}

pub(crate) fn validate_alert_states(states: &[AlertStateRecord]) -> Result<(), StoreError> {
    for s in states {
        if s.slo.is_empty() || s.tier.is_empty() || s.state.is_empty() {
            return Err(invalid(
                "alert state",
                "slo, tier and state must not be empty",
            ));
        }
    }
    Ok(())
}
