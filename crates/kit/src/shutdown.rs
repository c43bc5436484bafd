//! Graceful shutdown: one [`Shutdown`] token per process, cancelled on
//! SIGINT/SIGTERM (or by a test), that every server and background task
//! watches; servers then drain in-flight calls for a bounded time.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a server lets in-flight calls finish after shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A cloneable shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts shutdown everywhere this signal is watched.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once shutdown starts.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// A child signal: triggered with this one, or on its own.
    pub fn child(&self) -> Self {
        Self(self.0.child_token())
    }

    /// Triggers this signal on the first SIGINT (Ctrl-C) or SIGTERM.
    pub fn trigger_on_signals(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received, draining");
            this.trigger();
        });
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
