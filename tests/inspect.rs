//> clients
//! `mini-kafka decode` and `mini-kafka dump-log` on real bytes: frames captured from kafka-python
//! and librdkafka (`stages/26-clients-real-kafka-clients/*-request.hex`, `*-response.hex`), every
//! fixture of `stages/`, log files as the runner writes them, and garbage.

mod common;

use common::runner_files::{partition_log, write_stage_files};
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CLIENTS: &str = "26-clients-real-kafka-clients";

/// Runs `mini-kafka ARGS…` (no colours: its output is not a terminal).
fn mini_kafka(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mini-kafka")).args(args).env_remove("MINI_KAFKA_WHOLE").output().unwrap()
}

fn fixture_path(stage: &str, name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stages").join(stage).join(name).to_string_lossy().into_owned()
}

/// `mini-kafka decode FILES…` of fixtures; its output, which must be a success.
fn decode(stage: &str, names: &[&str]) -> String {
    let paths: Vec<String> = names.iter().map(|n| fixture_path(stage, n)).collect();
    let out = mini_kafka(&[&["decode"], &paths.iter().map(String::as_str).collect::<Vec<_>>()[..]].concat());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{names:?}: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    text
}

/// The lines of `text` after the line that starts the response.
fn response_part(text: &str) -> &str {
    &text[text.find(": response ").expect("a response")..]
}

#[test]
fn a_kafka_python_produce_shows_its_record_as_text() {
    let text = decode(CLIENTS, &["kafka-python-produce-request.hex"]);
    assert!(text.contains("request Produce v9, correlation id 4"), "{text}");
    for field in [
        "client_id = \"kafka-python-producer\"",
        "crc = 0x56a59c7c ✓ matches the batch",
        "key = \"user-42\"",
        "value = \"hello from kafka-python\"",
        "header_key = \"source\"",
        "header_value = \"README\"",
    ] {
        assert!(text.contains(field), "{field} missing:\n{text}");
    }
}

#[test]
fn a_fetch_response_shows_the_record_and_error_codes_by_name() {
    let text = decode(CLIENTS, &["kafka-python-fetch-request.hex", "kafka-python-fetch-response.hex"]);
    let response = response_part(&text);
    assert!(response.starts_with(": response Fetch v12"), "{text}");
    for field in [
        "error_code = NONE (0)",
        "key = \"user-42\"",
        "value = \"hello from kafka-python\"",
        "header_value = \"README\"",
    ] {
        assert!(response.contains(field), "{field} missing:\n{response}");
    }
}

#[test]
fn a_compressed_batch_shows_as_compressed_with_its_codec() {
    let text = decode(CLIENTS, &["librdkafka-fetch-request.hex", "librdkafka-fetch-response.hex"]);
    let response = response_part(&text);
    assert!(response.contains("attributes = 0x0001: compression gzip, CreateTime"), "{response}");
    assert!(response.contains("compressed_records = 0x1f8b08"), "the gzip stream, as bytes:\n{response}");
    assert!(response.contains("records_count = 3"), "{response}");
}

#[test]
fn a_create_topics_response_shows_the_config_names() {
    let text = decode(CLIENTS, &["kafka-python-create-topics-request.hex", "kafka-python-create-topics-response.hex"]);
    let response = response_part(&text);
    assert!(response.contains("name = \"greetings\""), "{response}");
    assert!(response.contains("name = \"cleanup.policy\""), "{response}");
    assert!(response.contains("name = \"retention.ms\""), "{response}");
    assert!(response.contains("value = \"86400000\""), "{response}");
}

#[test]
fn a_response_alone_is_decoded_when_told_what_it_answers() {
    let path = fixture_path("10-ea7-describe-single-partition", "response.hex");
    let out = mini_kafka(&["decode", "--response", "75", "0", &path]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("response DescribeTopicPartitions v0"), "{text}");
    assert!(text.contains("name = \"pear\""), "{text}");
    assert!(text.contains("topic_id = caWaUYloT4uTfgAAAAAOpw (71a59a51-8968-4f8b-937e-000000000ea7)"), "{text}");
    assert!(text.contains("error_code = NONE (0)"), "{text}");
}

/// The fixtures of every stage, as (request, response) file pairs of one folder.
fn fixture_pairs() -> Vec<(PathBuf, Vec<String>)> {
    let stages = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages");
    let mut pairs = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(stages).unwrap().flatten().map(|e| e.path()).collect();
    folders.sort();
    for folder in folders.into_iter().filter(|f| f.is_dir()) {
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".hex") && !n.contains(".log"))
            .collect();
        names.sort();
        for request in names.iter().filter(|n| n.contains("request")) {
            let response = request.replace("request", "response");
            // The answers of nv3, wa6 and nc5 are the course's first steps: a response header,
            // then no body or an error code alone. Not ApiVersions responses a client (or the
            // decoder) could read; pv1 completes them.
            let partial = ["02-nv3-send-correlation-id", "03-wa6-parse-correlation-id", "04-nc5-parse-api-version"];
            let response = if partial.iter().any(|s| folder.ends_with(s)) { String::new() } else { response };
            let files = if names.contains(&response) { vec![request.clone(), response] } else { vec![request.clone()] };
            pairs.push((folder.clone(), files.into_iter().filter(|f| !f.is_empty()).collect()));
        }
    }
    pairs
}

#[test]
fn every_fixture_of_every_stage_decodes() {
    let mut decoded = 0;
    for (folder, files) in fixture_pairs() {
        let paths: Vec<String> = files.iter().map(|f| folder.join(f).to_string_lossy().into_owned()).collect();
        let out = mini_kafka(&[&["decode"], &paths.iter().map(String::as_str).collect::<Vec<_>>()[..]].concat());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{paths:?}: {}\n{text}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.matches("frame at byte").count(), files.len(), "{paths:?}");
        decoded += files.len();
    }
    // ApiVersions answers stand alone: a v4 request's answer.
    let answers = [CLIENTS, "27-groups-consumer-groups"].map(|f| fixture_path(f, "api-versions-response.hex"));
    for path in answers.iter().filter(|p| Path::new(p).exists()) {
        let out = mini_kafka(&["decode", "--response", "18", "4", path]);
        assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stdout));
        decoded += 1;
    }
    assert!(decoded > 50, "only {decoded} fixtures decoded");
}

#[test]
fn garbage_is_refused_naming_the_byte_where_decoding_stopped() {
    let dir = TempDir::new("garbage");
    let path = dir.path().join("garbage.hex");
    // A Metadata v12 request whose topic count (a COMPACT_ARRAY of 100) outruns the frame.
    std::fs::write(&path, "00 00 00 0f 00 03 00 0c 00 00 00 01 00 01 61 00 65 01 02").unwrap();
    let out = mini_kafka(&["decode", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("frame at byte 0: decoding stopped at byte 12 (after message_size), in topics: length 100, only 2 bytes left"), "{error}");
    // What was read before it is still shown.
    assert!(String::from_utf8_lossy(&out.stdout).contains("client_id = \"a\""));
    std::fs::write(&path, [0x00, 0x00, 0x10, 0x00, 0xde, 0xad]).unwrap();
    let out = mini_kafka(&["decode", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("byte 0: message_size 4096, but 2 bytes follow"));
}

#[test]
fn dump_log_lists_records_and_names_a_flipped_byte() {
    let dir = TempDir::new("dump-log");
    write_stage_files(dir.path(), "fd8"); // pineapple-0: apple, banana, grape
    let segment = dir.path().join("pineapple-0/00000000000000000000.log");
    let out = mini_kafka(&["dump-log", segment.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 batches, 3 records, 220 bytes"), "{text}");
    for (offset, value) in [(0, "apple"), (1, "banana"), (2, "grape")] {
        assert!(
            text.contains(&format!("offset {offset}  2024-09-11T09:12:53.899Z  key null  value \"{value}\"")),
            "{text}"
        );
    }
    // One byte of the second batch's value flipped: its CRC no longer holds, the broker would
    // keep the first batch only.
    let mut bytes = std::fs::read(&segment).unwrap();
    let second = partition_log(&["apple"]).len();
    bytes[second + 70] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    let out = mini_kafka(&["dump-log", segment.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("✗ byte {second}: crc 0x")), "{text}");
    assert!(text.contains("the broker keeps the 1 batches before it"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("byte {second}: crc")));
}

#[test]
fn dump_log_decodes_the_metadata_records_by_type() {
    let dir = TempDir::new("dump-metadata");
    write_stage_files(dir.path(), "ku4"); // apple, two partitions
    let log = dir.path().join("__cluster_metadata-0/00000000000000000000.log");
    let out = mini_kafka(&["dump-log", log.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("FeatureLevelRecord (type 12)") && text.contains("name = \"metadata.version\""), "{text}");
    assert!(text.contains("TopicRecord (type 2)") && text.contains("name = \"apple\""), "{text}");
    assert_eq!(text.matches("PartitionRecord (type 3)").count(), 2, "{text}");
    assert!(text.contains("partition_id = 1"), "{text}");
}

#[test]
fn mutated_fixtures_never_panic_the_decoder() {
    // Every fixture, mutated at random (bytes flipped, cut short, garbage appended), through the
    // decoder in this process: a bad frame is an error, never a panic and never a huge allocation.
    let mut rng = XorShift(0x5eed_1dea);
    let mut inputs = Vec::new();
    for (folder, files) in fixture_pairs() {
        let mut bytes = Vec::new();
        for f in &files {
            bytes.extend(parse_hex(&std::fs::read_to_string(folder.join(f)).unwrap()));
        }
        inputs.push(bytes);
    }
    let mut runs = 0;
    for _ in 0..300 {
        for input in &inputs {
            let mut bytes = input.clone();
            match rng.below(4) {
                0 => {
                    for _ in 0..=rng.below(4) {
                        let at = rng.below(bytes.len());
                        bytes[at] = rng.next() as u8;
                    }
                }
                1 => bytes.truncate(rng.below(bytes.len())),
                2 => bytes.extend((0..rng.below(64)).map(|_| rng.next() as u8)),
                _ => {
                    let at = rng.below(bytes.len().saturating_sub(4)) + 4;
                    bytes[at..].iter_mut().take(4).for_each(|b| *b = 0xff); // a length of -1 or huge
                }
            }
            let (_text, _failure) = mini_kafka::inspect::decode::explain(&bytes, None, Default::default());
            let _ = mini_kafka::inspect::dump_log::dump(&bytes, false, Default::default());
            runs += 1;
        }
    }
    assert!(runs > 2000, "{runs} mutated inputs");
}
//< clients
