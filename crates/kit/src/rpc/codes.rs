//! gRPC status codes as the conventions read them: which mark a span
//! Error on which side, their names, and where a response carries them.

use http::HeaderMap;

/// Which end of a call is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// This process answers the call.
    Server,
    /// This process makes the call.
    Client,
}

/// Whether a status code marks the span Error: on the server only the codes
/// that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
/// INTERNAL, UNAVAILABLE, DATA_LOSS); on the client every code but OK.
pub fn is_error(side: Side, code: i32) -> bool {
    match side {
        Side::Client => code != 0,
        Side::Server => matches!(code, 2 | 4 | 12 | 13 | 14 | 15),
    }
}

/// The `grpc-status` a header map carries.
pub fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The gRPC code for an HTTP status that carried none (the gRPC HTTP/2
/// mapping).
pub(super) fn code_for_http(status: http::StatusCode) -> i32 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => 2,
    }
}

/// The canonical name of a status code ("PERMISSION_DENIED").
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_client_rules_differ() {
        for code in [0, 1, 3, 5, 6, 7, 8, 9, 10, 11, 16] {
            assert!(!is_error(Side::Server, code), "server {code}");
        }
        for code in [2, 4, 12, 13, 14, 15] {
            assert!(is_error(Side::Server, code), "server {code}");
        }
        assert!(!is_error(Side::Client, 0));
        for code in 1..=16 {
            assert!(is_error(Side::Client, code), "client {code}");
        }
        assert_eq!(code_name(7), "PERMISSION_DENIED");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
