//! Guards for the connections of a public listener, below HTTP/2: a cap on
//! open connections, overall and per peer address (more are closed at
//! once); a deadline for the client's HTTP/2 preface and first request
//! headers, so sockets that connect and say nothing cannot hold slots; and
//! an idle timeout, after which a connection the peer has sent nothing on
//! (not even a keep-alive PING) is closed. A timed-out connection's read
//! fails, so hyper closes it.

use crate::keyed::{KeyedCount, KeyedSlot};
use futures::Stream;
use std::{
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The HTTP/2 client connection preface.
const PREFACE_LEN: usize = 24;
/// An HTTP/2 frame header.
const FRAME_HEADER_LEN: usize = 9;
/// The HEADERS frame type.
const HEADERS: u8 = 0x1;

/// The limits of one listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at once; more are closed at once (0 = no cap).
    pub max_connections: usize,
    /// Open connections from one peer address (0 = no cap).
    pub max_per_peer: usize,
    /// Time from accept to the preface and the first HEADERS frame.
    pub handshake_timeout: Duration,
    /// Time the peer may send nothing before the connection is closed.
    pub idle_timeout: Duration,
}

/// The accepted connections of `listener` under `limits`, with Nagle's
/// algorithm off. Accept errors (such as running out of descriptors) are
/// logged and retried after a short pause, never ending the stream.
pub fn guarded(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = io::Result<Guarded>> + Send {
    let slots = Arc::new(Semaphore::new(match limits.max_connections {
        0 => Semaphore::MAX_PERMITS,
        n => n.min(Semaphore::MAX_PERMITS),
    }));
    let peers = KeyedCount::new(limits.max_per_peer);
    futures::stream::unfold(
        (listener, slots, peers),
        move |(listener, slots, peers)| async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed; retrying");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    refused(peer.ip(), "too many connections");
                    continue;
                };
                let Some(from_peer) = peers.enter(peer.ip()) else {
                    refused(peer.ip(), "too many connections from this address");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let guarded = Guarded {
                    inner: stream,
                    held: Held {
                        _slot: slot,
                        _from_peer: from_peer,
                        ip: peer.ip(),
                    },
                    timer: Box::pin(tokio::time::sleep(limits.handshake_timeout)),
                    handshake: Handshake::default(),
                    idle_timeout: limits.idle_timeout,
                };
                return Some((Ok(guarded), (listener, slots, peers)));
            }
        },
    )
}

/// Refusals since the last warning, and when that was (seconds since the
/// Unix epoch): at most one warning every 10 seconds.
static REFUSED: AtomicU64 = AtomicU64::new(0);
static WARNED_AT: AtomicU64 = AtomicU64::new(0);

fn refused(ip: IpAddr, why: &'static str) {
    let count = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = WARNED_AT.load(Ordering::Relaxed);
    if now >= last + 10
        && WARNED_AT
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        REFUSED.store(0, Ordering::Relaxed);
        tracing::warn!(peer = %ip, why, refused = count, "connections refused");
    }
}

/// What a connection holds while open.
struct Held {
    _slot: OwnedSemaphorePermit,
    _from_peer: KeyedSlot<IpAddr>,
    ip: IpAddr,
}

/// Follows the first bytes a client sends up to its first HEADERS frame.
#[derive(Debug, Default)]
struct Handshake {
    /// Preface bytes seen.
    preface: usize,
    /// The frame header being read.
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    skip: usize,
    done: bool,
}

impl Handshake {
    /// Feeds bytes read; true once the first HEADERS frame has begun.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !self.done && !bytes.is_empty() {
            if self.preface < PREFACE_LEN {
                let n = (PREFACE_LEN - self.preface).min(bytes.len());
                self.preface += n;
                bytes = &bytes[n..];
            } else if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
            } else {
                let n = (FRAME_HEADER_LEN - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == FRAME_HEADER_LEN {
                    let [a, b, c, kind, ..] = self.header;
                    if kind == HEADERS {
                        self.done = true;
                    }
                    self.skip = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                    self.header_len = 0;
                }
            }
        }
        self.done
    }
}

/// One guarded connection.
pub struct Guarded {
    inner: TcpStream,
    held: Held,
    timer: Pin<Box<Sleep>>,
    handshake: Handshake,
    idle_timeout: Duration,
}

impl Guarded {
    fn timed_out(&self) -> io::Error {
        let what = if self.handshake.done {
            "idle timeout"
        } else {
            "no HTTP/2 preface and request headers in time"
        };
        io::Error::new(io::ErrorKind::TimedOut, what)
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    let was_done = this.handshake.done;
                    if this.handshake.feed(read) || was_done {
                        let next = Instant::now() + this.idle_timeout;
                        this.timer.as_mut().reset(next);
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::debug!(peer = %this.held.ip, "connection closed: {}", this.timed_out());
                    Poll::Ready(Err(this.timed_out()))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFACE: &[u8; PREFACE_LEN] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![
            (payload >> 16) as u8,
            (payload >> 8) as u8,
            payload as u8,
            kind,
            0,
        ];
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend(std::iter::repeat_n(0xAB, payload));
        f
    }

    #[test]
    fn the_handshake_ends_at_the_first_headers_frame() {
        let mut bytes = PREFACE.to_vec();
        bytes.extend(frame(0x4, 18)); // SETTINGS
        bytes.extend(frame(0x8, 4)); // WINDOW_UPDATE
        let mut whole = Handshake::default();
        assert!(!whole.feed(&bytes));
        bytes.extend(frame(HEADERS, 30));
        assert!(Handshake::default().feed(&bytes));
        // Byte by byte, too; a HEADERS type inside a payload does not count.
        let mut slow = Handshake::default();
        let mut tricky = PREFACE.to_vec();
        tricky.extend(
            frame(0x4, 6)
                .into_iter()
                .map(|b| if b == 0xAB { HEADERS } else { b }),
        );
        for b in &tricky {
            assert!(!slow.feed(std::slice::from_ref(b)));
        }
        let headers = frame(HEADERS, 0);
        let (last, first) = headers.split_last().unwrap();
        assert!(!slow.feed(first));
        assert!(slow.feed(std::slice::from_ref(last)) || slow.done);
    }
}
