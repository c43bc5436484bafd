//! Standard Webhooks (<https://www.standardwebhooks.com>) signatures.
//!
//! A secret is `whsec_` followed by the base64 of the HMAC key; a secret
//! without the prefix is taken as the bare base64 key. The signed content is
//! `{msg_id}.{timestamp}.{body}` and a signature reads `v1,<base64 HMAC-SHA256>`.
//! While a secret is being rotated an endpoint has several; the
//! `webhook-signature` header then carries one signature per secret,
//! separated by spaces, and the receiver accepts any of them.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The signature scheme this module produces (symmetric HMAC-SHA256).
pub const SIGNATURE_VERSION: &str = "v1";

/// Why a signature could not be made. Never carries the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningError {
    /// The endpoint has no secret to sign with.
    #[error("no webhook signing secret is configured")]
    NoSecret,
    /// A secret is malformed; `position` counts from 1 in the endpoint's list.
    #[error("webhook signing secret #{position} is invalid: {problem}")]
    BadSecret {
        /// Which secret (1 = the first).
        position: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The `v1,<base64>` signature of one message under one secret.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    let key = decode_secret(secret).map_err(|problem| SigningError::BadSecret {
        position: 1,
        problem,
    })?;
    Ok(sign_with_key(&key, msg_id, timestamp_secs, body))
}

/// The `webhook-signature` header value: one signature per secret, in the
/// order given, separated by single spaces.
pub fn signature_header(
    secrets: &[String],
    msg_id: &str,
    timestamp_secs: i64,
    body: &[u8],
) -> Result<String, SigningError> {
    if secrets.is_empty() {
        return Err(SigningError::NoSecret);
    }
    let mut header = String::with_capacity(secrets.len() * 48);
    for (index, secret) in secrets.iter().enumerate() {
        let key = decode_secret(secret).map_err(|problem| SigningError::BadSecret {
            position: index + 1,
            problem,
        })?;
        if index > 0 {
            header.push(' ');
        }
        header.push_str(&sign_with_key(&key, msg_id, timestamp_secs, body));
    }
    Ok(header)
}

/// The HMAC key a secret stands for.
fn decode_secret(secret: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    if encoded.is_empty() {
        return Err("the key is empty");
    }
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "the key is not valid base64")?;
    if key.is_empty() {
        return Err("the key is empty");
    }
    Ok(key)
}

fn sign_with_key(key: &[u8], msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this constructor cannot fail; the
    // fallback keeps the function total without a panic path.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example published with the Standard Webhooks specification,
    // re-checked with Python's hmac module.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // A second vector, computed with
    // `python3 -c 'import hmac,hashlib,base64; ...'`.
    const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const OTHER_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const OTHER_TIMESTAMP: i64 = 1_649_367_553;
    const OTHER_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const OTHER_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signs_the_published_example() {
        let signature = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(signature, SPEC_SIGNATURE);
        let signature = sign(OTHER_SECRET, OTHER_ID, OTHER_TIMESTAMP, OTHER_BODY).unwrap();
        assert_eq!(signature, OTHER_SIGNATURE);
    }

    #[test]
    fn a_secret_without_the_prefix_is_the_bare_key() {
        let bare = SPEC_SECRET.trim_start_matches(SECRET_PREFIX);
        let signature = sign(bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(signature, SPEC_SIGNATURE);
    }

    #[test]
    fn rotation_gives_one_signature_per_secret() {
        let secrets = vec![SPEC_SECRET.to_string(), OTHER_SECRET.to_string()];
        let header = signature_header(&secrets, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SPEC_SIGNATURE);
        assert_eq!(
            parts[1],
            sign(OTHER_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap()
        );
    }

    #[test]
    fn a_single_secret_gives_a_single_signature() {
        let header =
            signature_header(&[SPEC_SECRET.into()], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_eq!(header, SPEC_SIGNATURE);
    }

    #[test]
    fn no_secret_is_an_error() {
        let error = signature_header(&[], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap_err();
        assert_eq!(error, SigningError::NoSecret);
    }

    #[test]
    fn bad_secrets_are_named_by_position_without_their_text() {
        let secret = "whsec_not*base64!";
        let error = sign(secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap_err();
        assert!(matches!(error, SigningError::BadSecret { position: 1, .. }));
        assert!(!error.to_string().contains("not*base64"));

        let secrets = vec![SPEC_SECRET.to_string(), "whsec_".to_string()];
        let error = signature_header(&secrets, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap_err();
        assert_eq!(
            error,
            SigningError::BadSecret {
                position: 2,
                problem: "the key is empty"
            }
        );
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let base = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY).unwrap();
        assert_ne!(
            base,
            sign(SPEC_SECRET, "msg_other", SPEC_TIMESTAMP, SPEC_BODY).unwrap()
        );
        assert_ne!(
            base,
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY).unwrap()
        );
        assert_ne!(
            base,
            sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, b"{}").unwrap()
        );
    }
}
