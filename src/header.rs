//! Request and response headers (stages wa6, nc5, and vt6 for the rest of the request header).
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

/// The fixed part every header version shares: key, version and correlation id (8 bytes).
/// Read first because the rest of the header depends on them.
pub fn decode_prefix(r: &mut Reader<'_>) -> Result<(i16, i16, i32), DecodeError> {
    Ok((r.i16("request_api_key")?, r.i16("request_api_version")?, r.i32("correlation_id")?))
}
//> vt6

/// Reads the rest of the header: `client_id`, and the tagged fields of header v2. The body
/// starts after it.
pub fn decode_client_id<'a>(r: &mut Reader<'a>, header_v2: bool) -> Result<Option<&'a str>, DecodeError> {
    let client_id = r.nullable_string_v("client_id", false)?;
    r.tagged_fields_v("header_tagged_fields", header_v2)?;
    Ok(client_id)
}
//< vt6

/// Writes a response header: v0 is the correlation id; v1 adds an empty tag buffer.
pub fn encode_response(w: &mut Writer, correlation_id: i32, header_v1: bool) {
    w.i32("correlation_id", correlation_id);
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
        assert_eq!(decode_prefix(&mut r).unwrap(), (18, 4, 0x4a3b2c1d));
        //> vt6
        assert_eq!(decode_client_id(&mut r, true).unwrap(), Some("kafka-tester"));
        assert_eq!(r.remaining(), 1, "the body starts right after the header");
        //< vt6
    }
    //> vt6

    #[test]
    fn null_client_id_and_truncation() {
        let bytes = [0, 3, 0, 1, 0, 0, 0, 9, 0xff, 0xff];
        let mut r = Reader::new(&bytes[8..]);
        assert_eq!(decode_client_id(&mut r, false).unwrap(), None);
        assert!(decode_client_id(&mut Reader::new(&bytes[8..9]), false).is_err());
    }
    //< vt6

    #[test]
    fn response_headers_v0_and_v1() {
        let mut w = Writer::new();
        encode_response(&mut w, 7, false);
        let mut bytes = Vec::new();
        w.finish().write_to(&mut bytes).unwrap();
        assert_eq!(bytes, [0, 0, 0, 4, 0, 0, 0, 7]);
        let mut w = Writer::new();
        encode_response(&mut w, 7, true);
        let mut bytes = Vec::new();
        w.finish().write_to(&mut bytes).unwrap();
        assert_eq!(bytes, [0, 0, 0, 5, 0, 0, 0, 7, 0]);
    }
}
