//! The tasks service's one error type and its mapping to gRPC status codes.

use crate::store::StoreError;
use p06_kit::errors::{failed_precondition, invalid_argument, with_reason};
use tonic::{Code, Status};

/// Everything a tasks call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TasksError {
    /// A request field is invalid: (field, message).
    #[error("invalid {0}: {1}")]
    InvalidArgument(String, String),
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// A concurrent change won.
    #[error("{0} changed concurrently; read it again and retry")]
    Aborted(String),
    /// The etag sent is stale: (resource, current etag).
    #[error("{0} changed since it was read; current etag is {1}")]
    EtagMismatch(String, String),
    /// A rule refused the call: (field, reason, message).
    #[error("{2}")]
    FailedPrecondition(String, &'static str, String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(Status),
    /// A service this one depends on failed.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error("storage: {0}")]
    Internal(String),
    /// The database cannot answer now (retryable).
    #[error("database unavailable: {0}")]
    StorageUnavailable(String),
}

impl TasksError {
    /// An invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument(field.into(), message.into())
    }

    /// PERMISSION_DENIED with a reason.
    pub fn denied(reason: &str, message: impl Into<String>) -> Self {
        Self::PermissionDenied(with_reason(Code::PermissionDenied, reason, message, &[]))
    }
}

impl From<StoreError> for TasksError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::AlreadyExists(what) => Self::AlreadyExists(what),
            StoreError::Conflict(what) => Self::Aborted(what),
            StoreError::Stale(what, current) => Self::EtagMismatch(what, format!("\"{current}\"")),
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

impl From<Status> for TasksError {
    fn from(s: Status) -> Self {
        match (s.code(), p06_kit::errors::violation(&s)) {
            (Code::InvalidArgument, Some((field, description))) => {
                Self::InvalidArgument(field, description)
            }
            (Code::PermissionDenied, _) => Self::PermissionDenied(s),
            _ => Self::Unavailable(s.message().to_string()),
        }
    }
}

impl From<TasksError> for Status {
    fn from(e: TasksError) -> Self {
        match e {
            TasksError::InvalidArgument(field, message) => invalid_argument(&field, message),
            TasksError::NotFound(what) => with_reason(
                Code::NotFound,
                "NOT_FOUND",
                format!("{what} not found"),
                &[("resource", &what)],
            ),
            TasksError::AlreadyExists(what) => with_reason(
                Code::AlreadyExists,
                "ALREADY_EXISTS",
                format!("{what} already exists"),
                &[("resource", &what)],
            ),
            TasksError::Aborted(what) => with_reason(
                Code::Aborted,
                "CONCURRENT_CHANGE",
                format!("{what} was changed concurrently; read it again and retry"),
                &[("resource", &what)],
            ),
            TasksError::EtagMismatch(what, etag) => with_reason(
                Code::Aborted,
                "ETAG_MISMATCH",
                format!("{what} changed since it was read (field etag); current etag is {etag}"),
                &[("resource", &what), ("field", "etag"), ("etag", &etag)],
            ),
            TasksError::FailedPrecondition(field, reason, message) => {
                failed_precondition(&field, reason, message)
            }
            TasksError::PermissionDenied(status) => status,
            TasksError::Unavailable(message) => {
                Status::unavailable(format!("a service p06 tasks depends on failed: {message}"))
            }
            TasksError::StorageUnavailable(detail) => {
                p06_kit::errors::storage_unavailable("tasks", &detail)
            }
            TasksError::Internal(message) => {
                tracing::error!(error = %message, "tasks storage failure");
                Status::internal("tasks storage failure; the change was not made")
            }
        }
    }
}

/// Result of a tasks call.
pub type Result<T, E = TasksError> = std::result::Result<T, E>;
