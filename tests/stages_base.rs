//> vi6
//! The CodeCrafters base and concurrent-clients stages (vi6, nv3, wa6, nc5, pv1, nh4, sk0),
//! checked against the fixtures of `stages/`, and what a broker on a network meets beyond them:
//! malformed frames must close only their own connection and cost no memory.
//!
//! These stages have no topics: every broker here keeps its log in memory.

mod common;

use common::*;
use std::time::Duration;
//> nc5
use std::io::Write;
//< nc5
//> sk0
use std::net::Shutdown;
use std::net::TcpStream;
//< sk0

#[test]
fn vi6_bind_accepts_connections_and_stays_up() {
    let mut broker = start_default();
    // The runner connects and drops the connection without a byte; the broker must survive it.
    for _ in 0..3 {
        drop(connect(&broker));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(broker.is_running(), "the broker exited after its clients left");
    drop(connect(&broker));
}
//> nv3

#[test]
fn nv3_correlation_id_7_is_echoed() {
    let broker = start_default();
    let request = fixture("02-nv3-send-correlation-id", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    // What the runner checks: at least 8 bytes, and bytes 4..8 are the correlation id 7.
    assert!(response.len() >= 8);
    assert_eq!(&response[4..8], &[0, 0, 0, 7]);
    // What the guide shows, byte for byte (the answer of the newest stage that changed it).
    assert_eq!(hex(&response), hex(&api_versions_answer(7)));
}

#[test]
fn stage_fixtures_are_well_framed() {
    // Every fixture is one frame: its size prefix counts exactly the bytes after it. A hand edit
    // that drops or adds a byte fails here, with the file named, before any broker is involved.
    let stages = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    let mut checked = 0;
    for folder in std::fs::read_dir(&stages).unwrap().filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        for file in std::fs::read_dir(folder.path()).unwrap().filter_map(Result::ok) {
            let name = file.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".hex") || name.contains(".log") {
                continue;
            }
            let bytes = fixture(&folder.file_name().to_string_lossy(), &name);
            let size = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(size, bytes.len() - 4, "{}/{name}: message_size", folder.file_name().to_string_lossy());
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} fixtures found");
}
//< nv3
//> wa6

#[test]
fn wa6_any_correlation_id_is_echoed() {
    let broker = start_default();
    let request = fixture("03-wa6-parse-correlation-id", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
    // The runner picks a random id in [0, 2^31-2]; try a few, including the extremes. (One
    // connection each: answering several requests on one connection is nh4's work.)
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let ids = [0, i32::MAX - 1].into_iter().chain((0..8).map(|_| (rng.next() % (i32::MAX as u64)) as i32));
    for id in ids {
        let response = round_trip(&mut connect(&broker), &with_correlation_id(&request, 8, id));
        assert_eq!(hex(&response), hex(&api_versions_answer(id)));
    }
}
//< wa6
//> nc5

/// The answer to an ApiVersions version the broker does not speak: error 35 and, once the broker
/// lists its APIs (pv1), the same list as its v4 answer in the v0 format every client can read.
fn unsupported_api_versions_answer(correlation_id: i32) -> Vec<u8> {
    let v4 = api_versions_answer(correlation_id);
    if v4.len() == 10 {
        // Before pv1 the answer is an error code alone, as nc5's fixture shows.
        return with_correlation_id(&fixture("04-nc5-parse-api-version", "response.hex"), 4, correlation_id);
    }
    // v4: error_code, COMPACT_ARRAY of (api_key, min, max, TAG_BUFFER), throttle_time_ms, TAG_BUFFER.
    // v0: error_code, ARRAY (INT32 count) of (api_key, min, max).
    let entries: Vec<&[u8]> = v4[11..v4.len() - 5].chunks(7).map(|e| &e[..6]).collect();
    let mut body = vec![0, 0, 0, 0];
    body.extend(correlation_id.to_be_bytes());
    body.extend(35i16.to_be_bytes());
    body.extend((entries.len() as i32).to_be_bytes());
    entries.iter().for_each(|e| body.extend(*e));
    let size = (body.len() - 4) as u32;
    body[..4].copy_from_slice(&size.to_be_bytes());
    body
}

#[test]
fn nc5_unsupported_api_versions_version_gets_error_35() {
    let broker = start_default();
    let request = fixture("04-nc5-parse-api-version", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(hex(&response), hex(&unsupported_api_versions_answer(0x4a3b2c1d)));
    // The runner picks a version in 1000-1999; it reads the correlation id and the error code.
    let mut rng = XorShift(42);
    for _ in 0..10 {
        let version = 1000 + (rng.next() % 1000) as i16;
        let mut request = request.clone();
        request[6..8].copy_from_slice(&version.to_be_bytes());
        let response = round_trip(&mut connect(&broker), &request);
        assert_eq!(&response[4..8], &request[8..12], "v{version}: correlation_id");
        assert_eq!(&response[8..10], &35i16.to_be_bytes(), "v{version}: error_code must be 35 UNSUPPORTED_VERSION");
    }
    // A supported version: error_code 0.
    let v4 = round_trip(
        &mut connect(&broker),
        &with_correlation_id(&fixture("03-wa6-parse-correlation-id", "request.hex"), 8, 5),
    );
    assert_eq!(hex(&v4), hex(&api_versions_answer(5)));
}

#[test]
fn an_unknown_api_key_closes_the_connection() {
    let broker = start_default();
    // An api key no broker knows: there is no format to answer in, so the broker hangs up.
    let mut request = fixture("04-nc5-parse-api-version", "request.hex");
    request[4..6].copy_from_slice(&32000i16.to_be_bytes());
    request[6..8].copy_from_slice(&4i16.to_be_bytes());
    let mut bad = connect(&broker);
    bad.write_all(&request).unwrap();
    assert_closed(&mut bad, "unknown api key");
}
//< nc5
//> pv1

#[test]
fn pv1_api_versions_response_matches_fixture() {
    let broker = start_default();
    let request = fixture("05-pv1-api-versions", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)));
    // What the runner checks from pv1 on: an entry for ApiVersions (18) that includes v4.
    assert_api_listed(&response, 18, 4);
}
//< pv1
//> nh4

#[test]
fn nh4_serial_requests_on_one_connection_are_all_answered() {
    let broker = start_default();
    let request = fixture("06-nh4-serial-requests", "request.hex");
    let mut client = connect(&broker);
    // The runner sends 2-4 requests, one after the other, with the same correlation id.
    for _ in 0..4 {
        let response = round_trip(&mut client, &request);
        assert_eq!(hex(&response), hex(&api_versions_answer(i32::from_be_bytes(request[8..12].try_into().unwrap()))));
    }
}
//< nh4
//> sk0

#[test]
fn sk0_concurrent_clients_are_answered_when_read_in_reverse_order() {
    let broker = start_default();
    let request = fixture("07-sk0-concurrent-requests", "request.hex");
    // Open 3 connections and send on all of them before reading anything...
    let mut clients: Vec<(TcpStream, i32)> = (0..3).map(|i| (connect(&broker), 1000 + i)).collect();
    for (client, id) in &mut clients {
        client.write_all(&with_correlation_id(&request, 8, *id)).unwrap();
    }
    // ...then read the last connection's answer first. A broker that serves one connection to
    // the end before accepting the next would never answer connection 3 here.
    for (client, id) in clients.iter_mut().rev() {
        let response = read_response(client);
        assert_eq!(hex(&response), hex(&api_versions_answer(*id)));
    }
}

/// Sends the pv1 request on `stream` and checks the answer: the broker still serves this client.
fn assert_still_served(stream: &mut TcpStream, what: &str) {
    let request = fixture("05-pv1-api-versions", "request.hex");
    let response = round_trip(stream, &request);
    assert_eq!(hex(&response), hex(&api_versions_answer(0x4a3b2c1d)), "{what}: the healthy client's answer");
}

#[test]
fn malformed_frames_close_only_their_own_connection() {
    let broker = start_default();
    let mut healthy = connect(&broker);
    assert_still_served(&mut healthy, "before");

    // A 2 GiB size prefix (larger than socket.request.max.bytes), and a negative one.
    for prefix in [[0x7f, 0xff, 0xff, 0xff], [0x80, 0, 0, 0]] {
        let mut bad = connect(&broker);
        bad.write_all(&prefix).unwrap();
        assert_closed(&mut bad, "2 GiB size prefix");
        assert_still_served(&mut healthy, "after a 2 GiB size prefix");
    }

    // A 3-byte frame: too short to hold even api_key, api_version and correlation_id.
    let mut bad = connect(&broker);
    bad.write_all(&[0, 0, 0, 3, 0, 18, 0]).unwrap();
    assert_closed(&mut bad, "3-byte frame");
    assert_still_served(&mut healthy, "after a 3-byte frame");

    // A frame cut off mid-way: 1000 bytes announced, 10 sent, then the client closes its side.
    let mut bad = connect(&broker);
    bad.write_all(&1000i32.to_be_bytes()).unwrap();
    bad.write_all(&[0, 18, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    assert_still_served(&mut healthy, "while a frame is incomplete");
    bad.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut bad, "frame cut off mid-way");
    assert_still_served(&mut healthy, "after a frame cut off mid-way");

    // 64 KiB of noise.
    let mut rng = XorShift(0x2545f4914f6cdd1d);
    let noise: Vec<u8> = (0..64 * 1024 / 8).flat_map(|_| rng.next().to_be_bytes()).collect();
    let mut bad = connect(&broker);
    // The broker may close while we are still writing: a failed write is fine too.
    let _ = bad.write_all(&noise);
    let _ = bad.shutdown(Shutdown::Write);
    assert_closed(&mut bad, "64 KiB of random bytes");
    assert_still_served(&mut healthy, "after 64 KiB of random bytes");
}

/// A line of the broker's /proc/PID/status in bytes: `VmRSS` (resident) or `VmSize` (address space).
fn proc_status_bytes(broker: &Broker, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} line"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn announced_sizes_cost_no_memory_until_the_bytes_arrive() {
    let broker = start_default();
    let mut healthy = connect(&broker);
    assert_still_served(&mut healthy, "before");
    let before = proc_status_bytes(&broker, "VmRSS:");

    let mut huge = connect(&broker);
    huge.write_all(&0x7fff_ffffi32.to_be_bytes()).unwrap();
    // 100 MiB is exactly socket.request.max.bytes, so this frame is accepted and then starved.
    let mut starved = connect(&broker);
    starved.write_all(&(100 * 1024 * 1024i32).to_be_bytes()).unwrap();
    starved.write_all(&[0, 18, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    // Let both connection threads read what was sent; the healthy round trip is a barrier.
    std::thread::sleep(Duration::from_millis(100));
    assert_still_served(&mut healthy, "while a 100 MiB frame is pending");
    let grown = proc_status_bytes(&broker, "VmRSS:").saturating_sub(before);
    println!("resident memory grew by {} KiB", grown / 1024);
    assert!(grown < 16 << 20, "resident memory grew by {} KiB", grown / 1024);

    assert_closed(&mut huge, "2 GiB size prefix");
    starved.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut starved, "100 MiB frame cut off");
    assert_still_served(&mut healthy, "after");
}
//< sk0
//> clients

#[test]
fn a_two_gib_frame_allowed_by_the_config_costs_no_memory_until_its_bytes_arrive() {
    // With the limit raised to 2 GiB, a 2 GiB announcement is accepted. Untouched memory does not
    // show in VmRSS, so also watch the address space: a broker that reserved the announced size
    // up front would grow it by 2 GiB (and the runner caps it at 6 GiB, RLIMIT_AS).
    let lenient = Broker::start("socket.request.max.bytes=2147483647");
    let mut healthy = connect(&lenient);
    assert_still_served(&mut healthy, "before, lenient broker");
    let (rss_before, size_before) = (proc_status_bytes(&lenient, "VmRSS:"), proc_status_bytes(&lenient, "VmSize:"));
    let mut starved = connect(&lenient);
    starved.write_all(&0x7fff_ffffi32.to_be_bytes()).unwrap();
    starved.write_all(&[0, 18, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_still_served(&mut healthy, "while a 2 GiB frame is pending");
    let rss_grown = proc_status_bytes(&lenient, "VmRSS:").saturating_sub(rss_before);
    let size_grown = proc_status_bytes(&lenient, "VmSize:").saturating_sub(size_before);
    println!("2 GiB announced: resident +{} KiB, address space +{} MiB", rss_grown / 1024, size_grown >> 20);
    assert!(rss_grown < 16 << 20, "resident memory grew by {} KiB", rss_grown / 1024);
    // Thread stacks and malloc arenas (64 MiB each) move VmSize too; 1 GiB is far from both.
    assert!(size_grown < 1 << 30, "address space grew by {} MiB", size_grown >> 20);
    starved.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut starved, "2 GiB frame cut off");
}
//< clients
//< vi6
