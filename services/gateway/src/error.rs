//! The gateway's one error type, and its mapping to `tonic::Status` (with
//! `google.rpc` details) in one place.

use p06_kit::errors::{invalid_argument, retryable, with_reason};
use std::time::Duration;
use tonic::{Code, Status};

/// How long a shed caller is asked to wait before it retries.
pub const RETRY_AFTER_SHED: Duration = Duration::from_millis(200);

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The caller presented no usable API key.
    #[error("{0}")]
    Unauthenticated(String),
    /// A request field is invalid.
    #[error("invalid {field}: {description}")]
    InvalidArgument {
        /// The offending field ("api_key.unit").
        field: String,
        /// What is wrong with it.
        description: String,
    },
    /// The named resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller's key made too many requests.
    #[error("rate limit exceeded for {key}: {per_second} requests/s")]
    RateLimited {
        /// "apiKeys/…".
        key: String,
        /// The sustained rate allowed.
        per_second: u32,
    },
    /// Too many calls in flight in the gateway.
    #[error("gateway overloaded: {limit} calls already in flight, retry later")]
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
    /// One API key or unit has its share of calls in flight.
    #[error("this {what} has {limit} calls in flight already; retry when one has finished")]
    Busy {
        /// "API key" or "unit".
        what: &'static str,
        /// The configured share.
        limit: usize,
    },
    /// The call did not produce a response in time.
    #[error("deadline exceeded after {} ms", .0.as_millis())]
    DeadlineExceeded(Duration),
    /// No service behind the gateway has this name.
    #[error(
        "unknown service for method {0}: the gateway routes p06.gateway, p06.localities, p06.tasks and p06.notifications"
    )]
    UnknownService(String),
    /// The service exists but this gateway has no address for it.
    #[error("{service} is not routed by this gateway: {setting} is not configured")]
    NotRouted {
        /// The package prefix ("p06.tasks").
        service: &'static str,
        /// The configuration setting that would route it.
        setting: &'static str,
    },
    /// The upstream service could not be reached.
    #[error("upstream {service} unavailable: {detail}")]
    Upstream {
        /// The package prefix ("p06.localities").
        service: &'static str,
        /// The transport failure with its causes.
        detail: String,
    },
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] sqlx::Error),
    /// The database could not be opened.
    #[error(transparent)]
    Database(#[from] p06_kit::db::DbError),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The reflection service could not be built.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The server failed.
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A status already built with its details (page tokens, roles).
    #[error("{}", .0.message())]
    Status(#[from] Status),
}

impl GatewayError {
    /// UNAVAILABLE for `service`, describing `error` and its causes.
    pub fn upstream(service: &'static str, error: &dyn std::error::Error) -> Self {
        let mut detail = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        GatewayError::Upstream { service, detail }
    }

    /// INVALID_ARGUMENT on `field`.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        GatewayError::InvalidArgument {
            field: field.to_string(),
            description: description.into(),
        }
    }

    /// UNAUTHENTICATED with `message`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        GatewayError::Unauthenticated(message.into())
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        let message = error.to_string();
        match error {
            GatewayError::Unauthenticated(_) => Status::unauthenticated(message),
            GatewayError::InvalidArgument { field, description } => {
                invalid_argument(&field, description)
            }
            GatewayError::NotFound(_) => Status::not_found(message),
            // Each refusal a client should retry says how long to wait.
            GatewayError::RateLimited { key, per_second } => retryable(
                Code::ResourceExhausted,
                "RATE_LIMITED",
                message,
                &[("api_key", key.as_str())],
                Duration::from_millis(1000 / u64::from(per_second.max(1))),
            ),
            GatewayError::Overloaded { .. } => retryable(
                Code::ResourceExhausted,
                "OVERLOADED",
                message,
                &[],
                RETRY_AFTER_SHED,
            ),
            GatewayError::Busy { what, .. } => retryable(
                Code::ResourceExhausted,
                "TOO_MANY_IN_FLIGHT",
                message,
                &[("per", what)],
                RETRY_AFTER_SHED,
            ),
            GatewayError::Status(status) => status,
            GatewayError::DeadlineExceeded(_) => Status::deadline_exceeded(message),
            GatewayError::UnknownService(_) => Status::unimplemented(message),
            GatewayError::NotRouted { service, setting } => with_reason(
                Code::Unavailable,
                "SERVICE_NOT_ROUTED",
                message,
                &[("service", service), ("setting", setting)],
            ),
            GatewayError::Upstream { service, .. } => {
                tracing::warn!(service, error = %message, "upstream call failed");
                with_reason(
                    Code::Unavailable,
                    "UPSTREAM_UNAVAILABLE",
                    message,
                    &[("service", service)],
                )
            }
            GatewayError::Storage(e) if p06_kit::sql::is_transient(&e) => {
                p06_kit::errors::storage_unavailable("gateway", &message)
            }
            GatewayError::Storage(_)
            | GatewayError::Database(_)
            | GatewayError::Migrate(_)
            | GatewayError::Config(_)
            | GatewayError::Reflection(_)
            | GatewayError::Transport(_) => {
                tracing::error!(error = %message, "internal error");
                Status::internal("internal error in the gateway; see its logs")
            }
        }
    }
}

impl GatewayError {
    /// The error as a complete gRPC response (trailers-only).
    pub fn into_response(self) -> http::Response<tonic::body::Body> {
        Status::from(self).into_http()
    }
}

#[cfg(test)]
pub(crate) fn bad_field(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (
                GatewayError::unauthenticated("missing bearer token"),
                Code::Unauthenticated,
            ),
            (
                GatewayError::invalid("api_key.role", "must be set"),
                Code::InvalidArgument,
            ),
            (GatewayError::NotFound("apiKeys/x".into()), Code::NotFound),
            (
                GatewayError::RateLimited {
                    key: "apiKeys/x".into(),
                    per_second: 5,
                },
                Code::ResourceExhausted,
            ),
            (
                GatewayError::Overloaded { limit: 1 },
                Code::ResourceExhausted,
            ),
            (
                GatewayError::DeadlineExceeded(Duration::from_millis(5)),
                Code::DeadlineExceeded,
            ),
            (
                GatewayError::UnknownService("/x.Y/Z".into()),
                Code::Unimplemented,
            ),
            (
                GatewayError::NotRouted {
                    service: "p06.tasks",
                    setting: "tasks_url",
                },
                Code::Unavailable,
            ),
            (GatewayError::Config("x".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
        let status = Status::from(GatewayError::RateLimited {
            key: "apiKeys/ab".into(),
            per_second: 50,
        });
        assert_eq!(
            status.message(),
            "rate limit exceeded for apiKeys/ab: 50 requests/s"
        );
        let status = Status::from(GatewayError::invalid(
            "api_key.unit",
            "must look like units/<id>",
        ));
        assert_eq!(bad_field(&status).as_deref(), Some("api_key.unit"));
    }

    #[test]
    fn refusals_to_retry_say_when() {
        use tonic_types::StatusExt;
        for (error, after) in [
            (GatewayError::Overloaded { limit: 1 }, RETRY_AFTER_SHED),
            (
                GatewayError::Busy {
                    what: "unit",
                    limit: 2,
                },
                RETRY_AFTER_SHED,
            ),
            (
                GatewayError::RateLimited {
                    key: "apiKeys/x".into(),
                    per_second: 4,
                },
                Duration::from_millis(250),
            ),
        ] {
            let status = Status::from(error);
            let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
            assert_eq!(retry, Some(after), "{status:?}");
        }
        let storage = p06_kit::errors::storage_unavailable("tasks", "disk I/O error");
        assert_eq!(
            storage.get_details_retry_info().and_then(|r| r.retry_delay),
            Some(p06_kit::errors::STORAGE_RETRY_AFTER)
        );
    }
}
