//! Opaque page tokens (AIP-158): the position after the last item of a page
//! and a fingerprint of the request that made it, so a token cannot be
//! replayed against a different filter or order.

use crate::errors::invalid_argument;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Default page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page served; larger requests are capped (AIP-158).
pub const MAX_PAGE_SIZE: usize = 1000;
/// Longest page token accepted, in bytes: well over any this module makes
/// (the longest sort key is a 300-character display name), so the keys a
/// token carries into SQL stay small.
pub const MAX_TOKEN_LEN: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Token {
    f: String,
    k: Vec<String>,
}

/// A short hash of the request parameters that must not change between pages.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex_prefix(&h.finalize())
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Encodes the keyset position `last` for a request with `fingerprint`.
pub fn encode(fingerprint: &str, last: Vec<String>) -> String {
    let token = Token {
        f: fingerprint.to_string(),
        k: last,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// Decodes a page token; empty gives `None`. A malformed or over-long
/// token, or one made for other parameters, is INVALID_ARGUMENT on
/// `page_token`.
pub fn decode(
    fingerprint: &str,
    token: &str,
    keys: usize,
) -> Result<Option<Vec<String>>, tonic::Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || invalid_argument("page_token", "is not a token returned by this list");
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    // A NUL would reach SQL in a text value, which PostgreSQL refuses.
    if token.k.len() != keys || token.k.iter().any(|k| k.contains('\0')) {
        return Err(bad());
    }
    if token.f != fingerprint {
        return Err(invalid_argument(
            "page_token",
            "was made for a request with another filter, query or order; start again without it",
        ));
    }
    Ok(Some(token.k))
}

/// The page size to serve: default when 0, capped at the maximum, and
/// INVALID_ARGUMENT when negative.
pub fn size(requested: i32) -> Result<usize, tonic::Status> {
    match requested {
        n if n < 0 => Err(invalid_argument("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as usize).min(MAX_PAGE_SIZE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let f = fingerprint(&["kind = PROVINCE", "name"]);
        let t = encode(&f, vec!["Hà Nội".into(), "p01".into()]);
        assert_eq!(
            decode(&f, &t, 2).unwrap(),
            Some(vec!["Hà Nội".to_string(), "p01".to_string()])
        );
        assert_eq!(decode(&f, "", 2).unwrap(), None);
        assert_eq!(
            decode(&f, "garbage!!", 2).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let other = fingerprint(&["kind = COMMUNE", "name"]);
        assert_eq!(
            decode(&other, &t, 2).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn tokens_are_bounded() {
        let f = fingerprint(&["display_name"]);
        // The longest sort key made: a 300-character display name.
        let t = encode(&f, vec!["Ủ".repeat(300), "a".repeat(63)]);
        assert!(t.len() <= MAX_TOKEN_LEN, "{}", t.len());
        assert!(decode(&f, &t, 2).is_ok());
        for forged in [
            encode(&f, vec!["a".repeat(MAX_TOKEN_LEN), "p01".into()]),
            encode(&f, vec!["a\0".into(), "p01".into()]),
        ] {
            assert_eq!(
                decode(&f, &forged, 2).unwrap_err().code(),
                tonic::Code::InvalidArgument
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(size(-1).is_err());
    }
}
