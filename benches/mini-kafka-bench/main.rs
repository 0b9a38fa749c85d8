//! # `mini-kafka-bench`: how fast is the broker, next to how fast it *could* be?
//!
//! Run it through `scripts/bench.sh`, which runs `cargo bench --bench mini-kafka-bench`: Cargo
//! builds the release broker and this bench, and tells the bench where the broker is
//! (`CARGO_BIN_EXE_mini-kafka`). It prints a table and, last, one JSON line with every figure.
//!
//! ## Broker against limit
//!
//! A throughput figure alone says little: "800 MB/s" is excellent on one machine and poor on
//! another. So every figure is measured twice, with the *same client loop*:
//!
//! - against the **broker**, the real release binary `target/release/mini-kafka`, started as a
//!   child process (so the memory figures are the broker's own, not the load generator's);
//! - against the **sink**, a trivial server in a child process of its own (this executable,
//!   run again with the hidden option `--serve-sink`): one thread per connection, like the broker;
//!   it reads each request frame into one reused buffer and answers at once with a minimal,
//!   well-formed response — for Produce "error 0" for each partition, for Fetch a prebuilt record
//!   set of the same size the broker would send. The sink stores nothing, checks nothing, copies
//!   nothing.
//!
//! The sink is the **limit**: what this client, this kernel's loopback and these cores can do
//! when the server costs (almost) nothing. The ratio broker/limit is the share of that the broker
//! reaches; the rest is what the broker's own work costs (parsing, CRC checks, copies, locks,
//! the segment file). The ratio is far less sensitive to the machine than the raw figures.
//!
//! ## The generator must not be the limit
//!
//! A limit measured with a slow client measures the client. So the client loop does as little
//! as it can: each connection encodes its request once, before the clock starts, and each send
//! rewrites only the 4-byte correlation id (for Fetch, also the 8-byte offset) and hands the same
//! bytes to the kernel again; responses are read into one buffer per connection, several per
//! `read` when they are there, and checked in place without allocating (`client.rs`,
//! `checks.rs`).
//!
//! And every throughput figure comes with the **CPU both sides used**: user + system time from
//! `/proc/self/stat` (the generator) and `/proc/<pid>/stat` (the broker or the sink — which is why
//! the sink is a process of its own), divided by the phase's wall time: cores busy on average.
//! On a 2-core machine "generator 0.5 + broker 1.4" says the cores were full and mostly with the
//! broker's work; if the generator's share were the larger, the figure would measure the
//! generator. Loopback TCP splits its cost unevenly: the sender pays the copy into the socket
//! and, usually, the receiving side's TCP processing too (loopback delivers each packet within
//! the sender's system call); the receiver pays the copy out.
//!
//! ## What is measured (each figure is the median of 3 rounds; broker and sink alternate)
//!
//! | figure                | how                                                                  |
//! |-----------------------|----------------------------------------------------------------------|
//! | produce throughput    | Produce v11, acks=-1, batches of 100 records × 1 KiB; 4 connections, one partition each, 8 requests in flight on each (pipelined: Kafka answers in order); 1 GiB in all |
//! | produce latency       | one 100-byte record per request, 1 connection, 1 in flight: p50/p99/max from send to answer; 10 slices alternating broker and sink, so both see the same scheduling luck |
//! | fetch throughput      | Fetch v16 (by topic id) of the 1 GiB just produced, 4 connections, one partition each, 1 MiB per partition and request, one fetch in flight (as a consumer does); every batch's header is checked, and the first batch's CRC in each response |
//! | memory                | broker VmRSS (`/proc/<pid>/status`) after storing 1 GiB (no retention), against the bytes stored |
//! | sustained produce     | the produce case for 30 s (once per run) against a broker with `log.retention.bytes` 64 MiB and `log.segment.bytes` 8 MiB, and the sink for as long; MB/s, the broker's VmRSS at the end (target: 4 partitions × (64 + 8) MiB + 64 MiB); then again with `log.dirs` |
//! | connections           | 1,000 connections opened at once (4 client threads), each sending ApiVersions then Metadata v1 (ApiVersions twice while the broker does not advertise Metadata); broker VmRSS while all are open; the slowest connect (a second or more means a SYN was dropped: the listener's accept queue was full) |
//!
//! Every response is checked: correlation id, error codes, partition, record counts. A failure is
//! counted and printed; a benchmark that measures failures is worthless, so errors fail the run.
//!
//! ## How the broker is set up
//!
//! The main figures use the broker **without `log.dirs`**: its log lives in memory only, so the
//! comparison with the sink is about the broker's own code, not the file system. The bench
//! creates topic `bench` (4 partitions) and `bench-small` (1) with CreateTopics v7. Each round
//! then reruns the produce phases **with `log.dirs`** (rows marked so): there the broker also
//! writes every batch through to its segment file (page cache, no fsync) before answering, as it
//! does for the CodeCrafters runner; the topics come from a KRaft metadata log written before the
//! start (`<dir>/__cluster_metadata-0/00000000000000000000.log`). A broker without CreateTopics is
//! run with `log.dirs` throughout. Each run of the broker starts a fresh one in a fresh directory
//! under the system temp dir, removed afterwards.
//!
//! A second limit helps read the produce figure: the sink can also read every request straight
//! into fresh memory and keep it, as an in-memory log must keep the batches somewhere. Fresh
//! memory is not free: the kernel faults in and zeroes every page on first touch, and on a virtual
//! machine that can cost more than the copy itself. This "keep" sink shows what storing costs on
//! this machine, done with a single copy.
//!
//! Every loop is bounded by a count and a deadline, sockets have timeouts, a sustained run stops
//! early if the broker's RSS passes `--rss-cap`, and a watchdog ends the whole run (children
//! included) if it overruns. The sink also exits when this process does (its stdin closes).
//!
//! ## Files
//!
//! `main.rs` (this: the rounds), `options.rs`, `fixtures.rs` (batches, topics), `client.rs` and
//! `generator.rs` (the load generator), `connections.rs`, `checks.rs` (responses), `sink.rs`,
//! `broker.rs`, `process.rs` (children, `/proc`), `report.rs` (the table and the JSON line).

mod broker;
mod checks;
mod client;
mod connections;
mod fixtures;
mod generator;
mod options;
mod process;
mod report;
mod sink;

use broker::{BrokerProcess, Keep, LogMode};
use fixtures::Fixtures;
use generator::{PhaseResult, Target, fetch_phase, produce_big, produce_small, produce_sustained};
use options::{Options, USAGE};
use report::{Report, Rounds, Sustained};
use sink::SinkProcess;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

// ─── The workload ────────────────────────────────────────────────────────────────────────────────

const CLIENT_ID: &str = "mini-kafka-bench";
/// Produce requests with this client id make the sink keep every request in fresh memory: the
/// least an in-memory log must do (see `sink.rs`).
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

// ─── main ────────────────────────────────────────────────────────────────────────────────────────

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args().skip(1)) {
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
    if opts.serve_sink {
        return sink::serve();
    }
    if let Some(path) = &opts.pid_file {
        process::append_pid(path, std::process::id());
    }
    let started = Instant::now();
    start_watchdog(opts.timeout);
    match run(&opts, started) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Ends the process after `timeout`, killing the children first.
fn start_watchdog(timeout: Duration) {
    thread::spawn(move || {
        thread::sleep(timeout);
        eprintln!("bench: still running after {timeout:?}: stopping");
        process::kill_all();
        std::process::exit(3);
    });
}

/// Runs every phase and prints the report; returns whether every target was met.
fn run(opts: &Options, started: Instant) -> Result<bool, String> {
    let fx = Fixtures::new();
    let sink = SinkProcess::start(opts)?;
    let sink = Target { addr: sink.addr, pid: sink.pid() };
    let mut r = Rounds::default();
    for round in 1..=opts.rounds {
        progress(&format!("round {round}/{}", opts.rounds));
        main_round(opts, &fx, sink, round, &mut r)?;
        if r.mode == LogMode::Memory {
            log_dirs_round(opts, &fx, sink, round, &mut r)?;
        }
    }
    if opts.sustained_seconds > 0.0 {
        r.sustained = Some(sustained(opts, &fx, sink, &mut r.broker_warnings)?);
    }
    connections_rounds(opts, &fx, &mut r)?;

    let report = Report::new(opts, &r, started.elapsed().as_secs_f64());
    print!("{}", report.render_header(opts, r.mode));
    print!("{}", report.render_table());
    print!("{}", report.render_notes(&r));
    println!("{}", report.render_json());
    Ok(report.all_pass())
}

pub fn progress(line: &str) {
    eprintln!("bench: {line}");
}

fn progress_mb(who: &str, what: &str, p: &PhaseResult) {
    progress(&format!("  {who:<6} {what:<7} {:8.1} MB/s  ({})", p.mb_per_s(), p.cpu_note()));
}

/// One round of the main figures: produce 1 GiB (sink, keep sink, a fresh broker, sink again),
/// the broker's memory, fetch it all back (broker, then sink), and the latency case.
fn main_round(opts: &Options, fx: &Fixtures, sink: Target, round: usize, r: &mut Rounds) -> Result<(), String> {
    // The limit is measured before and after the broker, and the two runs are taken together:
    // the machine's speed drifts (other work, memory state), and this brackets the broker's run.
    let limit_before = produce_big(sink, fx, opts.bytes, CLIENT_ID);
    progress_mb("limit", "produce", &limit_before);
    let keep = produce_big(sink, fx, opts.bytes, KEEP_CLIENT_ID);
    progress_mb("keep", "produce", &keep);
    let broker =
        BrokerProcess::start(opts, fx, &format!("round{round}"), LogMode::Memory, Keep::All { bytes: opts.bytes })?;
    r.mode = broker.mode;
    let broker_target = Target { addr: broker.addr, pid: broker.pid() };
    let produced = produce_big(broker_target, fx, opts.bytes, CLIENT_ID);
    progress_mb("broker", "produce", &produced);

    // Memory with everything stored: let the producer connections' threads finish first (the
    // second limit run gives them time).
    let limit_after = produce_big(sink, fx, opts.bytes, CLIENT_ID);
    progress_mb("limit", "produce", &limit_after);
    let limit = PhaseResult::from_slices(vec![limit_before, limit_after]);
    let rss = broker.rss_bytes()?;
    r.stored.push(produced.bytes as f64);
    r.rss_stored.push(rss as f64);
    r.rss_peak.push(broker.peak_rss_bytes()? as f64);
    progress(&format!("  broker RSS {:.1} MiB for {:.1} MiB stored", rss as f64 / MIB, produced.bytes as f64 / MIB));

    // Fetch it all back, then the same amount from the sink.
    let targets: Vec<(i32, u64, Option<u64>)> =
        produced.per_connection.iter().map(|c| (c.partition, c.bytes, Some(c.records))).collect();
    let fetched = fetch_phase(broker_target, broker.topic_id, &targets);
    progress_mb("broker", "fetch", &fetched);
    let limit_targets: Vec<_> = targets.iter().map(|&(p, bytes, _)| (p, bytes, None)).collect();
    let limit_fetch = fetch_phase(sink, fx.topic_id, &limit_targets);
    progress_mb("limit", "fetch", &limit_fetch);

    // Small records, one at a time: latency.
    let (small, limit_small) = produce_small(broker_target, sink, fx, opts);
    progress_small(&small, &limit_small, broker.mode);

    r.broker_warnings.extend(broker.warnings());
    r.produce_keep.push(keep);
    r.produce.push((produced, limit));
    r.fetch.push((fetched, limit_fetch));
    r.small.push((small, limit_small));
    Ok(())
}

/// The produce phases again with `log.dirs`: every batch is also written to its segment file.
fn log_dirs_round(opts: &Options, fx: &Fixtures, sink: Target, round: usize, r: &mut Rounds) -> Result<(), String> {
    let broker =
        BrokerProcess::start(opts, fx, &format!("round{round}-dir"), LogMode::Dir, Keep::All { bytes: opts.bytes })?;
    let broker_target = Target { addr: broker.addr, pid: broker.pid() };
    let produced = produce_big(broker_target, fx, opts.bytes, CLIENT_ID);
    progress_mb("broker", "produce", &produced);
    progress(&format!("    ({})", broker.mode.name()));
    let (small, limit_small) = produce_small(broker_target, sink, fx, opts);
    progress_small(&small, &limit_small, broker.mode);
    r.broker_warnings.extend(broker.warnings());
    r.produce_dir.push(produced);
    r.small_dir.push((small, limit_small));
    Ok(())
}

/// The sustained case, once: the sink for half the time, a broker with retention, the sink for
/// the other half, a broker with retention and `log.dirs`.
fn sustained(opts: &Options, fx: &Fixtures, sink: Target, warnings: &mut Vec<String>) -> Result<Sustained, String> {
    let secs = opts.sustained_seconds;
    progress(&format!("sustained produce, {secs} s each: sink (in two halves), broker, broker with log.dirs"));
    let limit_before = produce_sustained(sink, fx, secs / 2.0, || false);
    progress_mb("limit", "produce", &limit_before);
    let mut runs = Vec::new();
    for mode in [LogMode::Memory, LogMode::Dir] {
        let broker = BrokerProcess::start(opts, fx, &format!("sustained-{mode:?}"), mode, Keep::Retention)?;
        let target = Target { addr: broker.addr, pid: broker.pid() };
        // Every 100 ms: stop if the broker's memory runs away (no retention: it would fill the machine).
        let mut cut = None;
        let began = Instant::now();
        let produced = produce_sustained(target, fx, secs, || match broker.rss_bytes() {
            Ok(rss) if rss > opts.rss_cap => {
                cut = Some(format!(
                    "broker RSS passed {:.0} MiB after {:.1} s: stopped (is retention enforced?)",
                    opts.rss_cap as f64 / MIB,
                    began.elapsed().as_secs_f64()
                ));
                true
            }
            Ok(_) => false,
            Err(e) => {
                cut = Some(e);
                true
            }
        });
        let rss = broker.rss_bytes()?;
        progress_mb("broker", "produce", &produced);
        progress(&format!("    ({}, retention) RSS at the end {:.1} MiB", broker.mode.name(), rss as f64 / MIB));
        if let Some(why) = &cut {
            progress(&format!("    {why}"));
        }
        warnings.extend(broker.warnings());
        runs.push((produced, rss as f64, cut, broker.mode));
        drop(broker);
        if mode == LogMode::Memory {
            let limit_after = produce_sustained(sink, fx, secs / 2.0, || false);
            progress_mb("limit", "produce", &limit_after);
            runs.push((limit_after, 0.0, None, LogMode::Memory));
        }
    }
    let mut runs = runs.into_iter();
    let (broker, broker_rss, broker_cut, _) = runs.next().expect("memory run");
    let (limit_after, ..) = runs.next().expect("limit run");
    let (dir, dir_rss, dir_cut, dir_mode) = runs.next().expect("dir run");
    Ok(Sustained {
        limit: PhaseResult::from_slices(vec![limit_before, limit_after]),
        broker,
        broker_rss,
        broker_cut,
        dir: (dir_mode == LogMode::Dir).then_some((dir, dir_rss, dir_cut)),
    })
}

/// The connections phase, `opts.rounds` times against one fresh broker.
fn connections_rounds(opts: &Options, fx: &Fixtures, r: &mut Rounds) -> Result<(), String> {
    let broker = BrokerProcess::start(opts, fx, "connections", LogMode::Memory, Keep::All { bytes: 0 })?;
    r.rss_idle = broker.rss_bytes()? as f64;
    for round in 1..=opts.rounds {
        let c = connections::connections_phase(&broker, opts.connections);
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
