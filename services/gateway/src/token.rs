//! API key tokens: `p06_<key id>_<secret>`, where the key id is 16 and the
//! secret 64 lowercase hex digits (8 and 32 random bytes). Only a SHA-256
//! hash of the secret is stored; checks compare hashes in constant time.
//!
//! Also the hashes of idempotent creation (AIP-155): the database holds a
//! hash of (creator, request id) and of the request's fields, never the
//! request id itself; the secret kept for a retry is sealed by
//! [`crate::seal`].

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "p06_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A key's random secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; SECRET_BYTES]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// Lowercase hex SHA-256 of the secret: what the store keeps.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// Whether this secret's hash is `stored_hash`, compared in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        bool::from(self.hash().as_bytes().ct_eq(stored_hash.as_bytes()))
    }

    /// The secret's bytes (for sealing).
    pub fn bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }

    /// A secret from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

/// A fresh random key id.
pub fn generate_key_id() -> String {
    hex::encode(rand::random::<[u8; ID_BYTES]>())
}

/// The bearer token for a key.
pub fn format_token(key_id: &str, secret: &Secret) -> String {
    format!("{TOKEN_PREFIX}{key_id}_{}", hex::encode(secret.0))
}

/// Splits a bearer token into key id and secret; `None` when malformed.
pub fn parse_token(token: &str) -> Option<(String, Secret)> {
    let (id, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    if !is_lower_hex(id, ID_BYTES * 2) || !is_lower_hex(secret, SECRET_BYTES * 2) {
        return None;
    }
    let bytes: [u8; SECRET_BYTES] = hex::decode(secret).ok()?.try_into().ok()?;
    Some((id.to_string(), Secret(bytes)))
}

/// Whether `id` looks like a key id (for resource names).
pub fn is_key_id(id: &str) -> bool {
    is_lower_hex(id, ID_BYTES * 2)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The stored name of a create request: a hash of its creator and id.
pub fn request_hash(creator: &str, request_id: &str) -> String {
    digest(&["p06-gateway-request", creator, request_id])
}

/// A hash of what a create request asked for.
pub fn request_fingerprint(unit: &str, role: &str, display_name: &str) -> String {
    digest(&[unit, role, display_name])
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let id = generate_key_id();
        let secret = Secret::generate();
        let token = format_token(&id, &secret);
        assert!(token.starts_with("p06_"));
        assert_eq!(token.len(), 4 + 16 + 1 + 64);
        let (parsed_id, parsed) = parse_token(&token).expect("parses");
        assert_eq!(parsed_id, id);
        assert_eq!(parsed, secret);
        assert!(parsed.matches(&secret.hash()));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = format_token("0123456789abcdef", &Secret([7; 32]));
        assert!(parse_token(&good).is_some());
        for bad in [
            "",
            "p06_",
            "p06_0123456789abcdef",
            "p07_0123456789abcdef_00",
            &good.replace("p06_", "P06_"),
            &good.to_uppercase(),
            &good[..good.len() - 1],
            &format!("{good}0"),
            &good.replacen("0123", "0_23", 1),
        ] {
            assert!(parse_token(bad).is_none(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn hashes_differ_and_mismatch() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_ne!(a, b);
        assert_eq!(a.hash().len(), 64);
        assert!(!a.matches(&b.hash()));
        assert!(!a.matches(""));
        assert!(format!("{a:?}").contains('…'));
    }
}
