//! The network side: a listener (stage vi6), the frame loop that turns bytes into requests and
//! responses (nv3, nh4), and one OS thread per connection (sk0).
//!
//! ```text
//! accept ──► thread per connection ──► loop {
//!                                        read INT32 size, then exactly `size` bytes   (one frame)
//!                                        decode the header, check the version table
//!                                        api::dispatch → the API's module writes the response
//!                                        write the whole response at once
//!                                      }
//! ```
//> sk0
//!
//! Why a thread per connection: it is the simplest model that serves clients independently (stage
//! sk0 opens several connections and reads the answers in reverse order; a server that finishes
//! one connection before the next deadlocks). Blocking reads make each connection's code a
//! straight line. The cost — a thread's stack per client — is kept small with a 256 KiB stack.
//!
//! Kafka clients may pipeline requests on one connection; answering them in order is automatic
//! here because one thread reads, handles and answers them one by one.
//< sk0

//> nc5
use crate::errors::ErrorCode;
//< nc5
use std::io;
/*> nv3 < wa6
use std::io::Write;
*/
use std::net::TcpListener;
//> nv3
use std::net::TcpStream;
//< nv3
//> wa6
use crate::header;
use crate::wire::{Frame, Reader, Writer};
//< wa6
//> nc5
use crate::api::{self, API_VERSIONS_KEY};
//< nc5
//> sk0
use std::thread;
//< sk0
//> vt6
use crate::api::{Reply, Request};
//< vt6
//> ea7
use crate::broker::Broker;
use crate::config::Config;
//< ea7
//> clients
use crate::inspect;
use crate::limits::{ClientReader, Connection, RateLimited};
use crate::wire::{self, SharedBytes};
use std::time::Instant;
//< clients
//> nv3

/// The smallest request: api_key, api_version, correlation_id and a client_id length (10 bytes).
const MIN_FRAME: usize = 10;
/*> nv3 < clients
/// The largest request: Kafka's default `socket.request.max.bytes`, 100 MiB.
const MAX_FRAME: usize = 100 * 1024 * 1024;
*/
//< nv3
//> clients
/// Frames up to this size get their whole buffer as soon as their size is read.
const TRUSTED_FRAME: usize = 1024 * 1024;
//< clients
//> sk0
/// Stack size of connection threads. Request handling is shallow; 256 KiB is plenty and lets a
/// thousand idle connections cost little memory.
const CONNECTION_STACK: usize = 256 * 1024;
//< sk0
//> clients
/// Threads accepting connections: starting a connection's thread takes tens of microseconds, and a
/// burst of connects faster than one acceptor can start threads would overflow the kernel's queue
/// of pending connections (128 with std), making clients wait a second to retry.
const ACCEPTORS: usize = 4;
//< clients

/*> vi6 < ea7
/// Binds the listener and serves clients until the process is stopped.
pub fn run(address: &str) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
*/
//> ea7
/// Binds the listener, opens the broker (which loads the log), and serves clients until the
/// process is stopped.
pub fn run(config: Config) -> io::Result<()> {
    let listener = TcpListener::bind(&config.bind)?;
    /*> ea7 < clients
    let broker = Broker::open(config)?;
    */
    let broker = Broker::open(config, listener.local_addr()?.port())?; //> clients

    //< ea7
    log::info!("listening on {}", listener.local_addr()?);
    /*> vi6 < sk0
    accept_loop(&listener);
    */
    //> sk0
    // Connection threads borrow the broker; a scope lets them, and it never ends.
    thread::scope(|scope| {
        //> clients
        for _ in 1..ACCEPTORS {
            scope.spawn(|| accept_loop(scope, &listener, &broker));
        }
        //< clients
        //> retention
        // Old segments go even when nothing is produced: the cleaner looks every
        // log.retention.check.interval.ms, and at once when the in-memory log is over its budget.
        let interval = std::time::Duration::from_millis(broker.config.log_retention_check_interval_ms);
        let cleaner = thread::Builder::new().name("log-cleaner".into());
        let log = &broker.log;
        if let Err(e) = cleaner.spawn_scoped(scope, move || log.run_cleaner(interval)) {
            log::error!("cannot start the log cleaner: {e}");
        }
        //< retention
        //> transactions
        // Transactions a stop left half-ended are finished; open ones are aborted by the timer
        // once their timeout passes, whether or not any request arrives.
        broker.transactions.recover(&broker);
        let timer = thread::Builder::new().name("txn-timer".into());
        let broker_ref = &broker;
        if let Err(e) = timer.spawn_scoped(scope, move || broker_ref.transactions.run_timer(broker_ref)) {
            log::error!("cannot start the transaction timer: {e}");
        }
        //< transactions
        /*> sk0 < ea7
        accept_loop(scope, &listener);
        */
        accept_loop(scope, &listener, &broker); //> ea7
    });
    //< sk0
    Ok(())
}

/*> vi6 < sk0
/// Accepts connections, one after the other.
fn accept_loop(listener: &TcpListener) {
*/
//> sk0
/// Accepts connections and starts a thread for each.
fn accept_loop<'s>(
    scope: &'s thread::Scope<'s, '_>,
    listener: &TcpListener,
    broker: &'s Broker, //> ea7
) {
    //< sk0
    for stream in listener.incoming() {
        match stream {
            /*> vi6 < nv3
            // Nothing to say yet: dropping the stream closes the connection.
            Ok(_stream) => {}
            */
            /*> nv3 < sk0
            // While this client is served, the next one waits.
            Ok(stream) => {
                if let Err(e) = serve_requests(&stream) {
                    log::warn!("closing connection: {e}");
                }
            }
            */
            //> sk0
            Ok(stream) => {
                //> clients
                let Some(connection) = broker.limits.connect() else {
                    let open = broker.limits.open_connections();
                    REFUSED.warn(|| format!("closing a new connection: {open} are open (max.connections)"));
                    continue;
                };
                //< clients
                let thread = thread::Builder::new().name("connection".into()).stack_size(CONNECTION_STACK);
                /*> sk0 < ea7
                let spawned = thread.spawn_scoped(scope, move || serve(stream));
                */
                /*> ea7 < clients
                let spawned = thread.spawn_scoped(scope, move || serve(broker, stream));
                */
                // The connection counts until its thread ends.
                let spawned = thread.spawn_scoped(scope, move || serve(broker, stream, connection)); //> clients
                if let Err(e) = spawned {
                    log::error!("cannot start a connection thread: {e}");
                }
            }
            //< sk0
            /*> vi6 < clients
            // A connection reset before accept, or out of file descriptors: keep serving.
            Err(e) => log::warn!("accept failed: {e}"),
            */
            Err(e) => accept_failed(&e), //> clients
        }
    }
}
//> clients

static REFUSED: RateLimited = RateLimited::new();
static ACCEPT_FAILED: RateLimited = RateLimited::new();

/// A failed accept: a connection reset before it was accepted, or no file descriptor left for it.
/// Serving goes on; out of descriptors, after a pause (retrying at once would spin a core, and
/// the log would fill with the same line), until a connection closes and frees one.
fn accept_failed(e: &io::Error) {
    ACCEPT_FAILED.warn(|| format!("accept failed: {e}"));
    // EMFILE and ENFILE: the process's or the system's descriptors are all in use.
    if matches!(e.raw_os_error(), Some(23 | 24)) {
        thread::sleep(std::time::Duration::from_millis(100));
    }
}
//< clients
//> sk0

/// Serves one client on its own thread until it disconnects or sends something that cannot be
/// answered.
fn serve(
    broker: &Broker, //> ea7
    stream: TcpStream,
    _connection: Connection<'_>, //> clients
) {
    let peer = stream.peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
    /*> sk0 < ea7
    match serve_requests(&stream) {
    */
    //> ea7
    match serve_requests(broker, &stream) {
        //< ea7
        Ok(()) => log::debug!("{peer}: disconnected"),
        // A client that hangs up without a goodbye is ordinary; anything else is worth a line.
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => log::debug!("{peer}: connection reset"),
        Err(e) => log::warn!("{peer}: closing connection: {e}"),
    }
}
//< sk0
//> nv3

/// Reads requests and writes their answers until the client closes the connection (`Ok`) or an
/// error closes it.
fn serve_requests(
    broker: &Broker, //> ea7
    stream: &TcpStream,
) -> io::Result<()> {
    //> groups
    // Kafka writes a member's host as "/" + its IP address.
    let client_host = stream.peer_addr().map_or_else(|_| String::new(), |a| format!("/{}", a.ip()));
    //< groups
    //> clients
    // Responses are written whole; Nagle's algorithm would only delay them.
    let _ = stream.set_nodelay(true);
    // Reads through a small buffer, with the bytes of requests counted and silences timed.
    let mut reader = ClientReader::new(stream, &broker.limits)?;
    let max = broker.config.socket_request_max_bytes;
    //< clients
    /*> nv3 < clients
    let (mut reader, max) = (stream, MAX_FRAME);
    */
    let mut writer = stream;
    /*> nv3 < nh4
    if let Some(frame) = read_frame(&mut reader, max)? {
    */
    //> nh4
    // One request after another, answered in order, until the client hangs up.
    while let Some(frame) = read_frame(&mut reader, max)? {
        //< nh4
        /*> nv3 < wa6
        // Any correlation id will do for stage nv3, which sends 7; wa6 reads the real one.
        let _ = frame;
        writer.write_all(&[0, 0, 0, 4, 0, 0, 0, 7])?;
        */
        //> clients
        // Owned by a shared buffer from here on: produced batches are kept as views into it.
        let frame = SharedBytes::from_vec(frame);
        //< clients
        //> wa6
        /*> wa6 < ea7
        let response = handle_frame(&frame);
        */
        /*> ea7 < clients
        let response = handle_frame(broker, &frame);
        */
        /*> clients < groups
        let response = handle_frame(broker, &frame, Some(stream));
        */
        let response = handle_frame(broker, &frame, &client_host, Some(stream)); //> groups
        // Nothing to send is an answer too: a produce with acks=0 (from stage clients on).
        if let Some(response) = response.map_err(|reason| io::Error::new(io::ErrorKind::InvalidData, reason))? {
            response.write_to(&mut writer)?;
        }
        reader.request_done(); //> clients

        //< wa6
    }
    Ok(())
}

/// Reads one size-prefixed frame. `Ok(None)` on EOF before the size. The size is checked before
/// anything is allocated.
//> clients
/// Frames up to 1 MiB get their buffer at once; beyond that the buffer grows only as bytes
/// actually arrive, so a client that announces 100 MiB and sends 10 bytes costs 1 MiB, not 100.
//< clients
/*> nv3 < clients
pub fn read_frame(reader: &mut impl io::Read, max: usize) -> io::Result<Option<Vec<u8>>> {
*/
//> clients
pub fn read_frame(reader: &mut ClientReader<'_>, max: usize) -> io::Result<Option<Vec<u8>>> {
    //< clients
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size) {
        // A client may close between requests; one that closes inside a size prefix loses nothing.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        result => result?,
    }
    let size = i32::from_be_bytes(size);
    if size < MIN_FRAME as i32 || size as usize > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("request size {size} not in 10..={max}")));
    }
    /*> nv3 < clients
    let mut frame = vec![0; size as usize];
    reader.read_exact(&mut frame)?;
    */
    //> clients
    // Capacity for the whole frame if it is of a usual size, else for its first MiB: then the
    // buffer grows only as bytes actually arrive (a chunk at a time: see ClientReader::read_body).
    let mut frame = Vec::with_capacity((size as usize).min(TRUSTED_FRAME));
    reader.read_body(&mut frame, size as usize)?;
    if frame.len() < size as usize {
        let message = format!("connection closed inside a {size}-byte request");
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, message));
    }
    // A grown buffer may have spare room; stored batches would keep it alive.
    frame.shrink_to_fit();
    //< clients
    Ok(Some(frame))
}
//< nv3
//> wa6

/// Decodes, dispatches and answers one request frame. Returns the response (none, for acks=0); an
/// error means "close the connection", with the reason for the log.
//> nc5
///
/// With `RUST_LOG=debug` every request gets a line: api, version, correlation id, client, bytes in
/// and out.
//< nc5
//> clients
/// With `RUST_LOG=trace` the decoder that serves the request and the encoder that writes the
/// response also note every field, and both are logged as annotated field trees.
//< clients
pub fn handle_frame(
    broker: &Broker,     //> ea7
    frame: &SharedBytes, //> clients
    /*> wa6 < clients
    frame: &[u8],
    */
    client_host: &str,          //> groups
    client: Option<&TcpStream>, //> clients
) -> Result<Option<Frame>, String> {
    let started = Instant::now(); //> clients
    let tracing = log::log_enabled!(log::Level::Trace); //> clients
    let mut r = if tracing { Reader::traced(frame) } else { Reader::new(frame) }; //> clients

    /*> wa6 < clients
    let mut r = Reader::new(frame);
    */
    let prefix = header::decode_prefix(&mut r).map_err(|e| format!("bad request header: {e}"))?;
    let (api_key, api_version, correlation_id) = prefix; //> nc5
    let mut w = if tracing { Writer::traced() } else { Writer::new() }; //> clients

    /*> wa6 < clients
    let mut w = Writer::new();
    */
    /*> wa6 < nc5
    header::encode_response(&mut w, prefix.2, false);
    Ok(Some(w.finish()))
    */
    //> nc5
    let Some(spec) = api::SUPPORTED_APIS.iter().find(|s| s.key == api_key) else {
        return Err(format!("unknown api key {api_key} (version {api_version}, correlation id {correlation_id})"));
    };
    if !(spec.min..=spec.max).contains(&api_version) {
        if api_key == API_VERSIONS_KEY {
            // The client will retry with a version from the list: answer in v0, which it can read.
            header::encode_response(&mut w, correlation_id, false);
            api::api_versions::encode(&mut w, 0, ErrorCode::UnsupportedVersion);
            log::debug!("ApiVersions v{api_version} unsupported (corr {correlation_id}): sent error 35");
            return Ok(Some(w.finish()));
        }
        return Err(format!("{} v{api_version} is not supported (only v{}-v{})", spec.name, spec.min, spec.max));
    }
    /*> nc5 < vt6
    // The table may list an API before its module arrives (DescribeTopicPartitions at yk1, with
    // its module at vt6): until then, only ApiVersions is answered.
    if api_key != API_VERSIONS_KEY {
        return Err(format!("{} has no handler yet", spec.name));
    }
    // ApiVersions answers with header v0 (no tagged fields) at every version.
    header::encode_response(&mut w, correlation_id, false);
    api::api_versions::encode(&mut w, api_version, ErrorCode::None);
    log::debug!("{} v{api_version} corr={correlation_id}", spec.name);
    Ok(Some(w.finish()))
    */
    //> vt6
    let flexible = api_version >= spec.flexible_from;
    let client_id = header::decode_client_id(&mut r, flexible).map_err(|e| format!("bad request header: {e}"))?;
    // ApiVersions answers with header v0 at every version, so clients can always read it.
    header::encode_response(&mut w, correlation_id, flexible && api_key != API_VERSIONS_KEY);
    let request = Request {
        api_key,
        version: api_version,
        flexible,
        client_id,
        client_host, //> groups
        frame,       //> clients
        client,      //> clients
    };
    /*> vt6 < ea7
    let outcome = api::dispatch(&request, &mut r, &mut w);
    */
    let outcome = api::dispatch(broker, &request, &mut r, &mut w); //> ea7
    let summary = format!("{} v{api_version} corr={correlation_id} client={}", spec.name, client_id.unwrap_or("-"));

    //> clients
    if tracing {
        let request = inspect::tree(frame, r.spans(), inspect::Style::for_log());
        log::trace!("{summary}: request, {} bytes after message_size:\n{}", frame.len(), request.trim_end());
    }
    let response_fields = w.take_spans();
    //< clients
    //> clients
    if w.too_large() {
        return Err(format!("{summary}: the response would exceed {} bytes", wire::MAX_RESPONSE_BYTES));
    }
    //< clients
    let response = match outcome {
        Ok(Reply::Send) => Some(w.finish()),
        Ok(Reply::Nothing) => None,                                             //> clients
        Ok(Reply::Close(reason)) => return Err(format!("{summary}: {reason}")), //> clients
        Err(e) => return Err(format!("{summary}: malformed request: {e}")),
    };
    //> clients
    if let (true, Some(frame)) = (tracing, &response) {
        let bytes = frame.to_vec();
        let tree = inspect::tree(&bytes[4..], &response_fields, inspect::Style::for_log());
        log::trace!("{summary}: response, {} bytes after message_size:\n{}", bytes.len() - 4, tree.trim_end());
    }
    let out = response.as_ref().map_or(0, Frame::len);
    log::debug!("{summary} in={} out={out} {}us", frame.len() + 4, started.elapsed().as_micros());
    //< clients
    /*> vt6 < clients
    log::debug!("{summary} in={}", frame.len() + 4);
    */
    Ok(response)
    //< vt6
    //< nc5
}
//< wa6
