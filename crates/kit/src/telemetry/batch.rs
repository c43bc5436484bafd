//! The log writer: lines go into a buffer in memory, which a thread of its
//! own writes to stderr every [`FLUSH_EVERY`] (or at once when it passes
//! [`FLUSH_AT`] bytes, by the line that filled it). A call that logs
//! (the gateway's access line, one per call) thus never makes a system
//! call nor wakes another thread; the lines reach stderr in order, at most
//! a flush interval late, and the rest when the guard is dropped.

use std::{
    io::Write as _,
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

/// How often buffered lines are written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this large is written by the line that filled it.
pub const FLUSH_AT: usize = 256 * 1024;

#[derive(Default)]
struct Shared {
    buffer: Mutex<Vec<u8>>,
    stopping: Mutex<bool>,
    stop: Condvar,
}

impl Shared {
    fn flush(&self) {
        let lines = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|e| e.into_inner()));
        if !lines.is_empty() {
            let _ = std::io::stderr().lock().write_all(&lines);
        }
    }
}

/// A `MakeWriter` over the shared buffer (cheap to clone).
#[derive(Clone)]
pub struct BatchWriter(Arc<Shared>);

/// Writes what is left and stops the flushing thread when dropped.
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A writer and the guard of its flushing thread.
pub fn stderr() -> (BatchWriter, BatchGuard) {
    let shared = Arc::new(Shared::default());
    let flusher = shared.clone();
    let thread = std::thread::Builder::new()
        .name("p06-log".into())
        .spawn(move || {
            let mut stopping = flusher.stopping.lock().unwrap_or_else(|e| e.into_inner());
            while !*stopping {
                stopping = flusher
                    .stop
                    .wait_timeout(stopping, FLUSH_EVERY)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                flusher.flush();
            }
        })
        .ok();
    (BatchWriter(shared.clone()), BatchGuard { shared, thread })
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        *self
            .shared
            .stopping
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.stop.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush();
    }
}

impl std::io::Write for BatchWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut buffer = self.0.buffer.lock().unwrap_or_else(|e| e.into_inner());
            buffer.extend_from_slice(line);
            buffer.len() >= FLUSH_AT
        };
        if full {
            self.0.flush();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_wait_in_memory_until_a_flush_and_a_full_buffer_flushes_itself() {
        let (writer, guard) = stderr();
        let mut w = writer.clone();
        w.write_all(b"one line\n").unwrap();
        // Taken by the flusher within an interval, not by the write.
        let waited = std::time::Instant::now();
        while !writer.0.buffer.lock().unwrap().is_empty() {
            assert!(waited.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        w.write_all(&vec![b'x'; FLUSH_AT]).unwrap();
        assert!(
            writer.0.buffer.lock().unwrap().is_empty(),
            "a full buffer is written at once"
        );
        w.write_all(b"\nlast line\n").unwrap();
        drop(guard);
        assert!(
            writer.0.buffer.lock().unwrap().is_empty(),
            "the guard writes the rest"
        );
    }
}
