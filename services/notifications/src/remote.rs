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
    sync::Mutex,
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
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V: Clone> TtlCache<V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: &str, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            entries.clear();
        }
        entries.insert(key.to_string(), (Instant::now(), value));
    }

    fn forget(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Lookups in localities and tasks.
#[derive(Debug)]
pub struct Remote {
    localities: LocalitiesClient<InternalChannel>,
    tasks: TasksClient<InternalChannel>,
    endpoints: TtlCache<Endpoints>,
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
            endpoints: TtlCache::new(contacts_ttl),
            names: TtlCache::new(Duration::from_secs(3600)),
            supervisors: TtlCache::new(Duration::from_secs(600)),
        }
    }

    /// Forgets a unit's cached contacts (after a delivery failure, so a
    /// fixed endpoint is picked up at once).
    pub fn forget_contacts(&self, unit_id: &str) {
        self.endpoints.forget(unit_id);
    }

    /// A unit's push endpoints (`unit_id` without "units/").
    pub async fn endpoints(&self, unit_id: &str) -> RemoteResult<Endpoints> {
        if let Some(e) = self.endpoints.get(unit_id) {
            return Ok(e);
        }
        let request = loc::GetContactsRequest {
            name: format!("units/{unit_id}/contacts"),
        };
        let endpoints = match self.localities.clone().get_contacts(request).await {
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
                Endpoints {
                    webhook_url,
                    webhook_secrets,
                    emails,
                }
            }
            Err(s) if s.code() == Code::NotFound => Endpoints::default(),
            Err(s) => return Err(s),
        };
        self.endpoints.put(unit_id, endpoints.clone());
        Ok(endpoints)
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
