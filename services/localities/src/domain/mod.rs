//! The localities domain, free of gRPC and SQL: units and their kinds,
//! identifiers, validity periods, lineage, contacts, and the name folding
//! used by search.

pub mod contacts;
pub mod fold;
pub mod merge;
pub mod unit;

pub use contacts::Contacts;
pub use unit::{Lineage, NewUnit, Unit, UnitKind, UnitLevel};
