//! Label sets and Alertmanager-compatible fingerprints.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A set of labels (or annotations), kept sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelSet(pub BTreeMap<String, String>);

impl LabelSet {
    /// An empty set.
    pub fn new() -> LabelSet {
        LabelSet(BTreeMap::new())
    }

    /// The value of `name`, or `""` when absent (Alertmanager treats both alike).
    pub fn value(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// The value of `name` if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Sets `name` to `value`.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Alertmanager's fingerprint of this set.
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(self)
    }

    /// The pairs present with the same value in every set (empty for no sets), as
    /// Alertmanager computes `commonLabels` and `commonAnnotations`.
    pub fn common<'a>(sets: impl IntoIterator<Item = &'a LabelSet>) -> LabelSet {
        let mut iter = sets.into_iter();
        let Some(first) = iter.next() else {
            return LabelSet::new();
        };
        let mut common = first.clone();
        for set in iter {
            common.0.retain(|k, v| set.0.get(k) == Some(v));
        }
        common
    }

    /// Alertmanager's `LabelSet.Before` order: fewer labels first, then the first differing
    /// value over the merged sorted names.
    pub fn before(&self, other: &LabelSet) -> bool {
        if self.len() != other.len() {
            return self.len() < other.len();
        }
        let mut names: Vec<&str> = self
            .0
            .keys()
            .chain(other.0.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        for name in names {
            let Some(mine) = self.0.get(name) else {
                return true;
            };
            let Some(theirs) = other.0.get(name) else {
                return false;
            };
            if mine != theirs {
                return mine < theirs;
            }
        }
        false
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for LabelSet {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        LabelSet(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Formats like Prometheus' `LabelSet.String()`: `{a="1", b="2"}` with Go-quoted values.
impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={}", go_quote(value))?;
        }
        f.write_str("}")
    }
}

/// A 64-bit label-set fingerprint, shown as 16 lowercase hex digits like Alertmanager's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<Fingerprint> for String {
    fn from(fp: Fingerprint) -> String {
        fp.to_string()
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = crate::Error;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::Error::Fingerprint(s.to_string()));
        }
        u64::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|_| crate::Error::Fingerprint(s.to_string()))
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Cannot occur in UTF-8, so name/value boundaries are unambiguous.
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The Prometheus/Alertmanager fingerprint: FNV-1a 64 over the labels sorted by name, each
/// contributing `name 0xff value 0xff`. The empty set hashes to the FNV offset basis.
pub fn fingerprint(labels: &LabelSet) -> Fingerprint {
    let mut hash = FNV_OFFSET;
    for (name, value) in &labels.0 {
        hash = fnv_add(hash, name.as_bytes());
        hash = fnv_add(hash, &[SEPARATOR]);
        hash = fnv_add(hash, value.as_bytes());
        hash = fnv_add(hash, &[SEPARATOR]);
    }
    Fingerprint(hash)
}

/// Quotes like Go's `%q`/`strconv.Quote`: `\"`, `\\`, the usual C escapes, `\xNN` for
/// other control bytes, printable Unicode as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `name` is a valid classic Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    #[test]
    fn empty_set_is_the_fnv_offset_basis() {
        // prometheus/common model: labelSetToFingerprint(LabelSet{}) == 14695981039346656037.
        assert_eq!(fingerprint(&LabelSet::new()).0, 14_695_981_039_346_656_037);
        assert_eq!(
            fingerprint(&LabelSet::new()).to_string(),
            "cbf29ce484222325"
        );
    }

    #[test]
    fn matches_the_prometheus_model_test_vector() {
        // prometheus/common model TestMetricToFingerprint:
        // {"name": "garland, briggs", "fear": "love is not enough"} -> 5799056148416392346.
        let labels = ls(&[("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(fingerprint(&labels).0, 5_799_056_148_416_392_346);
        assert_eq!(fingerprint(&labels).to_string(), "507a62d79ee76c9a");
    }

    #[test]
    fn single_label_by_hand() {
        // FNV-1a over "a" 0xff "b" 0xff, step by step.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in [b'a', 0xff, b'b', 0xff] {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        assert_eq!(fingerprint(&ls(&[("a", "b")])).0, h);
        // The separator keeps {ab=""} and {a="b"} apart.
        assert_ne!(
            fingerprint(&ls(&[("ab", "")])),
            fingerprint(&ls(&[("a", "b")]))
        );
    }

    #[test]
    fn fingerprint_text_round_trips_with_leading_zeros() {
        let fp = Fingerprint(0x00ab);
        assert_eq!(fp.to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse::<Fingerprint>().unwrap(), fp);
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert!("11112222333344445".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn display_is_prometheus_label_set_string() {
        let labels = ls(&[("severity", "page"), ("alertname", "High \"CPU\"")]);
        assert_eq!(
            labels.to_string(),
            r#"{alertname="High \"CPU\"", severity="page"}"#
        );
        assert_eq!(LabelSet::new().to_string(), "{}");
        assert_eq!(go_quote("a\nb\u{1}é"), r#""a\nb\x01é""#);
    }

    #[test]
    fn common_pairs() {
        let a = ls(&[("x", "1"), ("y", "2"), ("z", "3")]);
        let b = ls(&[("x", "1"), ("y", "9")]);
        assert_eq!(LabelSet::common([&a, &b]), ls(&[("x", "1")]));
        assert_eq!(LabelSet::common([&a]), a);
        assert_eq!(LabelSet::common(std::iter::empty()), LabelSet::new());
    }

    #[test]
    fn before_orders_by_size_then_values() {
        let one = ls(&[("a", "1")]);
        let two = ls(&[("a", "1"), ("b", "1")]);
        assert!(one.before(&two));
        assert!(!two.before(&one));
        assert!(ls(&[("a", "1")]).before(&ls(&[("a", "2")])));
        // Over the merged names (a, b): the set missing the first name sorts first.
        assert!(!ls(&[("a", "1")]).before(&ls(&[("b", "0")])));
        assert!(ls(&[("b", "0")]).before(&ls(&[("a", "1")])));
        assert!(!one.before(&one));
    }

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("a-b"));
    }
}
