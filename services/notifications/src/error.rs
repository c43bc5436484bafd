//! The notifications service's one error type and its mapping to gRPC
//! status codes.

use crate::store::StoreError;
use p06_kit::errors::{failed_precondition, invalid_argument, with_reason};
use tonic::{Code, Status};

/// Everything a notifications call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NotificationsError {
    /// A request field is invalid: (field, message).
    #[error("invalid {0}: {1}")]
    InvalidArgument(String, String),
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The etag sent is stale: (resource, current etag).
    #[error("{0} changed since it was read; current etag is {1}")]
    EtagMismatch(String, String),
    /// The resource's state refuses the call: (field, message).
    #[error("{1}")]
    FailedPrecondition(String, String),
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

impl NotificationsError {
    /// An invalid field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument(field.into(), message.into())
    }

    /// PERMISSION_DENIED naming the unit the caller may not act for.
    pub fn not_your_unit(unit: &str) -> Self {
        Self::PermissionDenied(with_reason(
            Code::PermissionDenied,
            "OTHER_UNIT",
            format!("this key acts for another unit and cannot read or change {unit}"),
            &[("unit", unit)],
        ))
    }
}

impl From<StoreError> for NotificationsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::AlreadyExists(what) => Self::AlreadyExists(what),
            StoreError::EtagMismatch(what, etag) => Self::EtagMismatch(what, etag),
            StoreError::Precondition(field, message) => {
                Self::FailedPrecondition(field.to_string(), message)
            }
            StoreError::Db(e) if p06_kit::sql::is_transient(&e) => {
                Self::StorageUnavailable(e.to_string())
            }
            StoreError::Db(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<Status> for NotificationsError {
    fn from(s: Status) -> Self {
        match (s.code(), p06_kit::errors::violation(&s)) {
            (Code::InvalidArgument, Some((field, description))) => {
                Self::InvalidArgument(field, description)
            }
            _ => Self::PermissionDenied(s),
        }
    }
}

impl From<NotificationsError> for Status {
    fn from(e: NotificationsError) -> Self {
        match e {
            NotificationsError::InvalidArgument(field, message) => {
                invalid_argument(&field, message)
            }
            NotificationsError::NotFound(what) => with_reason(
                Code::NotFound,
                "NOT_FOUND",
                format!("{what} not found"),
                &[("resource", &what)],
            ),
            NotificationsError::AlreadyExists(what) => with_reason(
                Code::AlreadyExists,
                "ALREADY_EXISTS",
                format!("{what} already exists"),
                &[("resource", &what)],
            ),
            NotificationsError::EtagMismatch(what, etag) => with_reason(
                Code::Aborted,
                "ETAG_MISMATCH",
                format!("{what} changed since it was read (field etag); current etag is {etag}"),
                &[("resource", &what), ("field", "etag"), ("etag", &etag)],
            ),
            NotificationsError::FailedPrecondition(field, message) => {
                failed_precondition(&field, "STATE", message)
            }
            NotificationsError::PermissionDenied(status) => status,
            NotificationsError::StorageUnavailable(detail) => {
                p06_kit::errors::storage_unavailable("notifications", &detail)
            }
            NotificationsError::Internal(message) => {
                tracing::error!(error = %message, "notifications storage failure");
                Status::internal("notifications storage failure; nothing was changed")
            }
        }
    }
}

/// Result of a notifications call.
pub type Result<T> = std::result::Result<T, NotificationsError>;
