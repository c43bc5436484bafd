//! Change signals between replicas of one service sharing a PostgreSQL
//! database: a write [`send`]s on a channel and every replica listening
//! ([`listen`]) wakes at once to reload what it keeps in memory (the
//! localities registry snapshot, the gateway's key cache). Notifications
//! can be lost (a listener reconnecting misses them), so a signal only
//! shortens the wait: whoever listens also re-checks on a timer. On SQLite
//! (one process) both are no-ops.

use crate::{Shutdown, sql::Pool};
use std::time::Duration;
use tokio::sync::mpsc;

/// Signals `channel` (a PostgreSQL `NOTIFY`); a failure is logged, since
/// the listeners' timers cover it.
pub async fn send(pool: &Pool, channel: &str) {
    if let Pool::Postgres(pool) = pool
        && let Err(error) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(channel)
            .execute(pool)
            .await
    {
        tracing::warn!(%error, channel, "change not signalled; other replicas see it at their next check");
    }
}

/// A receiver that gets a message whenever `channel` is signalled, until
/// `shutdown`; several signals while one is unread count as one. It never
/// receives on SQLite.
pub fn listen(pool: &Pool, channel: &'static str, shutdown: Shutdown) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    if let Pool::Postgres(pool) = pool {
        tokio::spawn(forward(pool.clone(), channel, tx, shutdown));
    }
    rx
}

/// Forwards notifications to `tx`, reconnecting after a lost connection.
async fn forward(
    pool: sqlx::PgPool,
    channel: &'static str,
    tx: mpsc::Sender<()>,
    shutdown: Shutdown,
) {
    let retry = Duration::from_secs(1);
    while !shutdown.is_triggered() {
        let listening = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listening.await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, channel, "cannot listen for change signals; retrying");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
        };
        // Whatever was signalled while not listening is picked up now.
        let _ = tx.try_send(());
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                received = listener.recv() => match received {
                    Ok(_) => {
                        // A full channel already holds a wake-up.
                        let _ = tx.try_send(());
                    }
                    Err(error) => {
                        tracing::warn!(%error, channel, "change-signal listener lost its connection");
                        break;
                    }
                },
            }
        }
    }
}
