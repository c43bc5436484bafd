//! Keeping a new key's secret for the retries of its CreateApiKey
//! (AIP-155) without keeping anything recoverable at rest: the secret is
//! sealed with ChaCha20-Poly1305 (ring's AEAD) under a key only the gateway
//! holds (`secret_sealing_key`), bound to the key id and the request, with
//! a fresh random nonce. Without a sealing key nothing is kept: a retry
//! returns the key without its secret.
//!
//! A sealed value is `v1.` and the base64 of nonce ‖ ciphertext ‖ tag.
//! Anything else (an older format, another sealing key) does not unseal,
//! and the retry again returns the key without its secret.

use crate::{GatewayError, token::Secret};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use ring::{
    aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};

const VERSION: &str = "v1.";
/// Bytes of a sealing key.
pub const KEY_BYTES: usize = 32;

/// Seals and unseals secrets; `None` inside when no key is configured.
pub struct Sealer {
    key: Option<LessSafeKey>,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("configured", &self.key.is_some())
            .finish()
    }
}

impl Sealer {
    /// A sealer from the setting: empty = none; otherwise the base64 of
    /// 32 random bytes (`openssl rand -base64 32`).
    pub fn from_setting(setting: &str) -> Result<Self, GatewayError> {
        let setting = setting.trim();
        if setting.is_empty() {
            return Ok(Self::none());
        }
        let bad = || {
            GatewayError::Config(format!(
                "secret_sealing_key must be the base64 of {KEY_BYTES} random bytes (openssl rand -base64 32)"
            ))
        };
        let bytes = STANDARD.decode(setting).map_err(|_| bad())?;
        if bytes.len() != KEY_BYTES {
            return Err(bad());
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| bad())?;
        Ok(Self {
            key: Some(LessSafeKey::new(key)),
            random: SystemRandom::new(),
        })
    }

    /// A sealer that keeps nothing.
    pub fn none() -> Self {
        Self {
            key: None,
            random: SystemRandom::new(),
        }
    }

    /// `secret` sealed for the key `key_id` and the request `request_hash`;
    /// empty when no sealing key is configured (or the system has no
    /// randomness to give).
    pub fn seal(&self, secret: &Secret, key_id: &str, request_hash: &str) -> String {
        let Some(key) = &self.key else {
            return String::new();
        };
        let mut nonce = [0u8; NONCE_LEN];
        if self.random.fill(&mut nonce).is_err() {
            return String::new();
        }
        let mut sealed = secret.bytes().to_vec();
        let aad = associated(key_id, request_hash);
        if key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut sealed,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", STANDARD.encode(out))
    }

    /// The secret [`Sealer::seal`] sealed for the same key and request,
    /// when this sealer's key sealed it.
    pub fn unseal(&self, sealed: &str, key_id: &str, request_hash: &str) -> Option<Secret> {
        let key = self.key.as_ref()?;
        let bytes = STANDARD.decode(sealed.strip_prefix(VERSION)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let aad = associated(key_id, request_hash);
        let plain = key.open_in_place(nonce, Aad::from(&aad), &mut rest).ok()?;
        Secret::from_bytes(plain)
    }
}

fn associated(key_id: &str, request_hash: &str) -> Vec<u8> {
    [
        b"p06-gateway-seal\0",
        key_id.as_bytes(),
        b"\0",
        request_hash.as_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::from_setting(&STANDARD.encode([7u8; KEY_BYTES])).unwrap()
    }

    #[test]
    fn seals_for_one_key_and_request() {
        let secret = Secret::generate();
        let s = sealer();
        let sealed = s.seal(&secret, "k1", "r1");
        assert!(sealed.starts_with(VERSION));
        assert!(!sealed.contains(&hex::encode(secret.bytes())));
        assert_eq!(s.unseal(&sealed, "k1", "r1"), Some(secret.clone()));
        // Bound to the key and the request; fresh nonces.
        assert_eq!(s.unseal(&sealed, "k2", "r1"), None);
        assert_eq!(s.unseal(&sealed, "k1", "r2"), None);
        assert_ne!(s.seal(&secret, "k1", "r1"), sealed);
        // Another sealing key, no sealing key, or an old or broken value.
        let other = Sealer::from_setting(&STANDARD.encode([8u8; KEY_BYTES])).unwrap();
        assert_eq!(other.unseal(&sealed, "k1", "r1"), None);
        assert_eq!(Sealer::none().unseal(&sealed, "k1", "r1"), None);
        assert_eq!(Sealer::none().seal(&secret, "k1", "r1"), "");
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(s.unseal(&tampered, "k1", "r1"), None);
        for junk in ["", "v1.", "v1.AAAA", &hex::encode([1u8; 32])] {
            assert_eq!(s.unseal(junk, "k1", "r1"), None, "{junk:?}");
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(Sealer::from_setting("").unwrap().key.is_none());
        for bad in ["not base64!", &STANDARD.encode([1u8; 16])] {
            let error = Sealer::from_setting(bad).unwrap_err().to_string();
            assert!(error.contains("secret_sealing_key"), "{error}");
        }
    }
}
