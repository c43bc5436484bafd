//! E-mail delivery over SMTP (lettre on tokio): the `[smtp]` settings, and
//! a sender that turns one notification into one plain-text UTF-8 message
//! whose `Message-ID` is stable per notification, so that a receiver can
//! drop the duplicates a retry may produce.

use super::Outcome;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    time::{Duration, Instant},
};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text throughout (a trusted local relay, tests).
    None,
    /// Plain text upgraded with `STARTTLS`, which the server must offer.
    #[default]
    Starttls,
    /// TLS from the first byte ("implicit TLS", SMTPS).
    Tls,
}

impl SmtpTls {
    /// The customary port: 25 for none, 587 for STARTTLS, 465 for TLS.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// The `[smtp]` settings; an empty `host` turns e-mail off.
#[derive(Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SmtpConfig {
    /// The relay's host name or address; empty means e-mail is off.
    pub host: String,
    /// The relay's port; 0 picks [`SmtpTls::default_port`].
    pub port: u16,
    /// How the connection is secured (`none`, `starttls`, `tls`).
    pub tls: SmtpTls,
    /// The login; empty means no authentication.
    pub username: String,
    /// The password for `username`.
    pub password: String,
    /// The sender, e.g. `p06 <noreply@p06.gov.vn>`.
    pub from: String,
    /// The connect and per-command timeout in seconds; 0 means 10.
    pub timeout_secs: u64,
}

impl SmtpConfig {
    /// Whether e-mail is configured at all.
    pub fn enabled(&self) -> bool {
        !self.host.trim().is_empty()
    }

    /// The port to connect to, with 0 resolved from `tls`.
    pub fn effective_port(&self) -> u16 {
        match self.port {
            0 => self.tls.default_port(),
            port => port,
        }
    }

    /// The connect and per-command timeout, with 0 resolved to 10 s.
    pub fn timeout(&self) -> Duration {
        match self.timeout_secs {
            0 => Duration::from_secs(10),
            secs => Duration::from_secs(secs),
        }
    }
}

/// Keeps the password out of logs.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = if self.password.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &password)
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// Why an [`EmailSender`] could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// `host` is empty: e-mail is off.
    #[error("smtp `host` is empty: e-mail is off")]
    Disabled,
    /// `from` is not a mailbox such as `p06 <noreply@p06.gov.vn>`.
    #[error("smtp `from` {value:?} is not a mailbox: {reason}")]
    InvalidFrom {
        /// The configured value.
        value: String,
        /// What the parser objected to.
        reason: String,
    },
    /// The TLS settings for `host` could not be built.
    #[error("smtp tls for `host` {host:?}: {reason}")]
    Tls {
        /// The configured host.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// Sends notifications as e-mail through one SMTP relay.
///
/// Connections are reused when lettre's `pool` feature is on; with it, the
/// sender must be built inside a tokio runtime (the pool spawns a task).
#[derive(Clone)]
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("host", &self.host)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// A failed attempt: the server's reply code when it gave one, and why.
struct Failure {
    code: Option<u16>,
    error: String,
}

impl Failure {
    fn local(error: String) -> Self {
        Failure { code: None, error }
    }
}

impl EmailSender {
    /// A sender for `config`; fails when e-mail is off, `from` is not a
    /// mailbox, or the TLS settings cannot be built.
    pub fn new(config: &SmtpConfig) -> Result<Self, EmailError> {
        if !config.enabled() {
            return Err(EmailError::Disabled);
        }
        let from = config
            .from
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| EmailError::InvalidFrom {
                value: config.from.clone(),
                reason: e.to_string(),
            })?;
        let host = config.host.trim().to_owned();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(config.effective_port())
            .tls(tls_for(config.tls, &host)?)
            .timeout(Some(config.timeout()));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Ok(EmailSender {
            transport: builder.build(),
            from,
            host,
        })
    }

    /// Sends `text` under `subject` to every address in `to`, as one
    /// message whose `Message-ID` is derived from `message_id`.
    ///
    /// Succeeds when the relay accepts the message; never panics on bad
    /// input: an invalid recipient makes a failed [`Outcome`].
    pub async fn send(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
        message_id: &str,
    ) -> Outcome {
        let started = Instant::now();
        tracing::Span::current().record("server.address", self.host.to_string().as_str());
        let result = self.deliver(to, subject, text, message_id).await;
        let latency = started.elapsed();
        match result {
            Ok(code) => {
                tracing::debug!(host = %self.host, recipients = to.len(), code, latency_ms = latency.as_millis() as u64, "email accepted");
                Outcome {
                    success: true,
                    response_code: Some(code),
                    error: String::new(),
                    latency,
                }
            }
            Err(failure) => {
                tracing::debug!(host = %self.host, recipients = to.len(), code = ?failure.code, error = %failure.error, "email not delivered");
                Outcome {
                    success: false,
                    response_code: failure.code,
                    error: failure.error,
                    latency,
                }
            }
        }
    }

    async fn deliver(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
        message_id: &str,
    ) -> Result<u16, Failure> {
        let message =
            build_message(&self.from, to, subject, text, message_id).map_err(Failure::local)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(u16::from(response.code())),
            Err(e) => Err(Failure {
                code: e.status().map(u16::from),
                error: e.to_string(),
            }),
        }
    }
}

fn tls_for(tls: SmtpTls, host: &str) -> Result<Tls, EmailError> {
    let parameters = || {
        TlsParameters::new(host.to_owned()).map_err(|e| EmailError::Tls {
            host: host.to_owned(),
            reason: e.to_string(),
        })
    };
    Ok(match tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(parameters()?),
        SmtpTls::Tls => Tls::Wrapper(parameters()?),
    })
}

/// One plain-text UTF-8 message; an error names what was wrong.
fn build_message(
    from: &Mailbox,
    to: &[String],
    subject: &str,
    text: &str,
    message_id: &str,
) -> Result<Message, String> {
    if to.is_empty() {
        return Err("no recipients".into());
    }
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(one_line(subject))
        .message_id(Some(message_id_header(message_id)))
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        builder = builder.to(parse_recipient(address)?);
    }
    builder
        .body(text.to_owned())
        .map_err(|e| format!("cannot build the message: {e}"))
}

fn parse_recipient(address: &str) -> Result<Mailbox, String> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("invalid recipient address {address:?}: {e}"))
}

/// `<{id}@p06>`, with every character that may not appear in the left part
/// of a msg-id (RFC 5322 §3.6.4) turned into `-`, so the same id always
/// gives the same header.
fn message_id_header(message_id: &str) -> String {
    let left: String = message_id
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let left = if left.is_empty() { "none" } else { &left };
    format!("<{left}@p06>")
}

/// The subject on one line: control characters (CR, LF, …) become spaces.
fn one_line(subject: &str) -> String {
    subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(port: u16) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            from: "p06 <noreply@p06.gov.vn>".into(),
            timeout_secs: 2,
            ..SmtpConfig::default()
        }
    }

    fn from() -> Mailbox {
        "p06 <noreply@p06.gov.vn>".parse().expect("mailbox")
    }

    #[test]
    fn defaults_resolve_port_and_timeout() {
        let mut c = SmtpConfig::default();
        assert!(!c.enabled());
        assert_eq!(c.tls, SmtpTls::Starttls);
        assert_eq!(c.effective_port(), 587);
        assert_eq!(c.timeout(), Duration::from_secs(10));
        c.tls = SmtpTls::Tls;
        assert_eq!(c.effective_port(), 465);
        c.tls = SmtpTls::None;
        assert_eq!(c.effective_port(), 25);
        c.port = 2525;
        c.timeout_secs = 3;
        assert_eq!(c.effective_port(), 2525);
        assert_eq!(c.timeout(), Duration::from_secs(3));
        c.host = "  ".into();
        assert!(!c.enabled());
        c.host = "smtp.p06.gov.vn".into();
        assert!(c.enabled());
    }

    #[test]
    fn config_reads_lowercase_tls_and_fills_defaults() {
        let c: SmtpConfig =
            serde_json::from_str(r#"{"host":"mx","tls":"tls","from":"a@b.vn"}"#).expect("json");
        assert_eq!(c.tls, SmtpTls::Tls);
        assert_eq!(c.port, 0);
        assert_eq!(c.timeout_secs, 0);
        for (text, tls) in [("none", SmtpTls::None), ("starttls", SmtpTls::Starttls)] {
            let c: SmtpConfig =
                serde_json::from_str(&format!(r#"{{"tls":"{text}"}}"#)).expect("json");
            assert_eq!(c.tls, tls);
        }
        assert!(serde_json::from_str::<SmtpConfig>(r#"{"tls":"ssl"}"#).is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let c = SmtpConfig {
            password: "hunter2".into(),
            ..config(25)
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    /// In a runtime: with lettre's `pool` feature, building spawns a task.
    #[tokio::test]
    async fn new_names_the_bad_field() {
        let bad_from = SmtpConfig {
            from: "not an address".into(),
            ..config(25)
        };
        let error = EmailSender::new(&bad_from).expect_err("bad from");
        assert!(matches!(error, EmailError::InvalidFrom { .. }));
        assert!(error.to_string().contains("`from`"), "{error}");
        let off = SmtpConfig {
            host: String::new(),
            ..config(25)
        };
        assert!(matches!(EmailSender::new(&off), Err(EmailError::Disabled)));
        for tls in [SmtpTls::Starttls, SmtpTls::Tls] {
            let c = SmtpConfig { tls, ..config(0) };
            assert!(EmailSender::new(&c).is_ok(), "{tls:?}");
        }
    }

    #[test]
    fn message_is_plain_utf8_with_a_stable_message_id() {
        let message = build_message(
            &from(),
            &["to@example.vn".into(), "Cán bộ <b@example.vn>".into()],
            "Nhắc hạn",
            "Nhắc hạn: nhiệm vụ X còn 2 ngày làm việc",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        )
        .expect("message");
        let raw = String::from_utf8(message.formatted()).expect("ascii on the wire");
        assert!(
            raw.contains("Message-ID: <0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@p06>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
        assert_eq!(message.envelope().to().len(), 2);
    }

    #[test]
    fn message_id_and_subject_are_sanitised() {
        assert_eq!(message_id_header("a b<c>@d.e"), "<a-b-c--d-e@p06>");
        assert_eq!(message_id_header(""), "<none@p06>");
        assert_eq!(one_line("a\r\nBcc: x@y.z"), "a  Bcc: x@y.z");
    }

    #[test]
    fn bad_recipients_are_errors_not_panics() {
        let error = build_message(&from(), &["nobody".into()], "s", "t", "id")
            .expect_err("invalid recipient");
        assert!(
            error.contains("invalid recipient address \"nobody\""),
            "{error}"
        );
        let error = build_message(&from(), &[], "s", "t", "id").expect_err("no recipients");
        assert_eq!(error, "no recipients");
    }

    #[tokio::test]
    async fn invalid_recipient_is_a_failed_outcome() {
        let sender = EmailSender::new(&config(1)).expect("sender");
        let outcome = sender.send(&["@@".into()], "s", "t", "id").await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(
            outcome.error.contains("invalid recipient"),
            "{}",
            outcome.error
        );
    }

    #[tokio::test]
    async fn unreachable_relay_is_a_failed_outcome() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let sender = EmailSender::new(&config(port)).expect("sender");
        let outcome = sender.send(&["a@b.vn".into()], "s", "t", "id").await;
        assert!(!outcome.success);
        assert_eq!(outcome.response_code, None);
        assert!(!outcome.error.is_empty());
    }
}
