//! `mini-kafka dump-log PATH...`: the batches and records of Kafka log segment files
//! (`<topic>-<partition>/00000000000000000000.log`) and of the cluster metadata log, read with the
//! log's own decoders. Like Kafka's `kafka-dump-log.sh`, with byte positions.
//!
//! A batch that fails the checks the broker makes when it loads a segment (length, magic,
//! CRC-32C) is reported with its byte position, and the exit status is then 1: that is where the
//! broker would cut the file. A file may also be hex text, like `stages/`'s annotated fixtures.

use super::{Style, tree};
use crate::log::{batch, metadata};
use crate::wire::{FieldSpan, Kind, Reader};
use std::fmt::Write as _;

/// Runs the command: `paths` are the files to dump.
pub fn run(paths: &[String]) -> Result<(), String> {
    if paths.is_empty() || paths.iter().any(|p| p.starts_with('-')) {
        return Err("usage: mini-kafka dump-log FILE.log...".to_string());
    }
    let mut failures = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let bytes = super::decode::hex_text(&bytes).unwrap_or(bytes);
        let metadata_log = path.contains("__cluster_metadata") || path.contains("cluster-metadata");
        let (text, failure) = dump(&bytes, metadata_log, Style::for_stdout());
        print!("{path}\n{text}");
        failures.extend(failure.map(|f| format!("{path}: {f}")));
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

/// The batches of a log file, each with its records; for the cluster metadata log, each record's
/// value decoded as a metadata record. Returns the text and, for a damaged file, where and why.
pub fn dump(bytes: &[u8], metadata_log: bool, style: Style) -> (String, Option<String>) {
    let (batches, damage) = batch::split(bytes);
    let mut out = String::new();
    let records: i32 = batches.iter().map(|(h, _)| h.records_count).sum();
    let _ = writeln!(out, "{} batches, {records} records, {} bytes", batches.len(), bytes.len());
    for (header, b) in &batches {
        let at = b.as_ptr() as usize - bytes.as_ptr() as usize;
        let last = header.last_offset();
        let _ = writeln!(
            out,
            "batch at byte {at}: offsets {}..={last}, {} record{}, {} bytes, CRC ✓, {}, max timestamp {}",
            header.base_offset,
            header.records_count,
            if header.records_count == 1 { "" } else { "s" },
            b.len(),
            super::attributes(i64::from(header.attributes)),
            super::utc(header.max_timestamp),
        );
        let mut r = Reader::traced_at(b, at, 1);
        let walked = batch::trace(&mut r);
        let spans = r.into_spans();
        for (index, record) in spans.iter().enumerate().filter(|(_, s)| s.name == "record" && s.kind == Kind::Group) {
            let fields: Vec<&FieldSpan> = spans[index + 1..].iter().take_while(|s| s.depth > record.depth).collect();
            out += &record_line(bytes, header.base_offset, header.base_timestamp, &fields, metadata_log, style);
            if metadata_log {
                out += &metadata_record(bytes, &fields, style);
            }
        }
        if let Err(e) = walked {
            let _ = writeln!(out, "  ✗ the records cannot be read: {e}");
        }
    }
    let failure = damage
        .map(|e| format!("byte {}: {}; the broker keeps the {} batches before it", e.at, e.problem, batches.len()));
    if let Some(failure) = &failure {
        let _ = writeln!(out, "{}", style.paint("31", &format!("✗ {failure}")));
    }
    (out, failure)
}

/// One record on one line: its offset, timestamp, key, value and headers.
fn record_line(
    file: &[u8],
    base_offset: i64,
    base_timestamp: i64,
    fields: &[&FieldSpan],
    metadata: bool,
    style: Style,
) -> String {
    let field = |name: &str| fields.iter().find(|s| s.name == name);
    let number = |name: &str| field(name).map_or(0, |s| super::zigzag(super::unsigned_varint(&file[s.start..s.end])));
    let text = |s: &FieldSpan| super::value(s, &file[s.start..s.end], &file[s.content..s.end], style).painted;
    let offset = base_offset.saturating_add(number("offset_delta"));
    let timestamp = super::utc(base_timestamp.saturating_add(number("timestamp_delta")));
    let key = field("key").map_or(String::new(), |s| text(s));
    let value = match field("value") {
        Some(s) if metadata && s.kind == Kind::Bytes => format!("({} bytes, below)", s.end - s.content),
        Some(s) => text(s),
        None => String::new(),
    };
    let headers: Vec<String> = fields
        .iter()
        .zip(fields.iter().skip(1))
        .filter(|(k, v)| k.name == "header_key" && v.name == "header_value")
        .map(|(k, v)| format!("{}: {}", text(k), text(v)))
        .collect();
    format!("  offset {offset}  {timestamp}  key {key}  value {value}  headers [{}]\n", headers.join(", "))
}

/// A cluster metadata record, from the record's value: read by the broker's own metadata decoder.
fn metadata_record(file: &[u8], fields: &[&FieldSpan], style: Style) -> String {
    let Some(value) = fields.iter().find(|s| s.name == "value" && s.kind == Kind::Bytes) else {
        return String::new();
    };
    let mut r = Reader::traced_at(&file[value.content..value.end], value.content, 2);
    let read = metadata::apply(&mut Vec::new(), &mut r);
    let record_type = file.get(value.content + 1).map_or(-1, |t| *t as i8);
    let name = match record_type {
        2 => "TopicRecord",
        3 => "PartitionRecord",
        4 => "ConfigRecord", //> retention
        9 => "RemoveTopicRecord",
        12 => "FeatureLevelRecord",
        _ => "a metadata record this broker does not read",
    };
    let mut out = format!("    {name} (type {record_type})\n");
    out += &tree(file, &r.into_spans(), style);
    if let Err(e) = read {
        let _ = writeln!(out, "    ✗ {e}");
    }
    out
}
