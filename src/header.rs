//! Request and response headers (stages nv3, wa6, nc5).
//!
//! Every request frame starts with a header that says what it is:
//!
//! ```text
//! offset  field                type             example (ApiVersions v4 from the CodeCrafters runner)
//!  0      request_api_key      INT16            00 12            = 18, ApiVersions
//!  2      request_api_version  INT16            00 04            = 4
//!  4      correlation_id       INT32            4a 3b 2c 1d      echoed in the response
//!  8      client_id            NULLABLE_STRING  00 0c "kafka-tester"  (INT16 length, even in v2!)
//! 22      TAG_BUFFER           TAGGED_FIELDS    00               header v2 only
//! ```
//!
//! Header v1 is the first four fields; v2 (used with every *flexible* API version) adds the tagged
//! fields. Responses have header v0 (`correlation_id` alone) or v1 (`correlation_id` + tagged
//! fields) — and ApiVersions always answers with v0, even at flexible versions, because a client
//! must be able to read the answer before it knows which versions the broker speaks.

use crate::wire::{DecodeError, Reader, Writer};

/// The decoded request header. `client_id` borrows from the request frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a str>,
}

/// The fixed part every header version shares: key, version and correlation id (8 bytes).
/// Read first because the rest of the header depends on them.
pub fn decode_prefix(r: &mut Reader<'_>) -> Result<(i16, i16, i32), DecodeError> {
    Ok((r.i16("request_api_key")?, r.i16("request_api_version")?, r.i32("correlation_id")?))
}

/// Reads the rest of the header: `client_id`, and the tagged fields of header v2.
pub fn decode_rest<'a>(
    r: &mut Reader<'a>,
    (api_key, api_version, correlation_id): (i16, i16, i32),
    header_v2: bool,
) -> Result<RequestHeader<'a>, DecodeError> {
    let client_id = r.nullable_string("client_id")?;
    r.tagged_fields_v("header_tagged_fields", header_v2)?;
    Ok(RequestHeader { api_key, api_version, correlation_id, client_id })
}

/// Writes a response header: v0 is the correlation id; v1 adds an empty tag buffer.
pub fn encode_response(w: &mut Writer, correlation_id: i32, header_v1: bool) {
    w.i32(correlation_id);
    w.tagged_fields_v(header_v1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_runner_header() {
        let bytes = [
            0x00, 0x12, 0x00, 0x04, 0x4a, 0x3b, 0x2c, 0x1d, 0x00, 0x0c, b'k', b'a', b'f', b'k', b'a', b'-', b't', b'e',
            b's', b't', b'e', b'r', 0x00, 0xaa,
        ];
        let mut r = Reader::new(&bytes);
        let prefix = decode_prefix(&mut r).unwrap();
        let h = decode_rest(&mut r, prefix, true).unwrap();
        assert_eq!(
            h,
            RequestHeader { api_key: 18, api_version: 4, correlation_id: 0x4a3b2c1d, client_id: Some("kafka-tester") }
        );
        assert_eq!(r.rest(), &[0xaa]);
    }

    #[test]
    fn null_client_id_and_truncation() {
        let bytes = [0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0xff];
        let mut r = Reader::new(&bytes);
        let prefix = decode_prefix(&mut r).unwrap();
        assert_eq!(decode_rest(&mut r, prefix, false).unwrap().client_id, None);
        let mut r = Reader::new(&bytes[..9]);
        let prefix = decode_prefix(&mut r).unwrap();
        assert!(decode_rest(&mut r, prefix, false).is_err());
    }
}
