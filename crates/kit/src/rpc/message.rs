//! Bounding `grpc-message`: an error message never carries more than a
//! short prefix of what a caller sent. Applied where every answer passes
//! (the server observation of each service and of the gateway), so one
//! caller's 32 KB resource name cannot grow a response header past what a
//! peer accepts (which would break the HTTP/2 connection other callers'
//! calls share) and no handler's message needs to bound itself.
//!
//! The header is percent-encoded (gRPC's encoding: printable ASCII but `%`
//! as is, every other byte as `%XX`); the bound is taken on the decoded
//! text at a character boundary and encoded again, so the result still
//! decodes as UTF-8.

use http::{HeaderMap, HeaderValue};

/// Characters of a message kept; longer ones end in "…".
pub const MAX_MESSAGE_CHARS: usize = 400;

/// The header names.
const GRPC_MESSAGE: &str = "grpc-message";
const GRPC_DETAILS: &str = "grpc-status-details-bin";

/// The largest `grpc-status-details-bin` passed on. The kit's error
/// builders keep theirs far smaller; a larger one (which cannot be cut
/// without breaking it) is dropped and the message kept.
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// Cuts an over-long `grpc-message` in `headers` (headers or trailers) and
/// drops over-large error details.
pub fn bound(headers: &mut HeaderMap) {
    if headers
        .get(GRPC_DETAILS)
        .is_some_and(|d| d.len() > MAX_DETAILS_BYTES)
    {
        headers.remove(GRPC_DETAILS);
    }
    let Some(value) = headers.get(GRPC_MESSAGE) else {
        return;
    };
    // Encoded, a character is at most 12 bytes (4 × `%XX`).
    if value.len() <= MAX_MESSAGE_CHARS {
        return;
    }
    let decoded = decode(value.as_bytes());
    let text = String::from_utf8_lossy(&decoded);
    if let std::borrow::Cow::Owned(short) = excerpt(&text)
        && let Ok(value) = HeaderValue::from_str(&encode(&short))
    {
        headers.insert(GRPC_MESSAGE, value);
    }
}

/// `text` when it has at most [`MAX_MESSAGE_CHARS`] characters, else its
/// first ones and "…": what an error may quote of anything a caller sent.
pub fn excerpt(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

fn decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (b' '..=b'~').contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> HeaderMap {
        let status = tonic::Status::invalid_argument(text.to_string());
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        headers
    }

    fn read(headers: &HeaderMap) -> String {
        tonic::Status::from_header_map(headers)
            .expect("a status")
            .message()
            .to_string()
    }

    #[test]
    fn long_messages_are_cut_at_a_character_and_still_decode() {
        let name = "Hà Giang ".repeat(4000);
        let mut headers = message(&format!("unit units/{name} not found"));
        bound(&mut headers);
        let shown = read(&headers);
        assert_eq!(shown.chars().count(), MAX_MESSAGE_CHARS + 1, "{shown}");
        assert!(shown.starts_with("unit units/Hà Giang Hà Giang"), "{shown}");
        assert!(shown.ends_with('…'));
        assert!(headers["grpc-message"].len() < 4 * MAX_MESSAGE_CHARS);
    }

    #[test]
    fn over_large_details_are_dropped_and_the_message_kept() {
        use tonic_types::{ErrorDetails, StatusExt as _};
        let huge = "x".repeat(2 * MAX_DETAILS_BYTES);
        let status = tonic::Status::with_error_details(
            tonic::Code::NotFound,
            "unit not found",
            ErrorDetails::with_error_info(
                "UNIT_NOT_FOUND",
                "p06.gov.vn",
                [("resource".to_string(), huge)],
            ),
        );
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).unwrap();
        assert!(headers.contains_key(GRPC_DETAILS));
        bound(&mut headers);
        assert!(!headers.contains_key(GRPC_DETAILS));
        assert_eq!(read(&headers), "unit not found");
    }

    #[test]
    fn short_messages_and_odd_bytes_are_left_as_they_are() {
        for text in ["", "unit units/p01 not found", "100% đúng\n\t", "%zz%4"] {
            let mut headers = message(text);
            let before = headers.clone();
            bound(&mut headers);
            assert_eq!(headers, before, "{text:?}");
            assert_eq!(read(&headers), text);
        }
        let mut none = HeaderMap::new();
        bound(&mut none);
        assert!(none.is_empty());
    }
}
