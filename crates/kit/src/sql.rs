//! SQL plumbing shared by the service stores. Each store runs the same
//! statements on SQLite and PostgreSQL (sqlx's SQLite driver reads `$n`
//! placeholders); [`on_pool!`](crate::on_pool) expands a method body once per
//! backend, so there is one copy of the logic and each backend keeps its
//! native driver and column types.

use crate::db::{Backend, DbError, connect_postgres, connect_sqlite};
use sqlx::{PgPool, SqlitePool, migrate::Migrator};

/// A connection pool on one of the two backends.
#[derive(Debug, Clone)]
pub enum Pool {
    /// Embedded SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

impl Pool {
    /// Opens the database named by `url` (its scheme picks the backend) and
    /// runs the backend's migrations.
    pub async fn connect(
        url: &str,
        sqlite: &Migrator,
        postgres: &Migrator,
    ) -> Result<Self, DbError> {
        Ok(match Backend::of(url)? {
            Backend::Sqlite => {
                let pool = connect_sqlite(url).await?;
                sqlite.run(&pool).await?;
                Pool::Sqlite(pool)
            }
            Backend::Postgres => {
                let pool = connect_postgres(url, 16).await?;
                postgres.run(&pool).await?;
                Pool::Postgres(pool)
            }
        })
    }

    /// The backend's `db.system.name` ("sqlite", "postgresql").
    pub fn system_name(&self) -> &'static str {
        self.backend().system_name()
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Reports this pool in the `db.client.connection.count` (by `state`,
    /// `idle` or `used`) and `db.client.connection.max` gauges, and each
    /// write transaction in two histograms: `db.client.connection.wait_time`
    /// (the wait for a pooled connection alone) and `p06.db.transaction.wait`
    /// (that wait and `BEGIN`: on SQLite, with the wait for the write lock);
    /// labelled `db.client.connection.pool.name` = `name` ("tasks").
    pub fn observe(&self, name: &'static str) {
        pool_metrics::register(name, self.clone());
    }

    fn counts(&self) -> (u32, u32, u32) {
        match self {
            Pool::Sqlite(p) => (
                p.size(),
                p.num_idle() as u32,
                p.options().get_max_connections(),
            ),
            Pool::Postgres(p) => (
                p.size(),
                p.num_idle() as u32,
                p.options().get_max_connections(),
            ),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool of a [`Pool`] and
/// `$db` to its database type.
#[macro_export]
macro_rules! on_pool {
    ($store:expr, |$pool:ident, $db:ident| $body:expr) => {
        match $store {
            $crate::sql::Pool::Sqlite($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                $body
            }
            $crate::sql::Pool::Postgres($pool) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Binds each [`SqlValue`](crate::filter::SqlValue) in order.
#[macro_export]
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for v in $values {
            q = match v {
                $crate::filter::SqlValue::Text(s) => q.bind(s.clone()),
                $crate::filter::SqlValue::Int(i) => q.bind(*i),
                $crate::filter::SqlValue::Date(d) => q.bind(*d),
            };
        }
        q
    }};
}

/// Starting a transaction that will write. SQLite takes the write lock at
/// once (`BEGIN IMMEDIATE`), so a transaction that reads before it writes
/// waits for other writers instead of failing with a busy snapshot.
pub trait WritePool {
    /// The database.
    type Db: sqlx::Database;
    /// Begins a write transaction.
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        let this = |p: &Pool| matches!(p, Pool::Sqlite(p) if same_options(p, self));
        pool_metrics::timed_begin(this, self, Some("BEGIN IMMEDIATE")).await
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let this = |p: &Pool| matches!(p, Pool::Postgres(p) if same_options(p, self));
        pool_metrics::timed_begin(this, self, None).await
    }
}

/// Whether two handles are the same pool (they share its options).
fn same_options<DB: sqlx::Database>(a: &sqlx::Pool<DB>, b: &sqlx::Pool<DB>) -> bool {
    std::sync::Arc::ptr_eq(&a.connect_options(), &b.connect_options())
}

/// `$from, $from+1, …` for `n` values.
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether an error means the database cannot answer for now (the
/// connection dropped, the pool timed out, the server is shutting down or
/// starting up or has no connection slot free; SQLite is busy or locked, or
/// its storage failed: a disk I/O error, a full disk, a file it cannot open
/// or may not write), so the same request may succeed when retried:
/// UNAVAILABLE, not INTERNAL.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes, also as the low byte of an extended
                // code: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_READONLY
                // (8), SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14).
                let code = d.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The SQL type a column of [`json_rows`] is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// `TEXT`.
    Text,
    /// `INTEGER` (32-bit).
    Int,
    /// `BIGINT`.
    BigInt,
    /// `BOOLEAN`.
    Bool,
}

/// A subquery over the rows of one bound JSON parameter `$param`, an array
/// of arrays, read as `columns` in order (JSON `null` is SQL `NULL`):
/// `SELECT … FROM (<this>) AS v`. A whole batch travels as one parameter,
/// so the statement text is the same whatever the batch size and each
/// connection prepares it once.
pub fn json_rows(backend: Backend, param: usize, columns: &[(&str, JsonType)]) -> String {
    let cols = columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| match backend {
            Backend::Postgres => {
                let cast = match ty {
                    JsonType::Text => "text",
                    JsonType::Int => "integer",
                    JsonType::BigInt => "bigint",
                    JsonType::Bool => "boolean",
                };
                format!("(e->>{i})::{cast} AS {name}")
            }
            Backend::Sqlite => format!("json_extract(value, '$[{i}]') AS {name}"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    match backend {
        Backend::Postgres => format!("SELECT {cols} FROM json_array_elements(${param}::json) AS e"),
        Backend::Sqlite => format!("SELECT {cols} FROM json_each(${param})"),
    }
}

/// `INSERT INTO table (columns…) SELECT columns… FROM (<json_rows>) …`
/// followed by `tail` (an `ON CONFLICT` clause, `RETURNING` …): the rows of
/// the JSON parameter `$1`, whose elements list the columns in order.
pub fn json_insert(
    backend: Backend,
    table: &str,
    columns: &[(&str, JsonType)],
    tail: &str,
) -> String {
    let names = columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    // `WHERE TRUE` keeps SQLite from reading `ON CONFLICT` as a join clause.
    format!(
        "INSERT INTO {table} ({names}) SELECT {names} FROM ({}) AS v WHERE TRUE {tail}",
        json_rows(backend, 1, columns)
    )
}

/// A subquery over the strings of one bound JSON array parameter
/// `$param`, for `x IN (<this>)` with a statement text that does not
/// change with the list's length.
pub fn json_list(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Postgres => format!("SELECT json_array_elements_text(${param}::json)"),
        Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_and_like() {
        assert_eq!(super::placeholders(3, 3), "$3, $4, $5");
        assert_eq!(super::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }

    #[test]
    fn json_insert_names_each_column_once_per_clause() {
        use super::{Backend, JsonType, json_insert};
        let cols = [("id", JsonType::Text), ("n", JsonType::BigInt)];
        assert_eq!(
            json_insert(Backend::Postgres, "t", &cols, "ON CONFLICT (id) DO NOTHING"),
            "INSERT INTO t (id, n) SELECT id, n FROM (SELECT (e->>0)::text AS id, \
             (e->>1)::bigint AS n FROM json_array_elements($1::json) AS e) AS v \
             WHERE TRUE ON CONFLICT (id) DO NOTHING"
        );
        assert_eq!(
            json_insert(Backend::Sqlite, "t", &cols, ""),
            "INSERT INTO t (id, n) SELECT id, n FROM (SELECT json_extract(value, '$[0]') AS id, \
             json_extract(value, '$[1]') AS n FROM json_each($1)) AS v WHERE TRUE "
        );
    }
}

mod pool_metrics {
    //! The connection-pool gauges: one pair of observable instruments for the
    //! process, reading every registered pool at each collection.
    use super::Pool;
    use opentelemetry::KeyValue;
    use std::sync::{Mutex, OnceLock};

    static POOLS: Mutex<Vec<(&'static str, Pool)>> = Mutex::new(Vec::new());

    /// The registered name of the pool `is` picks ("" when unregistered).
    fn name_of(is: impl Fn(&Pool) -> bool) -> &'static str {
        POOLS
            .lock()
            .ok()
            .and_then(|pools| pools.iter().find(|(_, p)| is(p)).map(|(n, _)| *n))
            .unwrap_or("")
    }

    /// Takes a connection of `pool` (the one of the registered pools `is`
    /// picks) and begins a transaction on it with `statement` (`BEGIN` when
    /// `None`), recording the wait for the connection and the time to
    /// begin. What `sqlx::Pool::begin_with` does, with the two steps timed
    /// apart; `Transaction::begin` is the call sqlx's own does.
    pub(super) async fn timed_begin<DB: sqlx::Database>(
        is: impl Fn(&Pool) -> bool,
        pool: &sqlx::Pool<DB>,
        statement: Option<&'static str>,
    ) -> sqlx::Result<sqlx::Transaction<'static, DB>> {
        let started = std::time::Instant::now();
        let acquired = pool.acquire().await;
        let name = name_of(is);
        record(&CONNECTION_WAIT, name, started.elapsed());
        let began = sqlx::Transaction::begin(
            sqlx::pool::MaybePoolConnection::PoolConnection(acquired?),
            statement.map(sqlx::SqlSafeStr::into_sql_str),
        )
        .await;
        record(&TRANSACTION_WAIT, name, started.elapsed());
        began
    }

    /// A histogram of seconds by pool, made on first use.
    struct Wait {
        name: &'static str,
        description: &'static str,
        histogram: OnceLock<opentelemetry::metrics::Histogram<f64>>,
    }

    static CONNECTION_WAIT: Wait = Wait {
        name: "db.client.connection.wait_time",
        description: "Time to get a connection from the pool for a write transaction",
        histogram: OnceLock::new(),
    };

    static TRANSACTION_WAIT: Wait = Wait {
        name: "p06.db.transaction.wait",
        description: "Time to get a pooled connection and begin a write transaction",
        histogram: OnceLock::new(),
    };

    fn record(wait: &Wait, pool: &'static str, took: std::time::Duration) {
        wait.histogram
            .get_or_init(|| {
                crate::rpc::meter()
                    .f64_histogram(wait.name)
                    .with_unit("s")
                    .with_description(wait.description)
                    .with_boundaries(vec![
                        0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
                    ])
                    .build()
            })
            .record(
                took.as_secs_f64(),
                &[KeyValue::new("db.client.connection.pool.name", pool)],
            );
    }

    fn pools() -> Vec<(&'static str, Pool)> {
        let Ok(mut pools) = POOLS.lock() else {
            return Vec::new();
        };
        pools.retain(|(_, p)| !p.is_closed());
        pools.clone()
    }

    pub(super) fn register(name: &'static str, pool: Pool) {
        static INSTRUMENTS: OnceLock<()> = OnceLock::new();
        if let Ok(mut all) = POOLS.lock() {
            all.push((name, pool));
        }
        INSTRUMENTS.get_or_init(|| {
            let meter = crate::rpc::meter();
            meter
                .i64_observable_gauge("db.client.connection.count")
                .with_description("Connections of the pool, by state")
                .with_callback(|gauge| {
                    for (name, pool) in pools() {
                        let (size, idle, _) = pool.counts();
                        let pool_name = KeyValue::new("db.client.connection.pool.name", name);
                        gauge.observe(
                            i64::from(idle),
                            &[
                                pool_name.clone(),
                                KeyValue::new("db.client.connection.state", "idle"),
                            ],
                        );
                        gauge.observe(
                            i64::from(size.saturating_sub(idle)),
                            &[
                                pool_name,
                                KeyValue::new("db.client.connection.state", "used"),
                            ],
                        );
                    }
                })
                .build();
            meter
                .i64_observable_gauge("db.client.connection.max")
                .with_description("Most connections the pool may open")
                .with_callback(|gauge| {
                    for (name, pool) in pools() {
                        let (_, _, max) = pool.counts();
                        gauge.observe(
                            i64::from(max),
                            &[KeyValue::new("db.client.connection.pool.name", name)],
                        );
                    }
                })
                .build();
        });
    }
}
