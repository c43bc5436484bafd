//! A real HTTP webhook receiver for end-to-end tests and benchmarks, and a
//! signature check with the Standard Webhooks reference verifier.
//!
//! [`WebhookReceiver::start`] serves HTTP/1.1 (keep-alive) on
//! `127.0.0.1:<free port>` and reports every request it gets, answered or
//! not, on an unbounded channel. How it answers is a [`Behaviour`] that can
//! be changed while it runs. The request path does no logging and holds no
//! lock, so loopback benchmarks measure the sender, not the receiver.
//!
//! [`verify`] deliberately uses the `standardwebhooks` crate (Svix's
//! reference implementation), not p06's own signing code, so a test that
//! passes shows p06 interoperates with an independent verifier.

use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::{JoinHandle, JoinSet},
};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer every request 200.
    Succeed,
    /// Answer the next `n` requests 500, then 200.
    FailFirst(u32),
    /// Answer every request 500.
    AlwaysFail,
    /// Never answer: the client waits until its own timeout.
    Hang,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedWebhook {
    /// The request headers as sent.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
    /// The `webhook-id` header (empty when absent or not text).
    pub id: String,
    /// The status answered, or 0 when the receiver hung.
    pub answered: u16,
}

/// A running webhook endpoint; stops (closing every connection) when dropped.
pub struct WebhookReceiver {
    /// Every request, in arrival order, reported before it is answered (so
    /// once a client has its answer the report is here). Unbounded: drain it
    /// in long benchmarks.
    pub requests: mpsc::UnboundedReceiver<ReceivedWebhook>,
    addr: SocketAddr,
    control: Arc<Control>,
    server: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Binds `127.0.0.1:0` and starts serving with `behaviour`.
    pub async fn start(behaviour: Behaviour) -> WebhookReceiver {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), behaviour)
            .await
            .expect("bind the webhook receiver")
    }

    /// Binds `addr` and starts serving with `behaviour` (the compose smoke
    /// run's receiver container listens on all interfaces).
    pub async fn start_on(
        addr: SocketAddr,
        behaviour: Behaviour,
    ) -> std::io::Result<WebhookReceiver> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let control = Arc::new(Control::default());
        control.set(behaviour);
        let (sink, requests) = mpsc::unbounded_channel();
        let context = Arc::new(Context {
            control: control.clone(),
            sink,
        });
        let server = tokio::spawn(accept_loop(listener, context));
        Ok(WebhookReceiver {
            requests,
            addr,
            control,
            server,
        })
    }

    /// The endpoint URL (`http://127.0.0.1:<port>/webhook`).
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how later requests are answered (`FailFirst(n)` restarts the
    /// count of failures at `n`).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.control.set(behaviour);
    }

    /// How many requests have arrived (answered or not).
    pub fn served(&self) -> u64 {
        self.control.served.load(Ordering::Relaxed)
    }

    /// The next reported request, waiting for it.
    pub async fn recv(&mut self) -> Option<ReceivedWebhook> {
        self.requests.recv().await
    }

    /// The next reported request, if one is already here.
    pub fn try_recv(&mut self) -> Option<ReceivedWebhook> {
        self.requests.try_recv().ok()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // connection, hanging ones included.
        self.server.abort();
    }
}

/// Checks `received` against `secret` (`whsec_…`) with the `standardwebhooks`
/// crate (any one `v1` signature over id, timestamp and body must match;
/// the timestamp must lie within five minutes of now) and returns the body
/// parsed as JSON.
pub fn verify(secret: &str, received: &ReceivedWebhook) -> Result<serde_json::Value, String> {
    let webhook = standardwebhooks::Webhook::new(secret)
        .map_err(|error| format!("unusable secret: {error}"))?;
    webhook
        .verify(&received.body, &received.headers)
        .map_err(|error| format!("verification failed: {error}"))?;
    serde_json::from_slice(&received.body).map_err(|error| format!("body is not json: {error}"))
}

const SUCCEED: u8 = 0;
const ALWAYS_FAIL: u8 = 1;
const HANG: u8 = 2;

/// The behaviour and counters, shared lock-free with the connections.
#[derive(Default)]
struct Control {
    mode: AtomicU8,
    failures_left: AtomicU32,
    served: AtomicU64,
}

impl Control {
    fn set(&self, behaviour: Behaviour) {
        let (mode, failures) = match behaviour {
            Behaviour::Succeed => (SUCCEED, 0),
            Behaviour::FailFirst(n) => (SUCCEED, n),
            Behaviour::AlwaysFail => (ALWAYS_FAIL, 0),
            Behaviour::Hang => (HANG, 0),
        };
        self.failures_left.store(failures, Ordering::SeqCst);
        self.mode.store(mode, Ordering::SeqCst);
    }

    /// The status to answer, or `None` to hang.
    fn decide(&self) -> Option<StatusCode> {
        match self.mode.load(Ordering::Acquire) {
            HANG => None,
            ALWAYS_FAIL => Some(StatusCode::INTERNAL_SERVER_ERROR),
            _ if self.take_failure() => Some(StatusCode::INTERNAL_SERVER_ERROR),
            _ => Some(StatusCode::OK),
        }
    }

    fn take_failure(&self) -> bool {
        self.failures_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

struct Context {
    control: Arc<Control>,
    sink: mpsc::UnboundedSender<ReceivedWebhook>,
}

async fn accept_loop(listener: TcpListener, context: Arc<Context>) {
    let mut connections = JoinSet::new();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                connections.spawn(serve_connection(stream, context.clone()));
            }
            // Out of descriptors or similar: back off briefly and go on.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_connection(stream: TcpStream, context: Arc<Context>) {
    // Small answers must not wait for Nagle's algorithm.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request| handle(context.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(
    context: Arc<Context>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    context.control.served.fetch_add(1, Ordering::Relaxed);
    let decision = context.control.decide();
    let id = parts
        .headers
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let _ = context.sink.send(ReceivedWebhook {
        headers: parts.headers,
        body: body.into(),
        id,
        answered: decision.map_or(0, |status| status.as_u16()),
    });
    match decision {
        Some(status) => Ok(empty_response(status)),
        None => std::future::pending().await,
    }
}

fn empty_response(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use p06_notifications::delivery::webhook::{WebhookSender, WebhookTarget};

    const OLD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NEW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const UNRELATED_SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
    const BODY: &[u8] = br#"{"type":"reminder.due","data":{"assignment":"a1"}}"#;

    fn sender(timeout: Duration) -> WebhookSender {
        let policy = p06_kit::egress::Policy::new(
            &["127.0.0.1"],
            true,
            p06_notifications::ALLOW_PRIVATE_NETWORKS_VAR,
        );
        WebhookSender::new(timeout, policy).unwrap()
    }

    fn target(receiver: &WebhookReceiver) -> WebhookTarget {
        WebhookTarget {
            url: receiver.url(),
            secrets: vec![OLD_SECRET.into(), NEW_SECRET.into()],
        }
    }

    async fn next(receiver: &mut WebhookReceiver) -> ReceivedWebhook {
        tokio::time::timeout(Duration::from_secs(5), receiver.recv())
            .await
            .expect("a request within 5 s")
            .expect("receiver running")
    }

    #[tokio::test]
    async fn deliveries_verify_with_either_rotated_secret() {
        let mut receiver = WebhookReceiver::start(Behaviour::Succeed).await;
        let sender = sender(Duration::from_secs(5));
        let outcome = sender
            .send(&target(&receiver), "msg_e2e_1", Utc::now(), BODY.to_vec())
            .await;
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.response_code, Some(200));
        assert!(outcome.error.is_empty());

        let received = next(&mut receiver).await;
        assert_eq!(received.id, "msg_e2e_1");
        assert_eq!(received.answered, 200);
        assert_eq!(received.body, BODY.to_vec());
        assert_eq!(received.headers["content-type"], "application/json");
        let payload = verify(OLD_SECRET, &received).unwrap();
        assert_eq!(payload["type"], "reminder.due");
        verify(NEW_SECRET, &received).unwrap();
        assert!(verify(UNRELATED_SECRET, &received).is_err());

        let mut tampered = received.clone();
        tampered.body = br#"{"type":"reminder.due","data":{"assignment":"a2"}}"#.to_vec();
        assert!(verify(OLD_SECRET, &tampered).is_err());
        assert!(verify(NEW_SECRET, &tampered).is_err());

        let mut truncated = received.clone();
        truncated
            .headers
            .insert("webhook-signature", "v1,".parse().unwrap());
        assert!(verify(OLD_SECRET, &truncated).is_err());
        assert_eq!(receiver.served(), 1);
    }

    #[tokio::test]
    async fn fail_first_three_answers_500_three_times_then_200() {
        let mut receiver = WebhookReceiver::start(Behaviour::FailFirst(3)).await;
        let sender = sender(Duration::from_secs(5));
        let target = target(&receiver);
        let mut codes = Vec::new();
        for attempt in 0..4 {
            let outcome = sender
                .send(
                    &target,
                    &format!("msg_{attempt}"),
                    Utc::now(),
                    BODY.to_vec(),
                )
                .await;
            assert_eq!(outcome.success, attempt == 3, "{outcome:?}");
            codes.push(outcome.response_code);
        }
        assert_eq!(codes, [Some(500), Some(500), Some(500), Some(200)]);
        let mut answered = Vec::new();
        for _ in 0..4 {
            answered.push(next(&mut receiver).await.answered);
        }
        assert_eq!(answered, [500, 500, 500, 200]);
        assert_eq!(receiver.served(), 4);
    }

    #[tokio::test]
    async fn behaviour_changes_while_running() {
        let mut receiver = WebhookReceiver::start(Behaviour::AlwaysFail).await;
        let sender = sender(Duration::from_millis(300));
        let target = target(&receiver);

        let outcome = sender
            .send(&target, "msg_a", Utc::now(), BODY.to_vec())
            .await;
        assert_eq!(outcome.response_code, Some(500));
        assert!(outcome.error.contains("500"), "{}", outcome.error);

        receiver.set_behaviour(Behaviour::Hang);
        let outcome = sender
            .send(&target, "msg_b", Utc::now(), BODY.to_vec())
            .await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(outcome.error.contains("timed out"), "{}", outcome.error);

        receiver.set_behaviour(Behaviour::Succeed);
        let outcome = sender
            .send(&target, "msg_c", Utc::now(), BODY.to_vec())
            .await;
        assert!(outcome.success, "{outcome:?}");

        let answered: Vec<(String, u16)> = [
            next(&mut receiver).await,
            next(&mut receiver).await,
            next(&mut receiver).await,
        ]
        .into_iter()
        .map(|received| (received.id, received.answered))
        .collect();
        assert_eq!(
            answered,
            [
                ("msg_a".to_string(), 500),
                ("msg_b".to_string(), 0),
                ("msg_c".to_string(), 200)
            ]
        );
        assert_eq!(receiver.served(), 3);
    }

    #[tokio::test]
    async fn concurrent_deliveries_are_all_reported() {
        let mut receiver = WebhookReceiver::start(Behaviour::Succeed).await;
        let sender = sender(Duration::from_secs(5));
        let target = target(&receiver);
        let sends = (0..200).map(|n| {
            let (sender, target) = (&sender, &target);
            async move {
                sender
                    .send(target, &format!("msg_{n}"), Utc::now(), BODY.to_vec())
                    .await
            }
        });
        let outcomes = futures::future::join_all(sends).await;
        assert!(outcomes.iter().all(|outcome| outcome.success));
        let mut ids = std::collections::HashSet::new();
        while let Some(received) = receiver.try_recv() {
            ids.insert(received.id);
        }
        assert_eq!(ids.len(), 200);
        assert_eq!(receiver.served(), 200);
    }
}
