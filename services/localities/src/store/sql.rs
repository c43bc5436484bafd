//! The SQL store on SQLite (embedded default) and PostgreSQL. Both run the
//! same statements: sqlx's SQLite driver reads `$n` placeholders, and
//! [`on_pool!`] expands each method body once per backend, so there is one
//! copy of the logic and each backend keeps its native driver and types.

use super::{
    LocalityStore, Merge, MergeOutcome, Mutation, Registry, RegistryVersion, StoreError,
    StoreResult, Successor, UnitPage, UnitQuery, snapshot::CHANGE_CHANNEL,
};
use crate::{
    domain::{Contacts, Lineage, NewUnit, Unit, UnitLevel, fold::fold, merge},
    refdata::ReferenceData,
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use p06_kit::{
    bind_values,
    db::DbError,
    filter::SqlValue,
    on_pool,
    sql::{Pool, WritePool, escape_like, is_unique_violation, placeholders},
};
use sqlx::{AssertSqlSafe, FromRow, migrate::Migrator};

/// A localities database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
}

/// Records the audit entry and the request id of a mutation.
macro_rules! record {
    ($tx:expr, $m:expr, $action:expr, $resource:expr, $result:expr) => {{
        sqlx::query("INSERT INTO audit_log (at, actor, action, resource, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind($m.at)
            .bind($m.actor.clone())
            .bind($action)
            .bind($resource)
            .bind($m.request_id.clone().unwrap_or_default())
            .bind($result)
            .execute(&mut *$tx)
            .await?;
        if let Some(request_id) = &$m.request_id {
            sqlx::query("INSERT INTO request_log (method, request_id, result, created_at) VALUES ($1, $2, $3, $4)")
                .bind($m.method)
                .bind(request_id.clone())
                .bind($result)
                .bind($m.at)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// A conditional write: when exactly one row changed, records it and
/// commits; evaluates to whether it did (otherwise the transaction rolls back).
macro_rules! commit_if_one {
    ($tx:expr, $done:expr, $m:expr, $action:expr, $resource:expr, $result:expr) => {{
        let one = $done == 1;
        if one {
            record!($tx, $m, $action, $resource, $result);
            $tx.commit().await?;
        }
        one
    }};
}

/// Inserts one unit inside a transaction; evaluates to a `sqlx::Result`.
macro_rules! insert_unit {
    ($tx:expr, $u:expr, $at:expr) => {
        sqlx::query(
            "INSERT INTO units (id, code, kind, level, name_vi, name_en, category, parent_id, supervisor_id, valid_from, \
             valid_until, version, created_at, updated_at, search_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12, $13)",
        )
        .bind($u.id.clone())
        .bind($u.code.clone())
        .bind($u.kind.as_str())
        .bind($u.level.as_str())
        .bind($u.name_vi.clone())
        .bind($u.name_en.clone())
        .bind($u.category.clone())
        .bind($u.parent_id.clone())
        .bind($u.supervisor_id.clone())
        .bind($u.valid_from)
        .bind($u.valid_until)
        .bind($at)
        .bind(search_name($u))
        .execute(&mut *$tx)
        .await
    };
}

/// Checks that a new unit's parent and supervisor exist, then inserts it;
/// errors are `Invalid("parent" | "supervisor")` or `AlreadyExists`.
macro_rules! insert_new_unit {
    ($tx:expr, $unit:expr, $at:expr) => {{
        for (field, reference) in [
            ("parent", &$unit.parent_id),
            ("supervisor", &$unit.supervisor_id),
        ] {
            if let Some(r) = reference {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT id FROM units WHERE id = $1")
                        .bind(r.clone())
                        .fetch_optional(&mut *$tx)
                        .await?;
                if found.is_none() {
                    return Err(StoreError::Invalid(
                        field,
                        format!("units/{r} does not exist"),
                    ));
                }
            }
        }
        insert_unit!($tx, $unit, $at).map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists($unit.id.clone())
            } else {
                StoreError::from(e)
            }
        })?;
    }};
}

/// Fetches units by a WHERE clause over `units` with binds.
macro_rules! fetch_units {
    ($exec:expr, $where:expr, $binds:expr) => {{
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units WHERE {}", $where);
        let rows: Vec<UnitRow> = bind_values!(sqlx::query_as(AssertSqlSafe(sql)), $binds)
            .fetch_all($exec)
            .await?;
        rows
    }};
}

const UNIT_COLUMNS: &str = "id, code, kind, level, name_vi, name_en, category, parent_id, supervisor_id, valid_from, valid_until, version, created_at, updated_at";

#[derive(FromRow)]
struct UnitRow {
    id: String,
    code: String,
    kind: String,
    level: String,
    name_vi: String,
    name_en: String,
    category: String,
    parent_id: Option<String>,
    supervisor_id: Option<String>,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct LinkRow {
    predecessor_id: String,
    successor_id: String,
    effective_date: NaiveDate,
    is_primary: bool,
}

#[derive(FromRow)]
struct ContactsRow {
    unit_id: String,
    webhook_url: String,
    webhook_enabled: bool,
    webhook_secrets: String,
    email_addresses: String,
    email_enabled: bool,
    version: i64,
    updated_at: DateTime<Utc>,
}

impl LinkRow {
    fn into_lineage(self) -> Lineage {
        Lineage {
            predecessor: self.predecessor_id,
            successor: self.successor_id,
            effective: self.effective_date,
            primary: self.is_primary,
        }
    }
}

fn decode_err(what: &str) -> StoreError {
    StoreError::Db(sqlx::Error::Decode(what.to_string().into()))
}

impl UnitRow {
    fn into_unit(self, links: &[LinkRow]) -> StoreResult<Unit> {
        let kind = self
            .kind
            .parse()
            .map_err(|_| decode_err(&format!("unit kind {}", self.kind)))?;
        let level = self
            .level
            .parse()
            .map_err(|_| decode_err(&format!("unit level {}", self.level)))?;
        let predecessors = links
            .iter()
            .filter(|l| l.successor_id == self.id)
            .map(|l| l.predecessor_id.clone())
            .collect();
        let successors = links
            .iter()
            .filter(|l| l.predecessor_id == self.id)
            .map(|l| l.successor_id.clone())
            .collect();
        Ok(Unit {
            id: self.id,
            code: self.code,
            kind,
            level,
            name_vi: self.name_vi,
            name_en: self.name_en,
            category: self.category,
            parent_id: self.parent_id,
            supervisor_id: self.supervisor_id,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            predecessors,
            successors,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn search_name(u: &NewUnit) -> String {
    fold(&format!("{} {}", u.name_vi, u.name_en))
}

const ACTIVE_ON: &str =
    "(valid_from IS NULL OR valid_from <= $D) AND (valid_until IS NULL OR valid_until >= $D)";

impl SqlStore {
    /// Opens the database named by `url` (scheme picks the backend) and
    /// runs its migrations.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
        Ok(Self {
            pool: Pool::connect(url, &SQLITE, &POSTGRES).await?,
        })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await
    }

    /// The connection pool (for readiness checks and pool metrics).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn with_links(&self, rows: Vec<UnitRow>) -> StoreResult<Vec<Unit>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<SqlValue> = rows.iter().map(|r| SqlValue::Text(r.id.clone())).collect();
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT predecessor_id, successor_id, effective_date, is_primary FROM unit_lineage \
             WHERE predecessor_id IN ({list}) OR successor_id IN ({list}) ORDER BY predecessor_id, successor_id"
        );
        let links: Vec<LinkRow> = on_pool!(&self.pool, |pool, _Db| bind_values!(
            sqlx::query_as(AssertSqlSafe(sql)),
            &ids
        )
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(|r| r.into_unit(&links)).collect()
    }

    async fn units_where(&self, condition: &str, binds: &[SqlValue]) -> StoreResult<Vec<Unit>> {
        let rows = on_pool!(&self.pool, |pool, _Db| fetch_units!(pool, condition, binds));
        self.with_links(rows).await
    }
}

impl LocalityStore for SqlStore {
    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_unit localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "get_unit"))]
    async fn get_unit(&self, id: &str) -> StoreResult<Option<Unit>> {
        Ok(self
            .units_where("id = $1", &[SqlValue::Text(id.into())])
            .await?
            .pop())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_units localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "get_units"))]
    async fn get_units(&self, ids: &[String]) -> StoreResult<Vec<Unit>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let binds: Vec<SqlValue> = ids.iter().map(|id| SqlValue::Text(id.clone())).collect();
        let cond = format!("id IN ({})", p06_kit::sql::placeholders(1, ids.len()));
        self.units_where(&cond, &binds).await
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "list_units localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "list_units"))]
    async fn list_units(&self, q: &UnitQuery) -> StoreResult<UnitPage> {
        let mut conds = Vec::new();
        let mut binds = Vec::new();
        if let Some(f) = &q.filter {
            conds.push(f.sql.clone());
            binds.extend(f.binds.iter().cloned());
        }
        if let Some(d) = q.active_on {
            binds.push(SqlValue::Date(d));
            conds.push(ACTIVE_ON.replace("$D", &format!("${}", binds.len())));
        }
        if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
            binds.push(SqlValue::Text(format!("%{}%", escape_like(s))));
            conds.push(format!("search_name LIKE ${} ESCAPE '\\'", binds.len()));
        }
        let matching = if conds.is_empty() {
            "1 = 1".to_string()
        } else {
            conds.join(" AND ")
        };
        let count_sql = format!("SELECT COUNT(*) FROM units WHERE {matching}");
        let total: i64 = on_pool!(&self.pool, |pool, _Db| bind_values!(
            sqlx::query_scalar(AssertSqlSafe(count_sql)),
            &binds
        )
        .fetch_one(pool)
        .await?);
        let col = q.order.column();
        let (cmp, dir) = if q.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let mut page_cond = matching;
        if let Some((value, id)) = &q.after {
            binds.push(SqlValue::Text(value.clone()));
            binds.push(SqlValue::Text(id.clone()));
            page_cond = format!(
                "{page_cond} AND ({col}, id) {cmp} (${}, ${})",
                binds.len() - 1,
                binds.len()
            );
        }
        let condition = format!(
            "{page_cond} ORDER BY {col} {dir}, id {dir} LIMIT {}",
            q.limit + 1
        );
        let mut units = self.units_where(&condition, &binds).await?;
        let more = units.len() > q.limit;
        units.truncate(q.limit);
        Ok(UnitPage { units, more, total })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "lookup localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "lookup"))]
    async fn lookup(
        &self,
        code: &str,
        level: UnitLevel,
        date: NaiveDate,
    ) -> StoreResult<Option<Unit>> {
        let condition = format!(
            "code = $1 AND level = $2 AND {} ORDER BY kind, id LIMIT 1",
            ACTIVE_ON.replace("$D", "$3")
        );
        let binds = [
            SqlValue::Text(code.into()),
            SqlValue::Text(level.as_str().into()),
            SqlValue::Date(date),
        ];
        Ok(self.units_where(&condition, &binds).await?.pop())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "successors_of localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "successors_of"))]
    async fn successors_of(&self, id: &str) -> StoreResult<Vec<Lineage>> {
        let sql = "SELECT predecessor_id, successor_id, effective_date, is_primary FROM unit_lineage \
                   WHERE predecessor_id = $1 ORDER BY is_primary DESC, successor_id";
        let rows: Vec<LinkRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(LinkRow::into_lineage).collect())
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "create_unit localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "create_unit"))]
    async fn create_unit(&self, unit: &NewUnit, m: &Mutation) -> StoreResult<Unit> {
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            insert_new_unit!(tx, unit, m.at);
            record!(
                tx,
                m,
                "create_unit",
                format!("units/{}", unit.id),
                unit.id.clone()
            );
            tx.commit().await?;
        });
        self.get_unit(&unit.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(unit.id.clone()))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "update_unit localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "update_unit"))]
    async fn update_unit(&self, u: &Unit, expected: i64, m: &Mutation) -> StoreResult<Unit> {
        let search = fold(&format!("{} {}", u.name_vi, u.name_en));
        let updated = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE units SET name_vi = $1, name_en = $2, category = $3, search_name = $4, parent_id = $5, \
                 supervisor_id = $6, valid_until = $7, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10",
            )
            .bind(u.name_vi.clone())
            .bind(u.name_en.clone())
            .bind(u.category.clone())
            .bind(search)
            .bind(u.parent_id.clone())
            .bind(u.supervisor_id.clone())
            .bind(u.valid_until)
            .bind(m.at)
            .bind(u.id.clone())
            .bind(expected)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            commit_if_one!(
                tx,
                done,
                m,
                "update_unit",
                format!("units/{}", u.id),
                u.id.clone()
            )
        });
        let current = self
            .get_unit(&u.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(u.id.clone()))?;
        if updated {
            Ok(current)
        } else {
            Err(StoreError::Conflict {
                id: u.id.clone(),
                current: current.version,
            })
        }
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "merge_units localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "merge_units"))]
    async fn merge_units(&self, mg: &Merge, m: &Mutation) -> StoreResult<MergeOutcome> {
        let ends = mg
            .effective
            .checked_sub_days(Days::new(1))
            .ok_or(StoreError::Invalid("effective_date", "out of range".into()))?;
        let sources: Vec<SqlValue> = mg
            .sources
            .iter()
            .map(|s| SqlValue::Text(s.clone()))
            .collect();
        let source_where = format!("id IN ({})", placeholders(1, sources.len()));
        let successor_id = match &mg.successor {
            Successor::Existing(id) => id.clone(),
            Successor::New(u) => u.id.clone(),
        };
        on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let rows = fetch_units!(&mut *tx, &source_where, &sources);
            let found: Vec<Unit> = rows
                .into_iter()
                .map(|r| r.into_unit(&[]))
                .collect::<StoreResult<_>>()?;
            if let Some(missing) = mg
                .sources
                .iter()
                .find(|s| !found.iter().any(|u| &&u.id == s))
            {
                return Err(StoreError::Invalid(
                    "sources",
                    format!("units/{missing} does not exist"),
                ));
            }
            let existing = match &mg.successor {
                Successor::Existing(id) => {
                    let rows = fetch_units!(&mut *tx, "id = $1", &[SqlValue::Text(id.clone())]);
                    let unit = rows.into_iter().next().ok_or_else(|| {
                        StoreError::Invalid("successor", format!("units/{id} does not exist"))
                    })?;
                    Some(unit.into_unit(&[])?)
                }
                Successor::New(_) => None,
            };
            merge::check(&found, existing.as_ref(), mg.effective)
                .map_err(|(f, r, msg)| StoreError::Precondition(f, r, msg))?;
            if let Successor::New(unit) = &mg.successor {
                insert_new_unit!(tx, unit, m.at);
            } else {
                sqlx::query(
                    "UPDATE units SET version = version + 1, updated_at = $1 WHERE id = $2",
                )
                .bind(m.at)
                .bind(successor_id.clone())
                .execute(&mut *tx)
                .await?;
            }
            for s in &mg.sources {
                let version = found.iter().find(|u| &u.id == s).map_or(0, |u| u.version);
                let ended = sqlx::query(
                    "UPDATE units SET valid_until = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4",
                )
                .bind(ends)
                .bind(m.at)
                .bind(s.clone())
                .bind(version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if ended != 1 {
                    return Err(StoreError::Conflict {
                        id: s.clone(),
                        current: version,
                    });
                }
                sqlx::query("INSERT INTO unit_lineage (predecessor_id, successor_id, effective_date, is_primary) VALUES ($1, $2, $3, $4)")
                    .bind(s.clone())
                    .bind(successor_id.clone())
                    .bind(mg.effective)
                    .bind(true)
                    .execute(&mut *tx)
                    .await?;
            }
            record!(
                tx,
                m,
                "merge_units",
                format!("units/{successor_id}"),
                format!("{successor_id}<-{}", mg.sources.join(","))
            );
            tx.commit().await?;
        });
        let successor = self
            .get_unit(&successor_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(successor_id.clone()))?;
        let ended = self.units_where(&source_where, &sources).await?;
        Ok(MergeOutcome { successor, ended })
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "get_contacts localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "get_contacts"))]
    async fn get_contacts(&self, unit_id: &str) -> StoreResult<Option<Contacts>> {
        let sql = "SELECT unit_id, webhook_url, webhook_enabled, webhook_secrets, email_addresses, email_enabled, version, updated_at \
                   FROM unit_contacts WHERE unit_id = $1";
        let row: Option<ContactsRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(sql)
            .bind(unit_id.to_string())
            .fetch_optional(pool)
            .await?);
        row.map(|r| {
            Ok(Contacts {
                unit_id: r.unit_id,
                webhook_url: r.webhook_url,
                webhook_enabled: r.webhook_enabled,
                webhook_secrets: serde_json::from_str(&r.webhook_secrets)
                    .map_err(|_| decode_err("webhook_secrets"))?,
                email_addresses: serde_json::from_str(&r.email_addresses)
                    .map_err(|_| decode_err("email_addresses"))?,
                email_enabled: r.email_enabled,
                version: r.version,
                updated_at: Some(r.updated_at),
            })
        })
        .transpose()
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "put_contacts localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "put_contacts"))]
    async fn put_contacts(&self, c: &Contacts, m: &Mutation) -> StoreResult<Contacts> {
        let secrets = serde_json::to_string(&c.webhook_secrets).unwrap_or_else(|_| "[]".into());
        let emails = serde_json::to_string(&c.email_addresses).unwrap_or_else(|_| "[]".into());
        let written = on_pool!(&self.pool, |pool, _Db| {
            let mut tx = pool.begin_write().await?;
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM units WHERE id = $1")
                .bind(c.unit_id.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(c.unit_id.clone()));
            }
            let sql = if c.version == 0 {
                "INSERT INTO unit_contacts (webhook_url, webhook_enabled, webhook_secrets, email_addresses, email_enabled, updated_at, unit_id, version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8 + 1) ON CONFLICT (unit_id) DO NOTHING"
            } else {
                "UPDATE unit_contacts SET webhook_url = $1, webhook_enabled = $2, webhook_secrets = $3, email_addresses = $4, \
                 email_enabled = $5, updated_at = $6, version = version + 1 WHERE unit_id = $7 AND version = $8"
            };
            let done = sqlx::query(sql)
                .bind(c.webhook_url.clone())
                .bind(c.webhook_enabled)
                .bind(secrets)
                .bind(emails)
                .bind(c.email_enabled)
                .bind(m.at)
                .bind(c.unit_id.clone())
                .bind(c.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            commit_if_one!(
                tx,
                done,
                m,
                "update_contacts",
                format!("units/{}/contacts", c.unit_id),
                c.unit_id.clone()
            )
        });
        let current = self.get_contacts(&c.unit_id).await?;
        match current {
            Some(current) if written => Ok(current),
            current => Err(StoreError::Conflict {
                id: format!("{}/contacts", c.unit_id),
                current: current.map_or(0, |c| c.version),
            }),
        }
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "recall localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "recall"))]
    async fn recall(&self, method: &str, request_id: &str) -> StoreResult<Option<String>> {
        let sql = "SELECT result FROM request_log WHERE method = $1 AND request_id = $2";
        Ok(on_pool!(&self.pool, |pool, _Db| sqlx::query_scalar(sql)
            .bind(method.to_string())
            .bind(request_id.to_string())
            .fetch_optional(pool)
            .await?))
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "load_reference localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "load_reference"))]
    async fn load_reference(
        &self,
        data: &ReferenceData,
        version: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        on_pool!(&self.pool, |pool, Db| {
            let mut tx = pool.begin_write().await?;
            let loaded: Option<String> =
                sqlx::query_scalar("SELECT value FROM meta WHERE key = 'reference_data'")
                    .fetch_optional(&mut *tx)
                    .await?;
            if loaded.as_deref() == Some(version) {
                return Ok(false);
            }
            for chunk in data.units.chunks(500) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(format!(
                    "INSERT INTO units ({UNIT_COLUMNS}, search_name) "
                ));
                qb.push_values(chunk, |mut b, u| {
                    b.push_bind(u.id.clone())
                        .push_bind(u.code.clone())
                        .push_bind(u.kind.as_str())
                        .push_bind(u.level.as_str())
                        .push_bind(u.name_vi.clone())
                        .push_bind(u.name_en.clone())
                        .push_bind(u.category.clone())
                        .push_bind(u.parent_id.clone())
                        .push_bind(u.supervisor_id.clone())
                        .push_bind(u.valid_from)
                        .push_bind(u.valid_until)
                        .push_bind(1_i64)
                        .push_bind(at)
                        .push_bind(at)
                        .push_bind(search_name(u));
                });
                qb.push(" ON CONFLICT (id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            for chunk in data.lineage.chunks(1000) {
                let mut qb = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO unit_lineage (predecessor_id, successor_id, effective_date, is_primary) ",
                );
                qb.push_values(chunk, |mut b, l| {
                    b.push_bind(l.predecessor.clone())
                        .push_bind(l.successor.clone())
                        .push_bind(l.effective)
                        .push_bind(l.primary);
                });
                qb.push(" ON CONFLICT (predecessor_id, successor_id) DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO meta (key, value) VALUES ('reference_data', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(version.to_string())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    #[tracing::instrument(name = "db", skip_all, fields(otel.name = "load_registry localities", otel.kind = "client", db.system.name = self.pool.system_name(), db.namespace = "localities", db.operation.name = "load_registry"))]
    async fn load_registry(&self) -> StoreResult<Registry> {
        let version = self.registry_version().await?;
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units");
        let rows: Vec<UnitRow> =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?);
        let links: Vec<LinkRow> = on_pool!(&self.pool, |pool, _Db| sqlx::query_as(
            "SELECT predecessor_id, successor_id, effective_date, is_primary FROM unit_lineage"
        )
        .fetch_all(pool)
        .await?);
        Ok(Registry {
            units: rows
                .into_iter()
                .map(|r| r.into_unit(&[]))
                .collect::<StoreResult<_>>()?,
            links: links.into_iter().map(LinkRow::into_lineage).collect(),
            version,
        })
    }

    async fn registry_version(&self) -> StoreResult<RegistryVersion> {
        let (units, versions, links): (i64, i64, i64) =
            on_pool!(&self.pool, |pool, _Db| sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM units), \
                 (SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM units), \
                 (SELECT COUNT(*) FROM unit_lineage)"
            )
            .fetch_one(pool)
            .await?);
        Ok(RegistryVersion {
            units,
            versions,
            links,
        })
    }

    async fn signal_change(&self) {
        p06_kit::signal::send(&self.pool, CHANGE_CHANNEL).await
    }

    fn change_signals(&self, shutdown: p06_kit::Shutdown) -> tokio::sync::mpsc::Receiver<()> {
        p06_kit::signal::listen(&self.pool, CHANGE_CHANNEL, shutdown)
    }
}
