//! Delivery of Standard Webhooks-signed HTTP POSTs.
//!
//! One [`WebhookSender`] holds one pooled HTTP client for the whole service,
//! so consecutive deliveries to an endpoint reuse kept-alive connections.
//! Every destination passes the egress policy ([`p06_kit::egress`]) before
//! any network traffic: the URL must be `http` or `https`, name a host the
//! allow-list admits, and, when it is an IP literal, a permitted address;
//! a host name is resolved by [`GuardedResolver`], which hands the client
//! only permitted addresses, so the connection goes to a vetted address.
//! Redirects are not followed, so an allowed endpoint cannot bounce a
//! delivery elsewhere, and proxy variables (`HTTPS_PROXY`, …) are ignored,
//! so the policy always sees the real destination. A refusal is an
//! ordinary failed attempt whose error says why and which setting would
//! allow it; it touches no network.

use super::{Outcome, resolver::GuardedResolver, signing};
use chrono::{DateTime, Utc};
use p06_kit::egress::{Policy, Refusal};
use reqwest::{StatusCode, Url, header::CONTENT_TYPE};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Idle kept-alive connections held per endpoint host: at least as many
/// as the dispatcher may have in flight, so a busy endpoint's connections
/// are reused rather than closed and opened again.
pub const POOL_MAX_IDLE_PER_HOST: usize = 1024;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// TCP keep-alive probe interval on pooled connections.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// At most this much of a response body is read (and discarded) so the
/// connection can go back to the pool.
const MAX_RESPONSE_DRAIN: usize = 64 * 1024;

/// Where a webhook goes and the secrets it is signed with (several while a
/// secret is being rotated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The endpoint, an `http` or `https` URL.
    pub url: String,
    /// Standard Webhooks secrets (`whsec_…`); one signature per secret.
    pub secrets: Vec<String>,
}

/// The sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The HTTP client (TLS roots, resolver) failed to initialise.
    #[error("the webhook http client cannot be built: {0}")]
    Client(#[from] reqwest::Error),
}

/// Posts signed webhooks over one pooled HTTP client; cheap to share by
/// reference across tasks.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    timeout: Duration,
    policy: Arc<Policy>,
}

impl WebhookSender {
    /// A sender whose every request (connect, send, response) must finish
    /// within `timeout`, sending only where `policy` allows.
    pub fn new(timeout: Duration, policy: Policy) -> Result<Self, SenderError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::new(policy.clone())))
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("p06-notifications/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            timeout,
            policy,
        })
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Posts `body` (JSON) to `target`, signed with all its secrets, and
    /// reports how it went; success is an HTTP 2xx answer. Never panics;
    /// a refused URL or secret fails without touching the network.
    pub async fn send(
        &self,
        target: &WebhookTarget,
        msg_id: &str,
        timestamp: DateTime<Utc>,
        body: Vec<u8>,
    ) -> Outcome {
        let started = Instant::now();
        match self.prepare(target, msg_id, timestamp, body) {
            Ok(request) => self.post(request, started).await,
            Err(error) => failure(None, error, started),
        }
    }

    /// The signed request, or why it must not be sent.
    fn prepare(
        &self,
        target: &WebhookTarget,
        msg_id: &str,
        timestamp: DateTime<Utc>,
        body: Vec<u8>,
    ) -> Result<reqwest::RequestBuilder, String> {
        let url = self
            .policy
            .check_url(&target.url)
            .map_err(|refusal| refusal.to_string())?;
        let span = tracing::Span::current();
        span.record("http.request.method", "POST");
        span.record("url.full", redacted(&url).as_str());
        span.record("server.address", url.host_str().unwrap_or_default());
        // The receiver may continue the delivery's trace.
        let mut trace = reqwest::header::HeaderMap::new();
        p06_kit::trace_context::inject(&mut trace);
        let seconds = timestamp.timestamp();
        let signature = signing::signature_header(&target.secrets, msg_id, seconds, &body)
            .map_err(|error| error.to_string())?;
        Ok(self
            .client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", seconds.to_string())
            .header("webhook-signature", signature)
            .headers(trace)
            .body(body))
    }

    async fn post(&self, request: reqwest::RequestBuilder, started: Instant) -> Outcome {
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                drain(response).await;
                answered(status, started)
            }
            Err(error) => failure(None, self.describe(&error), started),
        }
    }

    /// A one-line description of a transport error, without the URL (it may
    /// carry credentials in its query); a resolved address the policy
    /// refused is reported as the refusal itself.
    fn describe(&self, error: &reqwest::Error) -> String {
        if let Some(refusal) = refusal_in(error) {
            return refusal.to_string();
        }
        if error.is_timeout() {
            return format!("timed out after {} ms", self.timeout.as_millis());
        }
        let kind = if error.is_connect() {
            "connection failed"
        } else if error.is_builder() {
            "invalid request"
        } else {
            "request failed"
        };
        format!("{kind}: {}", root_cause(error))
    }
}

/// `url` as spans may show it: scheme, host and port only. The user,
/// password, query and even the path (many hooks carry their token there)
/// may hold a secret.
fn redacted(url: &Url) -> String {
    let origin = url.origin().ascii_serialization();
    if url.path() == "/" && url.query().is_none() {
        format!("{origin}/")
    } else {
        format!("{origin}/REDACTED")
    }
}

/// Reads and discards a bounded amount of the response body, so a small
/// answer leaves its connection reusable; errors only cost the connection.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0usize;
    while let Ok(Some(chunk)) = response.chunk().await {
        read = read.saturating_add(chunk.len());
        if read > MAX_RESPONSE_DRAIN {
            break;
        }
    }
}

fn answered(status: StatusCode, started: Instant) -> Outcome {
    if status.is_success() {
        return Outcome {
            success: true,
            response_code: Some(status.as_u16()),
            error: String::new(),
            latency: started.elapsed(),
        };
    }
    failure(
        Some(status.as_u16()),
        format!("endpoint answered http {status}"),
        started,
    )
}

fn failure(response_code: Option<u16>, error: String, started: Instant) -> Outcome {
    Outcome {
        success: false,
        response_code,
        error,
        latency: started.elapsed(),
    }
}

/// The egress refusal somewhere in `error`'s chain (the resolver's).
fn refusal_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        current = e.source();
    }
    None
}

/// The innermost error's message (e.g. "Connection refused (os error 111)").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    const OPT_IN: &str = "P06_NOTIFICATIONS__WEBHOOK_ALLOW_PRIVATE_NETWORKS";

    fn sender_with(hosts: &[&str], private_networks: bool) -> WebhookSender {
        let policy = Policy::new(hosts, private_networks, OPT_IN);
        WebhookSender::new(Duration::from_secs(2), policy).unwrap()
    }

    /// A sender that may reach loopback (the tests' endpoints).
    fn loopback_sender() -> WebhookSender {
        sender_with(&[], true)
    }

    fn target(url: &str) -> WebhookTarget {
        WebhookTarget {
            url: url.into(),
            secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        }
    }

    async fn send(sender: &WebhookSender, url: &str) -> Outcome {
        sender
            .send(&target(url), "msg_1", Utc::now(), b"{}".to_vec())
            .await
    }

    /// A loopback listener nobody accepts on: whether a connection was
    /// made shows in its backlog.
    fn silent_listener() -> std::net::TcpListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        listener
    }

    fn was_connected(listener: &std::net::TcpListener) -> bool {
        listener.accept().is_ok()
    }

    #[tokio::test]
    async fn refused_urls_fail_without_a_request() {
        let sender = sender_with(&["hooks.example.com"], false);
        let outcome = send(&sender, "https://evil.io/").await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(outcome.error.contains("allow-list"), "{}", outcome.error);

        let outcome = send(&sender, "ftp://hooks.example.com/").await;
        assert!(!outcome.success);
        assert!(outcome.error.contains("scheme"), "{}", outcome.error);
    }

    #[tokio::test]
    async fn a_loopback_literal_is_refused_before_any_connection() {
        let listener = silent_listener();
        let port = listener.local_addr().unwrap().port();
        for url in [
            format!("http://127.0.0.1:{port}/hook"),
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            format!("http://2130706433:{port}/hook"),
        ] {
            let outcome = send(&sender_with(&[], false), &url).await;
            assert!(!outcome.success);
            assert_eq!(outcome.response_code, None);
            assert!(
                outcome.error.starts_with("webhook address ")
                    && outcome.error.ends_with(&format!(
                        " is loopback; set {OPT_IN}=true to allow private networks"
                    )),
                "{url}: {}",
                outcome.error
            );
        }
        assert!(!was_connected(&listener), "no connection was made");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
        let listener = silent_listener();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/hook");
        let outcome = send(&sender_with(&[], false), &url).await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(
            outcome
                .error
                .starts_with("webhook host \"localhost\" resolves to")
                && outcome.error.contains("loopback")
                && outcome.error.contains(OPT_IN),
            "{}",
            outcome.error
        );
        assert!(!was_connected(&listener), "no connection was made");
    }

    #[tokio::test]
    async fn with_the_opt_in_a_loopback_name_is_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = vec![0; 4096];
            let _ = stream.read(&mut buffer).unwrap();
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        let outcome = send(&loopback_sender(), &format!("http://localhost:{port}/hook")).await;
        assert!(outcome.success, "{outcome:?}");
        assert_eq!(outcome.response_code, Some(204));
        server.join().unwrap();
    }

    #[tokio::test]
    async fn a_target_without_secrets_fails() {
        let mut target = target("http://127.0.0.1:9/");
        target.secrets.clear();
        let outcome = loopback_sender()
            .send(&target, "msg_1", Utc::now(), b"{}".to_vec())
            .await;
        assert!(!outcome.success);
        assert!(outcome.error.contains("secret"), "{}", outcome.error);
    }

    #[tokio::test]
    async fn a_refused_connection_is_described() {
        // Bind then drop a listener so the port is very likely closed.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/hook");
        let outcome = send(&loopback_sender(), &url).await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(
            outcome.error.starts_with("connection failed"),
            "{}",
            outcome.error
        );
        assert!(!outcome.error.contains(&url), "{}", outcome.error);
    }

    #[tokio::test]
    async fn an_invalid_message_id_fails_cleanly() {
        let outcome = loopback_sender()
            .send(
                &target("http://127.0.0.1:9/"),
                "bad\nid",
                Utc::now(),
                b"{}".to_vec(),
            )
            .await;
        assert!(!outcome.success);
        assert!(!outcome.error.is_empty());
    }
}
