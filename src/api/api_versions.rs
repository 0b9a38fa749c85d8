//! ApiVersions (key 18), versions 0-4 — stages nc5 and pv1 (and yk1, gs0, xz1, which add their
//! API to the list).
//!
//! The first request every client sends: "which APIs and versions do you speak?"
//!
//! ```text
//! request v3+                                   response (header v0: correlation_id only!)
//!   client_software_name     COMPACT_STRING       error_code        INT16
//!   client_software_version  COMPACT_STRING       api_keys          ARRAY (COMPACT from v3)
//!   TAG_BUFFER                                      api_key         INT16
//!                                                   min_version     INT16
//!  (v0-v2 requests have an empty body)              max_version     INT16
//!                                                   TAG_BUFFER      (v3+)
//!                                                 throttle_time_ms  INT32 (v1+)
//!                                                 TAG_BUFFER        (v3+)
//! ```
//!
//! A client newer than the broker may ask a version the broker does not know. The broker cannot
//! parse that body, but it can still answer in the one format every client reads — v0 — with
//! UNSUPPORTED_VERSION (35) and the versions it does support; the client retries with one of them
//! (KIP-511). That is stage nc5.

use crate::errors::ErrorCode;
/*> nc5 < vt6
use crate::wire::Writer;
*/
/*> pv1 < vt6
use super::SUPPORTED_APIS;
*/
//> vt6
use super::{Reply, Request, SUPPORTED_APIS};
use crate::wire::{DecodeError, Reader, Writer};
//< vt6
//> clients

/// ApiVersionsRequest. The software name and version are only logged.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApiVersionsRequest<'a> {
    pub client_software_name: Option<&'a str>,
    pub client_software_version: Option<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16) -> Result<ApiVersionsRequest<'a>, DecodeError> {
    if version < 3 {
        return Ok(ApiVersionsRequest::default());
    }
    let client_software_name = Some(r.string_v("client_software_name", true)?);
    let client_software_version = Some(r.string_v("client_software_version", true)?);
    r.tagged_fields("tagged_fields")?;
    Ok(ApiVersionsRequest { client_software_name, client_software_version })
}
//< clients

/// Writes the response body for `version` (0-4) with `error`.
pub fn encode(w: &mut Writer, version: i16, error: ErrorCode) {
    w.i16("error_code", error.code());
    //> pv1
    let flexible = version >= 3;
    w.array_v("api_keys", flexible, SUPPORTED_APIS, |w, api| {
        w.i16("api_key", api.key);
        w.i16("min_version", api.min);
        w.i16("max_version", api.max);
        w.tagged_fields_v(flexible);
    });
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.tagged_fields_v(flexible);
    //< pv1
    /*> nc5 < pv1
    let _ = version; // the body arrives in pv1
    */
}
//> clients

/// Reads a response back (for `mini-kafka decode`): the fields `encode` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i16("error_code")?;
    r.array_v("api_keys", flexible, |r| {
        r.i16("api_key")?;
        r.i16("min_version")?;
        r.i16("max_version")?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    if version >= 1 {
        r.i32("throttle_time_ms")?;
    }
    r.tagged_fields_v("tagged_fields", flexible)
}
//< clients

//> vt6

/// ApiVersions needs nothing from the broker's state: the table is all it tells.
pub fn handle(req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    //> clients
    let request = decode(r, req.version)?;
    if let Some(name) = request.client_software_name {
        log::debug!("client software: {name} {}", request.client_software_version.unwrap_or(""));
    }
    //< clients
    /*> vt6 < clients
    let _ = r; // the body (the client's name and version) is read from stage clients on
    */
    encode(w, req.version, ErrorCode::None);
    Ok(Reply::Send)
}
//< vt6
