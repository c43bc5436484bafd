//! The monthly digest: a configurable number of working days before the
//! monthly review meeting, every unit with open assignments receives one
//! notification listing them, overdue ones marked. Produced once per unit
//! and month (dedupe key), in office hours.

use super::{Engine, producer};
use crate::{
    domain::{
        Kind,
        render::{Content, DigestLine, Lang, render},
    },
    store::{DigestItem, Notification, NotificationStore, Schedule},
};
use chrono::{Datelike, NaiveDate};
use p06_kit::calendar::Calendar;

/// Lines listed in one digest; the counts cover every assignment.
const MAX_ITEMS: usize = 50;

/// The review meeting of the month of `day`: on `meeting_day` (0 = the
/// last working day of the month), moved back to a working day.
pub fn meeting_date(cal: &Calendar, day: NaiveDate, meeting_day: u32) -> Option<NaiveDate> {
    let first = day.with_day(1)?;
    let next_month = first.checked_add_months(chrono::Months::new(1))?;
    let last = next_month.pred_opt()?;
    let mut date = if meeting_day == 0 {
        last
    } else {
        first.with_day(meeting_day.min(last.day()))?
    };
    while !cal.is_working_day(date) {
        date = date.pred_opt()?;
        if date < first {
            return None;
        }
    }
    Some(date)
}

/// Produces this month's digests when their day has come; `Ok(false)`
/// always (one pass does the whole month).
pub async fn pass<S: NotificationStore>(engine: &Engine<S>) -> Result<bool, String> {
    if !engine.config.digest_enabled || !engine.ready() {
        return Ok(false);
    }
    let now = engine.now();
    let cal = engine.calendar();
    if !engine.office.is_open(&cal, now) {
        return Ok(false);
    }
    let today = engine.clock.today();
    let Some(meeting) = meeting_date(&cal, today, engine.config.digest_meeting_day) else {
        return Ok(false);
    };
    let send_on = cal
        .sub_working_days(meeting, engine.config.digest_working_days_before)
        .unwrap_or(meeting);
    if today < send_on || today > meeting {
        return Ok(false);
    }
    let month = today.format("%Y-%m").to_string();
    let store = &engine.store;
    if store.digest_done(&month).await.map_err(|e| e.to_string())? {
        return Ok(false);
    }
    let now_ms = now.timestamp_millis();
    let units = store
        .open_schedules_by_unit()
        .await
        .map_err(|e| e.to_string())?;
    let mut produced = Vec::new();
    let count = units.len();
    for (unit, schedules) in units {
        let channels = producer::channels_for(engine, &unit).await?;
        produced.push((digest(&unit, &schedules, today, &month, now_ms), channels));
        if produced.len() >= 500 {
            let written = store
                .produce(std::mem::take(&mut produced), now_ms)
                .await
                .map_err(|e| e.to_string())?;
            producer::announce(engine, &written);
        }
    }
    let written = store
        .produce(produced, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    producer::announce(engine, &written);
    store
        .mark_digest_done(&month, now_ms)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(%month, units = count, "monthly digests produced");
    Ok(false)
}

fn digest(
    unit: &str,
    schedules: &[Schedule],
    today: NaiveDate,
    month: &str,
    now_ms: i64,
) -> Notification {
    let items: Vec<DigestItem> = schedules
        .iter()
        .map(|s| DigestItem {
            task_id: s.task_id.clone(),
            directive_number: s.directive_number.clone(),
            title: s.title.clone(),
            deadline: s.deadline,
            overdue: s.deadline.is_some_and(|d| d < today),
        })
        .collect();
    let overdue = items.iter().filter(|i| i.overdue).count();
    let content = Content {
        kind: Kind::Digest,
        directive_number: String::new(),
        task_title: String::new(),
        deadline: None,
        working_days: 0,
        unit_name: String::new(),
        period: None,
        digest: items
            .iter()
            .take(MAX_ITEMS)
            .map(|i| DigestLine {
                directive_number: i.directive_number.clone(),
                task_title: i.title.clone(),
                deadline: i.deadline,
                overdue: i.overdue,
            })
            .collect(),
        open: u32::try_from(items.len()).unwrap_or(u32::MAX),
        overdue: u32::try_from(overdue).unwrap_or(u32::MAX),
    };
    Notification {
        seq: 0,
        id: producer::new_id(),
        dedupe_key: format!("DIGEST|{unit}|{month}"),
        // A digest answers the calendar, not one change.
        cause: String::new(),
        unit_id: unit.to_string(),
        kind: Kind::Digest,
        task_id: String::new(),
        assignee_id: unit.to_string(),
        directive_id: String::new(),
        directive_number: String::new(),
        title: String::new(),
        deadline: None,
        days_left: 0,
        days_overdue: i32::try_from(overdue).unwrap_or(i32::MAX),
        text_vi: render(&content, Lang::Vi),
        text_en: render(&content, Lang::En),
        digest: items.into_iter().take(MAX_ITEMS).collect(),
        due_ms: now_ms,
        created_ms: now_ms,
        acked_ms: None,
    }
}
