//! One conformance suite for every [`KeyStore`] backend, driven through
//! [`Keys`]: SQLite always, PostgreSQL when `P06_TEST_DATABASE_URL` is set.

use super::{KeyStore, Store};
use crate::{
    error::GatewayError,
    keys::{KeySpec, Keys, key_name},
};
use p06_kit::Role;

fn spec(unit: &str, name: &str) -> KeySpec {
    KeySpec {
        display_name: name.to_string(),
        unit: unit.to_string(),
        role: Role::Unit,
    }
}

fn is_invalid(result: Result<impl std::fmt::Debug, GatewayError>, field: &str) -> bool {
    match result {
        Err(GatewayError::InvalidArgument { field: f, .. }) => f == field,
        Err(GatewayError::Status(s)) => crate::error::bad_field(&s).as_deref() == Some(field),
        _ => false,
    }
}

async fn conforms<S: KeyStore>(store: S) {
    // A sealing key, so retries return the secret as well.
    let sealer = crate::seal::Sealer::from_setting("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .expect("a valid sealing key");
    let keys = Keys::with_sealer(store, sealer);
    assert_eq!(keys.store().count_keys().await.expect("count"), 0);

    // Create, get, verify.
    let created = keys
        .create(spec("units/p01", "Hà Nội"), "apiKeys/admin", "")
        .await
        .expect("create");
    let name = key_name(&created.key.id);
    let got = keys.get(&name).await.expect("get");
    assert_eq!(got, created.key);
    assert_eq!(got.display_name, "Hà Nội");
    assert_eq!(got.creator, "apiKeys/admin");
    assert_eq!(
        keys.verify(&created.token).await.expect("verify").id,
        created.key.id
    );
    let (head, last) = created.token.split_at(created.token.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    assert!(matches!(
        keys.verify(&forged).await,
        Err(GatewayError::Unauthenticated(_))
    ));
    assert!(matches!(
        keys.get("apiKeys/0000000000000000").await,
        Err(GatewayError::NotFound(_))
    ));
    assert!(is_invalid(keys.get("keys/x").await, "name"));
    assert!(is_invalid(
        keys.create(spec("p01", ""), "", "").await,
        "api_key.unit"
    ));
    assert!(is_invalid(
        keys.create(spec("units/p01", &"x".repeat(201)), "", "")
            .await,
        "api_key.display_name"
    ));

    // Idempotent create: same request id and creator, same key and token.
    let first = keys
        .create(spec("units/p02", "retry"), "apiKeys/admin", "req-1")
        .await
        .expect("first");
    let again = keys
        .create(spec("units/p02", "retry"), "apiKeys/admin", "req-1")
        .await
        .expect("again");
    assert_eq!(
        (first.key.clone(), first.token.clone()),
        (again.key, again.token)
    );
    assert!(is_invalid(
        keys.create(spec("units/p03", "other"), "apiKeys/admin", "req-1")
            .await,
        "request_id"
    ));
    let other = keys
        .create(spec("units/p02", "retry"), "apiKeys/other", "req-1")
        .await
        .expect("other creator");
    assert_ne!(other.key.id, first.key.id);
    let hash = crate::token::request_hash("apiKeys/admin", "req-1");
    assert!(
        keys.store()
            .find_request(&hash, 0)
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        keys.store()
            .find_request(&hash, i64::MAX)
            .await
            .expect("find")
            .is_none()
    );

    // Pagination over every key, oldest first, no repeats.
    for i in 0..4 {
        keys.create(spec("units/p09", &format!("bulk {i}")), "", "")
            .await
            .expect("bulk");
    }
    let total = usize::try_from(keys.store().count_keys().await.expect("count")).unwrap_or(0);
    assert_eq!(total, 7);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = keys.list(2, &token, false).await.expect("list");
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|k| (k.create_time, k.id)));
        if next.is_empty() {
            break;
        }
        token = next;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), total);
    let (_, next) = keys.list(2, "", false).await.expect("list");
    assert!(is_invalid(keys.list(2, &next, true).await, "page_token"));
    assert!(is_invalid(keys.list(-1, "", false).await, "page_size"));

    // Revocation: idempotent, refuses the token, hidden unless asked for.
    let revoked = keys.revoke(&name, "apiKeys/admin").await.expect("revoke");
    assert!(revoked.revoke_time.is_some());
    let twice = keys
        .revoke(&name, "apiKeys/admin")
        .await
        .expect("revoke again");
    assert_eq!(twice.revoke_time, revoked.revoke_time);
    let refused = keys
        .verify(&created.token)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.starts_with("api key revoked"), "{refused}");
    let (live, _) = keys.list(100, "", false).await.expect("list");
    assert_eq!(live.len(), total - 1);
    assert!(live.iter().all(|k| k.id != created.key.id));
    let (all, _) = keys.list(100, "", true).await.expect("list");
    assert_eq!(all.len(), total);
    assert!(matches!(
        keys.revoke("apiKeys/0000000000000000", "").await,
        Err(GatewayError::NotFound(_))
    ));
}

/// Two gateway replicas over one database, each caching keys for an hour:
/// a revocation through one is refused by it at once, and by the other
/// at once on a PostgreSQL signal, or after its cache time on SQLite.
async fn cached_keys_follow_revocations(store: Store, signalled: bool) {
    let hour = std::time::Duration::from_secs(3600);
    let ttl = if signalled {
        hour
    } else {
        std::time::Duration::from_millis(200)
    };
    let a = Keys::new(store.clone()).with_cache(hour, store.pool());
    let b = Keys::new(store.clone()).with_cache(ttl, store.pool());
    let shutdown = p06_kit::Shutdown::new();
    b.follow_revocations(shutdown.clone());
    let created = a
        .create(spec("units/p01", "cached"), "", "")
        .await
        .expect("create");
    for keys in [&a, &b] {
        keys.verify(&created.token)
            .await
            .expect("live key verifies");
    }
    if signalled {
        // B's listener is connected once its first (start-up) signal has
        // emptied its cache; verify again so the key is cached anew.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        b.verify(&created.token).await.expect("live key verifies");
    }
    a.revoke(&key_name(&created.key.id), "")
        .await
        .expect("revoke");
    assert!(
        a.verify(&created.token).await.is_err(),
        "refused at once where it was revoked"
    );
    if !signalled {
        assert!(
            b.verify(&created.token).await.is_ok(),
            "cached until its time is up"
        );
        tokio::time::sleep(ttl).await;
    }
    let refused = async {
        loop {
            if let Err(e) = b.verify(&created.token).await {
                return e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    let refused = tokio::time::timeout(std::time::Duration::from_secs(10), refused)
        .await
        .expect("refused by the other replica");
    assert!(
        refused.to_string().starts_with("api key revoked"),
        "{refused}"
    );
    // A wrong secret is refused even while its key is cached.
    let other = a
        .create(spec("units/p01", "other"), "", "")
        .await
        .expect("create");
    a.verify(&other.token).await.expect("cached");
    let (head, last) = other.token.split_at(other.token.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    assert!(
        a.verify(&forged).await.is_err(),
        "the secret is checked every call"
    );
    shutdown.trigger();
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}/nested/gateway.db", dir.path().display());
    let store = Store::open(&url).await.expect("open sqlite");
    conforms(store.clone()).await;
    cached_keys_follow_revocations(store.clone(), false).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_conforms() {
    let Some(url) = p06_kit::db::fresh_test_database("gateway").await else {
        return;
    };
    let store = Store::open(&url).await.expect("open postgres");
    conforms(store.clone()).await;
    cached_keys_follow_revocations(store.clone(), true).await;
    store.close().await;
}
