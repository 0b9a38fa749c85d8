//! The connections phase: many clients at once, each with a couple of small requests.

use crate::CONNECTIONS_DEADLINE;
use crate::METADATA;
use crate::broker::BrokerProcess;
use crate::checks::{Tally, check_api_versions_response, check_metadata_response};
use crate::client::{Client, api_versions_request, metadata_request};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

/// One round of the connections phase.
pub struct ConnectionsRound {
    pub answered: usize,
    /// "Metadata v1", or "ApiVersions" while the broker does not advertise Metadata.
    pub second_request: String,
    pub rss: u64,
    pub secs: f64,
    /// How long each `connect` took, in milliseconds. A connect that takes a second or more had
    /// its SYN dropped and retransmitted: the listener's accept queue was full.
    pub connect_ms: Vec<f64>,
    pub errors: Tally,
}

/// Opens `n` connections at once (4 client threads), sends ApiVersions on all, reads every
/// answer, then Metadata v1 (or ApiVersions again) on all, reads every answer, and measures the
/// broker's RSS while all of them are still open.
pub fn connections_phase(broker: &BrokerProcess, n: usize) -> ConnectionsRound {
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
