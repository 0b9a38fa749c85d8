//! The load generator: the client loops of the throughput and latency phases.
//!
//! A phase runs one thread per connection; all connect first and start together (a barrier).
//! Each loop is bounded by a count and a deadline, and can be stopped from outside (the
//! sustained case stops it if the broker's memory runs away). Around each phase, a [`CpuMeter`]
//! takes both processes' CPU time.

use crate::checks::{Tally, check_fetch_response, check_produce_response};
use crate::client::{Client, FetchRequest, produce_request};
use crate::fixtures::Fixtures;
use crate::options::Options;
use crate::process::{CpuMeter, CpuUse};
use crate::{
    BIG_RECORDS_PER_BATCH, CLIENT_ID, FETCH_DEADLINE, IN_FLIGHT, PARTITIONS, PRODUCE_CONNECTIONS, PRODUCE_DEADLINE,
    SMALL_SLICES, SMALL_TOPIC, SMALL_WARMUP, TOPIC,
};
use mini_kafka::wire::Uuid;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// A server to run a phase against: where it listens, and its pid (for its CPU time).
#[derive(Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// What one connection of a phase did.
#[derive(Default, Clone)]
pub struct ConnResult {
    pub partition: i32,
    /// Record batch bytes acknowledged (produce) or received (fetch).
    pub bytes: u64,
    pub records: u64,
    pub requests: u64,
    first_send: Option<Instant>,
    last_answer: Option<Instant>,
    /// Send → answer, in microseconds (the latency case only).
    latencies_us: Vec<f64>,
    errors: Tally,
    /// Stopped by the phase's deadline (or from outside) rather than by finishing its work.
    cut: bool,
}

/// What a phase did, all connections together.
#[derive(Default)]
pub struct PhaseResult {
    pub per_connection: Vec<ConnResult>,
    pub bytes: u64,
    pub records: u64,
    pub requests: u64,
    /// From the first send to the last answer.
    pub secs: f64,
    pub latencies_us: Vec<f64>,
    pub errors: Tally,
    pub cut: bool,
    /// Both sides' CPU over the phase.
    pub cpu: CpuUse,
}

impl PhaseResult {
    fn from_connections(per_connection: Vec<ConnResult>, cpu: CpuUse) -> PhaseResult {
        let mut p = PhaseResult { cpu, ..PhaseResult::default() };
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
    pub fn from_slices(slices: Vec<PhaseResult>) -> PhaseResult {
        let mut p = PhaseResult::default();
        for s in slices {
            p.bytes += s.bytes;
            p.records += s.records;
            p.requests += s.requests;
            p.secs += s.secs;
            p.latencies_us.extend(s.latencies_us);
            p.errors.merge(&s.errors);
            p.cut |= s.cut;
            p.cpu.add(&s.cpu);
            p.per_connection.extend(s.per_connection);
        }
        p.latencies_us.sort_by(f64::total_cmp);
        p
    }

    pub fn mb_per_s(&self) -> f64 {
        if self.secs > 0.0 { self.bytes as f64 / 1e6 / self.secs } else { 0.0 }
    }

    pub fn records_per_s(&self) -> f64 {
        if self.secs > 0.0 { self.records as f64 / self.secs } else { 0.0 }
    }

    pub fn percentile(&self, p: f64) -> f64 {
        crate::report::percentile(&self.latencies_us, p)
    }

    /// "generator 0.42 + server 1.51 cores", for the progress lines.
    pub fn cpu_note(&self) -> String {
        match self.cpu.cores() {
            Some(c) => format!(
                "cores: generator {:.2} (user {:.2}), server {:.2} (user {:.2}), others {:.2}, steal {:.2}",
                c.generator, c.generator_user, c.server, c.server_user, c.others, c.steal
            ),
            None => "cores: ?".into(),
        }
    }
}

/// One producer connection: its partition, its batch, how many requests, how many in flight.
struct ProduceJob {
    client_id: &'static str,
    topic: &'static str,
    partition: i32,
    batch: Arc<Vec<u8>>,
    records_per_batch: u64,
    requests: u64,
    in_flight: usize,
    deadline: Duration,
    /// Record latencies after this many answers (`None`: do not record).
    latency_after: Option<u64>,
}

fn big_jobs(fx: &Fixtures, client_id: &'static str, requests: u64, deadline: Duration) -> Vec<ProduceJob> {
    let batch = Arc::new(fx.big_batch.clone());
    (0..PRODUCE_CONNECTIONS as i32)
        .map(|p| ProduceJob {
            client_id,
            topic: TOPIC,
            partition: p % PARTITIONS,
            batch: Arc::clone(&batch),
            records_per_batch: BIG_RECORDS_PER_BATCH as u64,
            requests,
            in_flight: IN_FLIGHT,
            deadline,
            latency_after: None,
        })
        .collect()
}

/// The throughput case: `bytes` in batches of 100 × 1 KiB, over 4 connections with 8 in flight.
pub fn produce_big(target: Target, fx: &Fixtures, bytes: u64, client_id: &'static str) -> PhaseResult {
    let per_connection = bytes.div_ceil(PRODUCE_CONNECTIONS as u64);
    let requests = per_connection.div_ceil(fx.big_batch.len() as u64);
    run_produce(target, big_jobs(fx, client_id, requests, PRODUCE_DEADLINE), || false)
}

/// The sustained case: the throughput case for `secs` seconds. `stop` is asked every 100 ms
/// whether to stop early.
pub fn produce_sustained(target: Target, fx: &Fixtures, secs: f64, stop: impl FnMut() -> bool) -> PhaseResult {
    run_produce(target, big_jobs(fx, CLIENT_ID, u64::MAX, Duration::from_secs_f64(secs)), stop)
}

/// The latency case: one 100-byte record per request, 1 connection, 1 in flight; against the
/// broker and the sink in alternating slices. Returns (broker, sink).
pub fn produce_small(broker: Target, sink: Target, fx: &Fixtures, opts: &Options) -> (PhaseResult, PhaseResult) {
    let batch = Arc::new(fx.small_batch.clone());
    let job = || ProduceJob {
        client_id: CLIENT_ID,
        topic: SMALL_TOPIC,
        partition: 0,
        batch: Arc::clone(&batch),
        records_per_batch: 1,
        requests: opts.small_requests / SMALL_SLICES + SMALL_WARMUP,
        in_flight: 1,
        deadline: Duration::from_secs_f64(opts.small_seconds / SMALL_SLICES as f64),
        latency_after: Some(SMALL_WARMUP),
    };
    let (mut b, mut l) = (Vec::new(), Vec::new());
    for _ in 0..SMALL_SLICES {
        b.push(run_produce(broker, vec![job()], || false));
        l.push(run_produce(sink, vec![job()], || false));
    }
    (PhaseResult::from_slices(b), PhaseResult::from_slices(l))
}

fn run_produce(target: Target, jobs: Vec<ProduceJob>, stop: impl FnMut() -> bool) -> PhaseResult {
    let stopped = Arc::new(AtomicBool::new(false));
    let n = jobs.len();
    let start = Arc::new(Barrier::new(n));
    let tasks = jobs.into_iter().map(|job| {
        let (start, stopped) = (Arc::clone(&start), Arc::clone(&stopped));
        move || produce_connection(target.addr, &job, &start, &stopped)
    });
    run_phase(target, "produce", tasks.collect(), &stopped, stop)
}

/// Runs one task per thread, measuring both sides' CPU from before the threads start to after
/// the last one ends. While they run, `stop` is asked every 100 ms; when it says so, `stopped`
/// is set (the loops check it before each send).
fn run_phase(
    target: Target,
    phase: &str,
    tasks: Vec<impl FnOnce() -> ConnResult + Send + 'static>,
    stopped: &AtomicBool,
    mut stop: impl FnMut() -> bool,
) -> PhaseResult {
    let n = tasks.len();
    let meter = CpuMeter::start(target.pid);
    let (tx, rx) = mpsc::channel();
    for task in tasks {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send(task());
        });
    }
    drop(tx); // the channel disconnects once every thread has ended, panicked or not
    let mut results = Vec::with_capacity(n);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(result) => results.push(result),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !stopped.load(Ordering::Relaxed) && stop() {
                    stopped.store(true, Ordering::Relaxed);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let cpu = meter.stop();
    for _ in results.len()..n {
        let mut c = ConnResult::default();
        c.errors.add(format!("{phase}: client thread panicked"));
        results.push(c);
    }
    PhaseResult::from_connections(results, cpu)
}

/// Sends `job.requests` Produce requests, keeping up to `job.in_flight` unanswered, and checks
/// every answer in order. The request is encoded once; each send rewrites its correlation id.
fn produce_connection(addr: SocketAddr, job: &ProduceJob, start: &Barrier, stopped: &AtomicBool) -> ConnResult {
    let mut out = ConnResult { partition: job.partition, ..ConnResult::default() };
    let client = Client::connect(addr, 64 * 1024);
    let mut request = produce_request(job.topic, job.partition, &job.batch, job.client_id);
    start.wait(); // all connections start together
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("produce: connect: {e}"));
            return out;
        }
    };
    let began = Instant::now();
    let deadline = began + job.deadline;
    out.first_send = Some(began);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(job.in_flight);
    let (mut sent, mut answered) = (0u64, 0u64);
    loop {
        // Fill the pipeline.
        while sent < job.requests && sent_at.len() < job.in_flight {
            let now = Instant::now();
            if now >= deadline || stopped.load(Ordering::Relaxed) {
                out.cut = true;
                break;
            }
            sent_at.push_back(now);
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
pub fn fetch_phase(target: Target, topic_id: Uuid, targets: &[(i32, u64, Option<u64>)]) -> PhaseResult {
    let start = Arc::new(Barrier::new(targets.len()));
    let tasks = targets.iter().map(|&(partition, bytes, expected)| {
        let start = Arc::clone(&start);
        move || fetch_connection(target.addr, topic_id, partition, bytes, expected, &start)
    });
    run_phase(target, "fetch", tasks.collect(), &AtomicBool::new(false), || false)
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
    let mut request = FetchRequest::new(topic_id, partition);
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
        if let Err(e) = client.send(request.with(corr, offset)) {
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
