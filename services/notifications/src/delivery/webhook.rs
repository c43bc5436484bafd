//! Delivery of Standard Webhooks-signed HTTP POSTs.
//!
//! One [`WebhookSender`] holds one pooled HTTP client for the whole service,
//! so consecutive deliveries to an endpoint reuse kept-alive connections.
//! Before any network traffic a target's URL is checked: it must be `http`
//! or `https` and, when an allow-list is configured, name an allowed host.
//! Redirects are not followed, so an allowed endpoint cannot bounce a
//! delivery to a host outside the list.

use super::{Outcome, signing};
use chrono::{DateTime, Utc};
use reqwest::{StatusCode, Url, header::CONTENT_TYPE};
use std::time::{Duration, Instant};

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
    allowed_hosts: Vec<String>,
}

impl WebhookSender {
    /// A sender whose every request (connect, send, response) must finish
    /// within `timeout`, restricted to `allowed_hosts` (exact host names or
    /// `*.suffix` wildcards, case-insensitive; empty allows every host).
    pub fn new(timeout: Duration, allowed_hosts: Vec<String>) -> Result<Self, SenderError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("p06-notifications/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let allowed_hosts = allowed_hosts
            .iter()
            .map(|host| normalise_host(host))
            .collect();
        Ok(Self {
            client,
            timeout,
            allowed_hosts,
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
        let url = checked_url(&target.url, &self.allowed_hosts)?;
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
    /// carry credentials in its query).
    fn describe(&self, error: &reqwest::Error) -> String {
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

/// Checks that `url` may receive webhooks: an `http` or `https` URL with a
/// host and, when `allowed_hosts` is not empty, a host that equals an entry
/// or, for an entry `*.example.com`, is a subdomain of `example.com` (not
/// `example.com` itself). Host names compare case-insensitively. The error
/// says why the URL is refused.
pub fn validate_endpoint(url: &str, allowed_hosts: &[String]) -> Result<(), String> {
    let allowed: Vec<String> = allowed_hosts.iter().map(|h| normalise_host(h)).collect();
    checked_url(url, &allowed).map(drop)
}

/// The parsed URL when it passes [`validate_endpoint`]; `allowed` is
/// already normalised.
fn checked_url(url: &str, allowed: &[String]) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|error| format!("invalid endpoint url: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint scheme {:?} is not http or https",
            parsed.scheme()
        ));
    }
    let host = match parsed.host_str() {
        Some(host) if !host.is_empty() => normalise_host(host),
        _ => return Err("endpoint url has no host".into()),
    };
    if !allowed.is_empty() && !allowed.iter().any(|entry| host_matches(entry, &host)) {
        return Err(format!("endpoint host {host:?} is not in the allow-list"));
    }
    Ok(parsed)
}

/// Lower case, without surrounding blanks, IPv6 brackets or a trailing
/// root dot.
fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// `host` equals `entry`, or `entry` is `*.suffix` and `host` ends in `.suffix`.
fn host_matches(entry: &str, host: &str) -> bool {
    match entry.strip_prefix("*.") {
        Some(suffix) if !suffix.is_empty() => host
            .strip_suffix(suffix)
            .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
        _ => entry == host,
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

    fn hosts(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| entry.to_string()).collect()
    }

    #[test]
    fn any_http_or_https_host_passes_an_empty_list() {
        assert!(validate_endpoint("https://hooks.example.com/in", &[]).is_ok());
        assert!(validate_endpoint("http://127.0.0.1:8080/hook", &[]).is_ok());
        assert!(validate_endpoint("http://[::1]:8080/", &[]).is_ok());
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "unix:/run/socket",
            "not a url",
            "",
            "http://",
        ] {
            assert!(validate_endpoint(url, &[]).is_err(), "{url} passed");
        }
        let error = validate_endpoint("ftp://example.com/", &[]).unwrap_err();
        assert!(error.contains("scheme"), "{error}");
    }

    #[test]
    fn exact_entries_match_case_insensitively() {
        let allowed = hosts(&["Hooks.Example.com"]);
        assert!(validate_endpoint("https://hooks.example.com/x", &allowed).is_ok());
        assert!(validate_endpoint("https://HOOKS.EXAMPLE.COM/x", &allowed).is_ok());
        assert!(validate_endpoint("https://hooks.example.com./x", &allowed).is_ok());
        assert!(validate_endpoint("https://other.example.com/x", &allowed).is_err());
        assert!(validate_endpoint("https://hooks.example.com.evil.io/", &allowed).is_err());
        let error = validate_endpoint("https://evil.io/", &allowed).unwrap_err();
        assert!(error.contains("allow-list"), "{error}");
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let allowed = hosts(&["*.example.com"]);
        assert!(validate_endpoint("https://a.example.com/", &allowed).is_ok());
        assert!(validate_endpoint("https://a.b.EXAMPLE.com/", &allowed).is_ok());
        assert!(validate_endpoint("https://example.com/", &allowed).is_err());
        assert!(validate_endpoint("https://badexample.com/", &allowed).is_err());
        assert!(validate_endpoint("https://.example.com/", &allowed).is_err());
        assert!(validate_endpoint("https://a.example.com.evil.io/", &allowed).is_err());
    }

    #[test]
    fn user_info_does_not_fool_the_host_check() {
        let allowed = hosts(&["hooks.example.com"]);
        let url = "https://hooks.example.com@evil.io/";
        assert!(validate_endpoint(url, &allowed).is_err());
    }

    #[test]
    fn ip_literals_match_exact_entries() {
        let allowed = hosts(&["127.0.0.1", "[::1]", "::2"]);
        assert!(validate_endpoint("http://127.0.0.1:9000/", &allowed).is_ok());
        assert!(validate_endpoint("http://[::1]:9000/", &allowed).is_ok());
        assert!(validate_endpoint("http://[::2]:9000/", &allowed).is_ok());
        assert!(validate_endpoint("http://127.0.0.2:9000/", &allowed).is_err());
    }

    #[test]
    fn a_bare_star_allows_nothing_extra() {
        let allowed = hosts(&["*.", "*"]);
        assert!(validate_endpoint("https://example.com/", &allowed).is_err());
    }

    fn target(url: &str) -> WebhookTarget {
        WebhookTarget {
            url: url.into(),
            secrets: vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
        }
    }

    #[tokio::test]
    async fn refused_urls_fail_without_a_request() {
        let sender =
            WebhookSender::new(Duration::from_secs(1), hosts(&["hooks.example.com"])).unwrap();
        let outcome = sender
            .send(
                &target("https://evil.io/"),
                "msg_1",
                Utc::now(),
                b"{}".to_vec(),
            )
            .await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(outcome.error.contains("allow-list"), "{}", outcome.error);

        let outcome = sender
            .send(
                &target("ftp://hooks.example.com/"),
                "msg_1",
                Utc::now(),
                b"{}".to_vec(),
            )
            .await;
        assert!(!outcome.success);
        assert!(outcome.error.contains("scheme"), "{}", outcome.error);
    }

    #[tokio::test]
    async fn a_target_without_secrets_fails() {
        let sender = WebhookSender::new(Duration::from_secs(1), Vec::new()).unwrap();
        let mut target = target("http://127.0.0.1:9/");
        target.secrets.clear();
        let outcome = sender
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
        let sender = WebhookSender::new(Duration::from_secs(2), Vec::new()).unwrap();
        let url = format!("http://127.0.0.1:{port}/hook");
        let outcome = sender
            .send(&target(&url), "msg_1", Utc::now(), b"{}".to_vec())
            .await;
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
        let sender = WebhookSender::new(Duration::from_secs(1), Vec::new()).unwrap();
        let outcome = sender
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
