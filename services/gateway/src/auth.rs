//! Authentication at the edge: the bearer token in `authorization`, checked
//! against the key store, becomes the [`Verified`] caller that the Access
//! handlers read and the proxy forwards as mesh headers.

use crate::{
    error::GatewayError,
    keys::{Keys, key_name},
    store::KeyStore,
};
use http::HeaderMap;
use p06_kit::Identity;

/// A caller whose API key was checked: its identity and the key's label.
/// Put in the request extensions (next to a [`p06_kit::Caller`]) for local
/// handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Key, unit and role.
    pub identity: Identity,
    /// The key's display name.
    pub display_name: String,
}

/// The token of an `authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, GatewayError> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        GatewayError::unauthenticated("missing bearer token: send `authorization: Bearer p06_…`")
    })?;
    let malformed = || {
        GatewayError::unauthenticated(
            "malformed authorization header: expected `Bearer p06_<key id>_<secret>`",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

/// Checks the request's bearer token against `keys`.
pub async fn authenticate<S: KeyStore>(
    keys: &Keys<S>,
    headers: &HeaderMap,
) -> Result<Verified, GatewayError> {
    let key = keys.verify(bearer(headers)?).await?;
    Ok(Verified {
        identity: Identity {
            key: key_name(&key.id),
            unit: key.unit,
            role: key.role,
        },
        display_name: key.display_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(value).expect("valid header"),
        );
        headers
    }

    fn message(result: Result<&str, GatewayError>) -> String {
        result.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer(&with_auth("Bearer p06_x_y")).ok(), Some("p06_x_y"));
        assert_eq!(
            bearer(&with_auth("bearer   p06_x_y ")).ok(),
            Some("p06_x_y")
        );
        assert!(message(bearer(&HeaderMap::new())).starts_with("missing bearer token"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "p06_x_y"] {
            assert!(
                message(bearer(&with_auth(bad))).starts_with("malformed"),
                "{bad:?}"
            );
        }
    }
}
