//! Group commit: every API write hands its increments to one committer task and waits for the
//! answer. The task takes everything queued, commits it in one store transaction (one fsync),
//! then answers every waiter, so concurrent requests share a commit and a request is only
//! acknowledged once its increments are durable.

use crate::metrics::Metrics;
use crate::report_cache::ReportCache;
use std::sync::Arc;
use std::time::Instant;
use store::{CounterDelta, IngestBatch, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// The most requests merged into one commit.
const MAX_GROUP: usize = 512;

type Reply = oneshot::Sender<Result<(), Arc<StoreError>>>;

enum Msg {
    Commit(IngestBatch, Reply),
    /// Answered once everything queued before it is committed; the task then stops.
    Close(oneshot::Sender<()>),
}

/// The handle requests use.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Msg>,
    /// Told which series changed, before the writer hears back.
    reports: Arc<ReportCache>,
}

/// Why increments were not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("the server is shutting down")]
    Closed,
    #[error("{0}")]
    Store(Arc<StoreError>),
}

impl Committer {
    /// Starts the committer task.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        reports: Arc<ReportCache>,
    ) -> Committer {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, store, metrics));
        Committer { tx, reports }
    }

    /// The cache of reports this committer invalidates.
    pub fn reports(&self) -> &ReportCache {
        &self.reports
    }

    /// Commits `deltas` (in a group with whatever else is queued); returns once durable.
    pub async fn commit(&self, deltas: Vec<CounterDelta>) -> Result<(), CommitError> {
        self.commit_batch(IngestBatch {
            deltas,
            ..Default::default()
        })
        .await
    }

    /// Commits a whole batch (counters, tracker samples, request ids) in a group with whatever
    /// else is queued; returns once durable. A batch whose request id was committed before
    /// fails alone with `StoreError::DuplicateRequest`; the rest of its group still commits.
    pub async fn commit_batch(&self, batch: IngestBatch) -> Result<(), CommitError> {
        if batch.deltas.is_empty() && batch.trackers.is_empty() && batch.request_ids.is_empty() {
            return Ok(());
        }
        let mut series: Vec<String> = batch.deltas.iter().map(|d| d.series.clone()).collect();
        series.sort_unstable();
        series.dedup();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Commit(batch, reply))
            .await
            .map_err(|_| CommitError::Closed)?;
        match answer.await {
            Ok(Ok(())) => {
                self.reports.committed(series.iter().map(String::as_str));
                Ok(())
            }
            Ok(Err(e)) => Err(CommitError::Store(e)),
            Err(_) => Err(CommitError::Closed),
        }
    }

    /// Commits everything queued, then stops the task.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(mut rx: mpsc::Receiver<Msg>, store: Arc<dyn Store>, metrics: Arc<Metrics>) {
    let mut closing: Option<oneshot::Sender<()>> = None;
    while closing.is_none() {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut group: Vec<(IngestBatch, Reply)> = Vec::new();
        match first {
            Msg::Commit(d, r) => group.push((d, r)),
            Msg::Close(done) => closing = Some(done),
        }
        while closing.is_none() && group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Msg::Commit(d, r)) => group.push((d, r)),
                Ok(Msg::Close(done)) => closing = Some(done),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            commit_group(store.as_ref(), &metrics, group).await;
        }
    }
    if let Some(done) = closing {
        let _ = done.send(());
    }
}

async fn commit_group(store: &dyn Store, metrics: &Metrics, group: Vec<(IngestBatch, Reply)>) {
    let started = Instant::now();
    if group.len() == 1 {
        if let Some((batch, reply)) = group.into_iter().next() {
            let result = store.commit_ingest(&batch).await.map_err(Arc::new);
            metrics.record_commit(1, started.elapsed().as_secs_f64(), result.is_ok());
            let _ = reply.send(result);
        }
        return;
    }
    let batch = {
        IngestBatch {
            deltas: group
                .iter()
                .flat_map(|(b, _)| b.deltas.iter().cloned())
                .collect(),
            trackers: group
                .iter()
                .flat_map(|(b, _)| b.trackers.iter().cloned())
                .collect(),
            request_ids: group
                .iter()
                .flat_map(|(b, _)| b.request_ids.iter().cloned())
                .collect(),
            positions: Vec::new(),
        }
    };
    let requests = group.len();
    match store.commit_ingest(&batch).await {
        Ok(()) => {
            metrics.record_commit(requests, started.elapsed().as_secs_f64(), true);
            for (_, reply) in group {
                let _ = reply.send(Ok(()));
            }
        }
        Err(err) if requests > 1 => {
            // One request may have made the group fail (e.g. a counter overflow): commit each
            // on its own so only that one fails.
            metrics.record_commit(requests, started.elapsed().as_secs_f64(), false);
            drop(err);
            for (batch, reply) in group {
                let started = Instant::now();
                let result = store.commit_ingest(&batch).await.map_err(Arc::new);
                metrics.record_commit(1, started.elapsed().as_secs_f64(), result.is_ok());
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            metrics.record_commit(requests, started.elapsed().as_secs_f64(), false);
            let err = Arc::new(err);
            for (_, reply) in group {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}
