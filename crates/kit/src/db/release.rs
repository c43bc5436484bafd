//! What a pooled connection must be to go back to its pool: outside any
//! transaction. Installed as every pool's `after_release` hook, so the rule
//! holds for write transactions, reads and migrations alike, on both
//! backends.
//!
//! Why: sqlx counts a connection's transaction depth itself. When a storage
//! fault makes SQLite roll a transaction back on its own (an I/O error at
//! `COMMIT`, a full disk), the `ROLLBACK` sqlx sends afterwards fails ("no
//! transaction is active") and the count stays at one. Returned to the pool,
//! such a connection refuses every later `begin_with` ("attempted to call
//! begin_with at non-zero transaction depth"), so writes kept failing after
//! the fault cleared, until a restart. Closed instead, it is replaced by a
//! fresh connection on the next acquire.
//!
//! A connection whose socket or worker broke (Postgres I/O errors, a
//! terminated backend) is already closed by sqlx's own ping after this hook;
//! SQLite clears its own error state once the transaction has ended, so the
//! transaction depth is what is left to check.

use sqlx::{Connection, pool::PoolConnectionMetadata};
use std::{future::Future, pin::Pin};

/// The future an `after_release` hook returns.
type Verdict<'c> = Pin<Box<dyn Future<Output = sqlx::Result<bool>> + Send + 'c>>;

/// `after_release`: `Ok(true)` keeps the connection, `Ok(false)` (or an
/// error) closes it. A dropped, unfinished transaction leaves its `ROLLBACK`
/// queued on the connection; the ping runs it first, so only a connection
/// whose rollback failed is closed.
pub(super) fn reusable<C: Connection>(conn: &mut C, _meta: PoolConnectionMetadata) -> Verdict<'_> {
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        conn.ping().await?;
        if conn.is_in_transaction() {
            tracing::warn!(
                db.system = <C::Database as sqlx::Database>::NAME,
                "closing a pooled connection left inside a transaction (its rollback failed)"
            );
            return Ok(false);
        }
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use crate::{db::connect_sqlite, sql::WritePool};
    use sqlx::SqlitePool;

    /// Waits (bounded) until no connection is out of the pool: each
    /// released one is back among the idle or closed.
    async fn settled(pool: &SqlitePool) {
        for _ in 0..1000 {
            if pool.num_idle() as u32 == pool.size() {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        panic!("the pool did not settle");
    }

    async fn pool() -> (tempfile::TempDir, SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let pool = connect_sqlite(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&pool)
            .await
            .unwrap();
        settled(&pool).await;
        (dir, pool)
    }

    /// SQLite ending a transaction by itself (as after an I/O error at
    /// COMMIT) makes sqlx's own ROLLBACK fail; the connection must not serve
    /// the next write.
    #[tokio::test]
    async fn a_connection_whose_rollback_failed_is_not_reused() {
        let (_dir, pool) = pool().await;
        let mut tx = pool.begin_write().await.unwrap();
        sqlx::query("ROLLBACK").execute(&mut *tx).await.unwrap();
        assert!(tx.rollback().await.is_err(), "sqlx's rollback fails");
        settled(&pool).await;
        for n in 0..3 {
            let mut tx = pool.begin_write().await.expect("writes again");
            sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(n)
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            settled(&pool).await;
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 3);
    }

    /// An unfinished transaction that rolls back cleanly keeps its
    /// connection: only poisoned ones are replaced.
    #[tokio::test]
    async fn a_cleanly_rolled_back_connection_is_kept() {
        let (_dir, pool) = pool().await;
        assert_eq!(pool.size(), 1);
        for _ in 0..3 {
            let mut tx = pool.begin_write().await.unwrap();
            sqlx::query("INSERT INTO t (n) VALUES (1)")
                .execute(&mut *tx)
                .await
                .unwrap();
            drop(tx);
            settled(&pool).await;
        }
        assert_eq!((pool.size(), pool.num_idle()), (1, 1));
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(count, 0);
    }
}
