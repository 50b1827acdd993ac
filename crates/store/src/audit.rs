//! The hash-chained audit log: the MAC of each record, the key file, and the verifier shared by every
//! backend.
//!
//! Record `n` carries `mac_n = HMAC-SHA256(key, mac_{n-1} || canonical(record n))`, with `mac_0` all zeros.
//! The canonical bytes include the record's sequence number, so an edited, reordered or renumbered record
//! breaks the chain at that record, and a deleted one leaves a gap. Deleting the newest records leaves a
//! valid, shorter chain: only a checkpoint kept elsewhere (`seq` and `mac` of the newest record at some
//! time) detects that truncation.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::StoreError;

type HmacSha256 = Hmac<Sha256>;

/// Length of the audit key in bytes.
pub const AUDIT_KEY_LEN: usize = 32;

/// Name of the key file inside the data directory.
pub const AUDIT_KEY_FILE: &str = "audit.key";

/// `prev_mac` of the first record: 32 zero bytes, hex.
pub const GENESIS_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The secret that authenticates the audit chain. Its `Debug` form never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey([u8; AUDIT_KEY_LEN]);

impl AuditKey {
    pub fn from_bytes(bytes: [u8; AUDIT_KEY_LEN]) -> Self {
        AuditKey(bytes)
    }

    /// A new random key.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; AUDIT_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        Ok(AuditKey(bytes))
    }

    /// Reads a key file: 64 hex digits (surrounding whitespace allowed).
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path).map_err(|source| StoreError::AuditKeyFile {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(text.trim()).map_err(|reason| StoreError::InvalidAuditKey {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn parse(text: &str) -> Result<Self, &'static str> {
        let bytes = hex::decode(text).map_err(|_| "the key is not hexadecimal")?;
        let bytes: [u8; AUDIT_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| "the key is not 32 bytes (64 hex digits) long")?;
        Ok(AuditKey(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length; this cannot fail for 32 bytes.
        match <HmacSha256 as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable_hmac(),
        }
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // new_from_slice only fails for fixed-size-key MACs; HMAC takes any length. Fall back to an empty
    // key's MAC rather than panicking: verification would then report every record as bad.
    <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default())
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

/// `<data_dir>/audit.key`, created with a new random key (mode 0600) when it does not exist yet.
pub fn audit_key(data_dir: &Path) -> Result<AuditKey, StoreError> {
    let path = data_dir.join(AUDIT_KEY_FILE);
    match AuditKey::from_file(&path) {
        Err(StoreError::AuditKeyFile { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let key = AuditKey::generate()?;
    let file_err = |source| StoreError::AuditKeyFile {
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            let mut text = hex::encode(key.0);
            text.push('\n');
            file.write_all(text.as_bytes()).map_err(file_err)?;
            file.sync_all().map_err(file_err)?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => AuditKey::from_file(&path),
        Err(e) => Err(file_err(e)),
    }
}

/// Where the key of `data_dir` lives.
pub fn audit_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUDIT_KEY_FILE)
}

/// One state change to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// Who: a token name, `"cli"`, `"evaluator"`.
    pub actor: String,
    /// What, dotted: `"token.create"`, `"silence.delete"`.
    pub action: String,
    /// What it was done to: a token name, a silence id.
    pub target: String,
    /// Anything else, as a JSON value (never secrets).
    pub details: serde_json::Value,
}

impl AuditEntry {
    pub fn new(at: i64, actor: &str, action: &str, target: &str) -> Self {
        AuditEntry {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// One stored record of the audit log, exactly as stored (the MAC covers these bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON text.
    pub details: String,
    /// Hex MAC of the previous record ([`GENESIS_MAC`] for the first).
    pub prev_mac: String,
    /// Hex MAC of this record.
    pub mac: String,
}

/// The newest record at some moment: keep it outside the data directory to detect truncation later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// 0 for an empty log.
    pub seq: u64,
    /// Hex; [`GENESIS_MAC`] for an empty log.
    pub mac: String,
    /// Time of that record (unix seconds); 0 for an empty log.
    pub at: i64,
}

impl Checkpoint {
    pub fn empty() -> Self {
        Checkpoint {
            seq: 0,
            mac: GENESIS_MAC.to_owned(),
            at: 0,
        }
    }
}

/// The first record found bad, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFault {
    pub seq: u64,
    pub reason: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Records read.
    pub records: u64,
    /// The newest record read (a checkpoint for next time), if the chain was intact.
    pub last: Checkpoint,
    pub first_bad: Option<AuditFault>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// A new record's fields, validated and with its JSON text fixed, before it gets a number.
pub(crate) struct PreparedAudit<'a> {
    pub entry: &'a AuditEntry,
    pub details: String,
}

pub(crate) fn prepare_audit(entry: &AuditEntry) -> Result<PreparedAudit<'_>, StoreError> {
    let invalid = |reason| StoreError::InvalidInput {
        what: "audit entry",
        reason,
    };
    if entry.actor.is_empty() {
        return Err(invalid("the actor is empty"));
    }
    if entry.action.is_empty() {
        return Err(invalid("the action is empty"));
    }
    let details = serde_json::to_string(&entry.details)
        .map_err(|_| invalid("the details cannot be written as JSON"))?;
    Ok(PreparedAudit { entry, details })
}

impl PreparedAudit<'_> {
    /// The record with number `seq` following a record whose MAC is `prev_mac`.
    pub(crate) fn seal(&self, key: &AuditKey, seq: u64, prev_mac: &str) -> AuditRecord {
        let mut record = AuditRecord {
            seq,
            at: self.entry.at,
            actor: self.entry.actor.clone(),
            action: self.entry.action.clone(),
            target: self.entry.target.clone(),
            details: self.details.clone(),
            prev_mac: prev_mac.to_owned(),
            mac: String::new(),
        };
        record.mac = compute_mac(key, &record);
        record
    }
}

/// Appends a field as its length (8 bytes, big-endian) and its bytes, so field boundaries cannot shift.
fn field(mac: &mut HmacSha256, bytes: &[u8]) {
    mac.update(&(bytes.len() as u64).to_be_bytes());
    mac.update(bytes);
}

/// `HMAC-SHA256(key, prev_mac || canonical(record))`, hex. `prev_mac` enters as the stored hex text, so a
/// malformed stored value still yields a definite (mismatching) result.
pub fn compute_mac(key: &AuditKey, record: &AuditRecord) -> String {
    let mut mac = key.mac();
    field(&mut mac, record.prev_mac.as_bytes());
    field(&mut mac, b"nines-audit-v1");
    mac.update(&record.seq.to_be_bytes());
    mac.update(&record.at.to_be_bytes());
    field(&mut mac, record.actor.as_bytes());
    field(&mut mac, record.action.as_bytes());
    field(&mut mac, record.target.as_bytes());
    field(&mut mac, record.details.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks records fed in ascending order. Used by every backend's `verify_audit`.
pub struct Verifier<'k> {
    key: &'k AuditKey,
    records: u64,
    last: Checkpoint,
    first_bad: Option<AuditFault>,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k AuditKey) -> Self {
        Verifier {
            key,
            records: 0,
            last: Checkpoint::empty(),
            first_bad: None,
        }
    }

    /// Whether a fault has been found (later records need not be read).
    pub fn failed(&self) -> bool {
        self.first_bad.is_some()
    }

    pub fn push(&mut self, record: &AuditRecord) {
        if self.failed() {
            return;
        }
        self.records += 1;
        let expected = self.last.seq + 1;
        let fault = if record.seq != expected {
            Some(if record.seq > expected {
                format!(
                    "records {expected}..{} are missing (deleted or renumbered)",
                    record.seq - 1
                )
            } else {
                format!("out of order: expected record {expected}")
            })
        } else if record.prev_mac != self.last.mac {
            Some("its prev_mac does not match the previous record's mac (a record was deleted, inserted or reordered)".to_owned())
        } else if !constant_time_eq(
            compute_mac(self.key, record).as_bytes(),
            record.mac.as_bytes(),
        ) {
            Some(
                "its mac does not match its contents (edited, or signed with another key)"
                    .to_owned(),
            )
        } else {
            None
        };
        match fault {
            Some(reason) => {
                self.first_bad = Some(AuditFault {
                    seq: record.seq,
                    reason,
                })
            }
            None => {
                self.last = Checkpoint {
                    seq: record.seq,
                    mac: record.mac.clone(),
                    at: record.at,
                }
            }
        }
    }

    /// Ends verification. With a checkpoint, the log must still hold that record unchanged.
    pub fn finish(mut self, checkpoint: Option<&Checkpoint>) -> AuditReport {
        if let (None, Some(cp)) = (&self.first_bad, checkpoint) {
            if self.last.seq < cp.seq {
                self.first_bad = Some(AuditFault {
                    seq: self.last.seq + 1,
                    reason: format!(
                        "the log ends at record {} but the checkpoint names record {}: it was truncated",
                        self.last.seq, cp.seq
                    ),
                });
            }
            // A record at or after the checkpoint's number is checked by `check_checkpoint`.
        }
        AuditReport {
            records: self.records,
            last: self.last,
            first_bad: self.first_bad,
        }
    }

    /// Compares the record numbered like the checkpoint with it, when it arrives.
    pub fn check_checkpoint(&mut self, record: &AuditRecord, checkpoint: &Checkpoint) {
        if self.failed() || record.seq != checkpoint.seq {
            return;
        }
        if !constant_time_eq(record.mac.as_bytes(), checkpoint.mac.as_bytes()) {
            self.first_bad = Some(AuditFault {
                seq: record.seq,
                reason: "it does not match the checkpoint (the log was rewritten)".to_owned(),
            });
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The SHA-256 of an API token's secret, hex: what the store keeps instead of the secret.
pub fn token_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new API token secret: `nines_` and 32 random bytes in hex.
pub fn new_token_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!("nines_{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &AuditKey, n: u64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_MAC.to_owned();
        let mut out = Vec::new();
        for seq in 1..=n {
            let entry = AuditEntry::new(seq as i64, "cli", "token.create", "t");
            let Ok(prepared) = prepare_audit(&entry) else {
                panic!("valid entry");
            };
            let record = prepared.seal(key, seq, &prev);
            prev = record.mac.clone();
            out.push(record);
        }
        out
    }

    fn verify(key: &AuditKey, records: &[AuditRecord], cp: Option<&Checkpoint>) -> AuditReport {
        let mut v = Verifier::new(key);
        for r in records {
            v.push(r);
            if let Some(cp) = cp {
                v.check_checkpoint(r, cp);
            }
        }
        v.finish(cp)
    }

    #[test]
    fn clean_chain_verifies_and_tampering_is_named() {
        let key = AuditKey::from_bytes([7; 32]);
        let records = chain(&key, 5);
        let report = verify(&key, &records, None);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.last.seq, 5);

        let mut edited = records.clone();
        edited[2].target = "other".into();
        assert_eq!(
            verify(&key, &edited, None).first_bad.map(|f| f.seq),
            Some(3)
        );

        let mut deleted = records.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&key, &deleted, None).first_bad.map(|f| f.seq),
            Some(3)
        );

        let other = AuditKey::from_bytes([8; 32]);
        assert_eq!(
            verify(&other, &records, None).first_bad.map(|f| f.seq),
            Some(1)
        );

        let cp = report.last.clone();
        let truncated = &records[..3];
        assert_eq!(
            verify(&key, truncated, Some(&cp)).first_bad.map(|f| f.seq),
            Some(4)
        );
        assert!(verify(&key, &records, Some(&cp)).is_clean());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let first = audit_key(dir.path())?;
        let second = audit_key(dir.path())?;
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(audit_key_path(dir.path()))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(audit_key_path(dir.path()), "zz")?;
        assert!(matches!(
            audit_key(dir.path()),
            Err(StoreError::InvalidAuditKey { .. })
        ));
        Ok(())
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let Ok(secret) = new_token_secret() else {
            panic!("no randomness");
        };
        assert!(secret.starts_with("nines_") && secret.len() == 6 + 64);
    }
}
