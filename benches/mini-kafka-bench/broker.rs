//! The broker under test, as a child process: the release binary Cargo built for this bench.

use crate::checks::{check_api_versions_response, check_create_topics_response};
use crate::client::{Client, RequestFrame, api_versions_request};
use crate::fixtures::Fixtures;
use crate::options::Options;
use crate::{CLIENT_ID, CREATE_TOPICS, PARTITIONS, SMALL_TOPIC, TOPIC, process, progress};
use mini_kafka::wire::Uuid;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

/// Where the broker keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// No `log.dirs`: the log lives in memory only; the bench creates the topics with CreateTopics.
    #[default]
    Memory,
    /// `log.dirs` set: topics come from a metadata log written before the start, and every batch
    /// is written through to its segment file (page cache, no fsync) before the answer.
    Dir,
}

impl LogMode {
    pub fn name(self) -> &'static str {
        match self {
            LogMode::Memory => "in-memory log",
            LogMode::Dir => "log.dirs, write-through",
        }
    }
}

/// How much the broker keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Everything produced: no retention keys (the memory figure is RSS against bytes stored).
    /// The in-memory log's own budget, `log.memory.max.bytes`, is set well above what a round
    /// stores, so nothing is dropped.
    All { bytes: u64 },
    /// The sustained case: [`RETENTION_BYTES`] per partition, in segments of [`SEGMENT_BYTES`].
    Retention,
}

/// `log.retention.bytes` of the sustained case: 64 MiB per partition.
pub const RETENTION_BYTES: u64 = 64 << 20;
/// `log.segment.bytes` of the sustained case: 8 MiB.
pub const SEGMENT_BYTES: u64 = 8 << 20;

/// The `server.properties` lines for `keep`.
fn keep_properties(keep: Keep) -> String {
    match keep {
        Keep::All { bytes } => format!("log.memory.max.bytes={}\n", (2 * bytes).max(1 << 30) + (256 << 20)),
        Keep::Retention => format!("log.retention.bytes={RETENTION_BYTES}\nlog.segment.bytes={SEGMENT_BYTES}\n"),
    }
}

pub struct BrokerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub mode: LogMode,
    /// The ids of `bench` and `bench-small` (Fetch v13+ names topics by id).
    pub topic_id: Uuid,
    pub small_topic_id: Uuid,
    dir: PathBuf,
    /// WARN and ERROR lines of the broker's log.
    warnings: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts the broker on an ephemeral port, waits for its "listening on" line and makes sure
    /// the topics exist. In `Memory` mode the topics are created with CreateTopics; a broker
    /// without CreateTopics is restarted in `Dir` mode.
    pub fn start(
        opts: &Options,
        fx: &Fixtures,
        name: &str,
        mode: LogMode,
        keep: Keep,
    ) -> Result<BrokerProcess, String> {
        let mut broker = BrokerProcess::spawn(opts, fx, name, mode, keep)?;
        if mode == LogMode::Memory {
            match create_topics(broker.addr)? {
                Some((topic_id, small_topic_id)) => {
                    (broker.topic_id, broker.small_topic_id) = (topic_id, small_topic_id)
                }
                None => {
                    progress(
                        "the broker does not advertise CreateTopics v7: using log.dirs and a metadata log instead",
                    );
                    drop(broker);
                    broker = BrokerProcess::spawn(opts, fx, name, LogMode::Dir, keep)?;
                }
            }
        }
        Ok(broker)
    }

    /// Starts the broker process: a fresh directory with `server.properties` (and in `Dir` mode the
    /// log directory with the metadata log that creates the topics).
    fn spawn(opts: &Options, fx: &Fixtures, name: &str, mode: LogMode, keep: Keep) -> Result<BrokerProcess, String> {
        let dir = std::env::temp_dir().join(format!("mini-kafka-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let logs = dir.join("logs");
        let setup = || -> io::Result<PathBuf> {
            std::fs::create_dir_all(&dir)?;
            let mut props = "node.id=1\nlisteners=PLAINTEXT://127.0.0.1:0\n".to_string();
            if mode == LogMode::Dir {
                fx.write_metadata_log(&logs)?;
                props += &format!("log.dirs={}\n", logs.display());
            }
            props += &keep_properties(keep);
            let path = dir.join("server.properties");
            std::fs::write(&path, props)?;
            Ok(path)
        };
        let props = setup().map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        let mut child = Command::new(&opts.broker)
            .arg(&props)
            .env("RUST_LOG", "info") // debug logs a line per request: not what we measure
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", opts.broker.display()))?;
        process::register(child.id(), Some(&dir), opts.pid_file.as_deref());

        // Read the broker's log on a thread for as long as it runs (a full pipe would block it).
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        let w = Arc::clone(&warnings);
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                } else if ["[WARN", " WARN ", "[ERROR", " ERROR ", "panicked"].iter().any(|level| line.contains(level))
                {
                    w.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            }
        });
        let mut broker = BrokerProcess {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            mode,
            topic_id: fx.topic_id,
            small_topic_id: fx.small_topic_id,
            dir,
            warnings,
        };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(text) => {
                broker.addr = text.parse().map_err(|_| format!("cannot parse the broker's address {text:?}"))?;
                Ok(broker)
            }
            Err(_) => {
                let status = broker.child.try_wait().ok().flatten();
                let last = broker.warnings().last().cloned().unwrap_or_default();
                Err(format!(
                    "the broker did not say \"listening on\" within 10 s (exit status: {status:?}; last warning: {last:?})"
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn status_field(&self, field: &str) -> Result<u64, String> {
        process::status_bytes(self.child.id(), field).map_err(|why| {
            let last = self.warnings().last().cloned().unwrap_or_default();
            format!("{why}: has the broker exited? (last warning in its log: {last:?})")
        })
    }

    /// Resident set size: the broker's memory actually in RAM.
    pub fn rss_bytes(&self) -> Result<u64, String> {
        self.status_field("VmRSS:")
    }

    /// The largest RSS since the broker started.
    pub fn peak_rss_bytes(&self) -> Result<u64, String> {
        self.status_field("VmHWM:")
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        process::unregister(self.child.id(), Some(&self.dir));
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates `bench` (4 partitions) and `bench-small` (1) with CreateTopics v7 and returns their
/// ids, or `None` if the broker does not advertise CreateTopics v7.
fn create_topics(addr: SocketAddr) -> Result<Option<(Uuid, Uuid)>, String> {
    let mut client = Client::connect(addr, 4096).map_err(|e| format!("CreateTopics: connect: {e}"))?;
    let io = |e: io::Error| format!("CreateTopics: {e}");
    client.send(api_versions_request().with_correlation_id(1)).map_err(io)?;
    let versions = check_api_versions_response(client.recv().map_err(io)?, 1)?;
    if !versions.iter().any(|&(key, min, max)| key == CREATE_TOPICS.0 && (min..=max).contains(&CREATE_TOPICS.1)) {
        return Ok(None);
    }
    let mut request = RequestFrame::new(CREATE_TOPICS, true, CLIENT_ID, |w| {
        w.array_len_v("topics", 2, true);
        for (name, partitions) in [(TOPIC, PARTITIONS), (SMALL_TOPIC, 1)] {
            w.string_v("name", name, true);
            w.i32("num_partitions", partitions);
            w.i16("replication_factor", 1);
            w.array_len_v("assignments", 0, true);
            w.array_len_v("configs", 0, true);
            w.tagged_fields_v(true);
        }
        w.i32("timeout_ms", 10_000);
        w.bool("validate_only", false);
        w.tagged_fields_v(true);
    });
    client.send(request.with_correlation_id(2)).map_err(io)?;
    let ids = check_create_topics_response(client.recv().map_err(io)?, 2)?;
    match (ids.get(TOPIC), ids.get(SMALL_TOPIC)) {
        (Some(&a), Some(&b)) if a != Uuid::ZERO && b != Uuid::ZERO => Ok(Some((a, b))),
        _ => Err(format!("CreateTopics did not return both topic ids: {ids:?}")),
    }
}
