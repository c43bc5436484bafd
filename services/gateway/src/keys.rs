//! API key management in domain terms, over any [`KeyStore`]: validation,
//! idempotent creation, lookup, listing, revocation and token verification.
//! The gRPC handlers in [`crate::access`] and the operator functions in the
//! crate root are thin wrappers around this.
//!
//! A key's unit is checked for shape only ("units/<id>"), not against the
//! localities registry, so the gateway stays independent of the services
//! behind it; the services reject identities for units they do not know.

use crate::{
    error::GatewayError,
    seal::Sealer,
    store::{ApiKeyRecord, CreateRequest, Inserted, KeyStore},
    token::{self, Secret},
};
use p06_kit::{Role, page};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How long a create request id is remembered for retries.
pub const REQUEST_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;
/// Longest display name accepted, in characters.
pub const MAX_DISPLAY_NAME: usize = 200;
/// Longest request id accepted, in characters.
pub const MAX_REQUEST_ID: usize = 200;

/// What a new key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// A human label.
    pub display_name: String,
    /// The unit the key acts for ("units/…").
    pub unit: String,
    /// What the key may do.
    pub role: Role,
}

/// A key just made (or replayed for a retried request), with its token.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored key.
    pub key: ApiKeyRecord,
    /// The bearer token, shown once; empty on a replay whose secret
    /// cannot be unsealed (no sealing key, or another one).
    pub token: String,
}

/// Key operations over a store.
#[derive(Debug, Clone)]
pub struct Keys<S> {
    store: S,
    sealer: Arc<Sealer>,
    cache: Arc<KeyCache>,
}

/// The PostgreSQL channel a revocation is signalled on, so that every
/// gateway replica drops its cached keys at once.
pub const REVOKED_CHANNEL: &str = "p06_gateway_keys_revoked";

/// Most keys kept in the cache; past that it starts again empty.
const CACHE_CAPACITY: usize = 10_000;

/// Keys read from the store in the last `ttl`, by id, so that a call costs
/// no database read: a revocation through this gateway drops its key at
/// once, a signal from another replica drops every key, and nothing is
/// served older than `ttl` (a zero `ttl` keeps nothing).
#[derive(Debug, Default)]
struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
    /// Where revocations are signalled (PostgreSQL; nothing on SQLite).
    signals: Option<p06_kit::sql::Pool>,
}

impl KeyCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ApiKeyRecord, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<ApiKeyRecord> {
        let entries = self.entries();
        let (key, read) = entries.get(id)?;
        (read.elapsed() < self.ttl).then(|| key.clone())
    }

    fn put(&self, key: &ApiKeyRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key.id.clone(), (key.clone(), Instant::now()));
    }
}

/// The current time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// "apiKeys/{id}" for a key id.
pub fn key_name(id: &str) -> String {
    format!("apiKeys/{id}")
}

/// Whether `unit` is a unit resource name ("units/<id>").
pub fn is_unit_name(unit: &str) -> bool {
    unit.strip_prefix("units/").is_some_and(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    })
}

/// Checks a key spec; errors name the offending `api_key.*` field.
pub fn validate(spec: &KeySpec) -> Result<(), GatewayError> {
    if !is_unit_name(&spec.unit) {
        return Err(GatewayError::invalid(
            "api_key.unit",
            format!("{:?} is not a unit name like \"units/p01\"", spec.unit),
        ));
    }
    if spec.display_name.chars().count() > MAX_DISPLAY_NAME {
        return Err(GatewayError::invalid(
            "api_key.display_name",
            format!("longer than {MAX_DISPLAY_NAME} characters"),
        ));
    }
    Ok(())
}

/// The key id in an "apiKeys/{id}" name; INVALID_ARGUMENT on `field` otherwise.
pub fn parse_key_name(name: &str, field: &str) -> Result<String, GatewayError> {
    name.strip_prefix("apiKeys/")
        .filter(|id| token::is_key_id(id))
        .map(str::to_string)
        .ok_or_else(|| {
            GatewayError::invalid(
                field,
                format!("{name:?} is not an api key name like \"apiKeys/0123456789abcdef\""),
            )
        })
}

impl<S: KeyStore> Keys<S> {
    /// Key operations over `store` that keep no secret for retries.
    pub fn new(store: S) -> Self {
        Self::with_sealer(store, Sealer::none())
    }

    /// Key operations over `store` that seal each new secret with `sealer`
    /// for the retries of its request.
    pub fn with_sealer(store: S, sealer: Sealer) -> Self {
        Self {
            store,
            sealer: Arc::new(sealer),
            cache: Arc::default(),
        }
    }

    /// These operations, verifying tokens against keys read in the last
    /// `ttl` (see [`Keys::verify`]); revocations are signalled to other
    /// replicas through `signals`.
    pub fn with_cache(self, ttl: Duration, signals: p06_kit::sql::Pool) -> Self {
        Self {
            cache: Arc::new(KeyCache {
                ttl,
                entries: Mutex::default(),
                signals: Some(signals),
            }),
            ..self
        }
    }

    /// Drops every cached key.
    pub fn forget_cached(&self) {
        self.cache.entries().clear();
    }

    /// Drops every cached key whenever another replica signals a
    /// revocation, until `shutdown` (nothing to follow on SQLite).
    pub fn follow_revocations(&self, shutdown: p06_kit::Shutdown) {
        let Some(pool) = &self.cache.signals else {
            return;
        };
        let mut revoked = p06_kit::signal::listen(pool, REVOKED_CHANNEL, shutdown.clone());
        let cache = self.cache.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    signal = revoked.recv() => match signal {
                        Some(()) => cache.entries().clear(),
                        None => return,
                    },
                }
            }
        });
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Creates a key for `spec` on behalf of `creator` ("apiKeys/…", or empty
    /// for an operator). A non-empty `request_id` seen from the same creator
    /// in the last 24 hours returns the first key again, with its token
    /// when the sealer can unseal it.
    pub async fn create(
        &self,
        spec: KeySpec,
        creator: &str,
        request_id: &str,
    ) -> Result<CreatedKey, GatewayError> {
        validate(&spec)?;
        if request_id.chars().count() > MAX_REQUEST_ID {
            return Err(GatewayError::invalid(
                "request_id",
                format!("longer than {MAX_REQUEST_ID} characters"),
            ));
        }
        let now = now_micros();
        let fingerprint =
            token::request_fingerprint(&spec.unit, spec.role.as_str(), &spec.display_name);
        let request_hash =
            (!request_id.is_empty()).then(|| token::request_hash(creator, request_id));
        if let Some(hash) = &request_hash
            && let Some(replayed) = self.replay(hash, &fingerprint, now).await?
        {
            return Ok(replayed);
        }
        let id = token::generate_key_id();
        let secret = Secret::generate();
        let key = ApiKeyRecord {
            id: id.clone(),
            secret_hash: secret.hash(),
            display_name: spec.display_name,
            unit: spec.unit,
            role: spec.role,
            creator: creator.to_string(),
            create_time: now,
            revoke_time: None,
        };
        let request = request_hash.clone().map(|request_hash| CreateRequest {
            sealed_secret: self.sealer.seal(&secret, &id, &request_hash),
            request_hash,
            key_id: id.clone(),
            fingerprint: fingerprint.clone(),
            create_time: now,
        });
        match self
            .store
            .insert_key(&key, request.as_ref(), now - REQUEST_TTL_MICROS)
            .await?
        {
            Inserted::Created => {
                tracing::info!(
                    key = %key_name(&key.id),
                    by = if creator.is_empty() { "operator" } else { creator },
                    role = %key.role,
                    unit = %key.unit,
                    "api key created"
                );
                Ok(CreatedKey {
                    token: token::format_token(&id, &secret),
                    key,
                })
            }
            Inserted::RequestExists => {
                let hash = request_hash.unwrap_or_default();
                self.replay(&hash, &fingerprint, now).await?.ok_or_else(|| {
                    tonic::Status::aborted(
                        "a request with this request_id was being processed; retry",
                    )
                    .into()
                })
            }
        }
    }

    async fn replay(
        &self,
        request_hash: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<Option<CreatedKey>, GatewayError> {
        let Some(found) = self
            .store
            .find_request(request_hash, now - REQUEST_TTL_MICROS)
            .await?
        else {
            return Ok(None);
        };
        if found.fingerprint != fingerprint {
            return Err(GatewayError::invalid(
                "request_id",
                "was already used for a different CreateApiKey request in the last 24 hours",
            ));
        }
        let Some(key) = self.store.get_key(&found.key_id).await? else {
            return Err(tonic::Status::internal("stored create request is inconsistent").into());
        };
        let secret = self
            .sealer
            .unseal(&found.sealed_secret, &found.key_id, request_hash);
        tracing::info!(
            key = %key_name(&key.id),
            with_secret = secret.is_some(),
            "api key create replayed for a retried request"
        );
        Ok(Some(CreatedKey {
            token: secret.map_or_else(String::new, |s| token::format_token(&key.id, &s)),
            key,
        }))
    }

    /// The key named `name` ("apiKeys/…").
    pub async fn get(&self, name: &str) -> Result<ApiKeyRecord, GatewayError> {
        let id = parse_key_name(name, "name")?;
        self.store
            .get_key(&id)
            .await?
            .ok_or_else(|| GatewayError::NotFound(name.to_string()))
    }

    /// One page of keys, oldest first, and the token of the next page
    /// (empty on the last).
    pub async fn list(
        &self,
        page_size: i32,
        page_token: &str,
        show_revoked: bool,
    ) -> Result<(Vec<ApiKeyRecord>, String), GatewayError> {
        let size = page::size(page_size)?;
        let fingerprint =
            page::fingerprint(&["apiKeys", if show_revoked { "revoked" } else { "live" }]);
        let after = match page::decode(&fingerprint, page_token, 2)? {
            Some(last) => {
                let time = last[0].parse::<i64>().map_err(|_| {
                    GatewayError::invalid("page_token", "is not a token returned by this list")
                })?;
                Some((time, last[1].clone()))
            }
            None => None,
        };
        let mut keys = self
            .store
            .list_keys(
                after.as_ref().map(|(t, id)| (*t, id.as_str())),
                size + 1,
                show_revoked,
            )
            .await?;
        let next = if keys.len() > size {
            keys.truncate(size);
            keys.last()
                .map(|k| page::encode(&fingerprint, vec![k.create_time.to_string(), k.id.clone()]))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok((keys, next))
    }

    /// Revokes the key named `name`; revoking a revoked key changes nothing.
    pub async fn revoke(&self, name: &str, by: &str) -> Result<ApiKeyRecord, GatewayError> {
        let id = parse_key_name(name, "name")?;
        let (key, changed) = self
            .store
            .revoke_key(&id, now_micros())
            .await?
            .ok_or_else(|| GatewayError::NotFound(name.to_string()))?;
        self.cache.entries().remove(&id);
        if changed {
            tracing::info!(key = %name, by, role = %key.role, unit = %key.unit, "api key revoked");
            if let Some(pool) = &self.cache.signals {
                p06_kit::signal::send(pool, REVOKED_CHANNEL).await;
            }
        }
        Ok(key)
    }

    /// The live key a bearer token belongs to; UNAUTHENTICATED otherwise.
    /// With a cache ([`Keys::with_cache`]) the key may have been read up to
    /// its `ttl` ago; the secret is checked on every call.
    pub async fn verify(&self, bearer: &str) -> Result<ApiKeyRecord, GatewayError> {
        let (id, secret) = token::parse_token(bearer).ok_or_else(|| {
            GatewayError::unauthenticated("malformed api key: expected p06_<key id>_<secret>")
        })?;
        let key = match self.cache.get(&id) {
            Some(key) => Some(key),
            None => {
                let key = self.store.get_key(&id).await?;
                if let Some(key) = &key {
                    self.cache.put(key);
                }
                key
            }
        };
        let key = key
            .filter(|key| secret.matches(&key.secret_hash))
            .ok_or_else(|| GatewayError::unauthenticated("invalid api key"))?;
        if key.revoke_time.is_some() {
            return Err(GatewayError::unauthenticated(format!(
                "api key revoked: {}",
                key_name(&id)
            )));
        }
        Ok(key)
    }
}
