//! WatchChanges: the change feed as a server stream. It pages through
//! stored changes after the client's sequence, then waits for new writes
//! (woken at once by this replica's writes, and every second for other
//! replicas'), and ends when the service shuts down so the drain completes.

use super::{TasksApi, convert};
use crate::{error::Result, store::TaskStore};
use p06_kit::Grant;
use p06_proto::tasks::v1 as pb;
use std::{pin::Pin, time::Duration};
use tokio_stream::Stream;
use tonic::Status;

/// The stream type of WatchChanges.
pub type ChangeStream = Pin<Box<dyn Stream<Item = Result<pb::Change, Status>> + Send>>;

const BATCH: usize = 500;
const POLL: Duration = Duration::from_secs(1);

pub(super) fn watch<S: TaskStore>(
    api: &TasksApi<S>,
    caller: Grant,
    after: i64,
) -> Result<ChangeStream> {
    if after < 0 {
        return Err(crate::error::TasksError::invalid(
            "after_sequence",
            "must not be negative",
        ));
    }
    // A UNIT key follows its own unit's changes only.
    let own = caller.reach().unit().map(str::to_string);
    let (store, written, shutdown) = (api.store.clone(), api.written.clone(), api.shutdown.clone());
    let (tx, rx) = tokio::sync::mpsc::channel(BATCH);
    tokio::spawn(async move {
        let mut cursor = after;
        loop {
            let notified = written.notified();
            let batch = match store.changes_after(cursor, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed read failed");
                    let _ = tx
                        .send(Err(Status::unavailable(
                            "change feed temporarily unavailable; resume from your last sequence",
                        )))
                        .await;
                    return;
                }
            };
            let full = batch.len() == BATCH;
            for change in batch {
                cursor = change.sequence;
                if own.as_ref().is_some_and(|u| *u != change.unit_id) {
                    continue;
                }
                if tx.send(Ok(convert::change_to_pb(change))).await.is_err() {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(POLL) => {}
                () = shutdown.wait() => return,
                () = tx.closed() => return,
            }
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
}
