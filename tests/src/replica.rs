//! A notifications replica run the way a separate process would be: on its
//! own runtime and thread, so [`Replica::kill`] stops everything it was
//! doing at once (no graceful shutdown, no final writes), like `kill -9`.

use p06_kit::{Shutdown, clock::SharedClock};
use std::{net::SocketAddr, thread::JoinHandle};
use tokio::sync::oneshot;

/// A running replica.
pub struct Replica {
    addr: SocketAddr,
    kill: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Replica {
    /// Starts a replica with `config` on `addr` (port 0 for any).
    pub fn start(
        config: p06_notifications::Config,
        addr: SocketAddr,
        clock: SharedClock,
    ) -> Replica {
        let (kill, killed) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("replica")
                .enable_all()
                .build()
                .expect("replica runtime");
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .expect("bind replica");
            ready_tx
                .send(listener.local_addr().expect("replica addr"))
                .expect("report address");
            runtime.spawn(async move {
                if let Err(e) =
                    p06_notifications::serve_with_clock(config, listener, Shutdown::new(), clock)
                        .await
                {
                    eprintln!("notifications replica failed: {e}");
                }
            });
            let _ = runtime.block_on(killed);
            // Every task is dropped where it stands; waiting for the worker
            // threads to finish dropping them closes the listener, so a
            // replica started next on the same address can bind it.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        });
        let addr = ready_rx.recv().expect("replica started");
        Replica {
            addr,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it abruptly: every task is dropped where it stands.
    pub fn kill(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.stop_now();
    }
}
