//! Streams re-check their key: a server-streaming call proxied for a key
//! (WatchChanges, Subscribe) looks the key up again every
//! `stream_key_check_ms` while the stream is open, and once the key is
//! revoked (or gone) the stream ends with UNAUTHENTICATED trailers. A
//! failed look-up (the key database briefly away) keeps the stream: only a
//! key known to be revoked ends it.

use crate::{keys::Keys, store::Store};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue};
use http_body::{Frame, SizeHint};
use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tonic::body::Body;

/// A response body that ends when its key is revoked.
pub struct KeyWatch {
    inner: Body,
    keys: Keys<Store>,
    key: String,
    every: tokio::time::Interval,
    check: Option<BoxFuture<'static, bool>>,
    ended: bool,
}

impl KeyWatch {
    /// Watches the stream `inner`, made for the key named `key`
    /// ("apiKeys/…"), re-checking it `every` so often.
    pub fn new(inner: Body, keys: Keys<Store>, key: String, every: Duration) -> Self {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            inner,
            keys,
            key,
            every,
            check: None,
            ended: false,
        }
    }

    /// Whether a due check found the key revoked. Leaves a wake-up
    /// registered for the next check (or the one in progress).
    fn poll_revoked(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.check.is_none() {
                if self.every.poll_tick(cx).is_pending() {
                    return false;
                }
                let (keys, key) = (self.keys.clone(), self.key.clone());
                self.check = Some(Box::pin(async move {
                    match keys.get(&key).await {
                        Ok(record) => record.revoke_time.is_some(),
                        Err(crate::error::GatewayError::NotFound(_)) => true,
                        Err(error) => {
                            tracing::warn!(%error, key, "cannot re-check a stream's key; it stays open");
                            false
                        }
                    }
                }));
            }
            let Some(check) = self.check.as_mut() else {
                return false;
            };
            match check.as_mut().poll(cx) {
                Poll::Ready(true) => return true,
                Poll::Ready(false) => self.check = None,
                Poll::Pending => return false,
            }
        }
    }
}

fn revoked_trailers(key: &str) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("16"));
    if let Ok(message) = HeaderValue::from_str(&format!("api key revoked: {key}")) {
        trailers.insert("grpc-message", message);
    }
    trailers
}

impl http_body::Body for KeyWatch {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.poll_revoked(cx) {
            self.ended = true;
            tracing::info!(key = %self.key, "stream ended: its api key was revoked");
            return Poll::Ready(Some(Ok(Frame::trailers(revoked_trailers(&self.key)))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) | Poll::Ready(Some(Err(_))) = &polled {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
