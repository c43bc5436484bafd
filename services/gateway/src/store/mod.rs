//! Where API keys live: the [`KeyStore`] trait in domain terms, and
//! [`Store`], its SQLite and PostgreSQL implementation, picked by the
//! database URL's scheme. Each backend has its own embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`), run when the store opens.
//!
//! Times are microseconds since the Unix epoch (UTC).

mod sql;

#[cfg(test)]
mod conformance;

use crate::error::GatewayError;
use p06_kit::{
    Role,
    db::{self, Backend},
};
use sqlx::{PgPool, SqlitePool};
use std::future::Future;

/// One API key as stored: everything but the secret, of which only a
/// SHA-256 hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The key id (the `{id}` of "apiKeys/{id}").
    pub id: String,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_hash: String,
    /// A human label.
    pub display_name: String,
    /// The unit the key acts for ("units/…").
    pub unit: String,
    /// What the key may do.
    pub role: Role,
    /// The creating key ("apiKeys/…"), empty for keys made by an operator.
    pub creator: String,
    /// When it was made.
    pub create_time: i64,
    /// When it was revoked, if it was.
    pub revoke_time: Option<i64>,
}

/// A remembered create request, so a retry with the same request id gets
/// the same key and secret back (AIP-155).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// Hash of the creator and the request id (the id itself is not stored).
    pub request_hash: String,
    /// The key the request made.
    pub key_id: String,
    /// Hash of what was asked for, to refuse a reused id with other content.
    pub fingerprint: String,
    /// The secret, sealed with a key derived from the request id.
    pub sealed_secret: String,
    /// When the request was made.
    pub create_time: i64,
}

/// What [`KeyStore::insert_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The key (and its request, when given) were written.
    Created,
    /// A live request with the same hash exists; nothing was written.
    RequestExists,
}

/// Storage of API keys, in domain terms.
pub trait KeyStore: Send + Sync {
    /// Writes `key` and, when given, the request that made it, in one
    /// transaction. Requests made before `expired_before` are forgotten.
    fn insert_key(
        &self,
        key: &ApiKeyRecord,
        request: Option<&CreateRequest>,
        expired_before: i64,
    ) -> impl Future<Output = Result<Inserted, sqlx::Error>> + Send;

    /// The request with `request_hash` made at or after `not_before`.
    fn find_request(
        &self,
        request_hash: &str,
        not_before: i64,
    ) -> impl Future<Output = Result<Option<CreateRequest>, sqlx::Error>> + Send;

    /// The key with `id`.
    fn get_key(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApiKeyRecord>, sqlx::Error>> + Send;

    /// Up to `limit` keys ordered by (create time, id), after `after`.
    fn list_keys(
        &self,
        after: Option<(i64, &str)>,
        limit: usize,
        show_revoked: bool,
    ) -> impl Future<Output = Result<Vec<ApiKeyRecord>, sqlx::Error>> + Send;

    /// Revokes the key with `id` at `at` unless already revoked; the key
    /// and whether this call revoked it, or `None` when there is no such key.
    fn revoke_key(
        &self,
        id: &str,
        at: i64,
    ) -> impl Future<Output = Result<Option<(ApiKeyRecord, bool)>, sqlx::Error>> + Send;

    /// How many keys exist, revoked ones included.
    fn count_keys(&self) -> impl Future<Output = Result<i64, sqlx::Error>> + Send;
}

/// The SQL store: an SQLite or a PostgreSQL pool.
#[derive(Debug, Clone)]
pub enum Store {
    /// The embedded default.
    Sqlite(SqlitePool),
    /// For deployments and several replicas.
    Postgres(PgPool),
}

impl Store {
    /// Connects to `url` (creating an SQLite file and its directory when
    /// missing) and runs the backend's migrations.
    pub async fn open(url: &str) -> Result<Self, GatewayError> {
        let store = match Backend::of(url)? {
            Backend::Sqlite => {
                create_parent_dir(url)?;
                Store::Sqlite(db::connect_sqlite(url).await?)
            }
            Backend::Postgres => Store::Postgres(db::connect_postgres(url, 8).await?),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Store::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await,
            Store::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await,
        }
    }

    /// The backend's `db.system.name`.
    pub fn system_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgresql",
        }
    }

    /// The pool as the kit sees it (for readiness checks).
    pub fn pool(&self) -> p06_kit::sql::Pool {
        match self {
            Store::Sqlite(pool) => p06_kit::sql::Pool::Sqlite(pool.clone()),
            Store::Postgres(pool) => p06_kit::sql::Pool::Postgres(pool.clone()),
        }
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// Makes the directory an `sqlite:` file URL points into.
fn create_parent_dir(url: &str) -> Result<(), GatewayError> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(':') {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            GatewayError::Config(format!(
                "cannot create database directory {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}
