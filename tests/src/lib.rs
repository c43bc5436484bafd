//! The end-to-end harness: the whole p06 stack started in-process on
//! pre-bound `127.0.0.1:0` listeners, with SQLite files in a temporary
//! directory or, for [`Backend::Postgres`], fresh PostgreSQL databases on
//! the server named by `P06_TEST_DATABASE_URL`.
#![forbid(unsafe_code)]

pub mod otlp;
pub mod raw;
pub mod replica;
pub mod smoke;
pub mod smtp;
pub mod webhook;

use p06::{
    cli::ClientArgs,
    client::{GatewayChannel, connect},
    stack::{Databases, Notifications, Stack, StackOptions},
};
use p06_kit::{Shutdown, clock::SharedClock};
use p06_proto::{
    gateway::v1::access_client::AccessClient, localities::v1::localities_client::LocalitiesClient,
};
use std::{path::Path, sync::Arc};
use tokio::net::TcpListener;

/// Which databases a test stack uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files in a temporary directory.
    Sqlite,
    /// Fresh PostgreSQL databases (skipped when the variable is unset).
    Postgres,
}

/// How a test stack is set up.
pub struct Setup {
    /// The clock every service reads.
    pub clock: SharedClock,
    /// Gateway settings.
    pub gateway: p06_gateway::Config,
    /// Localities settings (database and token are the stack's).
    pub localities: p06_localities::Config,
    /// Notifications settings (fast ticks by default).
    pub notifications: p06_notifications::Config,
    /// Run no notifications service in the stack; the gateway routes to
    /// this address, where the test runs replicas itself.
    pub external_notifications: Option<std::net::SocketAddr>,
}

impl Setup {
    /// Defaults with `clock`; notifications passes tick every 20 ms.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            gateway: p06_gateway::Config::default(),
            localities: p06_localities::Config::default(),
            notifications: fast_notifications(),
            external_notifications: None,
        }
    }

    /// Lets units set, and notifications deliver to, webhooks on private
    /// networks: what a test whose receiver listens on 127.0.0.1 needs
    /// (the default refuses them, as a deployment does).
    pub fn private_webhooks(mut self) -> Self {
        self.localities.webhook_allow_private_networks = true;
        self.notifications.webhook_allow_private_networks = true;
        self
    }
}

/// Notifications settings for tests: short ticks, so a test waits for
/// events (stream messages, webhook requests) rather than for timers.
pub fn fast_notifications() -> p06_notifications::Config {
    p06_notifications::Config {
        tick_ms: 20,
        ..p06_notifications::Config::default()
    }
}

/// A running stack for one test; stopped when dropped.
pub struct TestStack {
    /// The stack.
    pub stack: Option<Stack>,
    /// The bootstrap ADMIN key.
    pub admin_key: String,
    /// The data directory (SQLite).
    pub dir: tempfile::TempDir,
    databases: Databases,
}

impl TestStack {
    /// A stack on SQLite with the system clock.
    pub async fn start() -> TestStack {
        Self::start_on(Backend::Sqlite)
            .await
            .unwrap_or_else(unreachable_sqlite)
    }

    /// A stack on SQLite whose services all read `clock`.
    pub async fn start_at(clock: SharedClock) -> TestStack {
        let dir = tempfile::tempdir().expect("temp dir");
        let databases = Databases::sqlite_in(dir.path()).expect("data dir");
        Self::start_with(dir, databases, clock).await
    }

    /// A tasks client through the gateway with `key`.
    pub async fn tasks(
        &self,
        key: &str,
    ) -> p06_proto::tasks::v1::tasks_client::TasksClient<GatewayChannel> {
        p06_proto::tasks::v1::tasks_client::TasksClient::new(self.channel(Some(key)).await)
    }

    /// A stack on `backend`; `None` for Postgres when `P06_TEST_DATABASE_URL`
    /// is unset.
    pub async fn start_on(backend: Backend) -> Option<TestStack> {
        Self::start_on_with(backend, p06_gateway::Config::default()).await
    }

    /// [`TestStack::start_on`] with gateway settings (limits, timeouts).
    pub async fn start_on_with(
        backend: Backend,
        gateway_config: p06_gateway::Config,
    ) -> Option<TestStack> {
        let dir = tempfile::tempdir().expect("temp dir");
        let databases = match backend {
            Backend::Sqlite => Databases::sqlite_in(dir.path()).expect("data dir"),
            Backend::Postgres => Databases {
                gateway: p06_kit::db::fresh_test_database("e2e_gateway").await?,
                localities: p06_kit::db::fresh_test_database("e2e_localities").await?,
                tasks: p06_kit::db::fresh_test_database("e2e_tasks").await?,
                notifications: p06_kit::db::fresh_test_database("e2e_notifications").await?,
            },
        };
        Some(
            Self::start_configured(
                dir,
                databases,
                Setup {
                    gateway: gateway_config,
                    ..Setup::new(Arc::new(p06_kit::SystemClock))
                },
            )
            .await,
        )
    }

    /// A stack set up in full: backend, clock, service settings and where
    /// notifications run. `None` for Postgres without
    /// `P06_TEST_DATABASE_URL`.
    pub async fn start_setup(backend: Backend, setup: Setup) -> Option<TestStack> {
        let dir = tempfile::tempdir().expect("temp dir");
        let databases = match backend {
            Backend::Sqlite => Databases::sqlite_in(dir.path()).expect("data dir"),
            Backend::Postgres => Databases {
                gateway: p06_kit::db::fresh_test_database("e2e_gateway").await?,
                localities: p06_kit::db::fresh_test_database("e2e_localities").await?,
                tasks: p06_kit::db::fresh_test_database("e2e_tasks").await?,
                notifications: p06_kit::db::fresh_test_database("e2e_notifications").await?,
            },
        };
        Some(Self::start_configured(dir, databases, setup).await)
    }

    /// A stack on the given databases (e.g. again on a previous stack's).
    pub async fn start_with(
        dir: tempfile::TempDir,
        databases: Databases,
        clock: SharedClock,
    ) -> TestStack {
        Self::start_configured(dir, databases, Setup::new(clock)).await
    }

    async fn start_configured(
        dir: tempfile::TempDir,
        databases: Databases,
        setup: Setup,
    ) -> TestStack {
        let notifications = match setup.external_notifications {
            Some(addr) => Notifications::External(addr),
            None => Notifications::InProcess(
                TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind notifications"),
            ),
        };
        let options = StackOptions {
            gateway: TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind gateway"),
            localities: TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind localities"),
            tasks: TcpListener::bind("127.0.0.1:0").await.expect("bind tasks"),
            notifications,
            databases: databases.clone(),
            clock: setup.clock,
            gateway_config: setup.gateway,
            localities_config: setup.localities,
            notifications_config: setup.notifications,
        };
        let stack = Stack::start(options, Shutdown::new())
            .await
            .expect("stack starts");
        let admin_key = stack.bootstrap_key.clone().unwrap_or_default();
        TestStack {
            stack: Some(stack),
            admin_key,
            dir,
            databases,
        }
    }

    /// The running stack.
    pub fn stack(&self) -> &Stack {
        self.stack.as_ref().expect("stack running")
    }

    /// The databases, to start another stack on the same data.
    pub fn databases(&self) -> Databases {
        self.databases.clone()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A channel to the gateway carrying `key` (none when `None`).
    pub async fn channel(&self, key: Option<&str>) -> GatewayChannel {
        let args = ClientArgs {
            gateway: self.stack().gateway_url(),
            key: key.map(str::to_string),
        };
        connect(&args).await.expect("gateway reachable")
    }

    /// A localities client through the gateway with `key`.
    pub async fn localities(&self, key: &str) -> LocalitiesClient<GatewayChannel> {
        LocalitiesClient::new(self.channel(Some(key)).await)
    }

    /// A notifications client through the gateway with `key`.
    pub async fn notifications(
        &self,
        key: &str,
    ) -> p06_proto::notifications::v1::notifications_client::NotificationsClient<GatewayChannel>
    {
        p06_proto::notifications::v1::notifications_client::NotificationsClient::new(
            self.channel(Some(key)).await,
        )
    }

    /// An Access client through the gateway with `key`.
    pub async fn access(&self, key: &str) -> AccessClient<GatewayChannel> {
        AccessClient::new(self.channel(Some(key)).await)
    }

    /// Creates a key for `unit` with `role` ("UNIT", …) and returns its secret.
    pub async fn key_for(&self, unit: &str, role: p06_proto::gateway::v1::Role) -> String {
        use p06_proto::gateway::v1 as g;
        let request = g::CreateApiKeyRequest {
            api_key: Some(g::ApiKey {
                unit: unit.into(),
                role: role as i32,
                display_name: format!("test {unit}"),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        self.access(&self.admin_key)
            .await
            .create_api_key(request)
            .await
            .expect("create key")
            .into_inner()
            .secret
    }

    /// Stops the stack and waits for every service.
    pub async fn stop(&mut self) {
        if let Some(stack) = self.stack.take() {
            stack.stop().await.expect("clean stop");
        }
    }
}

fn unreachable_sqlite() -> TestStack {
    panic!("the SQLite stack always starts")
}

impl Drop for TestStack {
    fn drop(&mut self) {
        if let Some(stack) = &self.stack {
            stack.shutdown().trigger();
        }
    }
}
