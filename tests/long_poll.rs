//! Long-poll fetch: a consumer waiting on an empty partition is woken the moment a record
//! arrives, and waits without using CPU. Each test has its own broker process, so the CPU time of
//! that process is the waiting broker's alone.

mod common;
mod oracle;

use common::{connect, start_default};
use oracle::{batch, create_topic, fetch, fetch_min, produce};
use std::time::{Duration, Instant};

/// utime + stime of the broker process `pid` (all its threads), in clock ticks (usually 10 ms).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_waiting_consumer_is_woken_as_soon_as_a_record_arrives_and_costs_no_cpu_while_waiting() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "wait", 1);
    let mut consumer = connect(&broker);
    let pid = broker.pid();
    let started = Instant::now();
    let waiting = std::thread::spawn(move || {
        let cpu_before = cpu_ticks(pid);
        let result = fetch(&mut consumer, "wait", 0, 0, 10_000, 1 << 20);
        (result, Instant::now(), cpu_before)
    });
    std::thread::sleep(Duration::from_millis(1000));
    let cpu_idle = cpu_ticks(pid);
    assert_eq!(produce(&mut stream, "wait", 0, batch(&[("k", "late")], 0)), (0, 0));
    let acked = Instant::now();
    let ((error, high_watermark, records), answered, cpu_before) = waiting.join().unwrap();
    assert_eq!((error, high_watermark), (0, 1));
    assert!(!records.is_empty());
    let delay = answered.saturating_duration_since(acked);
    assert!(delay < Duration::from_millis(100), "woken {delay:?} after the append");
    assert!(answered - started >= Duration::from_millis(900), "the fetch really waited");
    // A second of waiting: at most a couple of clock ticks of CPU in the whole broker.
    assert!(cpu_idle - cpu_before <= 5, "{} ticks of CPU while idle", cpu_idle - cpu_before);
}

#[test]
fn a_fetch_with_nothing_to_wait_for_answers_at_its_deadline() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "empty", 1);
    let started = Instant::now();
    let (error, high_watermark, records) = fetch(&mut stream, "empty", 0, 0, 300, 1 << 20);
    let took = started.elapsed();
    assert_eq!((error, high_watermark, records.len()), (0, 0, 0));
    assert!(took >= Duration::from_millis(290) && took < Duration::from_millis(2000), "{took:?}");
}

#[test]
fn a_fetch_waiting_for_min_bytes_answers_when_the_second_append_reaches_it() {
    let broker = start_default();
    let mut stream = connect(&broker);
    create_topic(&mut stream, "min", 1);
    let one = batch(&[("k", "first")], 0);
    let min_bytes = one.len() as i32 + 1; // more than one batch: needs two appends
    let mut consumer = connect(&broker);
    let waiting = std::thread::spawn(move || {
        let result = fetch_min(&mut consumer, "min", 0, 0, 10_000, min_bytes, 1 << 20);
        (result, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(produce(&mut stream, "min", 0, one.clone()), (0, 0));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "one batch is below min_bytes: still waiting");
    assert_eq!(produce(&mut stream, "min", 0, one), (0, 1));
    let acked = Instant::now();
    let ((error, high_watermark, records), answered) = waiting.join().unwrap();
    assert_eq!((error, high_watermark), (0, 2));
    assert!(records.len() >= min_bytes as usize);
    let delay = answered.saturating_duration_since(acked);
    assert!(delay < Duration::from_millis(100), "woken {delay:?} after the second append, not at the deadline");
}
