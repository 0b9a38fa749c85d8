//! CodeCrafters base and concurrent-clients stages (vi6, nv3, wa6, nc5, pv1, nh4, sk0), checked
//! with the fixtures of `stages/`, plus the worked examples §6.1-6.3 of the contract and the
//! broker's robustness against malformed frames.
//!
//! Every broker here is in-process on an ephemeral port (never 9092), in memory: these stages
//! have no topics.

mod common;

use common::runner_files::assert_api_versions;
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

const API_VERSIONS: i16 = 18;

/// The request with its correlation_id (bytes 8..12: after size, api_key and api_version) replaced.
fn with_correlation_id(request: &[u8], id: i32) -> Vec<u8> {
    let mut r = request.to_vec();
    r[8..12].copy_from_slice(&id.to_be_bytes());
    r
}

/// Asserts the broker closed the connection: a read ends with EOF (or a reset, which Linux sends
/// instead of FIN when the broker closes with unread bytes still queued), and no byte arrives.
fn assert_closed(stream: &mut TcpStream, what: &str) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{what}: expected the connection to be closed, got {n} bytes: {}", hex(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
        Err(e) => panic!("{what}: expected the connection to be closed, got {e}"),
    }
}

/// Sends the pv1 request on `stream` and checks the answer: the broker still serves this client.
fn assert_still_served(stream: &mut TcpStream, what: &str) {
    let request = fixture("05-pv1-api-versions", "request.hex");
    let response = round_trip(stream, &request);
    assert_eq!(&response[4..8], &request[8..12], "{what}: correlation_id of the healthy client");
    assert_eq!(&response[8..10], &[0, 0], "{what}: error_code of the healthy client");
}

// ---------------------------------------------------------------------------------------------
// The stages

#[test]
fn vi6_bind_accepts_connections_and_stays_up() {
    let broker = start_default();
    // The runner connects and drops the connection without a byte; the broker must survive it.
    for _ in 0..3 {
        drop(connect(&broker));
    }
    let mut client = connect(&broker);
    assert_still_served(&mut client, "after three silent connections");
}

#[test]
fn nv3_correlation_id_7_is_echoed() {
    let broker = start_default();
    let request = fixture("02-nv3-send-correlation-id", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    // What the runner checks: at least 8 bytes, and bytes 4..8 are the correlation id 7.
    assert!(response.len() >= 8);
    assert_eq!(&response[4..8], &[0, 0, 0, 7]);
    let expected = fixture("02-nv3-send-correlation-id", "response.hex");
    assert_api_versions(&response, &expected, true, &[(API_VERSIONS, 4)]);
}

#[test]
fn wa6_any_correlation_id_is_echoed() {
    let broker = start_default();
    let request = fixture("03-wa6-parse-correlation-id", "request.hex");
    let mut client = connect(&broker);
    let response = round_trip(&mut client, &request);
    assert_api_versions(&response, &fixture("03-wa6-parse-correlation-id", "response.hex"), true, &[(API_VERSIONS, 4)]);
    // The runner picks a random id in [0, 2^31-2]; try a few, including the extremes.
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let ids = [0, i32::MAX - 1].into_iter().chain((0..8).map(|_| (rng.next() % (i32::MAX as u64)) as i32));
    for id in ids {
        let response = round_trip(&mut client, &with_correlation_id(&request, id));
        assert_eq!(i32::from_be_bytes(response[4..8].try_into().unwrap()), id);
    }
}

#[test]
fn nc5_unsupported_api_versions_version_gets_error_35() {
    let broker = start_default();
    let request = fixture("04-nc5-parse-api-version", "request.hex");
    let mut client = connect(&broker);
    let response = round_trip(&mut client, &request);
    // The answer is a v0 body (INT32 array count, no tag buffers): every client can read v0.
    assert_api_versions(&response, &fixture("04-nc5-parse-api-version", "response.hex"), false, &[(API_VERSIONS, 4)]);
    // The runner picks a version in 1000-1999; it reads the correlation id and the error code.
    let mut rng = XorShift(42);
    for _ in 0..10 {
        let version = 1000 + (rng.next() % 1000) as i16;
        let mut request = request.clone();
        request[6..8].copy_from_slice(&version.to_be_bytes());
        let response = round_trip(&mut client, &request);
        assert_eq!(&response[4..8], &request[8..12], "v{version}: correlation_id");
        assert_eq!(&response[8..10], &35i16.to_be_bytes(), "v{version}: error_code must be 35 UNSUPPORTED_VERSION");
    }
}

#[test]
fn pv1_api_versions_response_matches_fixture() {
    let broker = start_default();
    let request = fixture("05-pv1-api-versions", "request.hex");
    let response = round_trip(&mut connect(&broker), &request);
    assert_api_versions(&response, &fixture("05-pv1-api-versions", "response.hex"), true, &[(API_VERSIONS, 4)]);
}

#[test]
fn nh4_serial_requests_on_one_connection_are_all_answered() {
    let broker = start_default();
    let request = fixture("06-nh4-serial-requests", "request.hex");
    let expected = fixture("06-nh4-serial-requests", "response.hex");
    let mut client = connect(&broker);
    // The runner sends 2-4 requests, one after the other, with the same correlation id.
    for _ in 0..3 {
        let response = round_trip(&mut client, &request);
        assert_api_versions(&response, &expected, true, &[(API_VERSIONS, 4)]);
    }
}

#[test]
fn sk0_concurrent_clients_are_answered_when_read_in_reverse_order() {
    let broker = start_default();
    let request = fixture("07-sk0-concurrent-requests", "request.hex");
    let expected = fixture("07-sk0-concurrent-requests", "response.hex");
    // Open 3 connections and send on all of them before reading anything...
    let mut clients: Vec<(TcpStream, i32)> = (0..3).map(|i| (connect(&broker), 1000 + i)).collect();
    for (client, id) in &mut clients {
        client.write_all(&with_correlation_id(&request, *id)).unwrap();
    }
    // ...then read the last connection's answer first. A broker that serves one connection to
    // the end before accepting the next would never answer connection 3 here.
    for (client, id) in clients.iter_mut().rev() {
        let response = read_response(client);
        let mut expected = expected.clone();
        expected[4..8].copy_from_slice(&id.to_be_bytes()); // a response's correlation_id is at 4..8
        assert_api_versions(&response, &expected, true, &[(API_VERSIONS, 4)]);
    }
}

// ---------------------------------------------------------------------------------------------
// The contract's worked examples (§6.1-6.3)

#[test]
fn worked_example_6_1_is_the_pv1_request() {
    let example = parse_hex(
        "00 00 00 26 00 12 00 04 4a 3b 2c 1d 00 0c 6b 61 66 6b 61 2d 74 65 73 74 65 72 00
         0a 6b 61 66 6b 61 2d 63 6c 69 04 30 2e 31 00",
    );
    assert_eq!(example, fixture("05-pv1-api-versions", "request.hex"));
}

#[test]
fn worked_example_6_2_api_versions_response() {
    let example = parse_hex(
        "00 00 00 28 4a 3b 2c 1d 00 00 05 00 00 00 00 00 0b 00 00 01 00 00 00 10 00
         00 12 00 00 00 04 00 00 4b 00 00 00 00 00 00 00 00 00 00",
    );
    let broker = start_default();
    let response = round_trip(&mut connect(&broker), &fixture("05-pv1-api-versions", "request.hex"));
    let got = runner_files::decode_api_versions(&response, true);
    let want = runner_files::decode_api_versions(&example, true);
    assert_eq!(
        (got.correlation_id, got.error_code, &got.trailer),
        (want.correlation_id, want.error_code, &want.trailer)
    );
    // Same keys and max versions as §6.2. The min versions may be higher: this broker advertises
    // only versions it implements (Produce from v3, Fetch from v4), which the runner accepts
    // (it asks min ≤ 11 and min ≤ 16).
    for &(key, min, max) in &want.api_keys {
        let entry = got.api_keys.iter().find(|e| e.0 == key).unwrap_or_else(|| panic!("key {key} missing"));
        assert_eq!(entry.2, max, "key {key}: max_version");
        assert!(entry.1 >= min && entry.1 <= max, "key {key}: min_version {}", entry.1);
    }
}

#[test]
fn worked_example_6_3_unsupported_version_reads_as_error_35() {
    let broker = start_default();
    let mut request = fixture("05-pv1-api-versions", "request.hex");
    request[6..8].copy_from_slice(&1500i16.to_be_bytes());
    let response = round_trip(&mut connect(&broker), &request);
    // §6.3 shows a v4-shaped body; the runner reads only these 6 bytes, and this broker answers
    // with a v0 body as Kafka does (KIP-511), so only they are compared.
    assert_eq!(&response[4..10], &parse_hex("4a 3b 2c 1d 00 23")[..]);
}

// ---------------------------------------------------------------------------------------------
// Robustness: bad frames close their own connection, never the broker, and cost no memory

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

/// A line of /proc/self/status in bytes: `VmRSS` (resident) or `VmSize` (address space).
fn proc_status_bytes(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("no {key} line"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resident memory of this process (the broker runs in it).
fn resident_bytes() -> u64 {
    proc_status_bytes("VmRSS:")
}

#[test]
fn announced_sizes_cost_no_memory_until_the_bytes_arrive() {
    // Resident memory is per process, and the other tests of this binary run on threads beside
    // this one (a panicking one symbolizes a backtrace: megabytes). So the measurement runs in a
    // child process that runs only this test.
    const TEST: &str = "announced_sizes_cost_no_memory_until_the_bytes_arrive";
    if std::env::var_os("MINI_KAFKA_MEMORY_CHILD").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--test-threads=1", "--nocapture"])
            .env("MINI_KAFKA_MEMORY_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child process:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let broker = start_default();
    let mut healthy = connect(&broker);
    assert_still_served(&mut healthy, "before");
    let before = resident_bytes();

    let mut huge = connect(&broker);
    huge.write_all(&0x7fff_ffffi32.to_be_bytes()).unwrap();
    // 100 MiB is exactly socket.request.max.bytes, so this frame is accepted and then starved.
    let mut starved = connect(&broker);
    starved.write_all(&(100 * 1024 * 1024i32).to_be_bytes()).unwrap();
    starved.write_all(&[0, 18, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    // Let both connection threads read what was sent; the healthy round trip is a barrier.
    std::thread::sleep(Duration::from_millis(100));
    assert_still_served(&mut healthy, "while a 100 MiB frame is pending");
    let after = resident_bytes();
    let grown = after.saturating_sub(before);
    println!("resident memory grew by {} KiB", grown / 1024);
    assert!(grown < 16 << 20, "resident memory grew by {} KiB", grown / 1024);

    assert_closed(&mut huge, "2 GiB size prefix");
    starved.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut starved, "100 MiB frame cut off");
    assert_still_served(&mut healthy, "after");

    // With the limit raised to 2 GiB, a 2 GiB announcement is accepted. Untouched memory does not
    // show in VmRSS, so also watch the address space: a broker that reserved the announced size
    // up front would grow it by 2 GiB (and the runner caps it at 6 GiB, RLIMIT_AS).
    let lenient =
        start_broker(mini_kafka::config::Config { socket_request_max_bytes: i32::MAX as usize, ..Default::default() });
    let mut healthy = connect(&lenient);
    assert_still_served(&mut healthy, "before, lenient broker");
    let (rss_before, size_before) = (resident_bytes(), proc_status_bytes("VmSize:"));
    let mut starved = connect(&lenient);
    starved.write_all(&0x7fff_ffffi32.to_be_bytes()).unwrap();
    starved.write_all(&[0, 18, 0, 4, 0, 0, 0, 1, 0, 0]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_still_served(&mut healthy, "while a 2 GiB frame is pending");
    let rss_grown = resident_bytes().saturating_sub(rss_before);
    let size_grown = proc_status_bytes("VmSize:").saturating_sub(size_before);
    println!("2 GiB announced: resident +{} KiB, address space +{} MiB", rss_grown / 1024, size_grown >> 20);
    assert!(rss_grown < 16 << 20, "resident memory grew by {} KiB", rss_grown / 1024);
    // Thread stacks and malloc arenas (64 MiB each) move VmSize too; 1 GiB is far from both.
    assert!(size_grown < 1 << 30, "address space grew by {} MiB", size_grown >> 20);
    starved.shutdown(Shutdown::Write).unwrap();
    assert_closed(&mut starved, "2 GiB frame cut off");
}

#[test]
fn unknown_api_key_and_unsupported_fetch_version_close_the_connection() {
    let broker = start_default();
    let mut healthy = connect(&broker);

    // An api key no broker knows: there is no format to answer in, so the broker hangs up.
    let mut request = fixture("05-pv1-api-versions", "request.hex");
    request[4..6].copy_from_slice(&32000i16.to_be_bytes());
    let mut bad = connect(&broker);
    bad.write_all(&request).unwrap();
    assert_closed(&mut bad, "unknown api key");
    assert_still_served(&mut healthy, "after an unknown api key");

    // Fetch v17 (this broker speaks v4-v16): unlike ApiVersions there is no error format every
    // client reads, so the connection is closed, as Kafka does.
    let mut request = fixture("17-eg2-fetch-single-message", "request.hex");
    request[6..8].copy_from_slice(&17i16.to_be_bytes());
    let mut bad = connect(&broker);
    bad.write_all(&request).unwrap();
    assert_closed(&mut bad, "Fetch v17");
    assert_still_served(&mut healthy, "after Fetch v17");
}

// ---------------------------------------------------------------------------------------------
// The guide itself: every `src/file.rs::name` and `tests/file.rs::name` a stage README names
// must exist, so a renamed function breaks a test instead of silently breaking the guide.

#[test]
fn stage_readmes_name_code_and_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut folders: Vec<_> = std::fs::read_dir(root.join("stages"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        // The 25 CodeCrafters stages: "01-vi6-..." to "25-ov0-...".
        .filter(|name| name.as_bytes()[0].is_ascii_digit() && name[..2].parse::<u32>().is_ok_and(|n| n <= 25))
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 25, "{folders:?}");
    for folder in &folders {
        let readme = std::fs::read_to_string(root.join("stages").join(folder).join("README.md")).unwrap();
        let mut references = 0;
        // References are written `src/log/partition.rs::Partition::append` (in backticks).
        for quoted in readme.split('`').skip(1).step_by(2) {
            let Some((file, path)) = quoted.split_once("::") else { continue };
            if !(file.starts_with("src/") || file.starts_with("tests/")) || !file.ends_with(".rs") {
                continue;
            }
            let source = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{folder}: {file}: {e}"));
            let name = path.rsplit("::").next().unwrap();
            let defined = ["fn ", "const ", "static ", "struct "].iter().any(|kw| {
                source.match_indices(&format!("{kw}{name}")).any(|(at, m)| {
                    let next = source[at + m.len()..].chars().next().unwrap_or(' ');
                    !(next.is_alphanumeric() || next == '_')
                })
            });
            assert!(defined, "{folder}/README.md names `{quoted}`, but {file} defines no `{name}`");
            if let Some((owner, _)) = path.rsplit_once("::") {
                assert!(source.contains(&format!("impl {owner}")), "{folder}: {file} has no `impl {owner}`");
            }
            references += 1;
        }
        assert!(references >= 2, "{folder}/README.md: expected code to read and a test, found {references} references");
        let has = |f: &str| root.join("stages").join(folder).join(f).exists();
        if !folder.contains("-vi6-") {
            assert!(has("request.hex") || has("request-1.hex"), "{folder}: no request fixture");
            assert!(has("response.hex") || has("response-1.hex"), "{folder}: no response fixture");
        }
    }
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
            if !name.ends_with(".hex") {
                continue;
            }
            let bytes = fixture(&folder.file_name().to_string_lossy(), &name);
            let size = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(size, bytes.len() - 4, "{}/{name}: message_size", folder.file_name().to_string_lossy());
            checked += 1;
        }
    }
    assert!(checked >= 48, "only {checked} fixtures found");
}
