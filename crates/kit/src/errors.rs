//! Builders for `tonic::Status` values carrying `google.rpc` error details
//! (BadRequest field violations, ErrorInfo reasons), so every service
//! reports bad input the same way. Descriptions and metadata values quote at
//! most an excerpt of what a caller sent ([`excerpt`]), so no answer's
//! headers grow with the input.

use crate::rpc::message::excerpt;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The ErrorInfo domain of every p06 error.
pub const DOMAIN: &str = "p06.gov.vn";

/// INVALID_ARGUMENT naming the offending field (BadRequest detail).
pub fn invalid_argument(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let description = excerpt(&description);
    Status::with_error_details(
        Code::InvalidArgument,
        excerpt(&format!("invalid {field}: {description}")).into_owned(),
        ErrorDetails::with_bad_request_violation(field, description.as_ref()),
    )
}

/// A status with an ErrorInfo reason (`UPPER_SNAKE_CASE`) and metadata.
pub fn with_reason(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    meta: &[(&str, &str)],
) -> Status {
    let metadata = meta
        .iter()
        .map(|(k, v)| ((*k).to_string(), excerpt(v).into_owned()))
        .collect::<std::collections::HashMap<_, _>>();
    // The details repeat the message (google.rpc.Status), so it is cut here
    // too, not only in the header.
    Status::with_error_details(
        code,
        excerpt(&message.into()).into_owned(),
        ErrorDetails::with_error_info(reason, DOMAIN, metadata),
    )
}

/// [`with_reason`] for a refusal the caller should retry: with a
/// google.rpc.RetryInfo detail saying how long to wait first.
pub fn retryable(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    meta: &[(&str, &str)],
    after: std::time::Duration,
) -> Status {
    let metadata = meta
        .iter()
        .map(|(k, v)| ((*k).to_string(), excerpt(v).into_owned()))
        .collect::<std::collections::HashMap<_, _>>();
    let mut details = ErrorDetails::with_error_info(reason, DOMAIN, metadata);
    details.set_retry_info(Some(after));
    Status::with_error_details(code, excerpt(&message.into()).into_owned(), details)
}

/// How long a client should wait before retrying a call the database
/// could not answer.
pub const STORAGE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// UNAVAILABLE for a database that cannot answer now
/// ([`crate::sql::is_transient`]): the client may retry the same request.
/// Logged at WARN; the detail stays in the log.
pub fn storage_unavailable(service: &str, detail: &str) -> Status {
    tracing::warn!(service, error = %detail, "database unavailable");
    retryable(
        Code::Unavailable,
        "DATABASE_UNAVAILABLE",
        format!(
            "the {service} database cannot answer now; nothing was changed, retry with the same request_id"
        ),
        &[("service", service)],
        STORAGE_RETRY_AFTER,
    )
}

/// FAILED_PRECONDITION naming the field whose value breaks the precondition.
pub fn failed_precondition(field: &str, reason: &str, message: impl Into<String>) -> Status {
    let message = excerpt(&message.into()).into_owned();
    let mut details =
        ErrorDetails::with_error_info(reason, DOMAIN, [("field".to_string(), field.to_string())]);
    details.add_precondition_failure_violation(reason, field, message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// The first BadRequest field violation of a status: (field, description).
pub fn violation(status: &Status) -> Option<(String, String)> {
    status.get_details_bad_request().and_then(|b| {
        b.field_violations
            .first()
            .map(|v| (v.field.clone(), v.description.clone()))
    })
}

/// The `field` an ErrorInfo detail names, if any (ABORTED and
/// FAILED_PRECONDITION errors carry it there).
pub fn violated_field_info(status: &Status) -> Option<String> {
    status
        .get_details_error_info()
        .and_then(|i| i.metadata.get("field").cloned())
}
