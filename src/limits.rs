//! What one client may cost the broker, and what all of them together may (from stage clients
//! on). Kafka's own settings, with the same names:
//!
//! - `max.connections`: connections open at once. One over it is closed as soon as it is accepted.
//! - `connections.max.idle.ms`: a connection with no request for this long is closed.
//! - `queued.max.request.bytes`: bytes of requests being read, across all connections. A
//!   connection that would go over waits for others to finish theirs; one whose request stalls
//!   (no byte for [`STALL_TIMEOUT`], or `connections.max.idle.ms` if shorter) is closed, and its
//!   bytes are freed.
//!
//! The reading side is [`ClientReader`]: the connection's socket, as the frame loop reads it,
//! with the memory it holds accounted for and its silences timed.

use std::io::{self, BufRead, BufReader, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A request whose next byte takes longer than this to arrive is abandoned.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The broker-wide counters.
pub struct Limits {
    max_connections: usize,
    connections: AtomicUsize,
    idle: Duration,
    /// Bytes held by requests being read, and the bound on them.
    in_flight: Mutex<usize>,
    max_in_flight: usize,
    freed: Condvar,
}

/// One open connection; it counts until dropped.
pub struct Connection<'a>(&'a Limits);

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limits {
    pub fn new(max_connections: usize, idle: Duration, max_in_flight: usize) -> Limits {
        let in_flight = Mutex::new(0);
        Limits {
            max_connections,
            connections: AtomicUsize::new(0),
            idle,
            in_flight,
            max_in_flight,
            freed: Condvar::new(),
        }
    }

    /// Counts a new connection, unless `max.connections` are open already.
    pub fn connect(&self) -> Option<Connection<'_>> {
        let previous = self.connections.fetch_add(1, Ordering::Relaxed);
        let connection = Connection(self);
        (previous < self.max_connections).then_some(connection)
    }

    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes of the in-flight budget, waiting as long as a request may stall for other
    /// requests to free them. False if they never did.
    fn acquire(&self, n: usize) -> bool {
        let deadline = Instant::now() + STALL_TIMEOUT.min(self.idle);
        let mut used = crate::sync::lock(&self.in_flight);
        while *used + n > self.max_in_flight {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            used = self.freed.wait_timeout(used, left).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
        *used += n;
        true
    }

    fn release(&self, n: usize) {
        if n > 0 {
            *crate::sync::lock(&self.in_flight) -= n;
            self.freed.notify_all();
        }
    }
}

/// The socket of one connection as the frame loop reads it: the bytes of a request body are
/// held against `queued.max.request.bytes` until [`ClientReader::request_done`]; a silence between
/// requests ends the connection after `connections.max.idle.ms`, a silence inside one after
/// [`STALL_TIMEOUT`].
///
/// It holds std's `BufReader` rather than being a `Read` put inside one: std would zero the
/// buffer of a `Read` of ours before every first use.
pub struct ClientReader<'a> {
    /// A small buffer: size prefixes and small requests arrive in few reads. It is kept small
    /// because whatever of a large body it picks up with the size prefix is copied once more.
    reader: BufReader<&'a TcpStream>,
    limits: &'a Limits,
    /// Body bytes read since the last request was done.
    held: usize,
    idle_since: Instant,
}

/// The most one read takes before its bytes are counted.
const READ_CHUNK: usize = 64 * 1024;

impl<'a> ClientReader<'a> {
    pub fn new(stream: &'a TcpStream, limits: &'a Limits) -> io::Result<ClientReader<'a>> {
        // Reads wake up at least this often, to time silences.
        stream.set_read_timeout(Some(STALL_TIMEOUT.min(limits.idle)))?;
        let reader = BufReader::with_capacity(4 * 1024, stream);
        Ok(ClientReader { reader, limits, held: 0, idle_since: Instant::now() })
    }

    /// Fills `buf` (a size prefix), as `Read::read_exact` does: `UnexpectedEof` if the client
    /// closes first.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) => {
                    self.silence(e, filled > 0)?;
                    continue;
                }
            };
            if available.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = available.len().min(buf.len() - filled);
            buf[filled..filled + n].copy_from_slice(&available[..n]);
            self.reader.consume(n);
            filled += n;
            self.idle_since = Instant::now();
        }
        Ok(())
    }

    /// Appends up to `size` bytes, a request body, to `frame`, a chunk at a time, each counted
    /// once read: a connection waiting for room holds at most a chunk beyond its share. Fewer
    /// than `size` means the client closed.
    pub fn read_body(&mut self, frame: &mut Vec<u8>, size: usize) -> io::Result<()> {
        let end = frame.len() + size;
        while frame.len() < end {
            let before = frame.len();
            let chunk = (end - before).min(READ_CHUNK);
            // What the buffer holds comes from it; the rest straight from the socket into the
            // frame, so the bytes of a large request are copied once, not through the buffer.
            // The frame is zeroed first (`resize`) so that one `read` takes whatever has arrived
            // (std's zero-free `read_to_end` starts each call with an 8 KiB read). Measured, the
            // zeroing costs less than it saves: it brings the memory into the cache just before
            // the kernel copies into it (sustained produce: 0.37 → 0.45 of the bench's limit).
            let buffered = self.reader.buffer().len();
            let read = if buffered > 0 {
                (&mut self.reader).take(chunk.min(buffered) as u64).read_to_end(frame)
            } else {
                let mut stream: &TcpStream = self.reader.get_ref();
                frame.resize(before + chunk, 0);
                let mut filled = before;
                let result = loop {
                    match stream.read(&mut frame[filled..]) {
                        Ok(0) => break Ok(0),
                        Ok(n) => {
                            filled += n;
                            if filled == frame.len() {
                                break Ok(n);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                frame.truncate(filled);
                result
            };
            // On an error too: what was read before it is in `frame`.
            let n = frame.len() - before;
            if n > 0 {
                if !self.limits.acquire(n) {
                    let message = "no room for requests in flight (queued.max.request.bytes)";
                    return Err(io::Error::new(io::ErrorKind::OutOfMemory, message));
                }
                self.held += n;
                self.idle_since = Instant::now();
            }
            match read {
                Ok(0) => return Ok(()), // closed
                Ok(_) => {}
                Err(e) => self.silence(e, true)?,
            }
        }
        Ok(())
    }

    /// Whether a read that failed with `e` may be retried: yes for a timeout, unless the client
    /// has been silent too long (inside a request, or between requests).
    fn silence(&self, e: io::Error, inside_request: bool) -> io::Result<()> {
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        if !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            return Err(e);
        }
        let silent = self.idle_since.elapsed();
        if inside_request && silent >= STALL_TIMEOUT.min(self.limits.idle) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "a request stalled (no byte for 30 s)"));
        }
        if !inside_request && silent >= self.limits.idle {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "idle for connections.max.idle.ms"));
        }
        Ok(())
    }

    /// The request just read has been answered: its bytes no longer count.
    pub fn request_done(&mut self) {
        self.limits.release(std::mem::take(&mut self.held));
        self.idle_since = Instant::now();
    }
}

impl Drop for ClientReader<'_> {
    fn drop(&mut self) {
        self.limits.release(self.held);
    }
}

/// A log line that may come in floods (a thousand refused connections a second) is written at
/// most once a second, with how many were left out.
#[derive(Default)]
pub struct RateLimited {
    last_ms: AtomicU64,
    skipped: AtomicU64,
}

impl RateLimited {
    pub const fn new() -> RateLimited {
        RateLimited { last_ms: AtomicU64::new(0), skipped: AtomicU64::new(0) }
    }

    /// Logs `line()` as a warning if the last line was a second ago or more.
    pub fn warn(&self, line: impl FnOnce() -> String) {
        let now = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis() as u64);
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1000
            || self.last_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.skipped.swap(0, Ordering::Relaxed) {
            0 => log::warn!("{}", line()),
            n => log::warn!("{} ({n} more like it in the last second)", line()),
        }
    }
}

/// Whether the client at the other end of `stream` closed its connection: a peek finds the end.
/// (A byte waiting there, a pipelined request, means it is still there.) A request that waits —
/// a long-poll Fetch, a JoinGroup — asks this between waits, so that a client that hung up does
/// not keep its thread.
pub fn hung_up(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let peeked = stream.peek(&mut [0u8; 1]);
    let _ = stream.set_nonblocking(false);
    match peeked {
        Ok(n) => n == 0,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_over_the_limit_are_refused_and_counted_back() {
        let limits = Limits::new(2, Duration::from_secs(1), 1000);
        let a = limits.connect().unwrap();
        let b = limits.connect().unwrap();
        assert!(limits.connect().is_none());
        drop(a);
        assert!(limits.connect().is_some());
        drop(b);
        assert_eq!(limits.open_connections(), 0);
    }

    #[test]
    fn the_in_flight_budget_waits_for_bytes_to_be_freed() {
        let limits = Limits::new(10, Duration::from_secs(1), 100);
        assert!(limits.acquire(60));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                limits.release(60);
            });
            let started = Instant::now();
            assert!(limits.acquire(80), "granted once the first 60 are freed");
            assert!(started.elapsed() >= Duration::from_millis(40));
        });
        limits.release(80);
        assert_eq!(*crate::sync::lock(&limits.in_flight), 0);
    }
}
