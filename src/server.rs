//! The network side (stages vi6, nh4, sk0): a listener, one OS thread per connection, and the
//! frame loop that turns bytes into requests and responses.
//!
//! ```text
//! accept ──► thread per connection ──► loop {
//!                                        read INT32 size, then exactly `size` bytes   (one frame)
//!                                        decode the header, check the version table
//!                                        api::dispatch → the API's module writes the response
//!                                        write the whole response at once
//!                                      }
//! ```
//!
//! Why a thread per connection: it is the simplest model that serves clients independently (stage
//! sk0 opens several connections and reads the answers in reverse order; a server that finishes
//! one connection before the next deadlocks). Blocking reads make each connection's code a
//! straight line. The cost — a thread's stack per client — is kept small with a 256 KiB stack.
//!
//! Kafka clients may pipeline requests on one connection; answering them in order is automatic
//! here because one thread reads, handles and answers them one by one.

use crate::api::{self, API_VERSIONS_KEY, Reply, Request};
use crate::broker::Broker;
use crate::config::Config;
use crate::header;
use crate::wire::{Reader, SharedBytes, Writer, format_spans};
use std::io::{self, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

/// The smallest request: api_key, api_version, correlation_id and a client_id length (10 bytes).
const MIN_FRAME: usize = 10;
/// Threads accepting connections in `Server::run`.
const ACCEPTORS: usize = 4;
/// Frames up to this size get their whole buffer as soon as their size is read.
const TRUSTED_FRAME: usize = 1024 * 1024;
/// Stack size of connection threads. Request handling is shallow; 256 KiB is plenty and lets a
/// thousand idle connections cost little memory.
const CONNECTION_STACK: usize = 256 * 1024;

/// A bound listener and the broker it serves.
pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
}

impl Server {
    /// Binds the listener and opens the log.
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.bind)?;
        let port = listener.local_addr()?.port();
        let broker = Arc::new(Broker::open(config, port)?);
        Ok(Server { listener, broker })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Accepts connections forever.
    ///
    /// Several threads accept on the same socket: starting a connection's thread takes tens of
    /// microseconds, and a burst of connects faster than one acceptor can start threads would
    /// overflow the kernel's queue of pending connections (128 with std), making clients wait
    /// about a second to retry.
    pub fn run(self) -> io::Result<()> {
        log::info!("listening on {}", self.local_addr()?);
        let never = AtomicBool::new(false);
        thread::scope(|scope| {
            for _ in 1..ACCEPTORS {
                scope.spawn(|| accept_loop(&self.listener, &self.broker, &never));
            }
            accept_loop(&self.listener, &self.broker, &never);
        });
        Ok(())
    }

    fn run_until(&self, stop: &AtomicBool) -> io::Result<()> {
        log::info!("listening on {}", self.local_addr()?);
        accept_loop(&self.listener, &self.broker, stop);
        Ok(())
    }

    /// Runs the server on a background thread (for tests and the load generator). Dropping the
    /// handle stops accepting; connections already open end when their clients disconnect.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let broker = Arc::clone(&self.broker);
        let stop_flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name("listener".into()).spawn(move || {
            if let Err(e) = self.run_until(&stop_flag) {
                log::error!("listener failed: {e}");
            }
        })?;
        Ok(ServerHandle { addr, stop, thread: Some(thread), broker })
    }
}

/// Accepts connections and starts a thread for each, until `stop` is set.
fn accept_loop(listener: &TcpListener, broker: &Arc<Broker>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match stream {
            Ok(stream) => {
                let broker = Arc::clone(broker);
                let spawned = thread::Builder::new()
                    .name("connection".into())
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || serve_connection(&broker, stream));
                if let Err(e) = spawned {
                    log::error!("cannot start a connection thread: {e}");
                }
            }
            // A connection reset before accept, or out of file descriptors: keep serving.
            Err(e) => log::warn!("accept failed: {e}"),
        }
    }
}

/// A server running on a background thread.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves one client until it disconnects or sends something that cannot be answered.
fn serve_connection(broker: &Broker, stream: TcpStream) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map_or_else(|| "?".to_string(), |a| a.to_string());
    // Kafka writes a member's host as "/" + its IP address.
    let client_host = peer_addr.map_or_else(String::new, |a| format!("/{}", a.ip()));
    // Responses are written whole; Nagle's algorithm would only delay them.
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            log::warn!("{peer}: {e}");
            return;
        }
    };
    // A small buffer: requests and size prefixes arrive in few reads, while the body of a large
    // produce request is read straight into its own buffer instead of being copied through this one.
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let max = broker.config.socket_request_max_bytes;
    loop {
        let frame = match read_frame(&mut reader, max) {
            // Owned by a shared buffer from here on: produced batches are kept as views into it.
            Ok(Some(frame)) => SharedBytes::from_vec(frame),
            Ok(None) => break, // clean EOF between requests
            // A client that hangs up without a goodbye is ordinary; anything else is worth a line.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                log::debug!("{peer}: connection reset by the client");
                break;
            }
            Err(e) => {
                log::info!("{peer}: closing connection: {e}");
                break;
            }
        };
        let started = Instant::now();
        match handle_frame(broker, &frame, &client_host) {
            Ok((Some(response), summary)) => {
                if let Err(e) = response.write_to(&mut writer) {
                    log::info!("{peer}: write failed: {e}");
                    break;
                }
                log::debug!(
                    "{peer} {summary} in={} out={} {}us",
                    frame.len() + 4,
                    response.len(),
                    started.elapsed().as_micros()
                );
            }
            Ok((None, summary)) => {
                log::debug!("{peer} {summary} in={} out=0 {}us", frame.len() + 4, started.elapsed().as_micros());
            }
            Err(reason) => {
                log::warn!("{peer}: closing connection: {reason}");
                break;
            }
        }
    }
    log::debug!("{peer}: disconnected");
}

/// Reads one size-prefixed frame. `Ok(None)` on EOF before the size. The size is checked before
/// anything is allocated. Frames up to 1 MiB get their buffer at once; beyond that the buffer
/// grows only as bytes actually arrive, so a client that announces 100 MiB and sends 10 bytes
/// costs 1 MiB, not 100.
pub fn read_frame(reader: &mut impl Read, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut size = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match reader.read(&mut size[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a size prefix"));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let size = i32::from_be_bytes(size);
    if size < MIN_FRAME as i32 || size as usize > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request size {size} outside {MIN_FRAME}..={max} (socket.request.max.bytes)"),
        ));
    }
    let size = size as usize;
    // Capacity for the whole frame if it is of a usual size, else for its first MiB: then the
    // buffer grows only as bytes actually arrive. read_to_end fills the spare capacity without
    // zeroing it first, so each byte of a request is written to memory once.
    let mut frame = Vec::with_capacity(size.min(TRUSTED_FRAME));
    reader.take(size as u64).read_to_end(&mut frame)?;
    if frame.len() < size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("connection closed inside a {size}-byte request"),
        ));
    }
    // A grown buffer may have spare room; stored batches would keep it alive.
    frame.shrink_to_fit();
    Ok(Some(frame))
}

/// Decodes, dispatches and answers one request frame. Returns the response (or none, for acks=0)
/// and a one-line summary for the debug log; an error means "close the connection".
pub fn handle_frame(
    broker: &Broker,
    frame: &SharedBytes,
    client_host: &str,
) -> Result<(Option<crate::wire::Frame>, String), String> {
    // With RUST_LOG=trace the same decoder that serves the request also records every field it
    // reads, and the request is logged as an annotated field tree.
    let tracing = log::log_enabled!(log::Level::Trace);
    let mut r = if tracing { Reader::traced(frame) } else { Reader::new(frame) };
    let prefix = header::decode_prefix(&mut r).map_err(|e| format!("bad request header: {e}"))?;
    let (api_key, api_version, correlation_id) = prefix;
    let Some(spec) = api::spec(api_key) else {
        return Err(format!("unknown api key {api_key} (version {api_version}, correlation id {correlation_id})"));
    };
    let mut w = Writer::new();
    if !(spec.min..=spec.max).contains(&api_version) {
        if api_key == API_VERSIONS_KEY {
            // The client will retry with a version from the list: answer in v0, which it can read.
            header::encode_response(&mut w, correlation_id, false);
            api::api_versions::encode_unsupported(&mut w);
            let summary = format!("ApiVersions v{api_version} unsupported (corr {correlation_id}): sent error 35");
            return Ok((Some(w.finish()), summary));
        }
        return Err(format!(
            "{} v{api_version} is not supported (supported: v{}-v{}; correlation id {correlation_id})",
            spec.name, spec.min, spec.max
        ));
    }
    let flexible = api_version >= spec.flexible_from;
    let header = header::decode_rest(&mut r, prefix, flexible).map_err(|e| format!("bad request header: {e}"))?;
    // ApiVersions answers with header v0 at every version, so clients can always read it.
    header::encode_response(&mut w, correlation_id, flexible && api_key != API_VERSIONS_KEY);
    let request = Request { header, version: api_version, flexible, client_host, frame };
    let summary = format!(
        "{} v{api_version} corr={correlation_id} client={}",
        spec.name,
        request.header.client_id.unwrap_or("-")
    );
    let outcome = api::dispatch(broker, &request, &mut r, &mut w);
    if tracing {
        log::trace!(
            "{summary}: request fields (byte offsets after the size prefix):\n{}",
            format_spans(frame, r.spans()).trim_end()
        );
    }
    match outcome {
        Ok(Reply::Send) => Ok((Some(w.finish()), summary)),
        Ok(Reply::Nothing) => Ok((None, summary)),
        Ok(Reply::Close(reason)) => Err(format!("{summary}: {reason}")),
        Err(e) => Err(format!("{summary}: malformed request: {e}")),
    }
}
