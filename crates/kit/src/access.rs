//! Who may call what: one table for every public RPC of p06, checked by one
//! function ([`authorize`]) before any handler runs — at the gateway for
//! every authenticated call and again in each service ([`crate::identity`]'s
//! layer), so a call that skipped the gateway meets the same rule.
//!
//! A [`Rule`] names the roles that may act on any unit and the roles that
//! may act only on their own unit. Where a request names a unit (an
//! assignment, a unit's contacts, a notification), the handler asks the
//! [`Grant`] it was given to check that unit ([`Grant::check_unit`]); where
//! a list or a stream spans units, [`Grant::reach`] tells it to narrow the
//! results to the caller's own unit. Other p06 services calling on their own
//! behalf ([`Caller::Service`]) pass every rule.
//!
//! The table is tested against the gateway's reflected descriptor set: an
//! RPC without a rule (or a rule without an RPC) fails the tests, and a
//! matrix test calls every RPC as every kind of caller.

use crate::{Caller, Role, errors};
use std::ops::Deref;
use tonic::{Code, Status};

/// Who may call one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Roles that may act on any unit.
    pub anywhere: &'static [Role],
    /// Roles that may act only on their own unit: where the request names a
    /// unit it must be the key's, and lists are narrowed to it.
    pub own_unit: &'static [Role],
}

const ALL: &[Role] = &[Role::Admin, Role::Coordinator, Role::Unit, Role::Viewer];
const ADMIN: &[Role] = &[Role::Admin];
const COORDINATORS: &[Role] = &[Role::Admin, Role::Coordinator];
const READERS: &[Role] = &[Role::Admin, Role::Coordinator, Role::Viewer];
const UNIT: &[Role] = &[Role::Unit];
const ACTORS: &[Role] = &[Role::Admin, Role::Coordinator, Role::Unit];
const NONE: &[Role] = &[];

/// Every role, on any unit.
const OPEN: Rule = Rule {
    anywhere: ALL,
    own_unit: NONE,
};
/// ADMIN only.
const ADMIN_ONLY: Rule = Rule {
    anywhere: ADMIN,
    own_unit: NONE,
};
/// COORDINATOR and ADMIN.
const COORDINATION: Rule = Rule {
    anywhere: COORDINATORS,
    own_unit: NONE,
};
/// Reads of one unit's data: anyone but a UNIT key of another unit.
const UNIT_READ: Rule = Rule {
    anywhere: READERS,
    own_unit: UNIT,
};
/// Acts of a unit that coordinators may also take for it.
const UNIT_OR_COORDINATION: Rule = Rule {
    anywhere: COORDINATORS,
    own_unit: UNIT,
};
/// Acts only the unit itself takes (any key bound to it but a VIEWER).
const UNIT_ITSELF: Rule = Rule {
    anywhere: NONE,
    own_unit: ACTORS,
};

/// The rule of every public RPC, by gRPC path.
pub const TABLE: &[(&str, Rule)] = &[
    // p06.gateway.v1.Access
    ("/p06.gateway.v1.Access/CreateApiKey", ADMIN_ONLY),
    ("/p06.gateway.v1.Access/GetApiKey", ADMIN_ONLY),
    ("/p06.gateway.v1.Access/ListApiKeys", ADMIN_ONLY),
    ("/p06.gateway.v1.Access/RevokeApiKey", ADMIN_ONLY),
    ("/p06.gateway.v1.Access/WhoAmI", OPEN),
    // p06.localities.v1.Localities
    ("/p06.localities.v1.Localities/GetUnit", OPEN),
    ("/p06.localities.v1.Localities/BatchGetUnits", OPEN),
    ("/p06.localities.v1.Localities/ListUnits", OPEN),
    ("/p06.localities.v1.Localities/LookupUnit", OPEN),
    ("/p06.localities.v1.Localities/CreateUnit", ADMIN_ONLY),
    ("/p06.localities.v1.Localities/UpdateUnit", ADMIN_ONLY),
    ("/p06.localities.v1.Localities/MergeUnits", ADMIN_ONLY),
    ("/p06.localities.v1.Localities/ResolveSuccessor", OPEN),
    ("/p06.localities.v1.Localities/GetEscalationChain", OPEN),
    ("/p06.localities.v1.Localities/GetContacts", OPEN),
    (
        "/p06.localities.v1.Localities/UpdateContacts",
        Rule {
            anywhere: ADMIN,
            own_unit: UNIT,
        },
    ),
    // p06.notifications.v1.Notifications
    (
        "/p06.notifications.v1.Notifications/ListNotifications",
        UNIT_READ,
    ),
    (
        "/p06.notifications.v1.Notifications/GetNotification",
        UNIT_READ,
    ),
    (
        "/p06.notifications.v1.Notifications/AcknowledgeNotification",
        UNIT_OR_COORDINATION,
    ),
    ("/p06.notifications.v1.Notifications/Subscribe", UNIT_READ),
    (
        "/p06.notifications.v1.Notifications/ListDeliveries",
        UNIT_READ,
    ),
    (
        "/p06.notifications.v1.Notifications/ListDeliveryAttempts",
        UNIT_READ,
    ),
    (
        "/p06.notifications.v1.Notifications/RedriveDelivery",
        COORDINATION,
    ),
    (
        "/p06.notifications.v1.Notifications/CreatePolicy",
        COORDINATION,
    ),
    ("/p06.notifications.v1.Notifications/GetPolicy", OPEN),
    ("/p06.notifications.v1.Notifications/ListPolicies", OPEN),
    (
        "/p06.notifications.v1.Notifications/UpdatePolicy",
        COORDINATION,
    ),
    (
        "/p06.notifications.v1.Notifications/DeletePolicy",
        COORDINATION,
    ),
    // p06.tasks.v1.Tasks
    ("/p06.tasks.v1.Tasks/CreateDirective", COORDINATION),
    ("/p06.tasks.v1.Tasks/GetDirective", OPEN),
    ("/p06.tasks.v1.Tasks/ListDirectives", OPEN),
    ("/p06.tasks.v1.Tasks/CreateTask", COORDINATION),
    ("/p06.tasks.v1.Tasks/GetTask", OPEN),
    ("/p06.tasks.v1.Tasks/GetAssignment", UNIT_READ),
    ("/p06.tasks.v1.Tasks/ListAssignments", UNIT_READ),
    ("/p06.tasks.v1.Tasks/ReportProgress", UNIT_OR_COORDINATION),
    (
        "/p06.tasks.v1.Tasks/CompleteAssignment",
        UNIT_OR_COORDINATION,
    ),
    ("/p06.tasks.v1.Tasks/ReopenAssignment", COORDINATION),
    ("/p06.tasks.v1.Tasks/CancelAssignment", COORDINATION),
    ("/p06.tasks.v1.Tasks/RequestExtension", UNIT_ITSELF),
    ("/p06.tasks.v1.Tasks/DecideExtension", COORDINATION),
    ("/p06.tasks.v1.Tasks/ListExtensions", UNIT_READ),
    ("/p06.tasks.v1.Tasks/ApplyAdministrativeChanges", ADMIN_ONLY),
    ("/p06.tasks.v1.Tasks/ListAssignmentEvents", UNIT_READ),
    ("/p06.tasks.v1.Tasks/GetCalendar", OPEN),
    ("/p06.tasks.v1.Tasks/UpdateCalendar", ADMIN_ONLY),
    ("/p06.tasks.v1.Tasks/AddWorkingDays", OPEN),
    ("/p06.tasks.v1.Tasks/GetSummary", UNIT_READ),
    ("/p06.tasks.v1.Tasks/GetScoreboard", OPEN),
    ("/p06.tasks.v1.Tasks/CreateIndicator", COORDINATION),
    ("/p06.tasks.v1.Tasks/ListIndicators", OPEN),
    (
        "/p06.tasks.v1.Tasks/RecordIndicatorValue",
        UNIT_OR_COORDINATION,
    ),
    ("/p06.tasks.v1.Tasks/GetIndicatorProgress", OPEN),
    ("/p06.tasks.v1.Tasks/ListAuditLog", COORDINATION),
    ("/p06.tasks.v1.Tasks/WatchChanges", UNIT_READ),
];

/// The rule of the RPC at `path` ("/p06.tasks.v1.Tasks/ReportProgress").
pub fn rule(path: &str) -> Option<&'static Rule> {
    TABLE.iter().find(|(p, _)| *p == path).map(|(_, rule)| rule)
}

/// The method's short name in a gRPC path ("ReportProgress").
fn method_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks `caller` against the rule of the RPC at `path`: UNIMPLEMENTED
/// when p06 has no such RPC (so no rule), PERMISSION_DENIED (reason
/// `ROLE_NOT_ALLOWED`) when the caller's role is in neither list; otherwise
/// the [`Grant`] the handler uses for the unit checks.
pub fn authorize(caller: &Caller, path: &str) -> Result<Grant, Status> {
    let rule = rule(path).ok_or_else(|| {
        Status::unimplemented(format!(
            "no such method: {}",
            crate::rpc::message::excerpt(path)
        ))
    })?;
    let method = method_of(path).to_string();
    if let Caller::User(identity) = caller {
        let role = identity.role;
        if !rule.anywhere.contains(&role) && !rule.own_unit.contains(&role) {
            let wanted = rule
                .anywhere
                .iter()
                .chain(rule.own_unit)
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(errors::with_reason(
                Code::PermissionDenied,
                "ROLE_NOT_ALLOWED",
                format!("{method} needs a {wanted} key; this key is {role}"),
                &[("role", role.as_str()), ("action", &method)],
            ));
        }
    }
    Ok(Grant {
        caller: caller.clone(),
        rule,
        method,
    })
}

/// The units a caller's results may span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// Every unit.
    Everywhere,
    /// Only this unit (its id, without "units/").
    Unit(&'a str),
}

impl<'a> Reach<'a> {
    /// The one unit, when narrowed.
    pub fn unit(self) -> Option<&'a str> {
        match self {
            Reach::Everywhere => None,
            Reach::Unit(unit) => Some(unit),
        }
    }
}

/// A caller that passed its RPC's rule, with that rule for the checks that
/// need the request's unit. Dereferences to the [`Caller`].
#[derive(Debug, Clone)]
pub struct Grant {
    caller: Caller,
    rule: &'static Rule,
    method: String,
}

/// "p01" for "units/p01" or "p01".
fn unit_id(unit: &str) -> &str {
    unit.strip_prefix("units/").unwrap_or(unit)
}

impl Grant {
    /// The grant the service's layer attached to `request`.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<&Grant, Status> {
        request
            .extensions()
            .get::<Grant>()
            .ok_or_else(|| Status::unauthenticated("missing caller identity"))
    }

    /// The caller.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The units the caller's results may span: its own unit only when its
    /// role may act on its own unit alone.
    pub fn reach(&self) -> Reach<'_> {
        match &self.caller {
            Caller::User(i) if !self.rule.anywhere.contains(&i.role) => {
                Reach::Unit(unit_id(&i.unit))
            }
            _ => Reach::Everywhere,
        }
    }

    /// Whether the caller may act on `unit` ("p01" or "units/p01").
    pub fn allows_unit(&self, unit: &str) -> bool {
        match self.reach() {
            Reach::Everywhere => true,
            Reach::Unit(own) => own == unit_id(unit),
        }
    }

    /// PERMISSION_DENIED (reason `NOT_OWN_UNIT`) unless the caller may act
    /// on `unit`.
    pub fn check_unit(&self, unit: &str) -> Result<(), Status> {
        if self.allows_unit(unit) {
            return Ok(());
        }
        let unit = format!("units/{}", unit_id(unit));
        let own = self
            .caller
            .identity()
            .map(|i| i.unit.as_str())
            .unwrap_or("");
        Err(errors::with_reason(
            Code::PermissionDenied,
            "NOT_OWN_UNIT",
            format!(
                "{} on {} needs a key of that unit or a wider role; this key acts for {own}",
                self.method,
                crate::rpc::message::excerpt(&unit)
            ),
            &[("unit", &unit), ("action", &self.method)],
        ))
    }
}

impl Deref for Grant {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    fn user(role: Role, unit: &str) -> Caller {
        Caller::User(Identity {
            key: "apiKeys/k".into(),
            unit: unit.into(),
            role,
        })
    }

    #[test]
    fn every_path_is_listed_once() {
        for (i, (path, rule)) in TABLE.iter().enumerate() {
            assert!(path.starts_with("/p06.") && path.matches('/').count() == 2);
            assert!(!rule.anywhere.is_empty() || !rule.own_unit.is_empty());
            assert!(
                TABLE[i + 1..].iter().all(|(p, _)| p != path),
                "{path} twice"
            );
        }
    }

    #[test]
    fn roles_and_units() {
        let report = "/p06.tasks.v1.Tasks/RequestExtension";
        let p01 = user(Role::Unit, "units/p01");
        let grant = authorize(&p01, report).unwrap();
        assert!(grant.check_unit("p01").is_ok() && grant.check_unit("units/p01").is_ok());
        let denied = grant.check_unit("p02").unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(denied.message().contains("units/p02"), "{denied:?}");
        // Only the unit itself asks, even an ADMIN of another unit may not.
        let admin = authorize(&user(Role::Admin, "units/wg06"), report).unwrap();
        assert!(admin.check_unit("p01").is_err() && admin.check_unit("wg06").is_ok());
        let viewer = authorize(&user(Role::Viewer, "units/p01"), report).unwrap_err();
        assert_eq!(viewer.code(), Code::PermissionDenied);
        // Reads: a UNIT key is narrowed to its unit, a VIEWER is not.
        let list = "/p06.tasks.v1.Tasks/ListAssignments";
        assert_eq!(authorize(&p01, list).unwrap().reach(), Reach::Unit("p01"));
        let viewer = authorize(&user(Role::Viewer, "units/p02"), list).unwrap();
        assert_eq!(viewer.reach(), Reach::Everywhere);
        // Services pass every rule; unknown paths have none.
        let service = authorize(&Caller::Service, "/p06.gateway.v1.Access/CreateApiKey").unwrap();
        assert!(service.check_unit("p09").is_ok());
        assert_eq!(
            authorize(&Caller::Service, "/p06.tasks.v1.Tasks/Nope")
                .unwrap_err()
                .code(),
            Code::Unimplemented
        );
        assert_eq!(
            authorize(&p01, "/p06.gateway.v1.Access/CreateApiKey")
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
    }
}
