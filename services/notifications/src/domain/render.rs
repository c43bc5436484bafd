//! How a notification reads, in Vietnamese (the default) and English: one
//! template per (language, kind) under `templates/{vi,en}/`, embedded at
//! compile time, filled in by a single substitution pass.
//!
//! Placeholders: `{directive_number}` ("344/TB-VPCP"), `{document}` (the
//! document type read from the number: "Thông báo", "Notice" — see
//! [`document_label`]), `{task_title}`, `{deadline}` (dd/mm/yyyy; for a
//! period, the day it closes), `{days}` (the step's working days),
//! `{working_days}` (the same with its unit: "2 ngày làm việc", "1 working
//! day"), `{unit}` (the late unit, for escalations), `{period}` (the
//! reporting period: "kỳ báo cáo tháng 01/2025", "the January 2025 reporting
//! period"; "kỳ báo cáo", "the reporting period" when unknown), `{open}`,
//! `{overdue}` and `{items}` (a digest's counts and lines). Anything else in
//! braces is left as written.

use super::{Kind, Period};
use chrono::{Datelike, NaiveDate};

/// The language a notification is rendered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// Vietnamese, the default.
    #[default]
    Vi,
    /// English.
    En,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// What it is about.
    pub kind: Kind,
    /// The directive's number ("344/TB-VPCP"); empty for a digest.
    pub directive_number: String,
    /// The task's title; empty for a digest.
    pub task_title: String,
    /// The deadline (for PERIOD_REPORT_DUE the day the period closes).
    pub deadline: Option<NaiveDate>,
    /// Working days left (DUE_SOON, PERIOD_REPORT_DUE) or overdue (OVERDUE,
    /// ESCALATION).
    pub working_days: u32,
    /// The late unit's display name (ESCALATION).
    pub unit_name: String,
    /// The reporting period (PERIOD_REPORT_DUE), when known.
    pub period: Option<Period>,
    /// A digest's lines.
    pub digest: Vec<DigestLine>,
    /// A digest's count of open assignments.
    pub open: u32,
    /// A digest's count of overdue assignments.
    pub overdue: u32,
}

/// One assignment in a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestLine {
    /// The directive's number.
    pub directive_number: String,
    /// The task's title.
    pub task_title: String,
    /// The deadline, if the task has one.
    pub deadline: Option<NaiveDate>,
    /// Whether it is past its deadline.
    pub overdue: bool,
}

/// The text of `content` in `lang`. Placeholders are substituted in one
/// pass: a value containing braces is inserted as is, never expanded.
pub fn render(content: &Content, lang: Lang) -> String {
    let template = template(content.kind, lang).trim_end();
    let text = substitute(template, |name| value(content, lang, name));
    text.trim_end().to_string()
}

/// The document type a directive's number denotes, read from its type code
/// (the part before the issuer, after the last `/`: "344/TB-VPCP" → TB,
/// "06/QĐ-TTg" → QĐ, "13/2023/NĐ-CP" → NĐ): TB a notice, QĐ (or QD) a
/// decision, CT a directive, NQ a resolution, KH a plan, NĐ (or ND) a
/// decree, TT a circular; anything else (CV, an official letter's
/// "123/VPCP-KSTT") a document.
pub fn document_label(number: &str, lang: Lang) -> &'static str {
    let (vi, en) = match type_code(number).as_str() {
        "TB" => ("Thông báo", "Notice"),
        "QĐ" | "QD" => ("Quyết định", "Decision"),
        "CT" => ("Chỉ thị", "Directive"),
        "NQ" => ("Nghị quyết", "Resolution"),
        "KH" => ("Kế hoạch", "Plan"),
        "NĐ" | "ND" => ("Nghị định", "Decree"),
        "TT" => ("Thông tư", "Circular"),
        _ => ("Văn bản", "Document"),
    };
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// The upper-cased type code of a directive's number.
fn type_code(number: &str) -> String {
    let form = number.rsplit('/').next().unwrap_or_default();
    form.split('-')
        .next()
        .unwrap_or_default()
        .trim()
        .to_uppercase()
}

/// The template for a kind in a language.
fn template(kind: Kind, lang: Lang) -> &'static str {
    match (lang, kind) {
        (Lang::Vi, Kind::DueSoon) => include_str!("../../templates/vi/due_soon.txt"),
        (Lang::Vi, Kind::DueToday) => include_str!("../../templates/vi/due_today.txt"),
        (Lang::Vi, Kind::Overdue) => include_str!("../../templates/vi/overdue.txt"),
        (Lang::Vi, Kind::Escalation) => include_str!("../../templates/vi/escalation.txt"),
        (Lang::Vi, Kind::Digest) => include_str!("../../templates/vi/digest.txt"),
        (Lang::Vi, Kind::PeriodReportDue) => {
            include_str!("../../templates/vi/period_report_due.txt")
        }
        (Lang::En, Kind::DueSoon) => include_str!("../../templates/en/due_soon.txt"),
        (Lang::En, Kind::DueToday) => include_str!("../../templates/en/due_today.txt"),
        (Lang::En, Kind::Overdue) => include_str!("../../templates/en/overdue.txt"),
        (Lang::En, Kind::Escalation) => include_str!("../../templates/en/escalation.txt"),
        (Lang::En, Kind::Digest) => include_str!("../../templates/en/digest.txt"),
        (Lang::En, Kind::PeriodReportDue) => {
            include_str!("../../templates/en/period_report_due.txt")
        }
    }
}

/// `template` with each `{name}` that `value` knows replaced, in one pass
/// (substituted text is not scanned again); unknown names stay as written.
fn substitute(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let inner = &rest[open + 1..];
        let found = inner
            .find('}')
            .and_then(|close| value(&inner[..close]).map(|text| (close, text)));
        match found {
            Some((close, text)) => {
                out.push_str(&text);
                rest = &inner[close + 1..];
            }
            None => {
                out.push('{');
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of a placeholder, `None` for an unknown name.
fn value(content: &Content, lang: Lang, name: &str) -> Option<String> {
    Some(match name {
        "directive_number" => content.directive_number.clone(),
        "document" => document_label(&content.directive_number, lang).to_string(),
        "task_title" => content.task_title.clone(),
        "deadline" => date_text(content.deadline),
        "days" => content.working_days.to_string(),
        "working_days" => working_days_text(content.working_days, lang),
        "unit" => content.unit_name.clone(),
        "period" => period_text(content.period, content.deadline, lang),
        "open" => content.open.to_string(),
        "overdue" => content.overdue.to_string(),
        "items" => digest_items(&content.digest, lang),
        _ => return None,
    })
}

/// A date the Vietnamese way (dd/mm/yyyy); "—" when there is none.
fn date_text(date: Option<NaiveDate>) -> String {
    date.map_or_else(|| "—".to_string(), |d| d.format("%d/%m/%Y").to_string())
}

/// A count of working days with its unit.
fn working_days_text(n: u32, lang: Lang) -> String {
    match (lang, n) {
        (Lang::Vi, _) => format!("{n} ngày làm việc"),
        (Lang::En, 1) => "1 working day".to_string(),
        (Lang::En, _) => format!("{n} working days"),
    }
}

/// The reporting period closing on `close`, as a noun phrase.
fn period_text(period: Option<Period>, close: Option<NaiveDate>, lang: Lang) -> String {
    let name = period
        .zip(close)
        .map(|(period, close)| period_name(period, close, lang));
    match (lang, name) {
        (Lang::Vi, Some(name)) => format!("kỳ báo cáo {name}"),
        (Lang::Vi, None) => "kỳ báo cáo".to_string(),
        (Lang::En, Some(name)) => format!("the {name} reporting period"),
        (Lang::En, None) => "the reporting period".to_string(),
    }
}

/// The name of the period closing on `close`: "tháng 01/2025", "quý
/// I/2025", "năm 2025"; "January 2025", "Q1 2025", "2025".
fn period_name(period: Period, close: NaiveDate, lang: Lang) -> String {
    let (year, month) = (close.year(), close.month());
    let quarter = month.div_ceil(3);
    match (lang, period) {
        (Lang::Vi, Period::Monthly) => format!("tháng {month:02}/{year}"),
        (Lang::Vi, Period::Quarterly) => format!("quý {}/{year}", roman(quarter)),
        (Lang::Vi, Period::Yearly) => format!("năm {year}"),
        (Lang::En, Period::Monthly) => close.format("%B %Y").to_string(),
        (Lang::En, Period::Quarterly) => format!("Q{quarter} {year}"),
        (Lang::En, Period::Yearly) => year.to_string(),
    }
}

/// A quarter (1–4) in Roman numerals, as Vietnamese writes quarters.
fn roman(quarter: u32) -> &'static str {
    match quarter {
        1 => "I",
        2 => "II",
        3 => "III",
        _ => "IV",
    }
}

/// A digest's lines, one per assignment.
fn digest_items(lines: &[DigestLine], lang: Lang) -> String {
    lines
        .iter()
        .map(|line| digest_item(line, lang))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One digest line: `- Thông báo 344/TB-VPCP: "…", hạn 20/07/2024 (quá hạn)`.
fn digest_item(line: &DigestLine, lang: Lang) -> String {
    let (due, late) = match lang {
        Lang::Vi => ("hạn", "quá hạn"),
        Lang::En => ("due", "overdue"),
    };
    let mut text = format!(
        "- {} {}: \"{}\"",
        document_label(&line.directive_number, lang),
        line.directive_number,
        line.task_title
    );
    if let Some(deadline) = line.deadline {
        text.push_str(&format!(", {due} {}", date_text(Some(deadline))));
    }
    if line.overdue {
        text.push_str(&format!(" ({late})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [Kind; 6] = [
        Kind::DueSoon,
        Kind::DueToday,
        Kind::Overdue,
        Kind::Escalation,
        Kind::Digest,
        Kind::PeriodReportDue,
    ];

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn content(kind: Kind) -> Content {
        Content {
            kind,
            directive_number: "344/TB-VPCP".to_string(),
            task_title: "Làm sạch dữ liệu dân cư".to_string(),
            deadline: Some(d(2024, 7, 20)),
            working_days: 2,
            unit_name: "Bộ Công an".to_string(),
            period: None,
            digest: Vec::new(),
            open: 0,
            overdue: 0,
        }
    }

    fn digest() -> Content {
        Content {
            directive_number: String::new(),
            task_title: String::new(),
            deadline: None,
            working_days: 0,
            open: 12,
            overdue: 1,
            digest: vec![
                DigestLine {
                    directive_number: "344/TB-VPCP".to_string(),
                    task_title: "Làm sạch dữ liệu dân cư".to_string(),
                    deadline: Some(d(2024, 7, 20)),
                    overdue: true,
                },
                DigestLine {
                    directive_number: "06/QĐ-TTg".to_string(),
                    task_title: "Báo cáo định kỳ".to_string(),
                    deadline: None,
                    overdue: false,
                },
            ],
            ..content(Kind::Digest)
        }
    }

    #[test]
    fn the_issue_example_reads_exactly() {
        assert_eq!(
            render(&content(Kind::DueSoon), Lang::Vi),
            "Nhắc hạn: nhiệm vụ \"Làm sạch dữ liệu dân cư\" theo Thông báo 344/TB-VPCP, \
             hạn 20/07/2024, còn 2 ngày làm việc."
        );
        assert_eq!(
            render(&content(Kind::DueSoon), Lang::En),
            "Reminder: task \"Làm sạch dữ liệu dân cư\" under Notice 344/TB-VPCP is due \
             20/07/2024, 2 working days left."
        );
        assert_eq!(Lang::default(), Lang::Vi);
    }

    #[test]
    fn each_kind_reads_in_each_language() {
        let overdue = Content {
            working_days: 1,
            ..content(Kind::Overdue)
        };
        assert_eq!(
            render(&overdue, Lang::Vi),
            "Quá hạn: nhiệm vụ \"Làm sạch dữ liệu dân cư\" theo Thông báo 344/TB-VPCP, \
             hạn 20/07/2024, đã quá hạn 1 ngày làm việc."
        );
        assert_eq!(
            render(&overdue, Lang::En),
            "Overdue: task \"Làm sạch dữ liệu dân cư\" under Notice 344/TB-VPCP, \
             deadline 20/07/2024, is 1 working day overdue."
        );
        assert_eq!(
            render(&content(Kind::DueToday), Lang::Vi),
            "Hôm nay là hạn: nhiệm vụ \"Làm sạch dữ liệu dân cư\" theo Thông báo \
             344/TB-VPCP, hạn 20/07/2024."
        );
        let escalation = Content {
            working_days: 5,
            ..content(Kind::Escalation)
        };
        assert_eq!(
            render(&escalation, Lang::Vi),
            "Chậm tiến độ: Bộ Công an chưa hoàn thành nhiệm vụ \"Làm sạch dữ liệu dân cư\" \
             theo Thông báo 344/TB-VPCP, hạn 20/07/2024, đã quá hạn 5 ngày làm việc."
        );
        assert_eq!(
            render(&escalation, Lang::En),
            "Escalation: Bộ Công an has not completed task \"Làm sạch dữ liệu dân cư\" \
             under Notice 344/TB-VPCP, deadline 20/07/2024, now 5 working days overdue."
        );
    }

    #[test]
    fn period_reports_name_the_period() {
        let report = |period, close| Content {
            directive_number: "06/QĐ-TTg".to_string(),
            task_title: "Báo cáo kết quả triển khai Đề án 06".to_string(),
            deadline: Some(close),
            period,
            ..content(Kind::PeriodReportDue)
        };
        let monthly = report(Some(Period::Monthly), d(2025, 1, 31));
        assert_eq!(
            render(&monthly, Lang::Vi),
            "Nhắc báo cáo định kỳ: nhiệm vụ \"Báo cáo kết quả triển khai Đề án 06\" theo \
             Quyết định 06/QĐ-TTg, kỳ báo cáo tháng 01/2025 kết thúc ngày 31/01/2025, còn 2 \
             ngày làm việc để gửi báo cáo."
        );
        assert_eq!(
            render(&monthly, Lang::En),
            "Report due: task \"Báo cáo kết quả triển khai Đề án 06\" under Decision \
             06/QĐ-TTg: the report for the January 2025 reporting period, closing on \
             31/01/2025, is due in 2 working days."
        );
        let quarterly = report(Some(Period::Quarterly), d(2025, 3, 31));
        assert!(
            render(&quarterly, Lang::Vi)
                .contains(", kỳ báo cáo quý I/2025 kết thúc ngày 31/03/2025,")
        );
        assert!(render(&quarterly, Lang::En).contains(" the Q1 2025 reporting period, "));
        let yearly = report(Some(Period::Yearly), d(2025, 12, 31));
        assert!(
            render(&yearly, Lang::Vi).contains(", kỳ báo cáo năm 2025 kết thúc ngày 31/12/2025,")
        );
        assert!(render(&yearly, Lang::En).contains(" the 2025 reporting period, "));
        let unknown = report(None, d(2025, 12, 31));
        assert!(render(&unknown, Lang::Vi).contains(", kỳ báo cáo kết thúc ngày 31/12/2025,"));
        assert!(
            render(&unknown, Lang::En).contains(" the reporting period, closing on 31/12/2025,")
        );
    }

    #[test]
    fn a_digest_lists_its_items() {
        assert_eq!(
            render(&digest(), Lang::Vi),
            "Tổng hợp nhiệm vụ: 12 nhiệm vụ đang thực hiện, 1 quá hạn.\n\
             - Thông báo 344/TB-VPCP: \"Làm sạch dữ liệu dân cư\", hạn 20/07/2024 (quá hạn)\n\
             - Quyết định 06/QĐ-TTg: \"Báo cáo định kỳ\""
        );
        assert_eq!(
            render(&digest(), Lang::En),
            "Task summary: 12 in progress, 1 overdue.\n\
             - Notice 344/TB-VPCP: \"Làm sạch dữ liệu dân cư\", due 20/07/2024 (overdue)\n\
             - Decision 06/QĐ-TTg: \"Báo cáo định kỳ\""
        );
        let empty = Content {
            digest: Vec::new(),
            open: 0,
            overdue: 0,
            ..digest()
        };
        assert_eq!(
            render(&empty, Lang::Vi),
            "Tổng hợp nhiệm vụ: 0 nhiệm vụ đang thực hiện, 0 quá hạn."
        );
    }

    #[test]
    fn no_placeholder_is_left_unrendered() {
        for lang in [Lang::Vi, Lang::En] {
            for kind in KINDS {
                let content = Content {
                    period: Some(Period::Monthly),
                    ..if kind == Kind::Digest {
                        digest()
                    } else {
                        content(kind)
                    }
                };
                let text = render(&content, lang);
                assert!(
                    !text.contains('{') && !text.contains('}'),
                    "{lang:?} {kind:?}: {text}"
                );
                assert!(!text.is_empty() && !text.ends_with('\n'));
                assert!(text.contains("344/TB-VPCP"), "{lang:?} {kind:?}: {text}");
            }
        }
    }

    #[test]
    fn values_are_not_expanded_again() {
        let tricky = Content {
            task_title: "{deadline} {task_title} {".to_string(),
            ..content(Kind::DueSoon)
        };
        assert_eq!(
            render(&tricky, Lang::Vi),
            "Nhắc hạn: nhiệm vụ \"{deadline} {task_title} {\" theo Thông báo 344/TB-VPCP, \
             hạn 20/07/2024, còn 2 ngày làm việc."
        );
        let known = |name: &str| (name == "a").then(|| "{a}".to_string());
        assert_eq!(substitute("{a}{b}{{a}} {", known), "{a}{b}{{a}} {");
        assert_eq!(substitute("x{a}y", known), "x{a}y");
    }

    #[test]
    fn document_labels_follow_the_number() {
        let vi = |n| document_label(n, Lang::Vi);
        let en = |n| document_label(n, Lang::En);
        assert_eq!(vi("344/TB-VPCP"), "Thông báo");
        assert_eq!(en("344/TB-VPCP"), "Notice");
        assert_eq!(vi("06/QĐ-TTg"), "Quyết định");
        assert_eq!(vi("06/qđ-TTg"), "Quyết định");
        assert_eq!(en("06/QD-TTg"), "Decision");
        assert_eq!(vi("05/CT-TTg"), "Chỉ thị");
        assert_eq!(en("05/CT-TTg"), "Directive");
        assert_eq!(vi("175/NQ-CP"), "Nghị quyết");
        assert_eq!(en("175/NQ-CP"), "Resolution");
        assert_eq!(vi("1234/KH-BCA"), "Kế hoạch");
        assert_eq!(en("1234/KH-BCA"), "Plan");
        assert_eq!(vi("13/2023/NĐ-CP"), "Nghị định");
        assert_eq!(en("13/2023/NĐ-CP"), "Decree");
        assert_eq!(vi("17/2024/TT-BCA"), "Thông tư");
        assert_eq!(vi("123/CV-UBND"), "Văn bản");
        assert_eq!(en("4567/VPCP-KSTT"), "Document");
        assert_eq!(vi(""), "Văn bản");
    }
}
