//! Push delivery: lease due deliveries, send each on its own task, record
//! every attempt in the ledger, retry with exponential backoff and jitter,
//! and dead-letter after the attempt budget. A unit never has more than a
//! few deliveries in flight, so a slow or dead endpoint holds only its own
//! slots and never delays other units.

use super::{Engine, Pace};
use crate::{
    delivery::{
        Outcome,
        backoff::retry_delay,
        email::EmailSender,
        webhook::{WebhookSender, WebhookTarget},
    },
    store::{Attempt, AttemptResult, Channel, Claimed, DeliveryState, NotificationStore},
};
use p06_kit::Shutdown;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument as _;

/// What the delivery tasks share.
pub struct Dispatcher<S> {
    engine: Arc<Engine<S>>,
    webhook: WebhookSender,
    email: Option<EmailSender>,
    in_flight: Mutex<HashMap<String, usize>>,
    slots: Arc<Semaphore>,
    /// Free slots that make a finished send wake the claim loop.
    refill_at: usize,
    /// Whether a finished send has woken the claim loop since its last pass.
    refill_kicked: AtomicBool,
    results: mpsc::UnboundedSender<AttemptResult>,
}

/// Runs the dispatcher and its ledger writer until shutdown.
pub async fn run<S: NotificationStore>(
    engine: Arc<Engine<S>>,
    webhook: WebhookSender,
    email: Option<EmailSender>,
    shutdown: Shutdown,
) {
    let (results, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_results(engine.clone(), rx));
    let dispatcher = Arc::new(Dispatcher {
        slots: Arc::new(Semaphore::new(engine.config.max_in_flight.max(1))),
        refill_at: (engine.config.max_in_flight / 2).max(1),
        refill_kicked: AtomicBool::new(false),
        engine: engine.clone(),
        webhook,
        email,
        in_flight: Mutex::new(HashMap::new()),
        results,
    });
    let d = dispatcher.clone();
    super::run_loop(
        "dispatch",
        engine.tick(),
        &engine.dispatch_kick,
        shutdown,
        move || {
            let d = d.clone();
            async move { d.pass().await }
        },
    )
    .await;
    drop(dispatcher);
    if let Err(error) = writer.await {
        tracing::warn!(%error, "delivery ledger writer stopped");
    }
}

/// Writes finished attempts in batches.
async fn write_results<S: NotificationStore>(
    engine: Arc<Engine<S>>,
    mut rx: mpsc::UnboundedReceiver<AttemptResult>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 2000).await > 0 {
        let mut tries = 0;
        while let Err(error) = engine.store.record_attempts(&batch).await {
            tries += 1;
            tracing::warn!(%error, tries, "cannot record delivery attempts; retrying");
            if tries >= 5 {
                // The leases expire and the deliveries are retried: at
                // least once, with the same id.
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
        batch.clear();
        engine.dispatch_kick.notify_one();
    }
}

impl<S: NotificationStore> Dispatcher<S> {
    fn busy_units(&self) -> Vec<String> {
        let cap = self.engine.config.max_in_flight_per_unit.max(1);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, n)| **n >= cap)
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Claims and starts what fits; [`Pace::Again`] when it filled every
    /// free slot (more may be due).
    async fn pass(self: &Arc<Self>) -> Result<Pace, String> {
        self.refill_kicked.store(false, Ordering::Release);
        let free = self.slots.available_permits();
        if free == 0 {
            return Ok(Pace::Idle(None));
        }
        let limit = free.min(self.engine.config.batch_size.clamp(1, 5000));
        let now_ms = self.engine.now().timestamp_millis();
        let lease = i64::try_from(self.engine.config.webhook_timeout_ms).unwrap_or(0) + 30_000;
        let claimed = self
            .engine
            .store
            .claim_deliveries(now_ms, now_ms + lease, &self.busy_units(), limit)
            .await
            .map_err(|e| e.to_string())?;
        let full = claimed.len() == limit;
        self.engine
            .remote
            .prefetch_endpoints(claimed.iter().map(|c| c.delivery.unit_id.clone()).collect())
            .await;
        let mut over_cap = Vec::new();
        for c in claimed {
            if !self.take_unit_slot(&c.delivery.unit_id) {
                over_cap.push((c.delivery.notification_id.clone(), c.delivery.channel));
                continue;
            }
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.free_unit_slot(&c.delivery.unit_id);
                over_cap.push((c.delivery.notification_id.clone(), c.delivery.channel));
                continue;
            };
            let d = self.clone();
            tokio::spawn(async move {
                let unit = c.delivery.unit_id.clone();
                let result = d.attempt(c).await;
                d.free_unit_slot(&unit);
                drop(permit);
                // Claim again when half the slots have come free, once
                // until the next pass: the pipeline stays full without a
                // claim per finished send.
                if d.slots.available_permits() >= d.refill_at
                    && !d.refill_kicked.swap(true, Ordering::AcqRel)
                {
                    d.engine.dispatch_kick.notify_one();
                }
                // A closed channel means shutdown: the lease expires and the
                // delivery is retried later with the same id.
                let _ = d.results.send(result);
            });
        }
        if !over_cap.is_empty() {
            self.engine
                .store
                .release_deliveries(&over_cap)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(if full && over_cap.is_empty() {
            Pace::Again
        } else {
            Pace::Idle(None)
        })
    }

    fn take_unit_slot(&self, unit: &str) -> bool {
        let cap = self.engine.config.max_in_flight_per_unit.max(1);
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(unit.to_string()).or_insert(0);
        if *n >= cap {
            return false;
        }
        *n += 1;
        true
    }

    fn free_unit_slot(&self, unit: &str) {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(unit) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(unit);
            }
        }
    }

    /// One attempt and what it changes, in a CLIENT span linked to the
    /// change behind the notification.
    async fn attempt(&self, c: Claimed) -> AttemptResult {
        let d = &c.delivery;
        let number = d.attempts + 1;
        let span = attempt_span(&c, number);
        let outcome = async {
            match d.channel {
                Channel::Webhook => self.send_webhook(&c).await,
                Channel::Email => self.send_email(&c).await,
            }
        }
        .instrument(span.clone())
        .await;
        if !outcome.success {
            self.engine.remote.forget_contacts(&d.unit_id);
        }
        let at_ms = self.engine.now().timestamp_millis();
        let cfg = &self.engine.config;
        let (state, next_attempt_ms) = if outcome.success {
            (DeliveryState::Delivered, at_ms)
        } else if number - d.redrive_base >= i32::try_from(cfg.max_attempts).unwrap_or(i32::MAX) {
            (DeliveryState::DeadLetter, at_ms)
        } else {
            let since_redrive = u32::try_from(number - d.redrive_base).unwrap_or(1);
            let delay = retry_delay(
                since_redrive,
                Duration::from_millis(cfg.retry_base_ms),
                Duration::from_millis(cfg.retry_cap_ms),
                &mut rand::rng(),
            );
            let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            (DeliveryState::Pending, at_ms.saturating_add(delay))
        };
        finish_attempt(&span, &c, number, &outcome, state, at_ms);
        AttemptResult {
            attempt: Attempt {
                notification_id: d.notification_id.clone(),
                channel: d.channel,
                attempt: number,
                success: outcome.success,
                response_code: outcome.response_code.map_or(0, i32::from),
                error: outcome.error,
                latency_ms: i64::try_from(outcome.latency.as_millis()).unwrap_or(i64::MAX),
                at_ms,
            },
            state,
            next_attempt_ms,
        }
    }

    async fn send_webhook(&self, c: &Claimed) -> Outcome {
        let endpoints = match self.engine.remote.endpoints(&c.delivery.unit_id).await {
            Ok(e) => e,
            Err(s) => {
                return failed(format!(
                    "contacts of units/{}: {}",
                    c.delivery.unit_id,
                    s.message()
                ));
            }
        };
        let Some(url) = endpoints.webhook_url else {
            return failed(format!(
                "units/{} has no webhook enabled",
                c.delivery.unit_id
            ));
        };
        let target = WebhookTarget {
            url,
            secrets: endpoints.webhook_secrets,
        };
        let body = crate::api::convert::webhook_body(&c.notification);
        // The signature's timestamp is the real time of sending: receivers
        // check it against their own clock to refuse replays.
        self.webhook
            .send(&target, &c.notification.id, chrono::Utc::now(), body)
            .await
    }

    async fn send_email(&self, c: &Claimed) -> Outcome {
        let Some(email) = &self.email else {
            return failed("e-mail is not configured".into());
        };
        let endpoints = match self.engine.remote.endpoints(&c.delivery.unit_id).await {
            Ok(e) => e,
            Err(s) => {
                return failed(format!(
                    "contacts of units/{}: {}",
                    c.delivery.unit_id,
                    s.message()
                ));
            }
        };
        if endpoints.emails.is_empty() {
            return failed(format!(
                "units/{} has no e-mail enabled",
                c.delivery.unit_id
            ));
        }
        let n = &c.notification;
        let subject = crate::api::convert::email_subject(n);
        let text = format!("{}\n\n{}", n.text_vi, n.text_en);
        email.send(&endpoints.emails, &subject, &text, &n.id).await
    }
}

/// The span of one delivery attempt (an HTTP or SMTP client call).
fn attempt_span(c: &Claimed, number: i32) -> tracing::Span {
    let channel = c.delivery.channel;
    let span = tracing::info_span!(
        "delivery.attempt",
        otel.name = match channel {
            Channel::Webhook => "POST",
            Channel::Email => "smtp send",
        },
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        p06.notification.id = %c.delivery.notification_id,
        p06.delivery.channel = channel.as_str(),
        p06.delivery.attempt = number,
        p06.unit = %c.delivery.unit_id,
        http.request.method = tracing::field::Empty,
        url.full = tracing::field::Empty,
        server.address = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        smtp.response.code = tracing::field::Empty,
    );
    p06_kit::trace_context::link_to(&span, &c.notification.cause);
    span
}

/// Ends an attempt: span status, metrics, one log line (INFO delivered,
/// WARN failed).
fn finish_attempt(
    span: &tracing::Span,
    c: &Claimed,
    number: i32,
    outcome: &Outcome,
    state: DeliveryState,
    at_ms: i64,
) {
    use opentelemetry::KeyValue;
    let d = &c.delivery;
    let channel = KeyValue::new("channel", d.channel.as_str());
    let metrics = crate::metrics::get();
    let _entered = span.enter();
    if let Some(code) = outcome.response_code {
        match d.channel {
            Channel::Webhook => span.record("http.response.status_code", i64::from(code)),
            Channel::Email => span.record("smtp.response.code", i64::from(code)),
        };
    }
    let latency_ms = u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX);
    if outcome.success {
        metrics
            .attempts
            .add(1, &[channel.clone(), KeyValue::new("outcome", "success")]);
        metrics
            .deliveries
            .add(1, &[channel.clone(), KeyValue::new("outcome", "delivered")]);
        let lag = (at_ms - d.due_ms).max(0) as f64 / 1000.0;
        metrics.lag.record(lag, &[channel]);
        tracing::info!(id = %d.notification_id, channel = d.channel.as_str(), unit = %d.unit_id, attempt = number, code = outcome.response_code, latency_ms, "notification delivered");
        return;
    }
    span.record("otel.status_code", "ERROR");
    span.record("error.type", "delivery_failed");
    metrics
        .attempts
        .add(1, &[channel.clone(), KeyValue::new("outcome", "failure")]);
    if state == DeliveryState::DeadLetter {
        metrics.dead_letters.add(1, std::slice::from_ref(&channel));
        metrics
            .deliveries
            .add(1, &[channel, KeyValue::new("outcome", "dead_letter")]);
    }
    tracing::warn!(id = %d.notification_id, channel = d.channel.as_str(), unit = %d.unit_id, attempt = number, code = outcome.response_code, latency_ms, error = %outcome.error, dead_letter = state == DeliveryState::DeadLetter, "notification delivery failed");
}

fn failed(error: String) -> Outcome {
    Outcome {
        success: false,
        response_code: None,
        error,
        latency: Duration::ZERO,
    }
}
