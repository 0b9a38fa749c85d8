//! Seeing every byte: a Kafka message, or a log file, as an annotated tree of its fields.
//!
//! The fields come from the code that serves them. A traced [`Reader`] notes what the request
//! decoders read; a traced `Writer` notes what the encoders write; record batches are walked by
//! the log's own batch decoder (`log::batch::trace`). This module only prints what they noted:
//! byte range, name, value and raw bytes, one line per field, nested as the message is.
//!
//! ```text
//!     0..2     request_api_key = 0 (Produce)                         00 00
//!    12..21    client_id = "rdkafka"                                 00 07 72 64 6b 61 66 6b 61
//!    54..127   records = 73 bytes of record batches
//!    54..127     batch[0]
//!    71..75        crc = 0xff494ef4 ✓ matches the batch              ff 49 4e f4
//! ```
//!
//! Used by `RUST_LOG=trace` (every request and response, in the log), by
//! `mini-kafka decode` ([`decode`]) and by `mini-kafka dump-log` ([`dump_log`]).

pub mod decode;
pub mod dump_log;
pub mod names;

use crate::log::batch;
use crate::wire::{FieldSpan, Kind, Reader, Uuid};
use std::fmt::Write as _;
use std::io::IsTerminal;

/// How to print a tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colours: names, values and raw bytes told apart.
    pub color: bool,
    /// Long strings and bytes whole, instead of elided in the middle.
    pub whole: bool,
}

impl Style {
    /// For standard output: colours on a terminal, unless `NO_COLOR` is set
    /// (<https://no-color.org>); whole values with `MINI_KAFKA_WHOLE=1`.
    pub fn for_stdout() -> Style {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { color, whole: whole_values() }
    }

    /// For the log (`RUST_LOG=trace`): plain text; whole values with `MINI_KAFKA_WHOLE=1`.
    pub fn for_log() -> Style {
        Style { color: false, whole: whole_values() }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

/// The one switch for long values: `MINI_KAFKA_WHOLE=1` prints them whole.
fn whole_values() -> bool {
    std::env::var("MINI_KAFKA_WHOLE").is_ok_and(|v| v == "1")
}

/// Values longer than this (in characters or bytes) are elided in the middle.
const LONG: usize = 64;
/// Raw bytes shown after a field's value.
const RAW_SHOWN: usize = 12;

/// The fields of `message` (the bytes after its `message_size`) as a tree, one line per field.
/// RECORDS fields are expanded into their batches and records.
pub fn tree(message: &[u8], spans: &[FieldSpan], style: Style) -> String {
    let mut out = String::new();
    render(&mut out, message, spans, style);
    out
}

fn render(out: &mut String, message: &[u8], spans: &[FieldSpan], style: Style) {
    // The index of each array element: (name, index) of the last element seen at each depth.
    let mut elements: Vec<Option<(&str, usize)>> = Vec::new();
    let mut i = 0;
    while i < spans.len() {
        let s = spans[i];
        let depth = usize::from(s.depth);
        elements.resize(depth + 1, None);
        if s.kind != Kind::Group {
            elements[depth] = None;
            line(out, message, &s, s.name, s.depth, style);
            if s.kind == Kind::Records && s.content < s.end {
                records(out, message, &s, style);
            }
            i += 1;
            continue;
        }
        let index = match elements[depth] {
            Some((name, k)) if name == s.name => k + 1,
            _ => 0,
        };
        elements[depth] = Some((s.name, index));
        let label = format!("{}[{index}]", s.name);
        // An element that is one field (an INT32 of an array of them) takes one line.
        let children = spans[i + 1..].iter().take_while(|c| c.depth > s.depth).count();
        if children == 1 && spans[i + 1].start == s.start && spans[i + 1].end == s.end {
            line(out, message, &spans[i + 1], &label, s.depth, style);
            i += 2;
        } else {
            line(out, message, &s, &label, s.depth, style);
            i += 1;
        }
    }
}

/// The batches of a RECORDS field, walked by the log's batch decoder, one level deeper.
fn records(out: &mut String, message: &[u8], field: &FieldSpan, style: Style) {
    let mut r = Reader::traced_at(&message[field.content..field.end], field.content, field.depth + 1);
    let walked = batch::trace(&mut r);
    let spans = r.into_spans();
    render(out, message, &spans, style);
    if let Err(e) = walked {
        let indent = "  ".repeat(usize::from(field.depth) + 1);
        let _ = writeln!(out, "{:12} {indent}{}", "", style.paint("31", &format!("✗ {e}")));
    }
}

fn line(out: &mut String, message: &[u8], s: &FieldSpan, label: &str, depth: u16, style: Style) {
    let (Some(field), Some(content)) = (message.get(s.start..s.end), message.get(s.content..s.end)) else {
        return; // a span outside the message: not produced by the reader or writer
    };
    let range = format!("{:>5}..{:<5}", s.start, s.end);
    let value = value(s, field, content, style);
    let indent = "  ".repeat(usize::from(depth));
    let mut text = format!("{indent}{}", style.paint("36", label));
    let mut width = indent.len() + label.chars().count();
    if !value.is_empty() {
        text += " = ";
        text += &value.painted;
        width += 3 + value.plain.chars().count();
    }
    let raw = match s.kind {
        Kind::Group | Kind::Records => String::new(),
        _ => hex(field, RAW_SHOWN),
    };
    let pad = " ".repeat(60usize.saturating_sub(width).max(2));
    let _ = writeln!(out, "{} {text}{pad}{}", style.paint("2", &range), style.paint("2", &raw)).map(drop);
    // Trailing spaces of fields without raw bytes.
    if raw.is_empty() {
        let trimmed = out.trim_end_matches([' ', '\n']).len();
        out.truncate(trimmed);
        out.push('\n');
    }
}

/// A value as printed, and its length without colour codes (for alignment).
struct Value {
    plain: String,
    painted: String,
}

impl Value {
    fn is_empty(&self) -> bool {
        self.plain.is_empty()
    }
}

fn value(s: &FieldSpan, field: &[u8], content: &[u8], style: Style) -> Value {
    let plain = |text: String| Value { painted: text.clone(), plain: text };
    let painted = |code: &str, text: String| Value { painted: style.paint(code, &text), plain: text };
    match s.kind {
        Kind::Int => number(s.name, int(field), style),
        Kind::Bool => plain((field.first() != Some(&0)).to_string()),
        Kind::Uuid => {
            let id = Uuid(field.try_into().unwrap_or([0; 16]));
            plain(format!("{} ({id})", id.to_kafka_string()))
        }
        Kind::Varint => number(s.name, zigzag(unsigned_varint(field)), style),
        Kind::UnsignedVarint => plain(unsigned_varint(field).to_string()),
        Kind::Text => painted("32", quoted(&String::from_utf8_lossy(content), style.whole)),
        Kind::Bytes => painted("32", bytes_text(content, style.whole)),
        Kind::Records => plain(format!("{} bytes of record batches", content.len())),
        Kind::Null => plain("null".to_string()),
        Kind::Count => plain(format!("[{}]", count(field))),
        Kind::Tags => match unsigned_varint(field) {
            0 => plain("none".to_string()),
            n => plain(format!("{n} tagged fields ({} bytes, skipped)", field.len())),
        },
        Kind::Group => plain(String::new()),
        Kind::Crc { valid } => {
            let crc = u32::try_from(int(field) & 0xffff_ffff).unwrap_or(0);
            if valid {
                painted("32", format!("{crc:#010x} ✓ matches the batch"))
            } else {
                painted("31", format!("{crc:#010x} ✗ does not match the batch's bytes"))
            }
        }
        Kind::BatchAttributes => plain(attributes(int(field))),
        //> transactions
        // The key's last two bytes are the marker's type; the bytes before, its length and version.
        Kind::ControlKey => plain(match field.iter().rev().take(2).collect::<Vec<_>>()[..] {
            [1, 0] => "COMMIT marker (version 0, type 1)".to_string(),
            [0, 0] => "ABORT marker (version 0, type 0)".to_string(),
            _ => format!("an unknown control record ({})", hex(field, 8)),
        }),
        //< transactions
    }
}

/// An integer, with what it means when its name says: an error code's name, an API's name, a
/// timestamp as UTC time.
fn number(name: &str, v: i64, style: Style) -> Value {
    let text = if name.ends_with("error_code") {
        let code = i16::try_from(v).unwrap_or(i16::MIN);
        let text = format!("{} ({v})", names::error_name(code).unwrap_or("unknown error"));
        let painted = if v == 0 { text.clone() } else { style.paint("31", &text) };
        return Value { plain: text, painted };
    } else if name.ends_with("api_key") {
        format!("{v} ({})", names::api_name(i16::try_from(v).unwrap_or(-1)).unwrap_or("unknown API"))
    } else if (name.contains("timestamp") || name.ends_with("_time_ms")) && !name.contains("delta") && v > 0 {
        format!("{v} ({})", utc(v))
    } else {
        v.to_string()
    };
    Value { painted: text.clone(), plain: text }
}

/// A big-endian signed integer of 1, 2, 4 or 8 bytes.
fn int(bytes: &[u8]) -> i64 {
    match bytes.len() {
        1 => i64::from(bytes[0] as i8),
        2 => i64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        4 => i64::from(i32::from_be_bytes(bytes.try_into().unwrap_or_default())),
        8 => i64::from_be_bytes(bytes.try_into().unwrap_or_default()),
        _ => 0,
    }
}

fn unsigned_varint(bytes: &[u8]) -> u64 {
    bytes.iter().take(10).enumerate().fold(0, |v, (i, b)| v | (u64::from(b & 0x7f) << (7 * i)))
}

fn zigzag(n: u64) -> i64 {
    crate::wire::zigzag_decode(n)
}

/// An array count: INT32 (classic), or UNSIGNED_VARINT count+1 (compact). A classic count is 4
/// bytes with the top bit clear; a compact one of 4 bytes would have it set (more follows).
fn count(field: &[u8]) -> i64 {
    if field.len() == 4 && field[0] & 0x80 == 0 { int(field) } else { (unsigned_varint(field) as i64).wrapping_sub(1) }
}

/// A string in quotes, with control characters escaped, elided in the middle when long.
fn quoted(text: &str, whole: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let escape = |c: &char| c.escape_debug().to_string();
    if whole || chars.len() <= LONG {
        return format!("\"{}\"", chars.iter().map(escape).collect::<String>());
    }
    let head: String = chars[..LONG / 2].iter().map(escape).collect();
    let tail: String = chars[chars.len() - LONG / 4..].iter().map(escape).collect();
    format!("\"{head}…{tail}\" ({} bytes)", text.len())
}

/// Bytes as text when they are printable UTF-8, else as hex.
fn bytes_text(bytes: &[u8], whole: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => quoted(text, whole),
        _ if whole || bytes.len() <= LONG / 2 => format!("0x{}", hex(bytes, usize::MAX).replace(' ', "")),
        _ => format!("0x{}… ({} bytes)", hex(bytes, LONG / 4).replace(' ', "").trim_end_matches('…'), bytes.len()),
    }
}

/// Up to `shown` bytes in hex, then "…" if there are more.
fn hex(bytes: &[u8], shown: usize) -> String {
    let mut text: Vec<String> = bytes.iter().take(shown).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > shown {
        text.push("…".to_string());
    }
    text.join(" ")
}

/// A record batch's attributes, spelled out.
fn attributes(bits: i64) -> String {
    let compression =
        ["none", "gzip", "snappy", "lz4", "zstd"].get((bits & 0x07) as usize).copied().unwrap_or("unknown");
    let mut text = format!("{bits:#06x}: compression {compression}");
    text += if bits & 0x08 != 0 { ", LogAppendTime" } else { ", CreateTime" };
    if bits & 0x10 != 0 {
        text += ", transactional";
    }
    if bits & 0x20 != 0 {
        text += ", control";
    }
    text
}

/// Milliseconds since 1970 as UTC time, `2024-09-11T09:12:23.832Z`.
pub fn utc(ms: i64) -> String {
    let (days, ms) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to a civil date: Howard Hinnant's algorithm, for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    #[test]
    fn utc_time_of_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_726_045_943_832), "2024-09-11T09:12:23.832Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn values_are_shown_by_what_they_mean() {
        let mut w = Writer::traced();
        w.i16("error_code", 3);
        w.i16("request_api_key", 18);
        w.string_v("name", "pear", true);
        w.bytes_v("key", &[0, 1, 2], false);
        w.i64("max_timestamp", 1_726_045_943_832);
        w.array_v("replica_nodes", true, &[1, 2], |w, n| w.i32("replica_nodes", *n));
        let spans = w.take_spans();
        let bytes = w.finish().to_vec();
        let tree = tree(&bytes[4..], &spans, Style::default());
        let lines: Vec<&str> = tree.lines().collect();
        assert!(lines[0].contains("error_code = UNKNOWN_TOPIC_OR_PARTITION (3)"), "{tree}");
        assert!(lines[1].contains("request_api_key = 18 (ApiVersions)"), "{tree}");
        assert!(lines[2].contains("name = \"pear\"") && lines[2].ends_with("05 70 65 61 72"), "{tree}");
        assert!(lines[3].contains("key = 0x000102"), "{tree}");
        assert!(lines[4].contains("(2024-09-11T09:12:23.832Z)"), "{tree}");
        assert!(lines[5].contains("replica_nodes = [2]"), "{tree}");
        assert!(lines[6].contains("  replica_nodes[0] = 1"), "{tree}");
        assert!(lines[7].contains("  replica_nodes[1] = 2"), "{tree}");
        assert_eq!(lines.len(), 8);
    }

    #[test]
    fn colours_tell_names_values_and_bytes_apart_only_when_asked() {
        let mut w = Writer::traced();
        w.i16("error_code", 3);
        w.string_v("name", "pear", true);
        let spans = w.take_spans();
        let bytes = w.finish().to_vec();
        let plain = tree(&bytes[4..], &spans, Style { color: false, whole: false });
        assert!(!plain.contains('\x1b'), "{plain}");
        let coloured = tree(&bytes[4..], &spans, Style { color: true, whole: false });
        assert!(coloured.contains("\x1b[36merror_code\x1b[0m"), "names in cyan: {coloured}");
        assert!(coloured.contains("\x1b[31mUNKNOWN_TOPIC_OR_PARTITION (3)\x1b[0m"), "errors in red: {coloured}");
        assert!(coloured.contains("\x1b[32m\"pear\"\x1b[0m"), "strings in green: {coloured}");
        assert!(coloured.contains("\x1b[2m00 03\x1b[0m"), "raw bytes dim: {coloured}");
    }

    #[test]
    fn long_values_are_elided_unless_asked_whole() {
        let long = "x".repeat(100);
        assert!(quoted(&long, false).ends_with("\" (100 bytes)"));
        assert_eq!(quoted(&long, true).len(), 102);
        assert_eq!(quoted("a\nb", false), "\"a\\nb\"");
        assert!(bytes_text(&[0xff; 100], false).ends_with("… (100 bytes)"));
    }
}
