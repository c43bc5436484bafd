//! Readiness that means something: each service watches what it cannot
//! answer without (its database; for the gateway, its key database and the
//! services behind it) and reports NOT_SERVING in gRPC health while that
//! is unreachable, SERVING again when it returns, with no restart. The
//! process keeps one table of these components for the admin listener's
//! `/readyz`. Liveness stays simple: the gRPC health service
//! [`LIVENESS_SERVICE`] and `/livez` answer SERVING while the process runs.

use crate::{Shutdown, sql::Pool};
use std::{collections::BTreeMap, sync::Mutex, time::Duration};
use tonic_health::{ServingStatus, server::HealthReporter};

/// The gRPC health service name that stays SERVING until shutdown.
pub const LIVENESS_SERVICE: &str = "liveness";
/// How often a dependency is checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long one check may take before it counts as a failure.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

static COMPONENTS: Mutex<BTreeMap<String, bool>> = Mutex::new(BTreeMap::new());

/// Records whether `component` ("tasks database", …) is ready.
pub fn report(component: &str, ready: bool) {
    if let Ok(mut table) = COMPONENTS.lock() {
        table.insert(component.to_string(), ready);
    }
}

/// Drops `component` from the table (its service stopped).
pub fn forget(component: &str) {
    if let Ok(mut table) = COMPONENTS.lock() {
        table.remove(component);
    }
}

/// Every component and whether it is ready, by name.
pub fn components() -> Vec<(String, bool)> {
    COMPONENTS
        .lock()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

/// Whether one round trip to the database succeeds in time.
pub async fn database_reachable(pool: &Pool) -> bool {
    let ping = async {
        match pool {
            Pool::Sqlite(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
            Pool::Postgres(p) => sqlx::query("SELECT 1").execute(p).await.is_ok(),
        }
    };
    tokio::time::timeout(CHECK_TIMEOUT, ping)
        .await
        .unwrap_or(false)
}

/// A service's database, checked every [`CHECK_INTERVAL`]: `services` (and
/// the overall "") are reported SERVING or NOT_SERVING on each change.
pub struct DatabaseWatch {
    name: &'static str,
    component: String,
    pool: Pool,
    reporter: HealthReporter,
    services: Vec<String>,
    last: Option<bool>,
}

impl DatabaseWatch {
    /// Checks once, so readiness is known before the first call is
    /// accepted; [`DatabaseWatch::run`] goes on from there.
    pub async fn start(
        name: &'static str,
        pool: Pool,
        reporter: HealthReporter,
        services: Vec<String>,
    ) -> Self {
        let mut watch = Self {
            name,
            component: format!("{name} database"),
            pool,
            reporter,
            services,
            last: None,
        };
        watch.check().await;
        watch
    }

    /// Keeps checking until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        loop {
            tokio::select! {
                () = shutdown.wait() => break,
                () = tokio::time::sleep(CHECK_INTERVAL) => {}
            }
            self.check().await;
        }
        forget(&self.component);
    }

    async fn check(&mut self) {
        let ready = database_reachable(&self.pool).await;
        if self.last == Some(ready) {
            return;
        }
        if ready {
            tracing::info!(service = self.name, "database reachable: serving");
        } else {
            tracing::warn!(service = self.name, "database unreachable: not serving");
        }
        report(&self.component, ready);
        set_all(&self.reporter, &self.services, status(ready)).await;
        self.last = Some(ready);
    }
}

/// SERVING when `ready`, else NOT_SERVING.
pub fn status(ready: bool) -> ServingStatus {
    if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// Sets the overall status ("") and each of `services` to `status`.
pub async fn set_all(reporter: &HealthReporter, services: &[String], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for s in services {
        reporter.set_service_status(s.as_str(), status).await;
    }
}
