//> vi6
//! Shared helpers for the tests: start the broker's own binary, as the CodeCrafters runner does,
//! on a port the OS picks; talk raw frames to it; load the hex fixtures of `stages/`.
//!
//! The tests never look inside the broker: they see what a client sees, bytes on a socket (and,
//! from ls8 on, the files it writes). So the same tests run against the broker after any stage.
#![allow(dead_code)]

pub mod runner_files; //> vt6

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;
//> nc5
use std::io::ErrorKind;
//< nc5

/// A broker process listening on 127.0.0.1, on a port the OS picked (never 9092, so the tests can
/// run beside a broker of yours). Killed when dropped, also when a test fails.
pub struct Broker {
    pub addr: SocketAddr,
    child: Child,
    /// The broker's log lines so far (the first 10,000).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>, //> clients
    /// Holds the broker's `server.properties`.
    _config: TempDir,
}

impl Broker {
    /// Starts `target/…/mini-kafka` with a `server.properties` holding `properties` (Kafka-style
    /// `key=value` lines) and a listener on port 0. The broker logs `listening on ADDRESS` when it
    /// is ready; its log goes on to the test's output, which cargo shows for a failing test.
    pub fn start(properties: &str) -> Broker {
        let config = TempDir::new("config");
        let path = config.path().join("server.properties");
        std::fs::write(&path, format!("{properties}\nlisteners=PLAINTEXT://127.0.0.1:0\n")).unwrap();
        Broker::spawn(Command::new(env!("CARGO_BIN_EXE_mini-kafka")).arg(&path), config)
    }
    //> clients

    /// [`Broker::start`] with at most `files` open file descriptors (`ulimit -n`).
    pub fn start_with_open_files(properties: &str, files: u32) -> Broker {
        let config = TempDir::new("config");
        let path = config.path().join("server.properties");
        std::fs::write(&path, format!("{properties}\nlisteners=PLAINTEXT://127.0.0.1:0\n")).unwrap();
        let script = format!("ulimit -n {files} && exec \"$0\" \"$1\"");
        let mut command = Command::new("bash");
        command.args(["-c", &script, env!("CARGO_BIN_EXE_mini-kafka")]).arg(&path);
        Broker::spawn(&mut command, config)
    }
    //< clients

    fn spawn(command: &mut Command, config: TempDir) -> Broker {
        let mut child = command
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()))
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the broker");
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        let (found, listening) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new())); //> clients
        let lines = log.clone(); //> clients
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("[broker] {line}");
                //> clients
                let mut lines = lines.lock().unwrap();
                if lines.len() < 10_000 {
                    lines.push(line.clone());
                }
                drop(lines);
                //< clients
                if let Some((_, addr)) = line.split_once("listening on ") {
                    let _ = found.send(addr.trim().parse::<SocketAddr>());
                }
            }
        });
        match listening.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(addr)) => Broker {
                addr,
                child,
                log, //> clients
                _config: config,
            },
            Ok(Err(e)) => panic!("cannot read the broker's address: {e}"),
            Err(_) => {
                let _ = child.kill();
                panic!("the broker did not log 'listening on …' within 10 s (its log is above)")
            }
        }
    }

    /// Whether the broker process is still alive.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|status| status.is_none())
    }

    //> clients
    /// The broker's log lines so far that contain `text`.
    pub fn log_lines_with(&self, text: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(text)).count()
    }

    /// How many lines containing `text` the broker has logged, once that is at least `count` or
    /// 5 s have passed: its log is read by another thread, which may lag behind what it did.
    pub fn wait_for_log_lines(&self, text: &str, count: usize) -> usize {
        let started = std::time::Instant::now();
        while self.log_lines_with(text) < count && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.log_lines_with(text)
    }

    /// The broker's resident memory (`VmRSS` in /proc), in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
    //< clients

    /// The broker's process id, to look at it in `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker with no `log.dirs`: it keeps everything in memory.
pub fn start_default() -> Broker {
    Broker::start("")
}

//> vt6
/// A broker started as the CodeCrafters runner starts it, with its `server.properties`, and
/// `log.dirs` pointing at `dir`.
pub fn start_with_log_dir(dir: &Path) -> Broker {
    Broker::start(&runner_files::server_properties(dir))
}

//< vt6
/// A client connection with a read timeout, so a broker that never answers fails the test
/// instead of hanging it.
pub fn connect(broker: &Broker) -> TcpStream {
    let stream = TcpStream::connect(broker.addr).expect("connect");
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

/// The folder of `stages/` whose name starts with `prefix` (`"05"` or `"05-pv1"`), if the
/// repository has it: a stage's snapshot has the folders of the stages so far.
pub fn stage_folder(prefix: &str) -> Option<PathBuf> {
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&stages).unwrap().flatten().map(|e| e.path()).collect();
    folders.sort();
    folders.into_iter().find(|f| f.is_dir() && f.file_name().unwrap().to_string_lossy().starts_with(prefix))
}

/// Loads `stages/<stage>/<name>`, a hex fixture.
pub fn fixture(stage: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages").join(stage).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_hex(&text)
}

/// Hex of bytes, for readable assertion failures.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// A frame with its correlation id replaced: at bytes 8..12 of a request (after the size,
/// api_key and api_version), at 4..8 of a response.
pub fn with_correlation_id(frame: &[u8], at: usize, id: i32) -> Vec<u8> {
    let mut frame = frame.to_vec();
    frame[at..at + 4].copy_from_slice(&id.to_be_bytes());
    frame
}

//> nv3
/// What the broker answers to an ApiVersions v4 request with `correlation_id`: the answer of the
/// newest stage whose folder shows one (`api-versions-response.hex`, or `response.hex` when the
/// stage's own request is ApiVersions v4). Each stage that changes the answer shows its bytes, so
/// the broker after any stage is held to the exact bytes of that stage's guide, message_size
/// included.
pub fn api_versions_answer(correlation_id: i32) -> Vec<u8> {
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&stages).unwrap().flatten().map(|e| e.path()).collect();
    folders.sort();
    let mut newest = None;
    for folder in folders.iter().filter(|f| f.is_dir()) {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        if folder.join("api-versions-response.hex").exists() {
            newest = Some(fixture(&name, "api-versions-response.hex"));
        } else if folder.join("request.hex").exists() && fixture(&name, "request.hex")[4..8] == [0, 18, 0, 4] {
            newest = Some(fixture(&name, "response.hex"));
        }
    }
    with_correlation_id(&newest.expect("no stage shows an ApiVersions answer"), 4, correlation_id)
}

//< nv3
//> nc5

/// Asserts the broker closed the connection: a read ends with EOF (or a reset, which Linux sends
/// instead of FIN when the broker closes with unread bytes still queued), and no byte arrives.
pub fn assert_closed(stream: &mut TcpStream, what: &str) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: expected the connection to be closed, got {n} bytes: {}", hex(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
        Err(e) => panic!("{what}: expected the connection to be closed, got {e}"),
    }
}
//< nc5
//> pv1

/// What the runner checks in an ApiVersions answer from pv1 on: `message_size` counts the bytes
/// after it, error_code 0, and an entry for `api_key` whose versions include `version`.
pub fn assert_api_listed(response: &[u8], api_key: i16, version: i16) {
    assert_eq!(u32::from_be_bytes(response[..4].try_into().unwrap()) as usize, response.len() - 4);
    assert_eq!(&response[8..10], &[0, 0], "error_code");
    let entries = &response[11..11 + 7 * (response[10] as usize - 1)];
    let entry = entries.chunks(7).find(|e| e[..2] == api_key.to_be_bytes()).expect("an entry for the API");
    let (min, max) = (i16::from_be_bytes([entry[2], entry[3]]), i16::from_be_bytes([entry[4], entry[5]]));
    assert!(min <= version && version <= max, "api {api_key}: v{min}..v{max} must include v{version}");
}
//< pv1
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

//> clients
/// Replaces the file at `path` with a link to /dev/full, where every write fails with "no space
/// left on device"; returns what puts the file back. (A broker that opens the file for a write
/// meets a full disk.)
pub fn replace_with_full_disk(path: &Path) -> impl FnOnce() + use<> {
    let saved = std::fs::read(path).unwrap_or_default();
    let path = path.to_path_buf();
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink("/dev/full", &path).unwrap();
    move || {
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, saved).unwrap();
    }
}
//< clients

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
//> vt6

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
//< vt6
//< vi6
