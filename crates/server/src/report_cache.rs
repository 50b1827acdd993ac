//! Reads of the same SLO at the same second share one evaluation.
//!
//! A dashboard polling `GET /api/v1/slos` a thousand times a second would otherwise read and
//! re-bucket every SLO's whole window per request. An entry is reused only while nothing has
//! changed: same evaluation time (the default `at` moves every second), same config generation,
//! and no commit to the SLO's series since it was computed. The committer bumps a series'
//! version after its commit and before the request is acknowledged, so a read that follows an
//! acknowledged write never sees a report from before it.

use slo::SloReport;
use std::collections::HashMap;
use std::sync::Mutex;

struct Entry {
    at: i64,
    generation: u64,
    version: u64,
    report: SloReport,
}

/// One cached report per SLO (bounded by the config) and a version per series.
#[derive(Default)]
pub struct ReportCache {
    versions: Mutex<HashMap<String, u64>>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ReportCache {
    /// The current version of `series` (0 until its first commit in this process).
    pub fn version(&self, series: &str) -> u64 {
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(series)
            .copied()
            .unwrap_or(0)
    }

    /// Marks `series` as changed: cached reports of it are stale.
    pub fn committed<'a>(&self, series: impl IntoIterator<Item = &'a str>) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        for s in series {
            match versions.get_mut(s) {
                Some(v) => *v += 1,
                None => {
                    versions.insert(s.to_string(), 1);
                }
            }
        }
    }

    /// The cached report of `key` when it is still valid.
    pub fn get(&self, key: &str, at: i64, generation: u64, version: u64) -> Option<SloReport> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.at == at && e.generation == generation && e.version == version)
            .map(|e| e.report.clone())
    }

    /// Keeps `report`, computed at `version` (read before computing, so a commit during the
    /// computation makes it stale at once).
    pub fn put(&self, key: &str, at: i64, generation: u64, version: u64, report: SloReport) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key.to_string(),
                Entry {
                    at,
                    generation,
                    version,
                    report,
                },
            );
    }
}
