//! Injectable time: services read "now" from a [`Clock`] so tests can set
//! the date instead of sleeping.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use std::sync::{Arc, Mutex};

/// Vietnam's civil time (UTC+7, no daylight saving): Asia/Ho_Chi_Minh.
pub fn vietnam_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("utc+7 is a valid offset")
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in Asia/Ho_Chi_Minh.
    fn today(&self) -> NaiveDate {
        self.now().with_timezone(&vietnam_offset()).date_naive()
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock set to `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;
