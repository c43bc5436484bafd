//! The registry in memory. Units and lineage are read on every call that
//! names a unit (GetUnit, BatchGetUnits, LookupUnit, lineage walks,
//! escalation chains) and change a few times a year, so [`CachedStore`]
//! serves those reads from an immutable [`Snapshot`] and passes everything
//! else to the database store.
//!
//! A service starts answering from the database and switches to memory
//! once the first load (made in the background) is done.
//!
//! How the snapshot stays current:
//! - a write through this replica patches it before the write returns, so
//!   a caller reads its own writes;
//! - every replica checks the database's [`RegistryVersion`] every
//!   `refresh` and reloads when it moved (writes by other replicas, or by
//!   an older binary); on PostgreSQL a write also sends a notification on
//!   [`CHANGE_CHANNEL`] that makes the other replicas check at once.
//!
//! Units are never deleted, every change to a unit raises its version, and
//! lineage links are only added, so merging two views keeps, per unit, the
//! higher version and the union of the links: patches and reloads may land
//! in any order and the snapshot only moves forward.

use super::{LocalityStore, Merge, MergeOutcome, Mutation, StoreResult, UnitPage, UnitQuery};
use crate::{
    domain::{Contacts, Lineage, NewUnit, Unit, UnitLevel},
    refdata::ReferenceData,
};
use chrono::{DateTime, NaiveDate, Utc};
use p06_kit::Shutdown;
use std::{
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

/// The PostgreSQL notification channel a registry write signals on.
pub const CHANGE_CHANNEL: &str = "p06_localities_registry";

/// What changes whenever the registry does: unit count, the sum of unit
/// versions and the link count (units and links are never deleted, and
/// every change to a unit raises its version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryVersion {
    /// Units.
    pub units: i64,
    /// Sum of their versions.
    pub versions: i64,
    /// Lineage links.
    pub links: i64,
}

/// Every unit and link, as read from the database.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Units without their lineage lists (the snapshot fills them).
    pub units: Vec<Unit>,
    /// Every link.
    pub links: Vec<Lineage>,
    /// The version this was read at (or before).
    pub version: RegistryVersion,
}

/// An immutable view of the registry, kept compact: one sorted vector of
/// units, positions into it for the code index, and one sorted vector of
/// links (no map keys copying ids and codes).
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Every unit, by id.
    units: Vec<Unit>,
    /// Positions in `units`, by (code, level, id).
    by_code: Vec<u32>,
    /// Every link, by predecessor, primary first, then successor id.
    links: Vec<Lineage>,
    version: RegistryVersion,
}

impl Snapshot {
    /// A snapshot of `registry`.
    pub fn build(registry: Registry) -> Self {
        let mut links = registry.links;
        links.sort_by(|a, b| (&a.predecessor, &a.successor).cmp(&(&b.predecessor, &b.successor)));
        links.dedup_by(|a, b| a.predecessor == b.predecessor && a.successor == b.successor);
        let mut units = registry.units;
        // A stable sort: of several copies of a unit the first stays.
        units.sort_by(|a, b| a.id.cmp(&b.id));
        units.dedup_by(|a, b| a.id == b.id);
        for u in &mut units {
            u.predecessors.clear();
            u.successors.clear();
        }
        // Links in (predecessor, successor) order fill both lists in the
        // order the database gives them.
        for l in &links {
            if let Ok(i) = units.binary_search_by(|u| u.id.as_str().cmp(&l.predecessor)) {
                units[i].successors.push(l.successor.clone());
            }
            if let Ok(i) = units.binary_search_by(|u| u.id.as_str().cmp(&l.successor)) {
                units[i].predecessors.push(l.predecessor.clone());
            }
        }
        links.sort_by(|a, b| {
            a.predecessor
                .cmp(&b.predecessor)
                .then_with(|| b.primary.cmp(&a.primary))
                .then_with(|| a.successor.cmp(&b.successor))
        });
        let mut by_code: Vec<u32> = (0..units.len() as u32).collect();
        by_code.sort_by(|&a, &b| {
            Self::code_key(&units[a as usize]).cmp(&Self::code_key(&units[b as usize]))
        });
        units.shrink_to_fit();
        links.shrink_to_fit();
        Self {
            units,
            by_code,
            links,
            version: registry.version,
        }
    }

    fn code_key(u: &Unit) -> (&str, &'static str) {
        (u.code.as_str(), u.level.as_str())
    }

    /// This view and `other` together: per unit the higher version, and
    /// every link of either.
    fn merged(&self, other: Registry) -> Self {
        let mut units: Vec<Unit> = self.units.iter().cloned().chain(other.units).collect();
        // Highest version first within an id: `build` keeps the first.
        units.sort_by(|a, b| a.id.cmp(&b.id).then_with(|| b.version.cmp(&a.version)));
        let mut links = self.links.clone();
        links.extend(other.links);
        let version = if other.version == RegistryVersion::default() {
            self.version
        } else {
            other.version
        };
        Self::build(Registry {
            units,
            links,
            version,
        })
    }

    fn unit_ref(&self, id: &str) -> Option<&Unit> {
        self.units
            .binary_search_by(|u| u.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.units[i])
    }

    /// One unit.
    pub fn unit(&self, id: &str) -> Option<Unit> {
        self.unit_ref(id).cloned()
    }

    /// The unit bearing `code` at `level` on `date` (the first by kind,
    /// then id, as the database orders them).
    pub fn lookup(&self, code: &str, level: UnitLevel, date: NaiveDate) -> Option<Unit> {
        let key = (code, level.as_str());
        let start = self
            .by_code
            .partition_point(|&i| Self::code_key(&self.units[i as usize]) < key);
        self.by_code[start..]
            .iter()
            .map(|&i| &self.units[i as usize])
            .take_while(|u| Self::code_key(u) == key)
            .filter(|u| u.active_on(date))
            .min_by(|a, b| (a.kind.as_str(), &a.id).cmp(&(b.kind.as_str(), &b.id)))
            .cloned()
    }

    /// Links where `id` is the predecessor, primary first.
    pub fn successors_of(&self, id: &str) -> Vec<Lineage> {
        let start = self.links.partition_point(|l| l.predecessor.as_str() < id);
        self.links[start..]
            .iter()
            .take_while(|l| l.predecessor == id)
            .cloned()
            .collect()
    }
}

/// A store whose unit and lineage reads come from memory.
#[derive(Debug)]
pub struct CachedStore<S> {
    inner: Arc<S>,
    /// `None` until the first load: reads go to the database meanwhile.
    current: Arc<RwLock<Option<Arc<Snapshot>>>>,
    /// Serializes patches and reloads, so each starts from the last one.
    writer: Arc<Mutex<()>>,
}

impl<S> Clone for CachedStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            current: self.current.clone(),
            writer: self.writer.clone(),
        }
    }
}

impl<S: LocalityStore> CachedStore<S> {
    /// Loads the registry from `inner` and serves from memory.
    pub async fn new(inner: S) -> StoreResult<Self> {
        let store = Self::lazy(inner);
        store.refresh().await?;
        Ok(store)
    }

    /// Serves from `inner` until the first [`CachedStore::refresh`] (which
    /// [`CachedStore::spawn_refresh`] makes at once), then from memory; a
    /// service starts answering without waiting for the load.
    pub fn lazy(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            current: Arc::new(RwLock::new(None)),
            writer: Arc::new(Mutex::new(())),
        }
    }

    /// The database store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The current snapshot, once loaded.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Merges `registry` into the snapshot; a full `registry` (`load`)
    /// also makes the first one.
    fn apply(&self, registry: Registry, load: bool) {
        let _writing = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let next = match self.snapshot() {
            Some(current) => current.merged(registry),
            None if load => Snapshot::build(registry),
            // Nothing to patch yet: the first load reads the write.
            None => return,
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(next));
    }

    /// Reads the units a write touched (and their links) into the snapshot,
    /// then signals other replicas. The write has landed whatever happens
    /// here: a failed read is logged and the next refresh catches up.
    async fn patch(&self, ids: Vec<String>) {
        let read = async {
            let units = self.inner.get_units(&ids).await?;
            let mut links = Vec::new();
            for id in &ids {
                links.extend(self.inner.successors_of(id).await?);
            }
            StoreResult::Ok(Registry {
                units,
                links,
                version: RegistryVersion::default(),
            })
        };
        match read.await {
            Ok(registry) => self.apply(registry, false),
            Err(error) => {
                tracing::warn!(%error, "registry snapshot not patched after a write; the next refresh reloads it")
            }
        }
        self.inner.signal_change().await;
    }

    /// Reloads when the database's registry version differs from the
    /// snapshot's; returns whether it did.
    pub async fn refresh(&self) -> StoreResult<bool> {
        let now = self.inner.registry_version().await?;
        if self.snapshot().is_some_and(|s| s.version == now) {
            return Ok(false);
        }
        let registry = self.inner.load_registry().await?;
        self.apply(registry, true);
        Ok(true)
    }

    /// Keeps the snapshot current until `shutdown`: loads it now if not
    /// yet loaded, then checks the registry version every `every`, and at
    /// once when another replica signals a write.
    pub fn spawn_refresh(&self, every: Duration, shutdown: Shutdown) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut signals = this.inner.change_signals(shutdown.clone());
            let mut first = this.snapshot().is_none();
            loop {
                if !std::mem::take(&mut first) {
                    tokio::select! {
                        _ = shutdown.wait() => return,
                        _ = tokio::time::sleep(every) => {}
                        Some(()) = signals.recv() => {}
                    }
                }
                if let Err(error) = this.refresh().await {
                    tracing::warn!(%error, "registry snapshot refresh failed; serving the last one");
                }
            }
        });
    }
}

impl<S: LocalityStore> LocalityStore for CachedStore<S> {
    async fn get_unit(&self, id: &str) -> StoreResult<Option<Unit>> {
        match self.snapshot() {
            Some(snapshot) => Ok(snapshot.unit(id)),
            None => self.inner.get_unit(id).await,
        }
    }

    async fn get_units(&self, ids: &[String]) -> StoreResult<Vec<Unit>> {
        match self.snapshot() {
            Some(snapshot) => Ok(ids.iter().filter_map(|id| snapshot.unit(id)).collect()),
            None => self.inner.get_units(ids).await,
        }
    }

    async fn list_units(&self, query: &UnitQuery) -> StoreResult<UnitPage> {
        self.inner.list_units(query).await
    }

    async fn lookup(
        &self,
        code: &str,
        level: UnitLevel,
        date: NaiveDate,
    ) -> StoreResult<Option<Unit>> {
        match self.snapshot() {
            Some(snapshot) => Ok(snapshot.lookup(code, level, date)),
            None => self.inner.lookup(code, level, date).await,
        }
    }

    async fn successors_of(&self, id: &str) -> StoreResult<Vec<Lineage>> {
        match self.snapshot() {
            Some(snapshot) => Ok(snapshot.successors_of(id)),
            None => self.inner.successors_of(id).await,
        }
    }

    async fn create_unit(&self, unit: &NewUnit, m: &Mutation) -> StoreResult<Unit> {
        let created = self.inner.create_unit(unit, m).await?;
        self.patch(vec![created.id.clone()]).await;
        Ok(created)
    }

    async fn update_unit(&self, unit: &Unit, expected: i64, m: &Mutation) -> StoreResult<Unit> {
        let result = self.inner.update_unit(unit, expected, m).await;
        // A conflict means the database moved past this snapshot: catch up.
        self.patch(vec![unit.id.clone()]).await;
        result
    }

    async fn merge_units(&self, merge: &Merge, m: &Mutation) -> StoreResult<MergeOutcome> {
        let outcome = self.inner.merge_units(merge, m).await?;
        let mut ids: Vec<String> = outcome.ended.iter().map(|u| u.id.clone()).collect();
        ids.push(outcome.successor.id.clone());
        self.patch(ids).await;
        Ok(outcome)
    }

    async fn get_contacts(&self, unit_id: &str) -> StoreResult<Option<Contacts>> {
        self.inner.get_contacts(unit_id).await
    }

    async fn put_contacts(&self, contacts: &Contacts, m: &Mutation) -> StoreResult<Contacts> {
        self.inner.put_contacts(contacts, m).await
    }

    async fn recall(&self, method: &str, request_id: &str) -> StoreResult<Option<String>> {
        self.inner.recall(method, request_id).await
    }

    async fn load_reference(
        &self,
        data: &ReferenceData,
        version: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let loaded = self.inner.load_reference(data, version, at).await?;
        if loaded {
            self.refresh().await?;
            self.inner.signal_change().await;
        }
        Ok(loaded)
    }

    async fn load_registry(&self) -> StoreResult<Registry> {
        self.inner.load_registry().await
    }

    async fn registry_version(&self) -> StoreResult<RegistryVersion> {
        self.inner.registry_version().await
    }

    async fn signal_change(&self) {
        self.inner.signal_change().await
    }

    fn change_signals(&self, shutdown: Shutdown) -> tokio::sync::mpsc::Receiver<()> {
        self.inner.change_signals(shutdown)
    }
}
