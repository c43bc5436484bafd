//! Storage of units, lineage and contacts behind one trait speaking domain
//! types; [`sql::SqlStore`] implements it on SQLite and on PostgreSQL.

#[cfg(test)]
mod conformance;
pub mod snapshot;
pub mod sql;

use crate::{
    domain::{Contacts, Lineage, NewUnit, Unit, UnitLevel},
    refdata::ReferenceData,
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::filter::SqlCondition;
use std::future::Future;

pub use snapshot::{CachedStore, Registry, RegistryVersion, Snapshot};
pub use sql::SqlStore;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such unit.
    #[error("units/{0} not found")]
    NotFound(String),
    /// The id is taken.
    #[error("units/{0} already exists")]
    AlreadyExists(String),
    /// The etag was stale.
    #[error("units/{id} changed since it was read (now version {current})")]
    Conflict {
        /// The resource.
        id: String,
        /// Its current version.
        current: i64,
    },
    /// A reference to another unit is wrong: (field, message).
    #[error("{0}: {1}")]
    Invalid(&'static str, String),
    /// A domain rule refused the change: (field, reason, message).
    #[error("{2}")]
    Precondition(&'static str, &'static str, String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who makes a change, and the request id that makes retries idempotent.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// "apiKeys/…" or "service".
    pub actor: String,
    /// The RPC, for the request log ("CreateUnit").
    pub method: &'static str,
    /// Idempotency key, when the caller gave one.
    pub request_id: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Order of a unit list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitOrder {
    /// By code, then id.
    Code,
    /// By Vietnamese name, then id.
    DisplayName,
    /// By id.
    Name,
}

impl UnitOrder {
    /// The sort column.
    pub fn column(self) -> &'static str {
        match self {
            UnitOrder::Code => "code",
            UnitOrder::DisplayName => "name_vi",
            UnitOrder::Name => "id",
        }
    }
}

/// A page request over units.
#[derive(Debug, Clone)]
pub struct UnitQuery {
    /// Filter condition over unit columns, placeholders from `$1`.
    pub filter: Option<SqlCondition>,
    /// In force on this date.
    pub active_on: Option<NaiveDate>,
    /// Folded name search.
    pub search: Option<String>,
    /// Sort key.
    pub order: UnitOrder,
    /// Descending.
    pub descending: bool,
    /// Keyset: (sort value, id) of the last unit already served.
    pub after: Option<(String, String)>,
    /// Page size.
    pub limit: usize,
}

/// A page of units.
#[derive(Debug, Clone)]
pub struct UnitPage {
    /// The units.
    pub units: Vec<Unit>,
    /// Whether more follow.
    pub more: bool,
    /// Matches over all pages.
    pub total: i64,
}

/// A merge to carry out.
#[derive(Debug, Clone)]
pub struct Merge {
    /// Units to end.
    pub sources: Vec<String>,
    /// Existing successor id, or a new unit.
    pub successor: Successor,
    /// First day of the successor's responsibility.
    pub effective: NaiveDate,
}

/// The successor of a merge.
#[derive(Debug, Clone)]
pub enum Successor {
    /// An existing unit.
    Existing(String),
    /// A unit to create.
    New(NewUnit),
}

/// What a merge did.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The successor after the merge.
    pub successor: Unit,
    /// The sources, now ended.
    pub ended: Vec<Unit>,
}

/// The localities store.
pub trait LocalityStore: Send + Sync + 'static {
    /// One unit with its lineage.
    fn get_unit(&self, id: &str) -> impl Future<Output = StoreResult<Option<Unit>>> + Send;
    /// The units with these ids that exist, in no particular order.
    fn get_units(&self, ids: &[String]) -> impl Future<Output = StoreResult<Vec<Unit>>> + Send;
    /// A page of units.
    fn list_units(&self, query: &UnitQuery) -> impl Future<Output = StoreResult<UnitPage>> + Send;
    /// The unit bearing `code` at `level` on `date`.
    fn lookup(
        &self,
        code: &str,
        level: UnitLevel,
        date: NaiveDate,
    ) -> impl Future<Output = StoreResult<Option<Unit>>> + Send;
    /// Links where `id` is the predecessor.
    fn successors_of(&self, id: &str) -> impl Future<Output = StoreResult<Vec<Lineage>>> + Send;
    /// Inserts a unit; AlreadyExists when the id is taken.
    fn create_unit(
        &self,
        unit: &NewUnit,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Unit>> + Send;
    /// Writes the mutable fields of `unit` if its version is still `expected`.
    fn update_unit(
        &self,
        unit: &Unit,
        expected: i64,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Unit>> + Send;
    /// Ends the sources and links them to the successor, in one transaction.
    fn merge_units(
        &self,
        merge: &Merge,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<MergeOutcome>> + Send;
    /// A unit's contacts (None before the first write).
    fn get_contacts(
        &self,
        unit_id: &str,
    ) -> impl Future<Output = StoreResult<Option<Contacts>>> + Send;
    /// Writes contacts if their version is still `contacts.version`.
    fn put_contacts(
        &self,
        contacts: &Contacts,
        m: &Mutation,
    ) -> impl Future<Output = StoreResult<Contacts>> + Send;
    /// The result recorded for a request id, if the request was served.
    fn recall(
        &self,
        method: &str,
        request_id: &str,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
    /// Loads the reference data unless `version` is already loaded; returns
    /// whether it loaded.
    fn load_reference(
        &self,
        data: &ReferenceData,
        version: &str,
        at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Every unit and lineage link, with the registry version read first
    /// (so the data is at least as new as the version).
    fn load_registry(&self) -> impl Future<Output = StoreResult<Registry>> + Send;
    /// What the registry's content is now, to tell whether a snapshot is
    /// behind.
    fn registry_version(&self) -> impl Future<Output = StoreResult<RegistryVersion>> + Send;
    /// Tells other replicas that the registry changed (PostgreSQL
    /// notification; nothing on SQLite).
    fn signal_change(&self) -> impl Future<Output = ()> + Send;
    /// Receives a message whenever another replica signals a change, until
    /// `shutdown` (never, on SQLite).
    fn change_signals(&self, shutdown: p06_kit::Shutdown) -> tokio::sync::mpsc::Receiver<()>;
}
