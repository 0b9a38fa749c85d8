//! The client side of a connection: requests encoded once and sent many times, responses read
//! into one reused buffer.
//!
//! Nothing here allocates per request. A request frame is encoded when the connection starts;
//! each send rewrites its 4-byte correlation id (and, for Fetch, the 8-byte offset) in place and
//! hands the same bytes to the kernel again. Responses are read into one buffer per connection,
//! as many as the socket holds in one `read`, and returned as slices of it.

use crate::{
    API_VERSIONS, CLIENT_ID, FETCH, FETCH_MAX_BYTES, FETCH_PARTITION_MAX_BYTES, IO_TIMEOUT, METADATA, PRODUCE,
};
use mini_kafka::wire::{Uuid, Writer};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The largest frame either side accepts.
pub const MAX_FRAME: usize = 64 << 20;

/// One client connection: write whole requests, read whole responses.
pub struct Client {
    stream: TcpStream,
    /// Bytes read from the socket: `buf[start..end]` is not consumed yet. It only grows (to the
    /// largest response seen), so a connection zeroes its memory once.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Client {
    /// Connects with timeouts on every read and write (nothing can hang) and Nagle off. `read_buffer`
    /// is the initial size of the response buffer.
    pub fn connect(addr: SocketAddr, read_buffer: usize) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Client { stream, buf: vec![0; read_buffer.max(64)], start: 0, end: 0 })
    }

    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.stream.write_all(frame)
    }

    /// The next response frame, size prefix excluded (valid until the next `recv`).
    pub fn recv(&mut self) -> io::Result<&[u8]> {
        self.fill(4)?;
        let size = i32::from_be_bytes([
            self.buf[self.start],
            self.buf[self.start + 1],
            self.buf[self.start + 2],
            self.buf[self.start + 3],
        ]);
        if !(4..=MAX_FRAME as i32).contains(&size) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame size {size}")));
        }
        let total = 4 + size as usize;
        self.fill(total)?;
        let frame = self.start + 4..self.start + total;
        self.start += total;
        Ok(&self.buf[frame])
    }

    /// Reads until `buf[start..]` holds `need` bytes. A response that does not fit after `start`
    /// is moved to the front first (responses are small or come one at a time, so that moves a
    /// few bytes), and the buffer grows if the response is larger than it.
    fn fill(&mut self, need: usize) -> io::Result<()> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.end - self.start >= need {
            return Ok(());
        }
        if self.start + need > self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        while self.end - self.start < need {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server")),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A request frame built once, sent many times with a new correlation id each time.
pub struct RequestFrame(Vec<u8>);

impl RequestFrame {
    /// Header v1 (v2 when `flexible`: an empty tag buffer after client_id), then the body.
    pub fn new(
        (api_key, version): (i16, i16),
        flexible: bool,
        client_id: &str,
        body: impl FnOnce(&mut Writer),
    ) -> RequestFrame {
        let mut w = Writer::new();
        w.i16("request_api_key", api_key);
        w.i16("request_api_version", version);
        w.i32("correlation_id", 0); // set by `with_correlation_id`
        w.nullable_string_v("client_id", Some(client_id), false); // never compact
        w.tagged_fields_v(flexible);
        body(&mut w);
        RequestFrame(w.finish().to_vec())
    }

    pub fn with_correlation_id(&mut self, id: i32) -> &[u8] {
        self.0[8..12].copy_from_slice(&id.to_be_bytes()); // after size, api_key, api_version
        &self.0
    }
}

/// Produce v11: one topic, one partition, one record batch; acks=-1 (all in-sync replicas).
pub fn produce_request(topic: &str, partition: i32, batch: &[u8], client_id: &str) -> RequestFrame {
    RequestFrame::new(PRODUCE, true, client_id, |w| {
        w.nullable_string_v("transactional_id", None, true);
        w.i16("acks", -1);
        w.i32("timeout_ms", 30_000);
        w.array_len_v("topic_data", 1, true);
        w.string_v("name", topic, true);
        w.array_len_v("partition_data", 1, true);
        w.i32("index", partition);
        w.nullable_bytes_v("records", Some(batch), true);
        w.tagged_fields_v(true);
        w.tagged_fields_v(true);
        w.tagged_fields_v(true);
    })
}

/// Fetch v16 of one partition by topic id, encoded once; each fetch rewrites the offset.
pub struct FetchRequest {
    frame: RequestFrame,
    /// Where `fetch_offset` lies in the frame.
    offset_at: usize,
}

impl FetchRequest {
    pub fn new(topic_id: Uuid, partition: i32) -> FetchRequest {
        let mut offset_at = 0;
        let frame = RequestFrame::new(FETCH, true, CLIENT_ID, |w| {
            w.i32("max_wait_ms", 500); // (never waited for: the data is there)
            w.i32("min_bytes", 1);
            w.i32("max_bytes", FETCH_MAX_BYTES);
            w.i8("isolation_level", 0); // read uncommitted
            w.i32("session_id", 0); // no session
            w.i32("session_epoch", -1); // full fetch
            w.array_len_v("topics", 1, true);
            w.uuid("topic_id", topic_id);
            w.array_len_v("partitions", 1, true);
            w.i32("partition", partition);
            w.i32("current_leader_epoch", -1);
            offset_at = 4 + w.len(); // the writer's length leaves out the size prefix
            w.i64("fetch_offset", 0);
            w.i32("last_fetched_epoch", -1);
            w.i64("log_start_offset", -1);
            w.i32("partition_max_bytes", FETCH_PARTITION_MAX_BYTES);
            w.tagged_fields_v(true);
            w.tagged_fields_v(true);
            w.array_len_v("forgotten_topics_data", 0, true);
            w.string_v("rack_id", "", true);
            w.tagged_fields_v(true);
        });
        FetchRequest { frame, offset_at }
    }

    pub fn with(&mut self, correlation_id: i32, offset: i64) -> &[u8] {
        self.frame.0[self.offset_at..self.offset_at + 8].copy_from_slice(&offset.to_be_bytes());
        self.frame.with_correlation_id(correlation_id)
    }
}

pub fn api_versions_request() -> RequestFrame {
    RequestFrame::new(API_VERSIONS, true, CLIENT_ID, |w| {
        w.string_v("client_software_name", CLIENT_ID, true);
        w.string_v("client_software_version", "0.1", true);
        w.tagged_fields_v(true);
    })
}

/// Metadata v1 with a null topic list: "all topics".
pub fn metadata_request() -> RequestFrame {
    RequestFrame::new(METADATA, false, CLIENT_ID, |w| w.null_array_v("topics", false))
}
