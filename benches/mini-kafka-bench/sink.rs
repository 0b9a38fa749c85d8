//! The sink: the limit. A server that does the least a server can — read a frame, answer it.
//!
//! It runs as a process of its own (this executable again, with `--serve-sink`), so that its CPU
//! time is its own and the generator's is the generator's: `/proc/<pid>/stat` counts a whole
//! process. It prints its address on stdout, and exits when its stdin closes, that is when the
//! benchmark ends, however it ends.
//!
//! One thread per connection, like the broker. It understands only the two requests the
//! throughput phases send (Produce v9+, Fetch v12+) and shares no request handling code with the
//! broker — only the wire primitives.

use crate::KEEP_CLIENT_ID;
use crate::client::MAX_FRAME;
use crate::fixtures::Fixtures;
use crate::options::Options;
use crate::process;
use mini_kafka::wire::{DecodeError, Reader, SharedBytes, Writer};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The sink process, seen from the benchmark.
pub struct SinkProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl SinkProcess {
    pub fn start(opts: &Options) -> Result<SinkProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut child = Command::new(exe)
            .arg("--serve-sink")
            .stdin(Stdio::piped()) // never written: it closes when this process ends
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the sink process: {e}"))?;
        process::register(child.id(), None, opts.pid_file.as_deref());
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut sink = SinkProcess { child, addr: "0.0.0.0:0".parse().unwrap() };
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        sink.addr = line.trim().parse().map_err(|_| format!("the sink process said {line:?}, not its address"))?;
        Ok(sink)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        process::unregister(self.child.id(), None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--serve-sink`: listen on an ephemeral port, print it, serve until stdin closes.
pub fn serve() -> ExitCode {
    let listener = match TcpListener::bind("127.0.0.1:0").and_then(|l| Ok((l.local_addr()?, l))) {
        Ok((addr, listener)) => {
            println!("{addr}");
            let _ = io::stdout().flush();
            listener
        }
        Err(e) => {
            eprintln!("sink: cannot listen: {e}");
            return ExitCode::from(2);
        }
    };
    thread::spawn(|| {
        let _ = io::copy(&mut io::stdin(), &mut io::sink()); // returns at EOF: the benchmark is gone
        std::process::exit(0);
    });
    let records = Fixtures::new().fetch_records();
    for stream in listener.incoming().flatten() {
        let records = records.clone();
        let _ = thread::Builder::new().stack_size(256 * 1024).spawn(move || serve_connection(stream, &records));
    }
    ExitCode::SUCCESS
}

/// Serves one connection. Each frame is read straight from the socket into one reused buffer
/// (no intermediate buffer: a `BufReader` would copy every byte once more) and answered at once.
///
/// A client whose id is [`KEEP_CLIENT_ID`] gets the "keep" sink instead: from its second request
/// on, every frame is read straight from the socket into a new buffer of its exact size, which is
/// kept until the connection closes. That is the least any in-memory log must do — put the bytes
/// in fresh memory, once — measured as a second, more demanding limit.
fn serve_connection(mut stream: TcpStream, records: &SharedBytes) {
    let _ = stream.set_nodelay(true);
    let mut frame: Vec<u8> = Vec::new(); // only grows
    let mut response: Vec<u8> = Vec::with_capacity(256);
    let mut next_offset = 0i64;
    let mut kept: Option<Vec<Vec<u8>>> = None;
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return; // closed
        }
        let size = i32::from_be_bytes(size);
        if !(4..=MAX_FRAME as i32).contains(&size) {
            eprintln!("sink: frame size {size}");
            return;
        }
        let size = size as usize;
        let keeping = kept.is_some();
        let body: &[u8] = match &mut kept {
            Some(kept) => {
                // `take` + `read_to_end` reads into the vector's spare capacity: no zeroing first.
                let mut fresh = Vec::with_capacity(size);
                if (&stream).take(size as u64).read_to_end(&mut fresh).is_err() || fresh.len() != size {
                    return;
                }
                kept.push(fresh);
                kept.last().map_or(&[], |f| f)
            }
            None => {
                if frame.len() < size {
                    frame.resize(size, 0);
                }
                if stream.read_exact(&mut frame[..size]).is_err() {
                    return;
                }
                &frame[..size]
            }
        };
        let keep_from_now = !keeping && is_keep_client(body);
        let written = match answer(body, records, &mut next_offset, &mut response) {
            Ok(Answer::Bytes) => stream.write_all(&response),
            Ok(Answer::Fetch(frame)) => frame.write_to(&mut stream),
            Err(e) => {
                eprintln!("sink: cannot answer: {e}");
                return;
            }
        };
        if written.is_err() {
            return;
        }
        if keep_from_now {
            kept = Some(Vec::new());
        }
    }
}

/// Whether the request header's client_id (INT16 length, then the bytes) is [`KEEP_CLIENT_ID`].
fn is_keep_client(frame: &[u8]) -> bool {
    let id = KEEP_CLIENT_ID.as_bytes();
    frame.get(8..10) == Some(&(id.len() as u16).to_be_bytes()[..]) && frame.get(10..10 + id.len()) == Some(id)
}

enum Answer {
    /// The response is in the reused buffer.
    Bytes,
    /// A Fetch response: the records go to the kernel from the shared buffer, not copied.
    Fetch(mini_kafka::wire::Frame),
}

/// Answers one frame: Produce gets "error 0" for every partition, Fetch the prebuilt records.
fn answer(frame: &[u8], records: &SharedBytes, next_offset: &mut i64, out: &mut Vec<u8>) -> Result<Answer, String> {
    let e = |e: DecodeError| e.to_string();
    let mut r = Reader::new(frame);
    let (key, version, correlation_id) =
        (r.i16("api_key").map_err(e)?, r.i16("version").map_err(e)?, r.i32("corr").map_err(e)?);
    r.nullable_string_v("client_id", false).map_err(e)?;
    r.tagged_fields("header").map_err(e)?;
    match (key, version) {
        (0, 9..) => {
            produce_answer(&mut r, correlation_id, next_offset, out).map_err(e)?;
            Ok(Answer::Bytes)
        }
        (1, 12..) => Ok(Answer::Fetch(fetch_answer(&mut r, version, correlation_id, records).map_err(e)?)),
        _ => Err(format!("api key {key} v{version} is not something the sink answers")),
    }
}

/// A Produce v9+ response, written field by field into `out` (reused: no allocation).
fn produce_answer(
    r: &mut Reader<'_>,
    correlation_id: i32,
    next_offset: &mut i64,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    // Compact lengths and counts are unsigned varints of n + 1.
    fn uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out.clear();
    out.extend_from_slice(&[0; 4]); // message size, filled in at the end
    out.extend_from_slice(&correlation_id.to_be_bytes());
    out.push(0); // header tagged fields
    r.nullable_string_v("transactional_id", true)?;
    r.i16("acks")?;
    r.i32("timeout_ms")?;
    let topics = r.array_len_v("topics", true)?;
    uvarint(out, topics as u64 + 1); // responses
    for _ in 0..topics {
        let name = r.string_v("name", true)?;
        uvarint(out, name.len() as u64 + 1);
        out.extend_from_slice(name.as_bytes());
        let partitions = r.array_len_v("partitions", true)?;
        uvarint(out, partitions as u64 + 1); // partition_responses
        for _ in 0..partitions {
            out.extend_from_slice(&r.i32("index")?.to_be_bytes());
            r.nullable_bytes_v("records", true)?;
            r.tagged_fields("partition")?;
            out.extend_from_slice(&0i16.to_be_bytes()); // error_code
            out.extend_from_slice(&next_offset.to_be_bytes()); // base_offset
            *next_offset += 1;
            out.extend_from_slice(&(-1i64).to_be_bytes()); // log_append_time_ms
            out.extend_from_slice(&0i64.to_be_bytes()); // log_start_offset
            out.push(1); // record_errors: empty
            out.push(0); // error_message: null
            out.push(0); // tagged fields
        }
        r.tagged_fields("topic")?;
        out.push(0); // tagged fields
    }
    out.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
    out.push(0); // tagged fields
    let size = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// A Fetch v12+ response: the prebuilt records for every partition asked for.
fn fetch_answer(
    r: &mut Reader<'_>,
    version: i16,
    correlation_id: i32,
    records: &SharedBytes,
) -> Result<mini_kafka::wire::Frame, DecodeError> {
    let mut w = Writer::new();
    w.i32("correlation_id", correlation_id);
    w.tagged_fields_v(true);
    if version <= 14 {
        r.i32("replica_id")?;
    }
    for field in ["max_wait_ms", "min_bytes", "max_bytes"] {
        r.i32(field)?;
    }
    r.i8("isolation_level")?;
    r.i32("session_id")?;
    r.i32("session_epoch")?;
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", 0);
    w.i32("session_id", 0);
    let topics = r.array_len_v("topics", true)?;
    w.array_len_v("responses", topics, true);
    for _ in 0..topics {
        if version >= 13 {
            w.uuid("topic_id", r.uuid("topic_id")?);
        } else {
            w.string_v("topic", r.string_v("topic", true)?, true);
        }
        let partitions = r.array_len_v("partitions", true)?;
        w.array_len_v("partitions", partitions, true);
        for _ in 0..partitions {
            w.i32("partition_index", r.i32("partition")?);
            r.i32("current_leader_epoch")?;
            r.i64("fetch_offset")?;
            r.i32("last_fetched_epoch")?;
            r.i64("log_start_offset")?;
            r.i32("partition_max_bytes")?;
            r.tagged_fields("partition")?;
            w.i16("error_code", 0);
            w.i64("high_watermark", i64::MAX); // "there is always more"
            w.i64("last_stable_offset", i64::MAX);
            w.i64("log_start_offset", 0);
            w.array_len_v("aborted_transactions", 0, true);
            w.i32("preferred_read_replica", -1);
            w.records_v("records", true, records.len(), |w| w.shared(records.clone()));
            w.tagged_fields_v(true);
        }
        r.tagged_fields("topic")?;
        w.tagged_fields_v(true);
    }
    w.tagged_fields_v(true);
    Ok(w.finish())
}
