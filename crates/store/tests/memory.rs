//! The conformance suite against the in-memory reference store.

use std::sync::Arc;

use async_trait::async_trait;
use store::conformance::{Failure, Fixture};
use store::{MemoryStore, Store, StoreError};

/// Clones of a MemoryStore share its data, so "reopening" hands out another clone.
struct MemoryFixture(MemoryStore);

#[async_trait]
impl Fixture for MemoryFixture {
    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(Arc::new(self.0.clone()))
    }
}

async fn fixture() -> Result<MemoryFixture, Failure> {
    Ok(MemoryFixture(MemoryStore::new()))
}

store::conformance_tests!(fixture);
