//! The background work of one replica: follow the tasks feed into the
//! schedule ([`feed`]), produce the reminders that fall due ([`producer`],
//! [`digest`]) and push them out ([`dispatch`]). Each loop wakes on its own
//! tick or when another part kicks it, reads the time from the injected
//! clock, and leaves everything it has not finished in the database for the
//! next pass or the next replica.

pub mod digest;
pub mod dispatch;
pub mod feed;
pub mod producer;

use crate::{
    Config,
    domain::{Policy, ladder::OfficeHours},
    remote::Remote,
    store::{NotificationStore, StoredPolicy},
};
use chrono::{DateTime, Datelike, Utc};
use p06_kit::{Shutdown, calendar::Calendar, clock::SharedClock};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::sync::{Notify, watch};

/// Policies by scope, read on every evaluation.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// By directive id.
    pub by_directive: HashMap<String, Policy>,
    /// By task group (stored name).
    pub by_group: HashMap<String, Policy>,
}

impl Policies {
    /// The set the stored policies make.
    pub fn from_stored(stored: impl IntoIterator<Item = StoredPolicy>) -> Self {
        let mut policies = Self::default();
        for p in stored {
            let policy = Policy {
                rules: p.rules,
                urgent: p.urgent,
            };
            match (p.directive_id, p.group) {
                (Some(d), _) => {
                    policies.by_directive.insert(d, policy);
                }
                (None, Some(g)) => {
                    policies.by_group.insert(g, policy);
                }
                (None, None) => {}
            }
        }
        policies
    }

    /// The policy for an assignment: its directive's, else its group's,
    /// else the default ladder.
    pub fn resolve(&self, directive_id: &str, group: &str) -> Policy {
        self.by_directive
            .get(directive_id)
            .or_else(|| self.by_group.get(group))
            .cloned()
            .unwrap_or_default()
    }
}

/// What the loops share.
pub struct Engine<S> {
    /// Storage.
    pub store: Arc<S>,
    /// Time.
    pub clock: SharedClock,
    /// Settings.
    pub config: Config,
    /// Other services.
    pub remote: Remote,
    /// Office hours.
    pub office: OfficeHours,
    calendar: RwLock<(Calendar, String)>,
    policies: RwLock<Policies>,
    /// Wakes the producer (a feed change or policy change).
    pub produce_kick: Notify,
    /// Wakes the dispatcher (new deliveries, redrive).
    pub dispatch_kick: Notify,
    /// The last stream position this replica wrote; Subscribe streams wait
    /// on it.
    pub produced: watch::Sender<i64>,
}

impl<S: NotificationStore> Engine<S> {
    /// An engine over these parts; the calendar and policies load on
    /// [`Engine::refresh`].
    pub fn new(
        store: Arc<S>,
        clock: SharedClock,
        config: Config,
        remote: Remote,
        office: OfficeHours,
    ) -> Self {
        Self {
            store,
            clock,
            config,
            remote,
            office,
            calendar: RwLock::new((Calendar::default(), String::new())),
            policies: RwLock::new(Policies::default()),
            produce_kick: Notify::new(),
            dispatch_kick: Notify::new(),
            produced: watch::channel(0).0,
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The working-day calendar as last loaded.
    pub fn calendar(&self) -> Calendar {
        self.calendar
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// The policies as last loaded.
    pub fn policies(&self) -> Policies {
        self.policies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads the calendar from tasks and the policies from the store. A
    /// changed calendar makes every schedule due for re-evaluation.
    pub async fn refresh(&self) -> Result<(), String> {
        let year = self.clock.today().year();
        let (calendar, etag) = self
            .remote
            .calendar(year - 1..=year + 2)
            .await
            .map_err(|s| format!("calendar from tasks: {}", s.message()))?;
        let changed = {
            let mut current = self.calendar.write().unwrap_or_else(|p| p.into_inner());
            let changed = !current.1.is_empty() && current.1 != etag;
            *current = (calendar, etag);
            changed
        };
        if changed {
            let now = self.now().timestamp_millis();
            self.store
                .touch_schedules(&crate::store::Scope::All, now)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!("calendar changed, re-evaluating every schedule");
            self.produce_kick.notify_one();
        }
        self.reload_policies().await
    }

    /// Reloads the policies from the store.
    pub async fn reload_policies(&self) -> Result<(), String> {
        let stored = self.store.policies().await.map_err(|e| e.to_string())?;
        let policies = Policies::from_stored(stored);
        *self.policies.write().unwrap_or_else(|p| p.into_inner()) = policies;
        Ok(())
    }

    /// Whether the calendar has been loaded.
    pub fn ready(&self) -> bool {
        !self
            .calendar
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .is_empty()
    }

    /// The tick of the background loops.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.config.tick_ms.max(1))
    }
}

/// What a pass asks of its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// More work is waiting: run again at once.
    Again,
    /// Nothing more now: sleep until the tick, a kick, or sooner when
    /// work is known to fall due after this long.
    Idle(Option<Duration>),
}

/// The shortest sleep before work known to fall due: passes that wake
/// for a trickle of due items still take a few together.
pub const MIN_WAIT: Duration = Duration::from_millis(5);

/// Runs `pass` every tick, when `kick` fires, or when the pass says work
/// falls due sooner, until shutdown; a pass that reports more work runs
/// again at once.
pub async fn run_loop<F, Fut>(
    name: &'static str,
    tick: Duration,
    kick: &Notify,
    shutdown: Shutdown,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Pace, String>>,
{
    loop {
        let wait = match pass().await {
            Ok(Pace::Again) => {
                if shutdown.is_triggered() {
                    return;
                }
                tokio::task::yield_now().await;
                continue;
            }
            Ok(Pace::Idle(soon)) => soon.map_or(tick, |d| d.max(MIN_WAIT).min(tick)),
            Err(error) => {
                tracing::warn!(pass = name, %error, "pass failed; will retry");
                tick
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = kick.notified() => {}
            () = shutdown.wait() => return,
        }
    }
}
