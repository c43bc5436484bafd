//! [`KeyStore`] for [`Store`]: each query is written once, with `$n`
//! placeholders that both SQLite and PostgreSQL accept, and [`on_pool!`]
//! expands the same body for whichever pool the store holds.

use super::{ApiKeyRecord, CreateRequest, Inserted, KeyStore, Store};
use p06_kit::Role;

/// Runs `$body` with `$pool` bound to the store's pool, whatever its type.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// The columns of `api_keys`, in [`KeyRow`] order.
macro_rules! key_columns {
    () => {
        "id, secret_hash, display_name, unit, role, creator, create_time, revoke_time"
    };
}

const GET_KEY: &str = concat!("SELECT ", key_columns!(), " FROM api_keys WHERE id = $1");

const LIST_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys",
    " WHERE ($1 OR revoke_time IS NULL) AND (create_time > $2 OR (create_time = $2 AND id > $3))",
    " ORDER BY create_time, id LIMIT $4"
);

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    secret_hash: String,
    display_name: String,
    unit: String,
    role: String,
    creator: String,
    create_time: i64,
    revoke_time: Option<i64>,
}

impl TryFrom<KeyRow> for ApiKeyRecord {
    type Error = sqlx::Error;
    fn try_from(row: KeyRow) -> Result<Self, Self::Error> {
        let role = row
            .role
            .parse::<Role>()
            .map_err(|e| sqlx::Error::Decode(format!("api key {}: {e}", row.id).into()))?;
        Ok(ApiKeyRecord {
            id: row.id,
            secret_hash: row.secret_hash,
            display_name: row.display_name,
            unit: row.unit,
            role,
            creator: row.creator,
            create_time: row.create_time,
            revoke_time: row.revoke_time,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    request_hash: String,
    key_id: String,
    fingerprint: String,
    sealed_secret: String,
    create_time: i64,
}

impl From<RequestRow> for CreateRequest {
    fn from(row: RequestRow) -> Self {
        CreateRequest {
            request_hash: row.request_hash,
            key_id: row.key_id,
            fingerprint: row.fingerprint,
            sealed_secret: row.sealed_secret,
            create_time: row.create_time,
        }
    }
}

impl KeyStore for Store {
    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "insert_key gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "insert_key"))]
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        request: Option<&CreateRequest>,
        expired_before: i64,
    ) -> Result<Inserted, sqlx::Error> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO api_keys (id, secret_hash, display_name, unit, role, creator, create_time, revoke_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&key.id)
            .bind(&key.secret_hash)
            .bind(&key.display_name)
            .bind(&key.unit)
            .bind(key.role.as_str())
            .bind(&key.creator)
            .bind(key.create_time)
            .bind(key.revoke_time)
            .execute(&mut *tx)
            .await?;
            if let Some(request) = request {
                sqlx::query("DELETE FROM create_requests WHERE create_time < $1")
                    .bind(expired_before)
                    .execute(&mut *tx)
                    .await?;
                let written = sqlx::query(
                    "INSERT INTO create_requests (request_hash, key_id, fingerprint, sealed_secret, create_time) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_hash) DO NOTHING",
                )
                .bind(&request.request_hash)
                .bind(&request.key_id)
                .bind(&request.fingerprint)
                .bind(&request.sealed_secret)
                .bind(request.create_time)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if written == 0 {
                    tx.rollback().await?;
                    return Ok(Inserted::RequestExists);
                }
            }
            tx.commit().await?;
            Ok(Inserted::Created)
        })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "find_request gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "find_request"))]
    async fn find_request(
        &self,
        request_hash: &str,
        not_before: i64,
    ) -> Result<Option<CreateRequest>, sqlx::Error> {
        let row: Option<RequestRow> = on_pool!(self, pool => {
            sqlx::query_as(
                "SELECT request_hash, key_id, fingerprint, sealed_secret, create_time FROM create_requests \
                 WHERE request_hash = $1 AND create_time >= $2",
            )
            .bind(request_hash)
            .bind(not_before)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(CreateRequest::from))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_key gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "get_key"))]
    async fn get_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, sqlx::Error> {
        let row: Option<KeyRow> = on_pool!(self, pool => {
            sqlx::query_as(GET_KEY).bind(id).fetch_optional(pool).await?
        });
        row.map(ApiKeyRecord::try_from).transpose()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_keys gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "list_keys"))]
    async fn list_keys(
        &self,
        after: Option<(i64, &str)>,
        limit: usize,
        show_revoked: bool,
    ) -> Result<Vec<ApiKeyRecord>, sqlx::Error> {
        let (after_time, after_id) = after.unwrap_or((i64::MIN, ""));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<KeyRow> = on_pool!(self, pool => {
            sqlx::query_as(LIST_KEYS)
                .bind(show_revoked)
                .bind(after_time)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(ApiKeyRecord::try_from).collect()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "revoke_key gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "revoke_key"))]
    async fn revoke_key(
        &self,
        id: &str,
        at: i64,
    ) -> Result<Option<(ApiKeyRecord, bool)>, sqlx::Error> {
        let changed = on_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET revoke_time = $2 WHERE id = $1 AND revoke_time IS NULL")
                .bind(id)
                .bind(at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(self.get_key(id).await?.map(|key| (key, changed > 0)))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "count_keys gateway", otel.kind = "client", db.system.name = self.system_name(), db.namespace = "gateway", db.operation.name = "count_keys"))]
    async fn count_keys(&self) -> Result<i64, sqlx::Error> {
        on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(pool).await
        })
    }
}
