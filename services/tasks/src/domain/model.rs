//! Directives, tasks, assignments and their changes.

use super::status::{Period, StatusInput};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The programme's task groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TaskGroup {
    /// Institutions (thể chế).
    Institutions,
    /// Infrastructure.
    Infrastructure,
    /// Public services.
    PublicServices,
    /// Data.
    Data,
    /// Resources.
    Resources,
    /// The security bottleneck.
    Security,
}

p06_kit::str_enum!(TaskGroup, prefixes = ["TASK_GROUP_"], {
    Institutions = "INSTITUTIONS",
    Infrastructure = "INFRASTRUCTURE",
    PublicServices = "PUBLIC_SERVICES",
    Data = "DATA",
    Resources = "RESOURCES",
    Security = "SECURITY",
});

/// Kinds of source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveType {
    /// Quyết định.
    Decision,
    /// Chỉ thị.
    Directive,
    /// Thông báo.
    Notice,
    /// Nghị quyết.
    Resolution,
    /// Công văn.
    OfficialLetter,
    /// Kế hoạch.
    Plan,
}

p06_kit::str_enum!(DirectiveType, prefixes = ["DIRECTIVE_TYPE_"], {
    Decision = "DECISION",
    Directive = "DIRECTIVE",
    Notice = "NOTICE",
    Resolution = "RESOLUTION",
    OfficialLetter = "OFFICIAL_LETTER",
    Plan = "PLAN",
});

/// The role of an assignee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AssigneeRole {
    /// Leads.
    Lead,
    /// Coordinates.
    Coordinate,
}

p06_kit::str_enum!(AssigneeRole, prefixes = ["ASSIGNEE_ROLE_"], { Lead = "LEAD", Coordinate = "COORDINATE" });

p06_kit::str_enum!(Period, prefixes = ["REPORTING_PERIOD_"], {
    Monthly = "MONTHLY",
    Quarterly = "QUARTERLY",
    Yearly = "YEARLY",
});

/// Kinds of assignment change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Assigned.
    Created,
    /// A progress report.
    Progress,
    /// Completed.
    Completed,
    /// Reopened after completion.
    Reopened,
    /// Cancelled.
    Cancelled,
    /// New deadline.
    DeadlineChanged,
    /// Moved to another unit.
    Reassigned,
}

p06_kit::str_enum!(ChangeKind, prefixes = ["CHANGE_KIND_"], {
    Created = "CREATED",
    Progress = "PROGRESS",
    Completed = "COMPLETED",
    Reopened = "REOPENED",
    Cancelled = "CANCELLED",
    DeadlineChanged = "DEADLINE_CHANGED",
    Reassigned = "REASSIGNED",
});

/// A deadline rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineRule {
    /// End of this day.
    Date(NaiveDate),
    /// N working days from the directive's issue date.
    WorkingDays(u32),
}

/// A source document.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// Id ("344-tb-vpcp-2024").
    pub id: String,
    /// Official number ("344/TB-VPCP").
    pub number: String,
    /// Type.
    pub kind: DirectiveType,
    /// Issuing unit id.
    pub issuer: String,
    /// Date of issue.
    pub issue_date: NaiveDate,
    /// Title.
    pub title: String,
    /// Link to the text.
    pub link: String,
    /// Recorded.
    pub created_at: DateTime<Utc>,
}

/// The id of a directive: its number in lowercase with `/` as `-` and `Đ`
/// as `d`, plus the year, since numbers restart every year
/// ("344-tb-vpcp-2024", "06-qd-ttg-2022").
pub fn directive_id(number: &str, issue_date: NaiveDate) -> String {
    let slug: String = number
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    let slug = slug
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("{slug}-{}", issue_date.year())
}

/// What is to be done.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Id.
    pub id: String,
    /// Directive id.
    pub directive_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Group.
    pub group: TaskGroup,
    /// Deadline rule (None for recurring duties).
    pub deadline: Option<DeadlineRule>,
    /// Reporting period of a recurring duty.
    pub period: Option<Period>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// One task assigned to one unit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Assignment {
    /// Task id.
    pub task_id: String,
    /// Unit id (current holder).
    pub unit_id: String,
    /// Role.
    pub role: AssigneeRole,
    /// Directive id.
    pub directive_id: String,
    /// Group.
    pub group: TaskGroup,
    /// Task title.
    pub title: String,
    /// Current deadline.
    pub deadline: Option<NaiveDate>,
    /// Deadline version.
    pub deadline_version: i32,
    /// Recurring period.
    pub period: Option<Period>,
    /// Latest reported percent.
    pub progress: i32,
    /// Completion day.
    pub completed_on: Option<NaiveDate>,
    /// Cancellation day.
    pub cancelled_on: Option<NaiveDate>,
    /// Latest progress report day.
    pub last_report_on: Option<NaiveDate>,
    /// Day it moved to a successor unit (administrative change).
    pub moved_on: Option<NaiveDate>,
    /// The successor unit it moved to.
    pub moved_to: Option<String>,
    /// The unit it came from, when it was moved here.
    pub moved_from: Option<String>,
    /// Day assigned.
    pub created_on: NaiveDate,
    /// Optimistic version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Assignment {
    /// What the status derivation needs.
    pub fn status_input(&self) -> StatusInput {
        StatusInput {
            created_on: self.created_on,
            deadline: self.deadline,
            period: self.period,
            completed_on: self.completed_on,
            cancelled_on: self.cancelled_on,
            last_report_on: self.last_report_on,
            moved_on: self.moved_on,
        }
    }

    /// Whether it can still change (not completed or cancelled).
    pub fn is_open(&self) -> bool {
        self.completed_on.is_none() && self.cancelled_on.is_none() && self.moved_on.is_none()
    }
}

/// What an assignment action answered first: the assignment after it and
/// the day it was taken (its status is derived as of that day), kept with
/// the request id so a retry answers the same.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Acted {
    /// The day of the action.
    pub today: NaiveDate,
    /// The assignment right after it.
    pub assignment: Assignment,
}

impl Acted {
    /// As kept with the request id.
    pub fn to_record(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// From what was kept; `None` for anything else (an older record).
    pub fn from_record(record: &str) -> Option<Self> {
        serde_json::from_str(record).ok()
    }
}

/// One change of an assignment, as written to the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Feed position (0 before it is written).
    pub sequence: i64,
    /// Kind.
    pub kind: ChangeKind,
    /// Task id.
    pub task_id: String,
    /// Unit id.
    pub unit_id: String,
    /// Directive id.
    pub directive_id: String,
    /// Deadline after the change.
    pub deadline: Option<NaiveDate>,
    /// Deadline version after the change.
    pub deadline_version: i32,
    /// Percent (progress reports).
    pub percent: i32,
    /// Note or reason.
    pub note: String,
    /// Evidence link.
    pub evidence_link: String,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// W3C `traceparent` of the call that made it (empty when untraced).
    pub trace_context: String,
    /// The day it took effect ([`history`](super::history)); `None` on
    /// changes recorded before days were kept.
    pub effective_on: Option<NaiveDate>,
    /// On a successor's CREATED: the predecessor's last report day, which
    /// the new row starts from.
    pub inherited_report_on: Option<NaiveDate>,
    /// The task's context, filled when the feed is read.
    pub context: Option<ChangeContext>,
}

/// What a feed consumer needs besides the change itself, read with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    /// The task's title.
    pub title: String,
    /// The task's group.
    pub group: TaskGroup,
    /// Its reporting period (recurring duties).
    pub period: Option<crate::domain::status::Period>,
    /// The directive's number.
    pub directive_number: String,
    /// The assignee's role (lead when the row is gone).
    pub role: AssigneeRole,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_ids_are_readable_and_yearly() {
        let d = NaiveDate::from_ymd_opt(2024, 7, 2).unwrap();
        assert_eq!(directive_id("344/TB-VPCP", d), "344-tb-vpcp-2024");
        assert_eq!(directive_id(" 06/QĐ-TTg ", d), "06-qd-ttg-2024");
        assert_eq!(
            "public-services".parse::<TaskGroup>(),
            Ok(TaskGroup::PublicServices)
        );
        assert_eq!(
            "REPORTING_PERIOD_MONTHLY".parse::<Period>(),
            Ok(Period::Monthly)
        );
    }
}
