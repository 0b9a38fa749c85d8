//! `mini-kafka decode [--response API_KEY VERSION] [FILE...|-]`: explains Kafka frames captured
//! anywhere (a fixture, a `tcpdump`, a learner's own broker) with the decoders that serve them.
//!
//! The input holds one or more frames, each a 4-byte `message_size` and that many bytes, as hex
//! text (whitespace and `#` comments allowed, the format of `stages/`, or `xxd -p` output) or as
//! raw bytes. A request is recognised from its header. A response has no API key in it: it is
//! matched to a request earlier in the same input by its correlation id, or `--response KEY
//! VERSION` says what it answers.

use super::{Style, tree};
use crate::api::{self, API_VERSIONS_KEY, SUPPORTED_APIS};
use crate::header;
use crate::wire::{DecodeError, Reader};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Runs the command: `args` are the words after `decode`. Prints the trees; an input that cannot
/// be decoded whole is an error (exit status 1), reported with the byte where decoding stopped.
pub fn run(args: &[String]) -> Result<(), String> {
    let (mut response, mut paths) = (None, Vec::new());
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--response" => {
                let number = |w: Option<&String>| w.and_then(|w| w.parse::<i16>().ok());
                let (Some(key), Some(version)) = (number(words.next()), number(words.next())) else {
                    return Err("--response needs an API key and a version, e.g. --response 1 16".to_string());
                };
                response = Some((key, version));
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ if word.starts_with('-') && word != "-" => return Err(format!("unknown option {word:?}\n{USAGE}")),
            _ => paths.push(word.clone()),
        }
    }
    // The files one after the other (each hex text or raw bytes): a request and its response.
    let mut input = Vec::new();
    for path in if paths.is_empty() { vec!["-".to_string()] } else { paths } {
        let bytes = if path == "-" {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(|e| format!("stdin: {e}"))?;
            bytes
        } else {
            std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?
        };
        input.extend(hex_text(&bytes).unwrap_or(bytes));
    }
    let (text, failure) = explain(&input, response, Style::for_stdout());
    print!("{text}");
    failure.map_or(Ok(()), Err)
}

const USAGE: &str = "usage: mini-kafka decode [--response API_KEY VERSION] [FILE...|-]";

/// The frames of `input`, explained: the text, and what stopped the decoding, if anything.
pub fn explain(input: &[u8], response: Option<(i16, i16)>, style: Style) -> (String, Option<String>) {
    let bytes = hex_text(input).unwrap_or_else(|| input.to_vec());
    let mut out = String::new();
    // Requests seen so far, by correlation id: what a later response answers.
    let mut asked: HashMap<i32, (i16, i16)> = HashMap::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(size) = bytes.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])) else {
            return (out, Some(format!("byte {at}: {} bytes left, too few for a message_size", bytes.len() - at)));
        };
        let left = bytes.len() - at - 4;
        if size < 4 || size as usize > left {
            return (out, Some(format!("byte {at}: message_size {size}, but {left} bytes follow")));
        }
        let frame = &bytes[at + 4..at + 4 + size as usize];
        let correlation_id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        let answers = response.or_else(|| asked.get(&correlation_id).copied());
        let explained = match answers {
            Some((key, version)) => explain_response(frame, key, version, style),
            None => explain_request(frame, style).map(|(text, key, version, id)| {
                asked.insert(id, (key, version));
                text
            }),
        };
        let (text, failure) = match explained {
            Ok(text) => (text, None),
            Err((text, failure)) => (text, Some(failure)),
        };
        let _ = writeln!(out, "frame at byte {at}, message_size {size}: {text}");
        if let Some(failure) = failure {
            // Positions in the failure are counted after message_size; in the input, add at + 4.
            return (out, Some(format!("frame at byte {at}: {failure}")));
        }
        at += 4 + size as usize;
    }
    if bytes.is_empty() {
        return (out, Some("no frame in the input".to_string()));
    }
    (out, None)
}

/// A failed explanation: the tree so far, and why it stopped.
type Failed = (String, String);

fn stopped(title: String, message: &[u8], r: &Reader<'_>, e: &DecodeError, style: Style) -> Failed {
    let text = format!("{title}\n{}", tree(message, r.spans(), style));
    (text, format!("decoding stopped at byte {} (after message_size), in {}: {}", e.at, e.field, e.problem))
}

/// A request: its header says which API and version; that API's own decoder reads the body.
fn explain_request(frame: &[u8], style: Style) -> Result<(String, i16, i16, i32), Failed> {
    let mut r = Reader::traced(frame);
    let title = "request".to_string();
    let (key, version, id) = header::decode_prefix(&mut r).map_err(|e| stopped(title.clone(), frame, &r, &e, style))?;
    let Some(spec) = SUPPORTED_APIS.iter().find(|s| s.key == key) else {
        let name = super::names::api_name(key).map_or(String::new(), |n| format!(" ({n})"));
        let text = format!("request of API {key}{name} v{version}\n{}", tree(frame, r.spans(), style));
        return Err((text, format!("this broker has no decoder for API key {key}{name}")));
    };
    let title = format!("request {} v{version}, correlation id {id}", spec.name);
    if key == API_VERSIONS_KEY && version > spec.max {
        // A client newer than the broker: the broker cannot read the body either, and answers in
        // v0 with UNSUPPORTED_VERSION (stage nc5). The header is v2, as at every flexible version.
        let read = header::decode_client_id(&mut r, true).and_then(|_| r.bytes_exact("body", r.remaining()));
        let title = format!("{title} (newer than this broker: the body is not read, the answer is v0)");
        return match read {
            Ok(_) => Ok((format!("{title}\n{}", tree(frame, r.spans(), style)), key, version, id)),
            Err(e) => Err(stopped(title, frame, &r, &e, style)),
        };
    }
    if !(spec.min..=spec.max).contains(&version) {
        let text = format!("{title}\n{}", tree(frame, r.spans(), style));
        return Err((
            text,
            format!("{} v{version} is not a version this broker reads (v{}-v{})", spec.name, spec.min, spec.max),
        ));
    }
    let flexible = version >= spec.flexible_from;
    let decoded = header::decode_client_id(&mut r, flexible)
        .and_then(|_| api::decode_request(key, version, flexible, &mut r))
        .and_then(|()| all_read(&r));
    match decoded {
        Ok(()) => Ok((format!("{title}\n{}", tree(frame, r.spans(), style)), key, version, id)),
        Err(e) => Err(stopped(title, frame, &r, &e, style)),
    }
}

/// A response to `key` at `version`: the response header, then that API's response walker.
fn explain_response(frame: &[u8], key: i16, version: i16, style: Style) -> Result<String, Failed> {
    let mut r = Reader::traced(frame);
    let Some(spec) = SUPPORTED_APIS.iter().find(|s| s.key == key) else {
        return Err((format!("response of API {key}"), format!("this broker has no decoder for API key {key}")));
    };
    // An ApiVersions version the broker does not know is answered in v0 (with error 35).
    let version = if key == API_VERSIONS_KEY && version > spec.max { 0 } else { version };
    let title = format!("response {} v{version}", spec.name);
    if !(spec.min..=spec.max).contains(&version) {
        return Err((
            title,
            format!("{} v{version} is not a version this broker reads (v{}-v{})", spec.name, spec.min, spec.max),
        ));
    }
    let flexible = version >= spec.flexible_from;
    let decoded = r
        .i32("correlation_id")
        .and_then(|_| r.tagged_fields_v("tagged_fields", flexible && key != API_VERSIONS_KEY))
        .and_then(|()| api::decode_response(key, version, flexible, &mut r))
        .and_then(|()| all_read(&r));
    match decoded {
        Ok(()) => Ok(format!("{title}\n{}", tree(frame, r.spans(), style))),
        Err(e) => Err(stopped(title, frame, &r, &e, style)),
    }
}

/// Bytes left over after a message are an error: the decoder and the sender disagree.
fn all_read(r: &Reader<'_>) -> Result<(), DecodeError> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(DecodeError::new("end of message", r.position(), format!("{n} bytes left over"))),
    }
}

/// Hex text (the fixtures' format: whitespace, and `#` comments to the end of a line) as bytes;
/// `None` if `input` is not that.
pub(crate) fn hex_text(input: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(input).ok()?;
    let digits: Vec<u8> = text
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").bytes())
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let value = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    Some(digits.chunks(2).map(|pair| value(pair[0]) << 4 | value(pair[1])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_with_comments_and_raw_bytes_are_both_read() {
        assert_eq!(hex_text(b"00 0a # ten\n ff\n"), Some(vec![0, 10, 255]));
        assert_eq!(hex_text(b"\x00\x00"), None);
        assert_eq!(hex_text(b"0g"), None);
    }

    #[test]
    fn garbage_is_refused_with_the_byte_where_it_went_wrong() {
        let (_, failure) = explain(b"00 00 00 30 00 12", None, Style::default());
        assert_eq!(failure.as_deref(), Some("byte 0: message_size 48, but 2 bytes follow"));
        // An ApiVersions v4 request whose body is cut short (client_software_name says 9 bytes).
        let frame = b"00 00 00 12 00 12 00 04 00 00 00 07 00 02 61 62 00 0a 6b 61 66 6b";
        let (text, failure) = explain(frame, None, Style::default());
        assert!(text.contains("request ApiVersions v4, correlation id 7"), "{text}");
        assert!(failure.unwrap().contains("decoding stopped at byte 13"), "{text}");
    }
}
