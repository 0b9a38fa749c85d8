//! # `mini-kafka-bench`: how fast is the broker, next to how fast it *could* be?
//!
//! Run it through `scripts/bench.sh` (which builds the release binaries first). It prints a table
//! and, last, one JSON line with every figure.
//!
//! ## Broker against limit
//!
//! A throughput figure alone says little: "800 MB/s" is excellent on one machine and poor on
//! another. So every figure is measured twice, with the *same client loop*:
//!
//! - against the **broker**, the real release binary `target/release/mini-kafka`, started as a
//!   child process (so the memory figures are the broker's own, not the load generator's);
//! - against the **sink**, a trivial server inside this process: one thread per connection, like
//!   the broker; it reads each request frame and answers at once with a minimal, well-formed
//!   response — for Produce "error 0" for each partition, for Fetch a prebuilt record set of the
//!   same size the broker would send. The sink stores nothing, checks nothing, copies nothing.
//!
//! The sink is the **limit**: what this client, this kernel's loopback and these cores can do
//! when the server costs (almost) nothing. The ratio broker/limit is the share of that the broker
//! reaches; the rest is what the broker's own work costs (parsing, CRC checks, copies, locks,
//! the segment file). The ratio is far less sensitive to the machine than the raw figures.
//!
//! ## What is measured (each figure is the median of 3 rounds; broker and sink alternate)
//!
//! | figure                | how                                                                  |
//! |-----------------------|----------------------------------------------------------------------|
//! | produce throughput    | Produce v11, acks=-1, batches of 100 records × 1 KiB; 4 connections, one partition each, 8 requests in flight on each (pipelined: Kafka answers in order); 1 GiB in all |
//! | produce latency       | one 100-byte record per request, 1 connection, 1 in flight: p50/p99/max from send to answer; 10 slices alternating broker and sink, so both see the same scheduling luck |
//! | fetch throughput      | Fetch v16 (by topic id) of the 1 GiB just produced, 4 connections, one partition each, 1 MiB per partition and request, one fetch in flight (as a consumer does); every batch's CRC is checked |
//! | memory                | broker VmRSS (`/proc/<pid>/status`) after storing 1 GiB, against the bytes stored |
//! | connections           | 1,000 connections opened at once (4 client threads), each sending ApiVersions then Metadata v1 (ApiVersions twice while the broker does not advertise Metadata); broker VmRSS while all are open; the slowest connect (a second or more means a SYN was dropped: the listener's accept queue was full) |
//!
//! Every response is checked: correlation id, error codes, partition, record counts. A failure is
//! counted and printed; a benchmark that measures failures is worthless, so errors fail the run.
//!
//! ## How the broker is set up
//!
//! The main figures use the broker **without `log.dirs`**: its log lives in memory only, so the
//! comparison with the sink is about the broker's own code, not the file system. The bench
//! creates topic `bench`
//! (4 partitions) and `bench-small` (1) with CreateTopics v7. Each round then reruns the produce
//! phases **with `log.dirs`** (rows marked so): there the broker also writes every batch through
//! to its segment file (page cache, no fsync) before answering, as it does for the CodeCrafters
//! runner; the topics come from a KRaft metadata log written before the start
//! (`<dir>/__cluster_metadata-0/00000000000000000000.log`). A broker without CreateTopics is run
//! with `log.dirs` throughout. Each round starts a fresh broker in a fresh directory under the
//! system temp dir, removed afterwards.
//!
//! A second limit helps read the produce figure: the sink can also read every request straight
//! into fresh memory and keep it, as an in-memory log must keep the batches somewhere. Fresh
//! memory is not free: the kernel faults in and zeroes every page on first touch, and on a virtual
//! machine that can cost more than the copy itself. This "keep" sink shows what storing costs on
//! this machine, done with a single copy.
//!
//! Every loop is bounded by a count and a deadline, sockets have timeouts, and a watchdog ends
//! the whole run (broker included) if it overruns.

use mini_kafka::log::batch;
use mini_kafka::log::metadata::{PartitionMeta, partition_record, topic_record};
use mini_kafka::wire::{Frame, Reader, SharedBytes, Uuid, Writer};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

// ─── The workload ────────────────────────────────────────────────────────────────────────────────

const CLIENT_ID: &str = "mini-kafka-bench";
/// Produce requests with this client id make the sink keep every request in fresh memory: the
/// least an in-memory log must do (see `serve_sink`).
const KEEP_CLIENT_ID: &str = "mini-kafka-bench-keep";
const TOPIC: &str = "bench";
const PARTITIONS: i32 = 4;
const SMALL_TOPIC: &str = "bench-small";

/// The throughput case: 100 records of 1 KiB per batch, 4 connections, 8 requests in flight.
const BIG_RECORD: usize = 1024;
const BIG_RECORDS_PER_BATCH: usize = 100;
const PRODUCE_CONNECTIONS: usize = 4;
const IN_FLIGHT: usize = 8;
/// The latency case: one 100-byte record per batch, 1 connection, 1 request in flight.
const SMALL_RECORD: usize = 100;
/// The latency case alternates between broker and sink in this many slices, each on a new
/// connection, so both see the same conditions (on a VM, whether two threads share a core or wake
/// each other across cores changes the round trip several times over, and it changes over time).
const SMALL_SLICES: u64 = 10;
/// Latency samples of the first requests of a slice (connection warm-up) are not counted.
const SMALL_WARMUP: u64 = 20;

/// Fetch sizes: Kafka's default `max.partition.fetch.bytes` (1 MiB) and 4 MiB for the response.
const FETCH_PARTITION_MAX_BYTES: i32 = 1 << 20;
const FETCH_MAX_BYTES: i32 = 4 << 20;

/// API versions the client speaks: what current Kafka clients send.
const PRODUCE: (i16, i16) = (0, 11);
const FETCH: (i16, i16) = (1, 16);
const METADATA: (i16, i16) = (3, 1);
const CREATE_TOPICS: (i16, i16) = (19, 7);
const API_VERSIONS: (i16, i16) = (18, 3);

/// Every socket read and write gives up after this long: nothing can hang.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadlines of the phases (a phase cut by its deadline is reported as such).
const PRODUCE_DEADLINE: Duration = Duration::from_secs(30);
const FETCH_DEADLINE: Duration = Duration::from_secs(30);
const CONNECTIONS_DEADLINE: Duration = Duration::from_secs(30);

const MIB: f64 = 1024.0 * 1024.0;

// ─── Options ─────────────────────────────────────────────────────────────────────────────────────

struct Options {
    /// Bytes to produce (and fetch back) per round.
    bytes: u64,
    rounds: usize,
    connections: usize,
    small_requests: u64,
    small_seconds: f64,
    /// The whole run is stopped (broker killed) after this long.
    timeout: Duration,
    broker: PathBuf,
    /// Broker pids are appended here, so `bench.sh` can kill a broker this process left behind.
    pid_file: Option<PathBuf>,
    /// Shown in the header (e.g. the git revision).
    label: String,
}

const USAGE: &str = "usage: mini-kafka-bench [--bytes MiB] [--rounds N] [--connections N] \
[--small-requests N] [--small-seconds S] [--timeout S] [--broker PATH] [--pid-file PATH] [--label TEXT]";

impl Options {
    fn parse() -> Result<Options, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut o = Options {
            bytes: 1 << 30,
            rounds: 3,
            connections: 1000,
            small_requests: 20_000,
            small_seconds: 2.0,
            timeout: Duration::from_secs(170),
            broker: exe.with_file_name("mini-kafka"),
            pid_file: None,
            label: String::new(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
            let num = |v: String| v.parse::<f64>().map_err(|_| format!("{flag}: not a number: {v}"));
            match flag.as_str() {
                "--bytes" => o.bytes = (num(value()?)? * MIB) as u64,
                "--rounds" => o.rounds = num(value()?)?.max(1.0) as usize,
                "--connections" => o.connections = num(value()?)? as usize,
                "--small-requests" => o.small_requests = num(value()?)? as u64,
                "--small-seconds" => o.small_seconds = num(value()?)?,
                "--timeout" => o.timeout = Duration::from_secs_f64(num(value()?)?),
                "--broker" => o.broker = PathBuf::from(value()?),
                "--pid-file" => o.pid_file = Some(PathBuf::from(value()?)),
                "--label" => o.label = value()?,
                "-h" | "--help" => return Err(USAGE.to_string()),
                _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
            }
        }
        Ok(o)
    }
}

// ─── main ────────────────────────────────────────────────────────────────────────────────────────

/// The broker running right now and its directory, for the watchdog (which cannot reach the
/// `BrokerProcess`).
static BROKER_PID: AtomicU32 = AtomicU32::new(0);
static BROKER_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

fn main() -> ExitCode {
    let opts = match Options::parse() {
        Ok(o) => o,
        Err(e) if e == USAGE => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    start_watchdog(opts.timeout);
    match run(&opts, started) {
        Ok(all_pass) => {
            if all_pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Ends the process after `timeout`, killing the broker first.
fn start_watchdog(timeout: Duration) {
    thread::spawn(move || {
        thread::sleep(timeout);
        eprintln!("bench: still running after {timeout:?}: stopping");
        kill_current_broker();
        std::process::exit(3);
    });
}

fn kill_current_broker() {
    let pid = BROKER_PID.swap(0, Ordering::SeqCst);
    if pid != 0 {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    if let Some(dir) = BROKER_DIR.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Runs every phase and prints the report; returns whether every target was met.
fn run(opts: &Options, started: Instant) -> Result<bool, String> {
    let fx = Fixtures::new();
    let sink = Sink::start(&fx).map_err(|e| format!("cannot start the sink: {e}"))?;
    let mut r = Rounds::default();
    for round in 1..=opts.rounds {
        progress(&format!("round {round}/{}", opts.rounds));
        main_round(opts, &fx, &sink, round, &mut r)?;
        if r.mode == LogMode::Memory {
            log_dirs_round(opts, &fx, &sink, round, &mut r)?;
        }
    }
    connections_rounds(opts, &fx, &mut r)?;

    let report = Report::new(opts, &r, started.elapsed().as_secs_f64());
    print!("{}", report.render_header(opts, r.mode));
    print!("{}", report.render_table());
    print!("{}", report.render_errors(&r));
    println!("{}", report.render_json());
    Ok(report.all_pass())
}

fn progress(line: &str) {
    eprintln!("bench: {line}");
}

/// One round of the main figures: produce 1 GiB (sink, keep sink, a fresh broker, sink again),
/// the broker's memory, fetch it all back (broker, then sink), and the latency case.
fn main_round(opts: &Options, fx: &Fixtures, sink: &Sink, round: usize, r: &mut Rounds) -> Result<(), String> {
    // The limit is measured before and after the broker, and the two runs are taken together:
    // the machine's speed drifts (other work, memory state), and this brackets the broker's run.
    let limit_before = produce_big(sink.addr, fx, opts.bytes, CLIENT_ID);
    progress(&format!("  limit  produce {:8.1} MB/s", limit_before.mb_per_s()));
    let keep = produce_big(sink.addr, fx, opts.bytes, KEEP_CLIENT_ID);
    progress(&format!("  keep   produce {:8.1} MB/s (sink keeping every request in fresh memory)", keep.mb_per_s()));
    let broker = BrokerProcess::start(opts, fx, &format!("round{round}"), LogMode::Memory)?;
    r.mode = broker.mode;
    let produced = produce_big(broker.addr, fx, opts.bytes, CLIENT_ID);
    progress(&format!("  broker produce {:8.1} MB/s ({})", produced.mb_per_s(), broker.mode.name()));

    // Memory with everything stored: let the producer connections' threads finish first (the
    // second limit run gives them time).
    let limit_after = produce_big(sink.addr, fx, opts.bytes, CLIENT_ID);
    progress(&format!("  limit  produce {:8.1} MB/s", limit_after.mb_per_s()));
    let limit = PhaseResult::from_slices(vec![limit_before, limit_after]);
    let rss = broker.rss_bytes()?;
    r.stored.push(produced.bytes as f64);
    r.rss_stored.push(rss as f64);
    r.rss_peak.push(broker.peak_rss_bytes()? as f64);
    progress(&format!("  broker RSS {:.1} MiB for {:.1} MiB stored", rss as f64 / MIB, produced.bytes as f64 / MIB));

    // Fetch it all back, then the same amount from the sink.
    let targets: Vec<(i32, u64, Option<u64>)> =
        produced.per_connection.iter().map(|c| (c.partition, c.bytes, Some(c.records))).collect();
    let fetched = fetch_phase(broker.addr, broker.topic_id, &targets);
    progress(&format!("  broker fetch   {:8.1} MB/s", fetched.mb_per_s()));
    let limit_targets: Vec<_> = targets.iter().map(|&(p, bytes, _)| (p, bytes, None)).collect();
    let limit_fetch = fetch_phase(sink.addr, fx.topic_id, &limit_targets);
    progress(&format!("  limit  fetch   {:8.1} MB/s", limit_fetch.mb_per_s()));

    // Small records, one at a time: latency.
    let (small, limit_small) = produce_small(broker.addr, sink.addr, fx, opts);
    progress_small(&small, &limit_small, broker.mode);

    r.broker_warnings.extend(broker.warnings());
    r.produce_keep.push(keep.mb_per_s());
    r.produce.push((produced, limit));
    r.fetch.push((fetched, limit_fetch));
    r.small.push((small, limit_small));
    Ok(())
}

/// The produce phases again with `log.dirs`: every batch is also written to its segment file.
fn log_dirs_round(opts: &Options, fx: &Fixtures, sink: &Sink, round: usize, r: &mut Rounds) -> Result<(), String> {
    let broker = BrokerProcess::start(opts, fx, &format!("round{round}-dir"), LogMode::Dir)?;
    let produced = produce_big(broker.addr, fx, opts.bytes, CLIENT_ID);
    progress(&format!("  broker produce {:8.1} MB/s ({})", produced.mb_per_s(), broker.mode.name()));
    let (small, limit_small) = produce_small(broker.addr, sink.addr, fx, opts);
    progress_small(&small, &limit_small, broker.mode);
    r.broker_warnings.extend(broker.warnings());
    r.produce_dir.push(produced);
    r.small_dir.push((small, limit_small));
    Ok(())
}

/// The connections phase, `opts.rounds` times against one fresh broker.
fn connections_rounds(opts: &Options, fx: &Fixtures, r: &mut Rounds) -> Result<(), String> {
    let broker = BrokerProcess::start(opts, fx, "connections", LogMode::Memory)?;
    r.rss_idle = broker.rss_bytes()? as f64;
    for round in 1..=opts.rounds {
        let c = connections_phase(&broker, opts.connections);
        progress(&format!(
            "connections round {round}: {}/{} answered ({}), RSS {:.1} MiB, {:.2} s",
            c.answered,
            opts.connections,
            c.second_request,
            c.rss as f64 / MIB,
            c.secs
        ));
        r.connections.push(c);
    }
    r.broker_warnings.extend(broker.warnings());
    Ok(())
}

fn progress_small(broker: &PhaseResult, limit: &PhaseResult, mode: LogMode) {
    progress(&format!(
        "  broker small   p50 {:.0} µs p99 {:.0} µs ({})",
        broker.percentile(50.0),
        broker.percentile(99.0),
        mode.name()
    ));
    progress(&format!("  limit  small   p50 {:.0} µs p99 {:.0} µs", limit.percentile(50.0), limit.percentile(99.0)));
}

// ─── Fixtures: the record batches and the topics ────────────────────────────────────────────────

struct Fixtures {
    topic_id: Uuid,
    small_topic_id: Uuid,
    /// One batch of 100 records × 1 KiB, valid (CRC included); the broker rewrites its base offset.
    big_batch: Vec<u8>,
    /// One batch of one 100-byte record.
    small_batch: Vec<u8>,
}

impl Fixtures {
    fn new() -> Fixtures {
        let now = now_ms();
        // Values with some variety (the content does not matter without compression).
        let value = |len: usize, seed: usize| (0..len).map(|i| (i * 31 + seed * 7) as u8).collect::<Vec<u8>>();
        let big: Vec<Vec<u8>> = (0..BIG_RECORDS_PER_BATCH).map(|i| value(BIG_RECORD, i)).collect();
        Fixtures {
            topic_id: Uuid::random(),
            small_topic_id: Uuid::random(),
            big_batch: batch::build(0, now, &big),
            small_batch: batch::build(0, now, &[value(SMALL_RECORD, 0)]),
        }
    }

    /// The cluster metadata log that creates the topics, as the CodeCrafters runner writes it.
    fn write_metadata_log(&self, log_dir: &Path) -> io::Result<()> {
        let mut values = vec![topic_record(TOPIC, self.topic_id)];
        let partition = |index| PartitionMeta { index, leader: 1, leader_epoch: 0, replicas: vec![1], isr: vec![1] };
        values.extend((0..PARTITIONS).map(|i| partition_record(self.topic_id, &partition(i))));
        values.push(topic_record(SMALL_TOPIC, self.small_topic_id));
        values.push(partition_record(self.small_topic_id, &partition(0)));
        let dir = log_dir.join("__cluster_metadata-0");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("00000000000000000000.log"), batch::build(0, now_ms(), &values))
    }

    /// What the broker answers to a 1 MiB-per-partition fetch of the big batches: as many whole
    /// batches as fit (the sink sends this to every fetch). Base offsets 0, 100, 200, ...
    fn fetch_records(&self) -> SharedBytes {
        let n = (FETCH_PARTITION_MAX_BYTES as usize / self.big_batch.len()).max(1);
        let mut out = Vec::with_capacity(n * self.big_batch.len());
        for i in 0..n {
            let start = out.len();
            out.extend_from_slice(&self.big_batch);
            batch::set_base_offset(&mut out[start..], (i * BIG_RECORDS_PER_BATCH) as i64);
        }
        SharedBytes::from_vec(out)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// ─── The broker, as a child process ─────────────────────────────────────────────────────────────

/// Where the broker keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum LogMode {
    /// No `log.dirs`: the log lives in memory only; the bench creates the topics with CreateTopics.
    #[default]
    Memory,
    /// `log.dirs` set: topics come from a metadata log written before the start, and every batch
    /// is written through to its segment file (page cache, no fsync) before the answer.
    Dir,
}

impl LogMode {
    fn name(self) -> &'static str {
        match self {
            LogMode::Memory => "in-memory log",
            LogMode::Dir => "log.dirs, write-through",
        }
    }
}

struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    mode: LogMode,
    /// The ids of `bench` and `bench-small` (Fetch v13+ names topics by id).
    topic_id: Uuid,
    small_topic_id: Uuid,
    dir: PathBuf,
    /// WARN and ERROR lines of the broker's log.
    warnings: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts `target/release/mini-kafka` on an ephemeral port, waits for its "listening on" line
    /// and makes sure the topics exist. In `Memory` mode the topics are created with CreateTopics;
    /// a broker without CreateTopics is restarted in `Dir` mode.
    fn start(opts: &Options, fx: &Fixtures, name: &str, mode: LogMode) -> Result<BrokerProcess, String> {
        let mut broker = BrokerProcess::spawn(opts, fx, name, mode)?;
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
                    broker = BrokerProcess::spawn(opts, fx, name, LogMode::Dir)?;
                }
            }
        }
        Ok(broker)
    }

    /// Starts the broker process: a fresh directory with `server.properties` (and in `Dir` mode the
    /// log directory with the metadata log that creates the topics).
    fn spawn(opts: &Options, fx: &Fixtures, name: &str, mode: LogMode) -> Result<BrokerProcess, String> {
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
            let path = dir.join("server.properties");
            std::fs::write(&path, props)?;
            Ok(path)
        };
        *BROKER_DIR.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir.clone());
        let props = setup().map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        let mut child = Command::new(&opts.broker)
            .arg(&props)
            .env("RUST_LOG", "info") // debug logs a line per request: not what we measure
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("cannot start {}: {e} (run scripts/bench.sh, which builds it)", opts.broker.display())
            })?;
        BROKER_PID.store(child.id(), Ordering::SeqCst);
        if let Some(path) = &opts.pid_file {
            let line = format!("{}\n", child.id());
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }

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
                Err(format!("the broker did not say \"listening on\" within 10 s (exit status: {status:?})"))
            }
        }
    }

    fn status_field(&self, field: &str) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.child.id());
        let gone = |why: String| {
            let last = self.warnings().last().cloned().unwrap_or_default();
            format!("{path}: {why}: has the broker exited? (last warning in its log: {last:?})")
        };
        let text = std::fs::read_to_string(&path).map_err(|e| gone(e.to_string()))?;
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| gone(format!("no {}", field.trim_end_matches(':'))))
    }

    /// Resident set size: the broker's memory actually in RAM.
    fn rss_bytes(&self) -> Result<u64, String> {
        self.status_field("VmRSS:")
    }

    /// The largest RSS since the broker started.
    fn peak_rss_bytes(&self) -> Result<u64, String> {
        self.status_field("VmHWM:")
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        BROKER_PID.store(0, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        BROKER_DIR.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

// ─── The sink: the limit ────────────────────────────────────────────────────────────────────────

/// A server that does the least a server can: read a frame, answer it. It only understands the
/// two requests the throughput phases send (Produce v9+, Fetch v12+), and shares no request
/// handling code with the broker — only the wire primitives.
struct Sink {
    addr: SocketAddr,
}

impl Sink {
    fn start(fx: &Fixtures) -> io::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let records = fx.fetch_records();
        // The sink lives until the process ends.
        thread::Builder::new().name("sink".into()).spawn(move || {
            for stream in listener.incoming().flatten() {
                let records = records.clone();
                let _ = thread::Builder::new().stack_size(256 * 1024).spawn(move || serve_sink(stream, &records));
            }
        })?;
        Ok(Sink { addr })
    }
}

/// Serves one connection. Each frame is read into one reused buffer and answered.
///
/// A client whose id is [`KEEP_CLIENT_ID`] gets the "keep" sink instead: from its second request
/// on, every frame is read straight from the socket into a new buffer of its exact size, which is
/// kept until the connection closes. That is the least any in-memory log must do — put the bytes
/// in fresh memory, once — measured as a second, more demanding limit.
fn serve_sink(stream: TcpStream, records: &SharedBytes) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut frame = Vec::new();
    let mut next_offset = 0i64;
    let mut keep = false;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let read = if keep {
            let mut fresh = Vec::new();
            // Bypass the BufReader once it is empty, so the kernel copies into `fresh` directly.
            let read = if reader.buffer().is_empty() {
                read_frame_into(reader.get_mut(), &mut fresh)
            } else {
                read_frame_into(&mut reader, &mut fresh)
            };
            kept.push(fresh);
            read
        } else {
            read_frame_into(&mut reader, &mut frame)
        };
        if !matches!(read, Ok(true)) {
            return;
        }
        let frame: &[u8] = if keep { kept.last().map_or(&[], |f| f) } else { &frame };
        if !keep && frame.get(8..10 + KEEP_CLIENT_ID.len()) == Some(&keep_client_id_field()) {
            keep = true;
        }
        match sink_answer(frame, records, &mut next_offset) {
            Ok(response) => {
                if response.write_to(&mut writer).is_err() {
                    return;
                }
            }
            Err(e) => {
                eprintln!("sink: cannot answer: {e}");
                return;
            }
        }
    }
}

/// The client_id field of a request header (INT16 length, then the bytes) for [`KEEP_CLIENT_ID`].
fn keep_client_id_field() -> Vec<u8> {
    let mut field = (KEEP_CLIENT_ID.len() as u16).to_be_bytes().to_vec();
    field.extend_from_slice(KEEP_CLIENT_ID.as_bytes());
    field
}

/// Answers one frame: Produce gets "error 0" for every partition, Fetch the prebuilt records.
fn sink_answer(frame: &[u8], records: &SharedBytes, next_offset: &mut i64) -> Result<Frame, String> {
    let e = |e: mini_kafka::wire::DecodeError| e.to_string();
    let mut r = Reader::new(frame);
    let (key, version, correlation_id) =
        (r.i16("api_key").map_err(e)?, r.i16("version").map_err(e)?, r.i32("corr").map_err(e)?);
    r.nullable_string_v("client_id", false).map_err(e)?;
    let mut w = Writer::new();
    match (key, version) {
        (0, 9..) => {
            r.tagged_fields("header").map_err(e)?;
            w.i32("correlation_id", correlation_id);
            w.tagged_fields_v(true);
            r.nullable_string_v("transactional_id", true).map_err(e)?;
            r.i16("acks").map_err(e)?;
            r.i32("timeout_ms").map_err(e)?;
            let topics = r.array_len_v("topics", true).map_err(e)?;
            w.array_len_v("responses", topics, true);
            for _ in 0..topics {
                w.string_v("name", r.string_v("name", true).map_err(e)?, true);
                let partitions = r.array_len_v("partitions", true).map_err(e)?;
                w.array_len_v("partition_responses", partitions, true);
                for _ in 0..partitions {
                    w.i32("index", r.i32("index").map_err(e)?);
                    r.nullable_bytes_v("records", true).map_err(e)?;
                    r.tagged_fields("partition").map_err(e)?;
                    w.i16("error_code", 0);
                    w.i64("base_offset", *next_offset);
                    *next_offset += 1;
                    w.i64("log_append_time_ms", -1);
                    w.i64("log_start_offset", 0);
                    w.array_len_v("record_errors", 0, true);
                    w.nullable_string_v("error_message", None, true);
                    w.tagged_fields_v(true);
                }
                r.tagged_fields("topic").map_err(e)?;
                w.tagged_fields_v(true);
            }
            w.i32("throttle_time_ms", 0);
            w.tagged_fields_v(true);
        }
        (1, 12..) => {
            r.tagged_fields("header").map_err(e)?;
            w.i32("correlation_id", correlation_id);
            w.tagged_fields_v(true);
            if version <= 14 {
                r.i32("replica_id").map_err(e)?;
            }
            for field in ["max_wait_ms", "min_bytes", "max_bytes"] {
                r.i32(field).map_err(e)?;
            }
            r.i8("isolation_level").map_err(e)?;
            r.i32("session_id").map_err(e)?;
            r.i32("session_epoch").map_err(e)?;
            w.i32("throttle_time_ms", 0);
            w.i16("error_code", 0);
            w.i32("session_id", 0);
            let topics = r.array_len_v("topics", true).map_err(e)?;
            w.array_len_v("responses", topics, true);
            for _ in 0..topics {
                if version >= 13 {
                    w.uuid("topic_id", r.uuid("topic_id").map_err(e)?);
                } else {
                    w.string_v("topic", r.string_v("topic", true).map_err(e)?, true);
                }
                let partitions = r.array_len_v("partitions", true).map_err(e)?;
                w.array_len_v("partitions", partitions, true);
                for _ in 0..partitions {
                    w.i32("partition_index", r.i32("partition").map_err(e)?);
                    r.i32("current_leader_epoch").map_err(e)?;
                    r.i64("fetch_offset").map_err(e)?;
                    r.i32("last_fetched_epoch").map_err(e)?;
                    r.i64("log_start_offset").map_err(e)?;
                    r.i32("partition_max_bytes").map_err(e)?;
                    r.tagged_fields("partition").map_err(e)?;
                    w.i16("error_code", 0);
                    w.i64("high_watermark", i64::MAX); // "there is always more"
                    w.i64("last_stable_offset", i64::MAX);
                    w.i64("log_start_offset", 0);
                    w.array_len_v("aborted_transactions", 0, true);
                    w.i32("preferred_read_replica", -1);
                    w.records_v("records", true, records.len(), |w| w.shared(records.clone()));
                    w.tagged_fields_v(true);
                }
                r.tagged_fields("topic").map_err(e)?;
                w.tagged_fields_v(true);
            }
            w.tagged_fields_v(true);
        }
        _ => return Err(format!("api key {key} v{version} is not something the sink answers")),
    }
    Ok(w.finish())
}

// ─── The client side: connections, requests, responses ─────────────────────────────────────────

/// Reads one size-prefixed frame into `buf` (reused across frames). `Ok(false)` on a clean EOF.
fn read_frame_into(reader: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let size = i32::from_be_bytes(size);
    if !(4..=64 << 20).contains(&size) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame size {size}")));
    }
    buf.resize(size as usize, 0);
    reader.read_exact(buf)?;
    Ok(true)
}

/// One client connection: write whole requests, read whole responses.
struct Client {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, read_buffer: usize) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Client {
            writer: stream.try_clone()?,
            reader: BufReader::with_capacity(read_buffer, stream),
            buf: Vec::new(),
        })
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.writer.write_all(frame)
    }

    fn recv(&mut self) -> io::Result<&[u8]> {
        if !read_frame_into(&mut self.reader, &mut self.buf)? {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server"));
        }
        Ok(&self.buf)
    }
}

/// A request frame built once, sent many times with a new correlation id each time.
struct RequestFrame(Vec<u8>);

impl RequestFrame {
    /// Header v1 (v2 when `flexible`: an empty tag buffer after client_id), then the body.
    fn new(
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

    fn with_correlation_id(&mut self, id: i32) -> &[u8] {
        self.0[8..12].copy_from_slice(&id.to_be_bytes()); // after size, api_key, api_version
        &self.0
    }
}

/// Produce v11: one topic, one partition, one record batch; acks=-1 (all in-sync replicas).
fn produce_request(topic: &str, partition: i32, batch: &[u8], client_id: &str) -> RequestFrame {
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

/// Fetch v16 of one partition from `offset`, by topic id.
fn fetch_request(topic_id: Uuid, partition: i32, offset: i64) -> RequestFrame {
    RequestFrame::new(FETCH, true, CLIENT_ID, |w| {
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
        w.i64("fetch_offset", offset);
        w.i32("last_fetched_epoch", -1);
        w.i64("log_start_offset", -1);
        w.i32("partition_max_bytes", FETCH_PARTITION_MAX_BYTES);
        w.tagged_fields_v(true);
        w.tagged_fields_v(true);
        w.array_len_v("forgotten_topics_data", 0, true);
        w.string_v("rack_id", "", true);
        w.tagged_fields_v(true);
    })
}

fn api_versions_request() -> RequestFrame {
    RequestFrame::new(API_VERSIONS, true, CLIENT_ID, |w| {
        w.string_v("client_software_name", CLIENT_ID, true);
        w.string_v("client_software_version", "0.1", true);
        w.tagged_fields_v(true);
    })
}

/// Metadata v1 with a null topic list: "all topics".
fn metadata_request() -> RequestFrame {
    RequestFrame::new(METADATA, false, CLIENT_ID, |w| w.null_array_v("topics", false))
}

/// Counts of failures by kind ("produce: error code 3", "fetch: i/o: timed out", ...).
#[derive(Default, Debug, Clone)]
struct Tally(BTreeMap<String, u64>);

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
    fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }
    fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

type Check<T> = Result<T, String>;

/// Reads a response header and checks the correlation id (Kafka answers in order).
fn response_header(body: &[u8], expected: i32, flexible: bool) -> Check<Reader<'_>> {
    let mut r = Reader::new(body);
    let id = r.i32("correlation_id").map_err(|e| e.to_string())?;
    if id != expected {
        return Err(format!("correlation id {id}, expected {expected}"));
    }
    r.tagged_fields_v("header", flexible).map_err(|e| e.to_string())?;
    Ok(r)
}

/// Checks a Produce v11 response for one partition. `Ok(Some(code))` for a well-formed response
/// with a non-zero error code; `Err` for a malformed one (the connection cannot go on).
fn check_produce_response(body: &[u8], corr: i32, topic: &str, partition: i32) -> Check<Option<i16>> {
    let mut r = response_header(body, corr, true)?;
    let e = |e: mini_kafka::wire::DecodeError| e.to_string();
    let mut error = None;
    let topics = r.array_len_v("responses", true).map_err(e)?;
    if topics != 1 {
        return Err(format!("{topics} topics in the response, expected 1"));
    }
    let name = r.string_v("name", true).map_err(e)?;
    if name != topic {
        return Err(format!("topic {name:?} in the response, expected {topic:?}"));
    }
    let partitions = r.array_len_v("partition_responses", true).map_err(e)?;
    if partitions != 1 {
        return Err(format!("{partitions} partitions in the response, expected 1"));
    }
    let index = r.i32("index").map_err(e)?;
    let code = r.i16("error_code").map_err(e)?;
    let base_offset = r.i64("base_offset").map_err(e)?;
    r.i64("log_append_time_ms").map_err(e)?;
    r.i64("log_start_offset").map_err(e)?;
    let record_errors = r.array_len_v("record_errors", true).map_err(e)?;
    for _ in 0..record_errors {
        r.i32("batch_index").map_err(e)?;
        r.nullable_string_v("batch_index_error_message", true).map_err(e)?;
        r.tagged_fields("record_error").map_err(e)?;
    }
    let message = r.nullable_string_v("error_message", true).map_err(e)?;
    r.tagged_fields("partition").map_err(e)?;
    r.tagged_fields("topic").map_err(e)?;
    r.i32("throttle_time_ms").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    if index != partition {
        return Err(format!("partition {index} in the response, expected {partition}"));
    }
    if code != 0 {
        error = Some(code);
        if let Some(m) = message {
            eprintln!("bench: produce error {code}: {m}");
        }
    } else if base_offset < 0 {
        return Err(format!("base_offset {base_offset} with error code 0"));
    }
    Ok(error)
}

/// What one partition of a Fetch v16 response held.
struct Fetched {
    error_code: i16,
    high_watermark: i64,
    bytes: u64,
    records: u64,
    /// The offset after the last record returned (the next fetch offset).
    next_offset: Option<i64>,
}

/// Checks a Fetch v16 response for one partition, and every record batch in it (CRC included).
fn check_fetch_response(body: &[u8], corr: i32, topic_id: Uuid, partition: i32) -> Check<Fetched> {
    let mut r = response_header(body, corr, true)?;
    let e = |e: mini_kafka::wire::DecodeError| e.to_string();
    r.i32("throttle_time_ms").map_err(e)?;
    let top_error = r.i16("error_code").map_err(e)?;
    r.i32("session_id").map_err(e)?;
    let topics = r.array_len_v("responses", true).map_err(e)?;
    if top_error != 0 {
        return Ok(Fetched { error_code: top_error, high_watermark: -1, bytes: 0, records: 0, next_offset: None });
    }
    if topics != 1 {
        return Err(format!("{topics} topics in the response, expected 1"));
    }
    let id = r.uuid("topic_id").map_err(e)?;
    if id != topic_id {
        return Err(format!("topic id {id} in the response, expected {topic_id}"));
    }
    let partitions = r.array_len_v("partitions", true).map_err(e)?;
    if partitions != 1 {
        return Err(format!("{partitions} partitions in the response, expected 1"));
    }
    let index = r.i32("partition_index").map_err(e)?;
    let error_code = r.i16("error_code").map_err(e)?;
    let high_watermark = r.i64("high_watermark").map_err(e)?;
    r.i64("last_stable_offset").map_err(e)?;
    r.i64("log_start_offset").map_err(e)?;
    let aborted = r.array_len_v("aborted_transactions", true).map_err(e)?;
    for _ in 0..aborted {
        r.i64("producer_id").map_err(e)?;
        r.i64("first_offset").map_err(e)?;
        r.tagged_fields("aborted").map_err(e)?;
    }
    r.i32("preferred_read_replica").map_err(e)?;
    let records = r.nullable_bytes_v("records", true).map_err(e)?.unwrap_or_default();
    r.tagged_fields("partition").map_err(e)?;
    r.tagged_fields("topic").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    if index != partition {
        return Err(format!("partition {index} in the response, expected {partition}"));
    }
    let mut fetched =
        Fetched { error_code, high_watermark, bytes: records.len() as u64, records: 0, next_offset: None };
    let (batches, damage) = batch::split(records);
    if let Some(e) = damage {
        return Err(format!("fetched records: {e}"));
    }
    for (header, _) in batches {
        fetched.records += header.records_count as u64;
        fetched.next_offset = Some(header.last_offset() + 1);
    }
    Ok(fetched)
}

/// Checks an ApiVersions v3 response; returns the advertised `(api key, min, max)` list.
fn check_api_versions_response(body: &[u8], corr: i32) -> Check<Vec<(i16, i16, i16)>> {
    let mut r = response_header(body, corr, false)?; // ApiVersions always answers with header v0
    let e = |e: mini_kafka::wire::DecodeError| e.to_string();
    let code = r.i16("error_code").map_err(e)?;
    if code != 0 {
        return Err(format!("ApiVersions error code {code}"));
    }
    let mut versions = Vec::new();
    for _ in 0..r.array_len_v("api_keys", true).map_err(e)? {
        versions.push((r.i16("api_key").map_err(e)?, r.i16("min").map_err(e)?, r.i16("max").map_err(e)?));
        r.tagged_fields("api_key").map_err(e)?;
    }
    r.i32("throttle_time_ms").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    Ok(versions)
}

/// Checks a Metadata v1 response: at least one broker, no error for any topic or partition.
fn check_metadata_response(body: &[u8], corr: i32) -> Check<()> {
    let mut r = response_header(body, corr, false)?;
    let e = |e: mini_kafka::wire::DecodeError| e.to_string();
    let brokers = r.array_len_v("brokers", false).map_err(e)?;
    for _ in 0..brokers {
        r.i32("node_id").map_err(e)?;
        r.string_v("host", false).map_err(e)?;
        r.i32("port").map_err(e)?;
        r.nullable_string_v("rack", false).map_err(e)?;
    }
    r.i32("controller_id").map_err(e)?;
    for _ in 0..r.array_len_v("topics", false).map_err(e)? {
        let code = r.i16("error_code").map_err(e)?;
        let name = r.string_v("name", false).map_err(e)?;
        if code != 0 {
            return Err(format!("Metadata error code {code} for topic {name}"));
        }
        r.bool("is_internal").map_err(e)?;
        for _ in 0..r.array_len_v("partitions", false).map_err(e)? {
            let code = r.i16("error_code").map_err(e)?;
            if code != 0 {
                return Err(format!("Metadata error code {code} for a partition of {name}"));
            }
            r.i32("partition_index").map_err(e)?;
            r.i32("leader_id").map_err(e)?;
            for list in ["replica_nodes", "isr_nodes"] {
                for _ in 0..r.array_len_v(list, false).map_err(e)? {
                    r.i32(list).map_err(e)?;
                }
            }
        }
    }
    if brokers == 0 {
        return Err("Metadata lists no broker".into());
    }
    if r.remaining() != 0 {
        return Err(format!("{} bytes left after the Metadata v1 response", r.remaining()));
    }
    Ok(())
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
    let body = client.recv().map_err(io)?;
    let mut r = response_header(body, 2, true)?;
    let e = |e: mini_kafka::wire::DecodeError| format!("CreateTopics response: {e}");
    r.i32("throttle_time_ms").map_err(e)?;
    let mut ids = BTreeMap::new();
    for _ in 0..r.array_len_v("topics", true).map_err(e)? {
        let name = r.string_v("name", true).map_err(e)?;
        let id = r.uuid("topic_id").map_err(e)?;
        let code = r.i16("error_code").map_err(e)?;
        let message = r.nullable_string_v("error_message", true).map_err(e)?;
        if code != 0 {
            return Err(format!("CreateTopics {name}: error code {code} {}", message.unwrap_or("")));
        }
        r.i32("num_partitions").map_err(e)?;
        r.i16("replication_factor").map_err(e)?;
        for _ in 0..r.nullable_array_len_v("configs", true).map_err(e)?.unwrap_or(0) {
            r.string_v("name", true).map_err(e)?;
            r.nullable_string_v("value", true).map_err(e)?;
            r.bool("read_only").map_err(e)?;
            r.i8("config_source").map_err(e)?;
            r.bool("is_sensitive").map_err(e)?;
            r.tagged_fields("config").map_err(e)?;
        }
        r.tagged_fields("topic").map_err(e)?;
        ids.insert(name.to_string(), id);
    }
    match (ids.get(TOPIC), ids.get(SMALL_TOPIC)) {
        (Some(&a), Some(&b)) if a != Uuid::ZERO && b != Uuid::ZERO => Ok(Some((a, b))),
        _ => Err(format!("CreateTopics did not return both topic ids: {ids:?}")),
    }
}

// ─── Phases ──────────────────────────────────────────────────────────────────────────────────────

/// What one connection of a phase did.
#[derive(Default, Clone)]
struct ConnResult {
    partition: i32,
    /// Record batch bytes acknowledged (produce) or received (fetch).
    bytes: u64,
    records: u64,
    requests: u64,
    first_send: Option<Instant>,
    last_answer: Option<Instant>,
    /// Send → answer, in microseconds (the latency case only).
    latencies_us: Vec<f64>,
    errors: Tally,
    /// Stopped by the phase's deadline rather than by finishing its work.
    cut: bool,
}

/// What a phase did, all connections together.
#[derive(Default)]
struct PhaseResult {
    per_connection: Vec<ConnResult>,
    bytes: u64,
    records: u64,
    requests: u64,
    secs: f64,
    latencies_us: Vec<f64>,
    errors: Tally,
    cut: bool,
}

impl PhaseResult {
    fn from_connections(per_connection: Vec<ConnResult>) -> PhaseResult {
        let mut p = PhaseResult::default();
        let first = per_connection.iter().filter_map(|c| c.first_send).min();
        let last = per_connection.iter().filter_map(|c| c.last_answer).max();
        if let (Some(first), Some(last)) = (first, last) {
            p.secs = last.duration_since(first).as_secs_f64();
        }
        for c in &per_connection {
            p.bytes += c.bytes;
            p.records += c.records;
            p.requests += c.requests;
            p.latencies_us.extend_from_slice(&c.latencies_us);
            p.errors.merge(&c.errors);
            p.cut |= c.cut;
        }
        p.latencies_us.sort_by(f64::total_cmp);
        p.per_connection = per_connection;
        p
    }

    /// Phases run one after the other (with pauses between): times add up, samples merge.
    fn from_slices(slices: Vec<PhaseResult>) -> PhaseResult {
        let mut p = PhaseResult::default();
        for s in slices {
            p.bytes += s.bytes;
            p.records += s.records;
            p.requests += s.requests;
            p.secs += s.secs;
            p.latencies_us.extend(s.latencies_us);
            p.errors.merge(&s.errors);
            p.cut |= s.cut;
            p.per_connection.extend(s.per_connection);
        }
        p.latencies_us.sort_by(f64::total_cmp);
        p
    }

    fn mb_per_s(&self) -> f64 {
        if self.secs > 0.0 { self.bytes as f64 / 1e6 / self.secs } else { 0.0 }
    }

    fn records_per_s(&self) -> f64 {
        if self.secs > 0.0 { self.records as f64 / self.secs } else { 0.0 }
    }

    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }
}

/// One producer connection: its partition, its batch, how many requests, how many in flight.
struct ProduceJob {
    client_id: &'static str,
    topic: &'static str,
    partition: i32,
    batch: Vec<u8>,
    records_per_batch: u64,
    requests: u64,
    in_flight: usize,
    deadline: Duration,
    /// Record latencies after this many answers (0 = do not record).
    latency_after: Option<u64>,
}

/// The throughput case: `bytes` in batches of 100 × 1 KiB, over 4 connections with 8 in flight.
fn produce_big(addr: SocketAddr, fx: &Fixtures, bytes: u64, client_id: &'static str) -> PhaseResult {
    let per_connection = bytes.div_ceil(PRODUCE_CONNECTIONS as u64);
    let requests = per_connection.div_ceil(fx.big_batch.len() as u64);
    let jobs = (0..PRODUCE_CONNECTIONS as i32)
        .map(|p| ProduceJob {
            client_id,
            topic: TOPIC,
            partition: p % PARTITIONS,
            batch: fx.big_batch.clone(),
            records_per_batch: BIG_RECORDS_PER_BATCH as u64,
            requests,
            in_flight: IN_FLIGHT,
            deadline: PRODUCE_DEADLINE,
            latency_after: None,
        })
        .collect();
    run_produce(addr, jobs)
}

/// The latency case: one 100-byte record per request, 1 connection, 1 in flight; against the
/// broker and the sink in alternating slices. Returns (broker, sink).
fn produce_small(broker: SocketAddr, sink: SocketAddr, fx: &Fixtures, opts: &Options) -> (PhaseResult, PhaseResult) {
    let job = || ProduceJob {
        client_id: CLIENT_ID,
        topic: SMALL_TOPIC,
        partition: 0,
        batch: fx.small_batch.clone(),
        records_per_batch: 1,
        requests: opts.small_requests / SMALL_SLICES + SMALL_WARMUP,
        in_flight: 1,
        deadline: Duration::from_secs_f64(opts.small_seconds / SMALL_SLICES as f64),
        latency_after: Some(SMALL_WARMUP),
    };
    let (mut b, mut l) = (Vec::new(), Vec::new());
    for _ in 0..SMALL_SLICES {
        b.push(run_produce(broker, vec![job()]));
        l.push(run_produce(sink, vec![job()]));
    }
    (PhaseResult::from_slices(b), PhaseResult::from_slices(l))
}

fn run_produce(addr: SocketAddr, jobs: Vec<ProduceJob>) -> PhaseResult {
    let start = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let start = Arc::clone(&start);
            thread::spawn(move || produce_connection(addr, &job, &start))
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panicked("produce"))).collect();
    PhaseResult::from_connections(results)
}

fn panicked(phase: &str) -> ConnResult {
    let mut c = ConnResult::default();
    c.errors.add(format!("{phase}: client thread panicked"));
    c
}

/// Sends `job.requests` Produce requests, keeping up to `job.in_flight` unanswered, and checks
/// every answer in order.
fn produce_connection(addr: SocketAddr, job: &ProduceJob, start: &Barrier) -> ConnResult {
    let mut out = ConnResult { partition: job.partition, ..ConnResult::default() };
    let client = Client::connect(addr, 64 * 1024);
    start.wait(); // all connections start together
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("produce: connect: {e}"));
            return out;
        }
    };
    let mut request = produce_request(job.topic, job.partition, &job.batch, job.client_id);
    let began = Instant::now();
    let deadline = began + job.deadline;
    out.first_send = Some(began);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(job.in_flight);
    let (mut sent, mut answered) = (0u64, 0u64);
    loop {
        // Fill the pipeline.
        while sent < job.requests && sent_at.len() < job.in_flight {
            if Instant::now() >= deadline {
                out.cut = true;
                break;
            }
            sent_at.push_back(Instant::now());
            if let Err(e) = client.send(request.with_correlation_id(sent as i32)) {
                out.errors.add(format!("produce: send: {}", e.kind()));
                return out;
            }
            sent += 1;
        }
        let Some(sent_time) = sent_at.pop_front() else { break };
        let body = match client.recv() {
            Ok(body) => body,
            Err(e) => {
                out.errors.add(format!("produce: receive: {}", e.kind()));
                return out;
            }
        };
        let now = Instant::now();
        match check_produce_response(body, answered as i32, job.topic, job.partition) {
            Ok(None) => {
                out.bytes += job.batch.len() as u64;
                out.records += job.records_per_batch;
            }
            Ok(Some(code)) => out.errors.add(format!("produce: error code {code}")),
            Err(e) => {
                out.errors.add(format!("produce: bad response: {e}"));
                return out;
            }
        }
        answered += 1;
        out.requests = answered;
        out.last_answer = Some(now);
        if job.latency_after.is_some_and(|after| answered > after) {
            out.latencies_us.push(now.duration_since(sent_time).as_secs_f64() * 1e6);
        }
    }
    out
}

/// Fetches each `(partition, bytes, expected records)` on its own connection, from offset 0 until
/// `bytes` have come back (or the high watermark is reached), one fetch in flight.
fn fetch_phase(addr: SocketAddr, topic_id: Uuid, targets: &[(i32, u64, Option<u64>)]) -> PhaseResult {
    let start = Arc::new(Barrier::new(targets.len()));
    let handles: Vec<_> = targets
        .iter()
        .map(|&(partition, bytes, expected)| {
            let start = Arc::clone(&start);
            thread::spawn(move || fetch_connection(addr, topic_id, partition, bytes, expected, &start))
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| panicked("fetch"))).collect();
    PhaseResult::from_connections(results)
}

fn fetch_connection(
    addr: SocketAddr,
    topic_id: Uuid,
    partition: i32,
    target: u64,
    expected: Option<u64>,
    start: &Barrier,
) -> ConnResult {
    let mut out = ConnResult { partition, ..ConnResult::default() };
    let client = Client::connect(addr, 64 * 1024);
    start.wait();
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("fetch: connect: {e}"));
            return out;
        }
    };
    let began = Instant::now();
    let deadline = began + FETCH_DEADLINE;
    out.first_send = Some(began);
    let mut offset = 0i64;
    // Bounded by count too: every answer must bring at least one batch.
    let max_requests = target / 1024 + 16;
    while out.bytes < target && out.requests < max_requests {
        if Instant::now() >= deadline {
            out.cut = true;
            break;
        }
        let corr = out.requests as i32;
        if let Err(e) = client.send(fetch_request(topic_id, partition, offset).with_correlation_id(corr)) {
            out.errors.add(format!("fetch: send: {}", e.kind()));
            return out;
        }
        let body = match client.recv() {
            Ok(body) => body,
            Err(e) => {
                out.errors.add(format!("fetch: receive: {}", e.kind()));
                return out;
            }
        };
        out.requests += 1;
        out.last_answer = Some(Instant::now());
        let fetched = match check_fetch_response(body, corr, topic_id, partition) {
            Ok(f) => f,
            Err(e) => {
                out.errors.add(format!("fetch: bad response: {e}"));
                return out;
            }
        };
        if fetched.error_code != 0 {
            out.errors.add(format!("fetch: error code {}", fetched.error_code));
            return out;
        }
        out.bytes += fetched.bytes;
        out.records += fetched.records;
        match fetched.next_offset {
            Some(next) => offset = next,
            None if offset >= fetched.high_watermark => break, // all read
            None => {
                out.errors.add("fetch: empty answer below the high watermark");
                return out;
            }
        }
        if expected.is_some() && offset >= fetched.high_watermark {
            break;
        }
    }
    if let Some(expected) = expected
        && !out.cut
        && out.records != expected
    {
        out.errors
            .add(format!("fetch: {} records read back from partition {partition}, {expected} produced", out.records));
    }
    out
}

/// One round of the connections phase.
struct ConnectionsRound {
    answered: usize,
    /// "Metadata v1", or "ApiVersions" while the broker does not advertise Metadata.
    second_request: String,
    rss: u64,
    secs: f64,
    /// How long each `connect` took, in milliseconds. A connect that takes a second or more had
    /// its SYN dropped and retransmitted: the listener's accept queue was full.
    connect_ms: Vec<f64>,
    errors: Tally,
}

/// Opens `n` connections at once (4 client threads), sends ApiVersions on all, reads every
/// answer, then Metadata v1 (or ApiVersions again) on all, reads every answer, and measures the
/// broker's RSS while all of them are still open.
fn connections_phase(broker: &BrokerProcess, n: usize) -> ConnectionsRound {
    const THREADS: usize = 4;
    let addr = broker.addr;
    let done = Arc::new(Barrier::new(THREADS + 1));
    let release = Arc::new(Barrier::new(THREADS + 1));
    let with_metadata = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let count = n / THREADS + usize::from(t < n % THREADS);
            let (done, release, with_metadata) = (Arc::clone(&done), Arc::clone(&release), Arc::clone(&with_metadata));
            thread::spawn(move || {
                let (answered, errors, clients, connect_ms) = connections_worker(addr, count, &with_metadata, began);
                done.wait(); // every connection of every thread is open and answered
                release.wait(); // the broker's RSS has been read
                drop(clients);
                (answered, errors, connect_ms)
            })
        })
        .collect();
    done.wait();
    let secs = began.elapsed().as_secs_f64();
    let rss = broker.rss_bytes().unwrap_or(0);
    release.wait();
    let mut round = ConnectionsRound {
        answered: 0,
        second_request: String::new(),
        rss,
        secs,
        connect_ms: Vec::new(),
        errors: Tally::default(),
    };
    for h in handles {
        match h.join() {
            Ok((answered, errors, connect_ms)) => {
                round.answered += answered;
                round.errors.merge(&errors);
                round.connect_ms.extend(connect_ms);
            }
            Err(_) => round.errors.add("connections: client thread panicked"),
        }
    }
    let m = with_metadata.load(Ordering::SeqCst);
    round.second_request = match m {
        0 => "ApiVersions twice: Metadata not advertised yet".to_string(),
        m if m == round.answered => "ApiVersions + Metadata v1".to_string(),
        m => format!("ApiVersions + Metadata v1 on {m} connections only"),
    };
    if rss == 0 {
        round.errors.add("connections: cannot read the broker's RSS");
    }
    round
}

fn connections_worker(
    addr: SocketAddr,
    count: usize,
    with_metadata: &AtomicUsize,
    began: Instant,
) -> (usize, Tally, Vec<Client>, Vec<f64>) {
    let mut errors = Tally::default();
    let deadline = began + CONNECTIONS_DEADLINE;
    let mut clients = Vec::with_capacity(count);
    let mut connect_ms = Vec::with_capacity(count);
    for _ in 0..count {
        if Instant::now() >= deadline {
            errors.add("connections: deadline reached while connecting");
            break;
        }
        let t = Instant::now();
        let connected = Client::connect(addr, 4096);
        connect_ms.push(t.elapsed().as_secs_f64() * 1e3);
        match connected {
            Ok(c) => clients.push(c),
            Err(e) => errors.add(format!("connections: connect: {}", e.kind())),
        }
    }
    // Step 1: ApiVersions on every connection, then read every answer.
    let mut api_versions = api_versions_request();
    let mut alive: Vec<bool> =
        clients.iter_mut().map(|c| c.send(api_versions.with_correlation_id(1)).is_ok()).collect();
    let mut metadata: Vec<bool> = vec![false; clients.len()];
    for (i, c) in clients.iter_mut().enumerate() {
        if !alive[i] {
            errors.add("connections: send ApiVersions failed");
            continue;
        }
        match c.recv().map_err(|e| format!("receive: {}", e.kind())).and_then(|b| check_api_versions_response(b, 1)) {
            Ok(versions) => {
                metadata[i] =
                    versions.iter().any(|&(key, min, max)| key == METADATA.0 && (min..=max).contains(&METADATA.1));
            }
            Err(e) => {
                errors.add(format!("connections: ApiVersions: {e}"));
                alive[i] = false;
            }
        }
    }
    // Step 2: Metadata v1 where the broker advertises it, else ApiVersions again.
    let mut metadata_req = metadata_request();
    for (i, c) in clients.iter_mut().enumerate() {
        if alive[i] {
            let frame =
                if metadata[i] { metadata_req.with_correlation_id(2) } else { api_versions.with_correlation_id(2) };
            if c.send(frame).is_err() {
                errors.add("connections: send of the second request failed");
                alive[i] = false;
            }
        }
    }
    let mut answered = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        if !alive[i] {
            continue;
        }
        let checked = c.recv().map_err(|e| format!("receive: {}", e.kind())).and_then(|body| {
            if metadata[i] { check_metadata_response(body, 2) } else { check_api_versions_response(body, 2).map(drop) }
        });
        match checked {
            Ok(()) => {
                answered += 1;
                if metadata[i] {
                    with_metadata.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) => errors.add(format!("connections: {}: {e}", if metadata[i] { "Metadata" } else { "ApiVersions" })),
        }
    }
    (answered, errors, clients, connect_ms)
}

// ─── Statistics ─────────────────────────────────────────────────────────────────────────────────

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ─── The report ──────────────────────────────────────────────────────────────────────────────────

/// Everything measured, round by round: (broker, limit) pairs.
#[derive(Default)]
struct Rounds {
    produce: Vec<(PhaseResult, PhaseResult)>,
    /// MB/s of the sink keeping a copy of every request (an in-memory log's floor cost).
    produce_keep: Vec<f64>,
    /// The broker with log.dirs (segment write-through), when the main pass was in memory.
    produce_dir: Vec<PhaseResult>,
    small_dir: Vec<(PhaseResult, PhaseResult)>,
    /// How the main pass's broker kept its log.
    mode: LogMode,
    fetch: Vec<(PhaseResult, PhaseResult)>,
    small: Vec<(PhaseResult, PhaseResult)>,
    stored: Vec<f64>,
    rss_stored: Vec<f64>,
    rss_peak: Vec<f64>,
    rss_idle: f64,
    connections: Vec<ConnectionsRound>,
    broker_warnings: Vec<String>,
}

/// One line of the table.
struct Row {
    key: &'static str,
    figure: String,
    broker: Option<f64>,
    limit: Option<f64>,
    /// broker / limit.
    ratio: Option<f64>,
    target: String,
    pass: Option<bool>,
    decimals: usize,
    /// The JSON name of the limit column (default `<key>_limit`).
    limit_key: Option<&'static str>,
    /// Whether the broker column appears in the JSON line (not when it repeats another row's).
    broker_in_json: bool,
}

struct Report {
    rows: Vec<Row>,
    errors: Tally,
    limit_errors: Tally,
    cut: Vec<String>,
    extra_json: Vec<(String, String)>,
}

impl Report {
    fn new(opts: &Options, r: &Rounds, elapsed: f64) -> Report {
        let med = |f: &dyn Fn(&PhaseResult) -> f64, pairs: &[(PhaseResult, PhaseResult)]| {
            let b: Vec<f64> = pairs.iter().map(|(b, _)| f(b)).collect();
            let l: Vec<f64> = pairs.iter().map(|(_, l)| f(l)).collect();
            (median(&b), median(&l))
        };
        let ratio = |b: Option<f64>, l: Option<f64>| match (b, l) {
            (Some(b), Some(l)) if l > 0.0 => Some(b / l),
            _ => None,
        };
        let mut rows = Vec::new();
        let mut row =
            |key, figure: String, (b, l): (Option<f64>, Option<f64>), target: &str, pass: Option<bool>, decimals| {
                rows.push(Row {
                    key,
                    figure,
                    broker: b,
                    limit: l,
                    ratio: ratio(b, l),
                    target: target.to_string(),
                    pass,
                    decimals,
                    limit_key: None,
                    broker_in_json: true,
                });
            };
        let gib = opts.bytes as f64 / (MIB * 1024.0);

        let produce_mb = med(&|p| p.mb_per_s(), &r.produce);
        let pass = ratio(produce_mb.0, produce_mb.1).map(|x| x >= 0.5);
        row(
            "produce_mb_s",
            "produce 100×1 KiB batches, 4 conn × 8 in flight: MB/s".into(),
            produce_mb,
            "≥ 0.5× limit",
            pass,
            1,
        );
        let keep = median(&r.produce_keep);
        row(
            "produce_vs_keep",
            "  limit 2: a sink keeping every request in fresh memory, MB/s".into(),
            (produce_mb.0, keep),
            "",
            None,
            1,
        );
        let dir_mb = median(&r.produce_dir.iter().map(|p| p.mb_per_s()).collect::<Vec<_>>());
        if dir_mb.is_some() {
            row(
                "produce_dir_mb_s",
                "  the broker with log.dirs (write-through), MB/s".into(),
                (dir_mb, produce_mb.1),
                "",
                None,
                1,
            );
        }
        row(
            "produce_records_s",
            "produce 100×1 KiB batches: records/s".into(),
            med(&|p| p.records_per_s(), &r.produce),
            "",
            None,
            0,
        );

        row(
            "small_records_s",
            "produce 1×100 B, 1 conn × 1 in flight: records/s".into(),
            med(&|p| p.records_per_s(), &r.small),
            "",
            None,
            0,
        );
        row("small_p50_us", "  latency p50, µs".into(), med(&|p| p.percentile(50.0), &r.small), "", None, 1);
        let p99 = med(&|p| p.percentile(99.0), &r.small);
        let pass = ratio(p99.0, p99.1).map(|x| x <= 2.0);
        row("small_p99_us", "  latency p99, µs".into(), p99, "≤ 2× limit", pass, 1);
        let dir_p99 = med(&|p| p.percentile(99.0), &r.small_dir);
        if dir_p99.0.is_some() {
            row("small_dir_p99_us", "  latency p99 with log.dirs (write-through), µs".into(), dir_p99, "", None, 1);
        }
        row("small_max_us", "  latency max, µs".into(), med(&|p| p.percentile(100.0), &r.small), "", None, 1);

        let fetch_mb = med(&|p| p.mb_per_s(), &r.fetch);
        let pass = ratio(fetch_mb.0, fetch_mb.1).map(|x| x >= 0.5);
        row(
            "fetch_mb_s",
            format!("fetch {gib:.3} GiB, 4 partitions × 4 conn: MB/s"),
            fetch_mb,
            "≥ 0.5× limit",
            pass,
            1,
        );

        // Memory: "limit" is the bytes stored, the ratio RSS / stored.
        let stored = median(&r.stored);
        let rss = median(&r.rss_stored);
        let allowed = stored.map(|s| 1.2 * s + 32.0 * MIB);
        let pass = match (rss, allowed) {
            (Some(rss), Some(allowed)) => Some(rss <= allowed),
            _ => None,
        };
        row(
            "rss_after_store_mib",
            "broker RSS after storing (limit column: MiB stored), MiB".into(),
            (rss.map(|x| x / MIB), stored.map(|x| x / MIB)),
            "≤ 1.2× stored + 32 MiB",
            pass,
            1,
        );

        let answered: Vec<f64> = r.connections.iter().map(|c| c.answered as f64).collect();
        let min_answered = answered.iter().copied().fold(f64::INFINITY, f64::min);
        let min_answered = if min_answered.is_finite() { Some(min_answered) } else { None };
        let all = opts.connections as f64;
        row(
            "connections_answered",
            format!("connections answered (of {}; worst round)", opts.connections),
            (min_answered, None),
            &format!("all {}", opts.connections),
            min_answered.map(|a| a >= all),
            0,
        );
        let all_connect_ms: Vec<f64> = r.connections.iter().flat_map(|c| c.connect_ms.iter().copied()).collect();
        let slowest_connect = all_connect_ms.iter().copied().reduce(f64::max);
        let retried = all_connect_ms.iter().filter(|&&ms| ms >= 900.0).count();
        row(
            "connections_secs",
            format!("  time to connect and answer all {}, s", opts.connections),
            (median(&r.connections.iter().map(|c| c.secs).collect::<Vec<_>>()), None),
            "",
            None,
            2,
        );
        row(
            "slowest_connect_ms",
            "  slowest connect (≥ 1000 ms: SYN retransmitted), ms".into(),
            (slowest_connect, None),
            "",
            None,
            1,
        );
        let conn_rss = median(&r.connections.iter().map(|c| c.rss as f64).collect::<Vec<_>>());
        row(
            "connections_rss_mib",
            format!("broker RSS with {} connections open, MiB", opts.connections),
            (conn_rss.map(|x| x / MIB), None),
            "< 256 MiB",
            conn_rss.map(|x| x < 256.0 * MIB),
            1,
        );

        let mut errors = Tally::default();
        let mut limit_errors = Tally::default();
        let mut cut = Vec::new();
        for (name, pairs) in [
            ("produce", &r.produce),
            ("fetch", &r.fetch),
            ("small produce", &r.small),
            ("small produce with log.dirs", &r.small_dir),
        ] {
            for (i, (b, l)) in pairs.iter().enumerate() {
                errors.merge(&b.errors);
                limit_errors.merge(&l.errors);
                if b.cut {
                    cut.push(format!("broker {name}, round {}", i + 1));
                }
                if l.cut {
                    cut.push(format!("limit {name}, round {}", i + 1));
                }
            }
        }
        for (i, p) in r.produce_dir.iter().enumerate() {
            errors.merge(&p.errors);
            if p.cut {
                cut.push(format!("broker produce with log.dirs, round {}", i + 1));
            }
        }
        for c in &r.connections {
            errors.merge(&c.errors);
        }
        // The small-record phases are bounded by time on purpose: not a cut.
        cut.retain(|c| !c.contains("small"));
        row(
            "errors",
            "failed requests (error code, bad or missing answer)".into(),
            (Some(errors.total() as f64), Some(limit_errors.total() as f64)),
            "0",
            Some(errors.total() == 0 && limit_errors.total() == 0),
            0,
        );

        // Rows whose columns are not "broker" and "limit" proper get their own JSON names.
        for r in &mut rows {
            match r.key {
                "rss_after_store_mib" => r.limit_key = Some("stored_mib"),
                "produce_vs_keep" => {
                    r.limit_key = Some("produce_keep_limit_mb_s");
                    r.broker_in_json = false; // it is produce_mb_s
                }
                _ => {}
            }
        }

        let mut extra = Vec::new();
        let num =
            |x: Option<f64>, d: usize| x.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x:.d$}"));
        extra.push(("stored_bytes".into(), num(stored, 0)));
        extra.push(("rss_after_store_bytes".into(), num(rss, 0)));
        extra.push(("rss_over_stored".into(), num(ratio(rss, stored), 3)));
        extra.push(("rss_peak_bytes".into(), num(median(&r.rss_peak), 0)));
        extra.push(("rss_idle_bytes".into(), num(Some(r.rss_idle), 0)));
        extra.push(("connections".into(), opts.connections.to_string()));
        extra.push(("connections_rss_bytes".into(), num(conn_rss, 0)));
        extra.push((
            "connections_second_request".into(),
            json_string(r.connections.first().map_or("", |c| c.second_request.as_str())),
        ));
        extra.push(("connects_retried".into(), retried.to_string()));
        extra.push(("small_mb_s".into(), num(med(&|p| p.mb_per_s(), &r.small).0, 3)));
        extra.push(("small_limit_mb_s".into(), num(med(&|p| p.mb_per_s(), &r.small).1, 3)));
        extra.push(("small_samples".into(), num(med(&|p| p.latencies_us.len() as f64, &r.small).0, 0)));
        extra.push(("broker_warnings".into(), r.broker_warnings.len().to_string()));
        extra.push(("rounds".into(), opts.rounds.to_string()));
        extra.push(("log_mode".into(), json_string(r.mode.name())));
        extra.push(("elapsed_s".into(), format!("{elapsed:.1}")));
        Report { rows, errors, limit_errors, cut, extra_json: extra }
    }

    fn all_pass(&self) -> bool {
        self.rows.iter().all(|r| r.pass != Some(false))
            && self.rows.iter().filter(|r| !r.target.is_empty()).all(|r| r.pass.is_some())
    }

    fn render_header(&self, opts: &Options, mode: LogMode) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                })
            })
            .unwrap_or_else(|| "?".into());
        let cores = thread::available_parallelism().map_or(0, |n| n.get());
        let mut s = String::new();
        let _ = writeln!(s, "# mini-kafka benchmark {}", opts.label);
        let _ = writeln!(s, "machine: {cores} cores ({cpu}); loopback 127.0.0.1; client and broker share the cores");
        let _ = writeln!(
            s,
            "broker:  {} as a child process; {}",
            opts.broker.display(),
            match mode {
                LogMode::Memory =>
                    "in-memory log (no log.dirs, topics made with CreateTopics); rows marked \"log.dirs\" rerun with a log dir \
                (segment write-through to the page cache, no fsync)",
                LogMode::Dir =>
                    "log.dirs in the temp dir (segment write-through to the page cache, no fsync); topics from a metadata log",
            }
        );
        let _ = writeln!(
            s,
            "limit:   an in-process sink that reads each request and answers at once (no storing, no checking); same client loop"
        );
        let _ = writeln!(
            s,
            "figures: median of {} rounds; MB = 10^6 bytes of record batches; ratio = broker / limit",
            opts.rounds
        );
        let _ = writeln!(s);
        s
    }

    fn render_table(&self) -> String {
        let fmt =
            |x: Option<f64>, d: usize| x.filter(|x| x.is_finite()).map_or("-".to_string(), |x| format!("{x:.d$}"));
        let lines: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.clone(),
                    fmt(r.broker, r.decimals),
                    fmt(r.limit, r.decimals),
                    fmt(r.ratio, 2),
                    if r.target.is_empty() { "-".into() } else { r.target.clone() },
                    match r.pass {
                        Some(true) => "PASS".into(),
                        Some(false) => "FAIL".into(),
                        None if r.target.is_empty() => "-".into(),
                        None => "n/a".into(),
                    },
                ]
            })
            .collect();
        let head = ["figure", "broker", "limit", "ratio", "target", "pass"].map(String::from);
        let mut widths = head.clone().map(|h| h.chars().count());
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.chars().count());
            }
        }
        let render = |cells: &[String; 6]| {
            let mut s = String::from("|");
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w - c.chars().count();
                if i == 0 || i == 4 {
                    let _ = write!(s, " {c}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(s, " {}{c} |", " ".repeat(pad));
                }
            }
            s.push('\n');
            s
        };
        let mut s = render(&head);
        s.push('|');
        for w in widths {
            let _ = write!(s, "{}|", "-".repeat(w + 2));
        }
        s.push('\n');
        for l in &lines {
            s.push_str(&render(l));
        }
        s
    }

    fn render_errors(&self, r: &Rounds) -> String {
        let mut s = String::new();
        let _ = writeln!(s);
        if let Some(c) = r.connections.first() {
            let _ = writeln!(s, "connections: {}", c.second_request);
        }
        if !self.cut.is_empty() {
            let _ = writeln!(s, "cut short by a deadline (figures cover what was done): {}", self.cut.join(", "));
        }
        for (who, tally) in [("broker", &self.errors), ("limit", &self.limit_errors)] {
            for (what, n) in &tally.0 {
                let _ = writeln!(s, "ERROR ({who}) ×{n}: {what}");
            }
        }
        for w in r.broker_warnings.iter().take(10) {
            let _ = writeln!(s, "broker log: {w}");
        }
        if r.broker_warnings.len() > 10 {
            let _ = writeln!(s, "broker log: ... {} more warnings", r.broker_warnings.len() - 10);
        }
        let elapsed = self.extra_json.iter().find(|(k, _)| k == "elapsed_s").map_or("?", |(_, v)| v.as_str());
        let _ = writeln!(s, "run time: {elapsed} s (build excluded)");
        let _ = writeln!(s, "overall: {}", if self.all_pass() { "PASS" } else { "FAIL" });
        s
    }

    fn render_json(&self) -> String {
        let num =
            |x: Option<f64>, d: usize| x.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x:.d$}"));
        let mut fields: Vec<(String, String)> = vec![("bench".into(), json_string("mini-kafka"))];
        for r in &self.rows {
            if r.broker_in_json {
                fields.push((r.key.to_string(), num(r.broker, r.decimals)));
            }
            if r.limit.is_some() {
                let name = r.limit_key.map_or_else(|| format!("{}_limit", r.key), str::to_string);
                fields.push((name, num(r.limit, r.decimals)));
            }
            if r.ratio.is_some() {
                fields.push((format!("{}_ratio", r.key), num(r.ratio, 3)));
            }
            if let Some(pass) = r.pass {
                fields.push((format!("{}_pass", r.key), pass.to_string()));
            }
        }
        fields.extend(self.extra_json.iter().cloned());
        fields.push(("all_pass".into(), self.all_pass().to_string()));
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json_string(k))).collect();
        format!("{{{}}}", body.join(","))
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
