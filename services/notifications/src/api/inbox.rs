//! The inbox: listing, reading and acknowledging notifications, the
//! resumable Subscribe stream, deliveries, the ledger and redrive.

use super::{
    NotificationsApi, Stream, check_unit, convert, notification_name, parent_unit, readable,
};
use crate::{
    error::{NotificationsError, Result},
    store::{Channel, NotificationStore, PageQuery},
};
use p06_kit::{
    Grant,
    filter::{self, Op, SqlValue},
    page,
};
use p06_proto::notifications::v1 as pb;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// How often an idle stream looks for notifications written by other
/// replicas (its own replica's wake it at once).
const STREAM_POLL: Duration = Duration::from_secs(1);
const STREAM_BATCH: usize = 200;

fn notification_column(
    field: &str,
    _op: Op,
    value: &str,
) -> std::result::Result<(String, SqlValue), Status> {
    let bad = |m: String| p06_kit::errors::invalid_argument("filter", m);
    match field {
        "kind" => {
            let kind: crate::domain::Kind = value
                .parse()
                .map_err(|e: String| bad(format!("kind: {e}")))?;
            Ok(("kind".into(), SqlValue::Text(kind.as_str().into())))
        }
        "acknowledged" | "unread" => {
            let b = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                other => return Err(bad(format!("{field} must be true or false, got {other:?}"))),
            };
            let acked = if field == "unread" { !b } else { b };
            Ok((
                "(CASE WHEN acked_ms IS NULL THEN 0 ELSE 1 END)".into(),
                SqlValue::Int(i64::from(acked)),
            ))
        }
        "create_time" | "due_time" => {
            let t = chrono::DateTime::parse_from_rfc3339(value)
                .map_err(|e| bad(format!("{field} must be an RFC 3339 time: {e}")))?;
            let col = if field == "create_time" {
                "created_ms"
            } else {
                "due_ms"
            };
            Ok((col.into(), SqlValue::Int(t.timestamp_millis())))
        }
        "assignment" => Ok((
            "('tasks/' || task_id || '/assignments/' || assignee_id)".into(),
            SqlValue::Text(value.into()),
        )),
        other => Err(bad(format!(
            "unknown field {other:?}; use kind, acknowledged, unread, assignment, create_time, due_time"
        ))),
    }
}

fn delivery_column(
    field: &str,
    _op: Op,
    value: &str,
) -> std::result::Result<(String, SqlValue), Status> {
    let bad = |m: String| p06_kit::errors::invalid_argument("filter", m);
    match field {
        "state" => {
            let s: crate::store::DeliveryState = value
                .parse()
                .map_err(|e: String| bad(format!("state: {e}")))?;
            Ok(("state".into(), SqlValue::Text(s.as_str().into())))
        }
        "channel" => {
            let c: Channel = value
                .parse()
                .map_err(|e: String| bad(format!("channel: {e}")))?;
            Ok(("channel".into(), SqlValue::Text(c.as_str().into())))
        }
        other => Err(bad(format!("unknown field {other:?}; use state, channel"))),
    }
}

/// Maps a filter field to a column and the value to compare with.
type ColumnFn = dyn Fn(&str, Op, &str) -> std::result::Result<(String, SqlValue), Status>;

/// A newest-first page query over a unit scope.
fn page_query(
    caller: &Grant,
    kind: &str,
    parent: &str,
    filter_text: &str,
    page_size: i32,
    page_token: &str,
    column: &ColumnFn,
) -> Result<(PageQuery, String)> {
    let unit = readable(caller, parent_unit("parent", parent)?)?;
    let condition = filter::parse(filter_text)
        .map_err(Status::from)?
        .map(|f| f.to_sql(1, &column))
        .transpose()?;
    let limit = page::size(page_size)?;
    let fingerprint = page::fingerprint(&[kind, parent, filter_text, &caller.actor()]);
    let (before_seq, before_tiebreak) = match page::decode(&fingerprint, page_token, 2)? {
        Some(k) => (
            Some(k[0].parse::<i64>().map_err(|_| {
                NotificationsError::invalid("page_token", "not a token from this list")
            })?),
            Some(k[1].clone()),
        ),
        None => (None, None),
    };
    Ok((
        PageQuery {
            unit_id: unit,
            condition,
            before_seq,
            before_tiebreak,
            limit: limit + 1,
        },
        fingerprint,
    ))
}

/// The token of the page after the row at (`seq`, `tiebreak`).
fn next_token(fingerprint: &str, more: bool, last: Option<(i64, &str)>) -> String {
    match last {
        Some((seq, tiebreak)) if more => {
            page::encode(fingerprint, vec![seq.to_string(), tiebreak.to_string()])
        }
        _ => String::new(),
    }
}

pub(super) async fn list<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    req: &pb::ListNotificationsRequest,
) -> Result<pb::ListNotificationsResponse> {
    let (q, fingerprint) = page_query(
        caller,
        "notifications",
        &req.parent,
        &req.filter,
        req.page_size,
        &req.page_token,
        &notification_column,
    )?;
    let store = &api.engine.store;
    let mut rows = store.list_notifications(&q).await?;
    let more = rows.len() >= q.limit;
    rows.truncate(q.limit - 1);
    let ids: Vec<String> = rows.iter().map(|n| n.id.clone()).collect();
    let mut deliveries = store.deliveries_of(&ids).await?;
    let next_page_token = next_token(&fingerprint, more, rows.last().map(|n| (n.seq, "")));
    Ok(pb::ListNotificationsResponse {
        notifications: rows
            .into_iter()
            .map(|n| {
                let mine: Vec<_> = deliveries
                    .extract_if(.., |d| d.notification_id == n.id)
                    .collect();
                convert::notification_to_pb(n, mine)
            })
            .collect(),
        next_page_token,
    })
}

pub(super) async fn get<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    name: &str,
) -> Result<pb::Notification> {
    let (unit, id) = notification_name("name", name)?;
    check_unit(caller, unit)?;
    let store = &api.engine.store;
    let n = store
        .notification(Some(unit), id)
        .await
        .map_err(|_| NotificationsError::NotFound(name.to_string()))?;
    let deliveries = store.deliveries_of(std::slice::from_ref(&n.id)).await?;
    Ok(convert::notification_to_pb(n, deliveries))
}

pub(super) async fn acknowledge<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    name: &str,
) -> Result<pb::Notification> {
    let (unit, id) = notification_name("name", name)?;
    check_unit(caller, unit)?;
    let m = api.mutation(caller, "AcknowledgeNotification", "")?;
    let store = &api.engine.store;
    let n = store
        .acknowledge(Some(unit), id, &m)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => NotificationsError::NotFound(name.to_string()),
            other => other.into(),
        })?;
    let deliveries = store.deliveries_of(std::slice::from_ref(&n.id)).await?;
    Ok(convert::notification_to_pb(n, deliveries))
}

pub(super) fn subscribe<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    req: &pb::SubscribeRequest,
) -> Result<Stream<pb::Notification>> {
    let unit = match parent_unit("unit", &req.unit)? {
        Some(u) => u,
        None => {
            return Err(NotificationsError::invalid(
                "unit",
                "subscribe to one unit, not \"units/-\"",
            ));
        }
    };
    check_unit(caller, &unit)?;
    if req.after_cursor < 0 {
        return Err(NotificationsError::invalid(
            "after_cursor",
            "must not be negative",
        ));
    }
    let engine = api.engine.clone();
    let shutdown = api.shutdown.clone();
    let mut cursor = req.after_cursor;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        let mut produced = engine.produced.subscribe();
        loop {
            let batch = match engine
                .store
                .notifications_after(&unit, cursor, STREAM_BATCH)
                .await
            {
                Ok(b) => b,
                Err(error) => {
                    tracing::warn!(%error, "subscribe stream cannot read notifications");
                    let _ = tx
                        .send(Err(Status::unavailable(
                            "notifications storage failure; resume from your last cursor",
                        )))
                        .await;
                    return;
                }
            };
            let full = batch.len() == STREAM_BATCH;
            for n in batch {
                cursor = n.seq;
                if tx
                    .send(Ok(convert::notification_to_pb(n, Vec::new())))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = produced.changed() => {}
                () = tokio::time::sleep(STREAM_POLL) => {}
                () = tx.closed() => return,
                () = shutdown.wait() => return,
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

pub(super) async fn deliveries<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    req: &pb::ListDeliveriesRequest,
) -> Result<pb::ListDeliveriesResponse> {
    let (q, fingerprint) = page_query(
        caller,
        "deliveries",
        &req.parent,
        &req.filter,
        req.page_size,
        &req.page_token,
        &delivery_column,
    )?;
    let mut rows = api.engine.store.list_deliveries(&q).await?;
    let more = rows.len() >= q.limit;
    rows.truncate(q.limit - 1);
    let next_page_token = next_token(
        &fingerprint,
        more,
        rows.last().map(|d| (d.seq, d.channel.as_str())),
    );
    Ok(pb::ListDeliveriesResponse {
        deliveries: rows.into_iter().map(convert::delivery_to_pb).collect(),
        next_page_token,
    })
}

pub(super) async fn attempts<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    parent: &str,
) -> Result<pb::ListDeliveryAttemptsResponse> {
    let (unit, id) = notification_name("parent", parent)?;
    check_unit(caller, unit)?;
    let store = &api.engine.store;
    store
        .notification(Some(unit), id)
        .await
        .map_err(|_| NotificationsError::NotFound(parent.to_string()))?;
    Ok(pb::ListDeliveryAttemptsResponse {
        attempts: store
            .attempts(id)
            .await?
            .into_iter()
            .map(convert::attempt_to_pb)
            .collect(),
    })
}

pub(super) async fn redrive<S: NotificationStore>(
    api: &NotificationsApi<S>,
    caller: &Grant,
    name: &str,
) -> Result<pb::Delivery> {
    // As the proto says: a unit cannot redrive, not even its own deliveries
    // (a redrive resets the attempt budget); the access table says so.
    let (notification, channel) = name.rsplit_once("/deliveries/").ok_or_else(|| {
        NotificationsError::invalid(
            "name",
            "must be \"units/{unit}/notifications/{id}/deliveries/{webhook|email}\"",
        )
    })?;
    let (unit, id) = notification_name("name", notification)?;
    let channel: Channel = channel
        .parse()
        .map_err(|e: String| NotificationsError::invalid("name", format!("channel: {e}")))?;
    check_unit(caller, unit)?;
    let m = api.mutation(caller, "RedriveDelivery", "")?;
    let d = api.engine.store.redrive(unit, id, channel, &m).await?;
    api.engine.dispatch_kick.notify_one();
    Ok(convert::delivery_to_pb(d))
}
