//! The conformance suite against the in-memory reference store.

use std::sync::Arc;

use async_trait::async_trait;
use store::conformance::{Failure, Fixture, Tamper};
use store::{MemoryStore, Store, StoreError};

/// Clones of a MemoryStore share its data, so "reopening" hands out another clone.
struct MemoryFixture(MemoryStore);

#[async_trait]
impl Fixture for MemoryFixture {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(self.0.clone()))
    }

    async fn tamper_audit(&self, tamper: Tamper) -> Result<(), Failure> {
        self.0.tamper_audit_log(|log| match tamper {
            Tamper::EditDetails { seq, details } => {
                for r in log.iter_mut().filter(|r| r.seq == seq) {
                    r.details = details.clone();
                }
            }
            Tamper::Delete { seq } => log.retain(|r| r.seq != seq),
            Tamper::Swap { a, b } => {
                for r in log.iter_mut() {
                    if r.seq == a {
                        r.seq = b;
                    } else if r.seq == b {
                        r.seq = a;
                    }
                }
                log.sort_by_key(|r| r.seq);
            }
            Tamper::TruncateFrom { from } => log.retain(|r| r.seq < from),
        });
        Ok(())
    }
}

async fn fixture() -> Result<MemoryFixture, Failure> {
    Ok(MemoryFixture(MemoryStore::new()))
}

store::conformance_tests!(fixture);
