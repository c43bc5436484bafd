//! The localities service's one error type and its mapping to gRPC status
//! codes (the only place where that mapping is decided).

use crate::store::StoreError;
use p06_kit::errors::{failed_precondition, invalid_argument, with_reason};
use tonic::{Code, Status};

/// Everything a localities call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LocalitiesError {
    /// A request field is invalid: (field, message).
    #[error("invalid {0}: {1}")]
    InvalidArgument(String, String),
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The etag was stale.
    #[error("{0} was changed by someone else; read it again and retry (etag {1})")]
    Aborted(String, String),
    /// A domain rule refused the call: (field, reason, message).
    #[error("{2}")]
    FailedPrecondition(String, &'static str, String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(Status),
    /// The store failed.
    #[error("storage: {0}")]
    Internal(String),
    /// The database cannot answer now (retryable).
    #[error("database unavailable: {0}")]
    StorageUnavailable(String),
}

impl LocalitiesError {
    /// A kit INVALID_ARGUMENT status as the service error.
    pub fn from_status(s: tonic::Status) -> Self {
        match p06_kit::errors::violation(&s) {
            Some((field, description)) => Self::InvalidArgument(field, description),
            None => Self::InvalidArgument(String::new(), s.message().to_string()),
        }
    }

    /// An invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument(field.into(), message.into())
    }
}

impl LocalitiesError {
    /// A store error for a request whose unit fields sit under `prefix`
    /// ("unit", "new_successor"): a bad parent or supervisor is reported as
    /// `prefix.parent` / `prefix.supervisor`.
    pub fn from_store_in(e: StoreError, prefix: &str) -> Self {
        match e {
            StoreError::Invalid(field @ ("parent" | "supervisor"), message) => {
                Self::invalid(format!("{prefix}.{field}"), message)
            }
            other => other.into(),
        }
    }
}

impl From<StoreError> for LocalitiesError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => Self::NotFound(format!("units/{id}")),
            StoreError::AlreadyExists(id) => Self::AlreadyExists(format!("units/{id}")),
            StoreError::Conflict { id, current } => {
                Self::Aborted(format!("units/{id}"), format!("\"{current}\""))
            }
            StoreError::Invalid(field, message) => Self::invalid(field, message),
            StoreError::Precondition(field, reason, message) => {
                Self::FailedPrecondition(field.into(), reason, message)
            }
            StoreError::Db(e) if p06_kit::sql::is_transient(&e) => {
                Self::StorageUnavailable(e.to_string())
            }
            StoreError::Db(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<LocalitiesError> for Status {
    fn from(e: LocalitiesError) -> Self {
        match e {
            LocalitiesError::InvalidArgument(field, message) => invalid_argument(&field, message),
            LocalitiesError::NotFound(what) => with_reason(
                Code::NotFound,
                "UNIT_NOT_FOUND",
                format!("{what} not found"),
                &[("resource", &what)],
            ),
            LocalitiesError::AlreadyExists(what) => with_reason(
                Code::AlreadyExists,
                "UNIT_EXISTS",
                format!("{what} already exists"),
                &[("resource", &what)],
            ),
            LocalitiesError::Aborted(what, etag) => with_reason(
                Code::Aborted,
                "ETAG_MISMATCH",
                format!("{what} was changed since it was read; current etag is {etag}"),
                &[("resource", &what), ("etag", &etag)],
            ),
            LocalitiesError::FailedPrecondition(field, reason, message) => {
                failed_precondition(&field, reason, message)
            }
            LocalitiesError::PermissionDenied(status) => status,
            LocalitiesError::StorageUnavailable(detail) => {
                p06_kit::errors::storage_unavailable("localities", &detail)
            }
            LocalitiesError::Internal(message) => {
                tracing::error!(error = %message, "localities storage failure");
                Status::internal("localities storage failure; the change was not made")
            }
        }
    }
}

/// Result of a localities call.
pub type Result<T, E = LocalitiesError> = std::result::Result<T, E>;
