//! Shared helpers for the integration tests: start a broker on an ephemeral port, talk raw
//! frames to it, load the hex fixtures from `stages/`.
#![allow(dead_code)]

pub mod oracle;
pub mod runner_files;

use mini_kafka::config::Config;
use mini_kafka::server::{Server, ServerHandle};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A broker on 127.0.0.1 with a port the OS picked; stopped when dropped.
pub fn start_broker(config: Config) -> ServerHandle {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut config = config;
    config.bind = "127.0.0.1:0".to_string();
    Server::bind(config).expect("bind").spawn().expect("spawn")
}

/// A broker with the default (in-memory) configuration.
pub fn start_default() -> ServerHandle {
    start_broker(Config::default())
}

/// A broker whose `log.dirs` is `dir`.
pub fn start_with_log_dir(dir: &Path) -> ServerHandle {
    start_broker(Config { log_dir: Some(dir.to_path_buf()), ..Config::default() })
}

/// A client connection with a read timeout, so a broker that never answers fails the test
/// instead of hanging it.
pub fn connect(handle: &ServerHandle) -> TcpStream {
    let stream = TcpStream::connect(handle.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Sends a whole request frame (size prefix included) and reads one whole response frame.
pub fn round_trip(stream: &mut TcpStream, request: &[u8]) -> Vec<u8> {
    stream.write_all(request).expect("write request");
    read_response(stream)
}

/// Reads one size-prefixed frame, size prefix included.
pub fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("read response size");
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).expect("read response body");
    let mut out = size.to_vec();
    out.extend(body);
    out
}

/// Parses hex text: whitespace ignored, `#` starts a comment that runs to the end of the line.
pub fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit")).collect()
}

/// Loads `stages/<stage>/<name>` (a hex fixture) from the repository.
pub fn fixture(stage: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages").join(stage).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_hex(&text)
}

/// Hex of bytes, for readable assertion failures.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// A temporary directory, removed when dropped. Unique per process and call.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("mini-kafka-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tiny deterministic PRNG (xorshift64): "random" values that are the same on every run, so a
/// failure reproduces.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Writes the runner's files for a stage's data set (`runner_files::stage_topics`) into a new
/// temporary log dir, starts a broker on it, sends `stages/<stage>/request.hex` and checks the
/// answer against `response.hex`, byte for byte. Returns the log dir and the request sent, for
/// checks of what the broker wrote.
pub fn assert_stage_matches_fixture(stage: &str) -> (TempDir, Vec<u8>) {
    let dir = TempDir::new(stage);
    runner_files::write_stage_files(dir.path(), &stage[3..6]);
    let broker = start_with_log_dir(dir.path());
    let request = fixture(stage, "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(hex(&response), hex(&fixture(stage, "response.hex")), "{stage}: response differs from response.hex");
    (dir, request)
}
