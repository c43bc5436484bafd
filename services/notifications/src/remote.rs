//! What the notifications service reads from the other services, with
//! short-lived caches: a unit's contacts, display name and supervisor from
//! localities; the working-day calendar from tasks (no second copy).

use p06_kit::{calendar::Calendar, client::InternalChannel};
use p06_proto::{
    localities::v1::{self as loc, localities_client::LocalitiesClient},
    tasks::v1::{self as tasks, tasks_client::TasksClient},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tonic::Code;

/// Where to push a unit's notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Webhook URL, when enabled.
    pub webhook_url: Option<String>,
    /// Signing secrets, newest first.
    pub webhook_secrets: Vec<String>,
    /// E-mail addresses, when enabled.
    pub emails: Vec<String>,
}

/// A map whose entries expire.
#[derive(Debug)]
struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry<V>>>,
}

/// A cached value, when it was fetched and whether a refresh is under way.
#[derive(Debug)]
struct Entry<V> {
    fetched: Instant,
    refreshing: Option<Instant>,
    value: V,
}

/// What a cache holds for a key.
enum Cached<V> {
    /// Younger than the time to live.
    Fresh(V),
    /// Older, but still usable while a refresh runs.
    Stale(V),
    /// Nothing usable.
    Missing,
}

/// How many times its time to live an entry may be old and still serve
/// while it is refreshed; older ones are fetched before use.
const STALE_FACTOR: u32 = 2;

impl<V: Clone> TtlCache<V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, key: &str) -> Cached<V> {
        self.lookup_at(key, Instant::now())
    }

    /// Fresh, stale or missing by the age of the fetched value alone.
    fn lookup_at(&self, key: &str, now: Instant) -> Cached<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some(e) if self.usable(e, now) => {
                if now.saturating_duration_since(e.fetched) < self.ttl {
                    Cached::Fresh(e.value.clone())
                } else {
                    Cached::Stale(e.value.clone())
                }
            }
            _ => Cached::Missing,
        }
    }

    /// Whether an entry is young enough to serve, fresh or stale.
    fn usable(&self, e: &Entry<V>, now: Instant) -> bool {
        now.saturating_duration_since(e.fetched) < self.ttl * STALE_FACTOR
    }

    /// [`Cached::Missing`] without copying a value that is there.
    fn is_missing(&self, key: &str) -> bool {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        !entries
            .get(key)
            .is_some_and(|e| self.usable(e, Instant::now()))
    }

    fn get(&self, key: &str) -> Option<V> {
        match self.lookup(key) {
            Cached::Fresh(v) => Some(v),
            _ => None,
        }
    }

    fn put(&self, key: &str, value: V) {
        self.put_at(key, value, Instant::now());
    }

    fn put_at(&self, key: &str, value: V, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            entries.clear();
        }
        entries.insert(
            key.to_string(),
            Entry {
                fetched: now,
                refreshing: None,
                value,
            },
        );
    }

    /// Marks an entry as being refreshed, so one caller refreshes it while
    /// the others keep using it; `false` when a refresh started less than a
    /// time to live ago is still running.
    fn begin_refresh(&self, key: &str) -> bool {
        self.begin_refresh_at(key, Instant::now())
    }

    fn begin_refresh_at(&self, key: &str, now: Instant) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(key) {
            Some(e) => {
                let running = e
                    .refreshing
                    .is_some_and(|since| now.saturating_duration_since(since) < self.ttl);
                if !running {
                    e.refreshing = Some(now);
                }
                !running
            }
            None => false,
        }
    }

    /// A refresh failed: the next lookup may try again.
    fn end_refresh(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.get_mut(key) {
            e.refreshing = None;
        }
    }

    fn forget(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Contacts lookups a prefetch runs at once.
const PREFETCH_CONCURRENCY: usize = 16;

/// The longest a prefetch holds up a pass.
const PREFETCH_DEADLINE: Duration = Duration::from_secs(2);

/// One unit's contacts from localities; a unit without any has none.
async fn fetch_endpoints(
    mut client: LocalitiesClient<InternalChannel>,
    unit_id: &str,
) -> RemoteResult<Endpoints> {
    let request = loc::GetContactsRequest {
        name: format!("units/{unit_id}/contacts"),
    };
    match client.get_contacts(request).await {
        Ok(r) => {
            let c = r.into_inner();
            let (webhook_url, webhook_secrets) = match c.webhook {
                Some(w) if w.enabled && !w.url.is_empty() => (Some(w.url), w.secrets),
                _ => (None, Vec::new()),
            };
            let emails = match c.email {
                Some(e) if e.enabled => e.addresses,
                _ => Vec::new(),
            };
            Ok(Endpoints {
                webhook_url,
                webhook_secrets,
                emails,
            })
        }
        Err(s) if s.code() == Code::NotFound => Ok(Endpoints::default()),
        Err(s) => Err(s),
    }
}

/// Lookups in localities and tasks.
#[derive(Debug)]
pub struct Remote {
    localities: LocalitiesClient<InternalChannel>,
    tasks: TasksClient<InternalChannel>,
    endpoints: Arc<TtlCache<Endpoints>>,
    names: TtlCache<String>,
    supervisors: TtlCache<Option<String>>,
}

/// A failed lookup (the caller retries on the next pass).
pub type RemoteResult<T> = Result<T, tonic::Status>;

impl Remote {
    /// Lookups over these internal channels; contacts are cached for
    /// `contacts_ttl`.
    pub fn new(
        localities: InternalChannel,
        tasks: InternalChannel,
        contacts_ttl: Duration,
    ) -> Self {
        Self {
            localities: LocalitiesClient::new(localities),
            tasks: TasksClient::new(tasks),
            endpoints: Arc::new(TtlCache::new(contacts_ttl)),
            names: TtlCache::new(Duration::from_secs(3600)),
            supervisors: TtlCache::new(Duration::from_secs(600)),
        }
    }

    /// Forgets a unit's cached contacts (after a delivery failure, so a
    /// fixed endpoint is picked up at once).
    pub fn forget_contacts(&self, unit_id: &str) {
        self.endpoints.forget(unit_id);
    }

    /// A unit's push endpoints (`unit_id` without "units/"). An entry
    /// past its time to live is still used while one background refresh
    /// replaces it, so the delivery path waits on localities only for a
    /// unit it has not seen lately.
    pub async fn endpoints(&self, unit_id: &str) -> RemoteResult<Endpoints> {
        match self.endpoints.lookup(unit_id) {
            Cached::Fresh(e) => {
                crate::metrics::contacts("fresh");
                Ok(e)
            }
            Cached::Stale(e) => {
                crate::metrics::contacts("stale");
                if self.endpoints.begin_refresh(unit_id) {
                    let (client, cache, unit) = (
                        self.localities.clone(),
                        self.endpoints.clone(),
                        unit_id.to_string(),
                    );
                    tokio::spawn(async move {
                        match fetch_endpoints(client, &unit).await {
                            Ok(e) => cache.put(&unit, e),
                            Err(status) => {
                                cache.end_refresh(&unit);
                                tracing::debug!(unit = %unit, error = %status.message(), "contacts refresh failed");
                            }
                        }
                    });
                }
                Ok(e)
            }
            Cached::Missing => {
                crate::metrics::contacts("miss");
                let endpoints = fetch_endpoints(self.localities.clone(), unit_id).await?;
                self.endpoints.put(unit_id, endpoints.clone());
                Ok(endpoints)
            }
        }
    }

    /// Fetches the contacts of the units not in the cache, several at a
    /// time, so a pass over many units waits once rather than per unit.
    /// Failures are left for the per-unit lookup to report.
    pub async fn prefetch_endpoints(&self, units: Vec<String>) {
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<String> = units
            .into_iter()
            .filter(|u| self.endpoints.is_missing(u) && seen.insert(u.clone()))
            .collect();
        // Bounded: the callers hold leases while they wait, and each unit
        // is looked up again on its own when it is needed.
        let _ = tokio::time::timeout(PREFETCH_DEADLINE, self.fetch_all(missing)).await;
    }

    async fn fetch_all(&self, mut missing: Vec<String>) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < PREFETCH_CONCURRENCY {
                let Some(unit) = missing.pop() else { break };
                let (client, cache) = (self.localities.clone(), self.endpoints.clone());
                running.spawn(async move {
                    if let Ok(e) = fetch_endpoints(client, &unit).await {
                        cache.put(&unit, e);
                    }
                });
            }
            if running.join_next().await.is_none() {
                return;
            }
        }
    }

    /// A unit's official name ("Tỉnh Hà Giang"); the id when unknown.
    pub async fn display_name(&self, unit_id: &str) -> RemoteResult<String> {
        if let Some(n) = self.names.get(unit_id) {
            return Ok(n);
        }
        let request = loc::GetUnitRequest {
            name: format!("units/{unit_id}"),
        };
        let name = match self.localities.clone().get_unit(request).await {
            Ok(r) => r.into_inner().display_name,
            Err(s) if s.code() == Code::NotFound => format!("units/{unit_id}"),
            Err(s) => return Err(s),
        };
        self.names.put(unit_id, name.clone());
        Ok(name)
    }

    /// The unit's nearest supervisor on `date` (an id), if any.
    pub async fn supervisor(
        &self,
        unit_id: &str,
        date: chrono::NaiveDate,
    ) -> RemoteResult<Option<String>> {
        let key = format!("{unit_id}@{date}");
        if let Some(s) = self.supervisors.get(&key) {
            return Ok(s);
        }
        let request = loc::GetEscalationChainRequest {
            name: format!("units/{unit_id}"),
            date: date.to_string(),
        };
        let supervisor = match self.localities.clone().get_escalation_chain(request).await {
            Ok(r) => r
                .into_inner()
                .chain
                .first()
                .and_then(|u| u.name.strip_prefix("units/").map(str::to_string)),
            Err(s) if s.code() == Code::NotFound => None,
            Err(s) => return Err(s),
        };
        self.supervisors.put(&key, supervisor.clone());
        Ok(supervisor)
    }

    /// The working-day calendar for `years`, as the tasks service keeps it,
    /// with a fingerprint that changes when any year changes.
    pub async fn calendar(
        &self,
        years: std::ops::RangeInclusive<i32>,
    ) -> RemoteResult<(Calendar, String)> {
        use p06_kit::calendar::{CalendarDay, DayKind};
        let mut days = Vec::new();
        let mut etags = Vec::new();
        for year in years {
            let c = self
                .tasks
                .clone()
                .get_calendar(tasks::GetCalendarRequest { year })
                .await?
                .into_inner();
            etags.push(c.etag);
            let mut add = |list: Vec<tasks::CalendarDay>, kind| {
                for d in list {
                    if let Ok(date) = d.date.parse() {
                        days.push(CalendarDay {
                            date,
                            kind,
                            name: d.name,
                        });
                    }
                }
            };
            add(c.days_off, DayKind::DayOff);
            add(c.working_days, DayKind::WorkingDay);
        }
        Ok((Calendar::new(days), etags.join(",")))
    }

    /// The tasks service client (for the change feed).
    pub fn tasks(&self) -> TasksClient<InternalChannel> {
        self.tasks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::{Cached, STALE_FACTOR, TtlCache};
    use std::time::{Duration, Instant};

    fn state(c: &TtlCache<u32>, now: Instant) -> Option<(bool, u32)> {
        match c.lookup_at("u", now) {
            Cached::Fresh(v) => Some((true, v)),
            Cached::Stale(v) => Some((false, v)),
            Cached::Missing => None,
        }
    }

    #[test]
    fn stale_entries_serve_while_one_refresh_runs() {
        let ttl = Duration::from_secs(30);
        let cache = TtlCache::new(ttl);
        let t0 = Instant::now();
        assert_eq!(state(&cache, t0), None);
        cache.put_at("u", 1, t0);
        assert_eq!(state(&cache, t0 + ttl / 2), Some((true, 1)));
        // Past its time to live it still serves, and only the first caller
        // is told to refresh it.
        let later = t0 + ttl + Duration::from_secs(1);
        assert_eq!(state(&cache, later), Some((false, 1)));
        assert!(cache.begin_refresh_at("u", later));
        assert!(!cache.begin_refresh_at("u", later));
        assert_eq!(state(&cache, later), Some((false, 1)), "still stale");
        // A failed refresh lets the next caller try again.
        cache.end_refresh("u");
        assert!(cache.begin_refresh_at("u", later));
        // A refresh that never reports is retried after a time to live.
        assert!(!cache.begin_refresh_at("u", later + ttl / 2));
        assert!(cache.begin_refresh_at("u", later + ttl));
        // However refreshes go, an old enough value is not served.
        assert_eq!(state(&cache, t0 + ttl * STALE_FACTOR), None);
        assert!(!cache.is_missing("u") && cache.is_missing("missing"));
        // The refresh lands.
        cache.put_at("u", 2, later);
        assert_eq!(state(&cache, later), Some((true, 2)));
        assert!(!cache.begin_refresh_at("missing", later));
    }
}
