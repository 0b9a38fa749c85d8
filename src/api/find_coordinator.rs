//! FindCoordinator (key 10), versions 0-4 — the first step of every consumer group.
//!
//! "Which broker coordinates group X?" In a cluster, the group's id hashes to a partition of
//! `__consumer_offsets` and that partition's leader is the coordinator. Here there is one broker,
/*> groups < transactions
//! so the answer is always this broker — for groups. Transactions (key_type 1) would need a
//! transaction coordinator, which this broker does not have: COORDINATOR_NOT_AVAILABLE (15).
*/
//> transactions
//! so the answer is always this broker, for groups and (from stage transactions) for
//! transactional ids too: this broker is their transaction coordinator.
//< transactions
//!
//! ```text
//! request                                       response
//!   key               STRING (v0-3)               throttle_time_ms   INT32 (v1+)
//!   key_type          INT8 (v1+; 0 group,         error_code         INT16 (v0-3)
//!                           1 transaction)        error_message      NULLABLE_STRING (v1-3)
//!   coordinator_keys  ARRAY of STRING (v4+)       node_id            INT32 (v0-3)
//!                                                 host               STRING (v0-3)
//!                                                 port               INT32 (v0-3)
//!                                                 coordinators       ARRAY (v4+): one per key
//!                                                   key, node_id, host, port, error_code, error_message
//! ```
//! v3+ is flexible. v4 (KIP-699) batches keys so a client can look up many groups in one call.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct FindCoordinatorRequest<'a> {
    pub key_type: i8,
    /// `key` (v0-3) or `coordinator_keys` (v4+).
    pub keys: Vec<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<FindCoordinatorRequest<'a>, DecodeError> {
    let mut keys = Vec::new();
    if version <= 3 {
        keys.push(r.string_v("key", flexible)?);
    }
    let key_type = if version >= 1 { r.i8("key_type")? } else { 0 };
    if version >= 4 {
        let n = r.array_len_v("coordinator_keys", flexible)?;
        for _ in 0..n {
            keys.push(r.string_v("coordinator_key", flexible)?);
        }
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(FindCoordinatorRequest { key_type, keys })
}

/// `(error, node_id, host, port)` for one key.
fn answer(broker: &Broker, key_type: i8) -> (ErrorCode, i32, &str, i32) {
    match key_type {
        0 => (ErrorCode::None, broker.node_id(), broker.advertised_host.as_str(), i32::from(broker.advertised_port)),
        /*> groups < transactions
        1 => (ErrorCode::CoordinatorNotAvailable, -1, "", -1),
        */
        1 => (ErrorCode::None, broker.node_id(), broker.advertised_host.as_str(), i32::from(broker.advertised_port)), //> transactions
        _ => (ErrorCode::InvalidRequest, -1, "", -1),
    }
}

fn message(error: ErrorCode) -> Option<&'static str> {
    match error {
        ErrorCode::None => None,
        /*> groups < transactions
        ErrorCode::CoordinatorNotAvailable => Some("this broker has no transaction coordinator"),
        */
        _ => Some("unknown key_type"),
    }
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let request = decode(r, req.version, req.flexible)?;
    let (version, flexible) = (req.version, req.flexible);
    let (error, node_id, host, port) = answer(broker, request.key_type);
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    if version <= 3 {
        w.i16("error_code", error.code());
        if version >= 1 {
            w.nullable_string_v("error_message", message(error), flexible);
        }
        w.i32("node_id", node_id);
        w.string_v("host", host, flexible);
        w.i32("port", port);
    } else {
        w.array_v("coordinators", flexible, &request.keys, |w, key| {
            w.string_v("key", key, flexible);
            w.i32("node_id", node_id);
            w.string_v("host", host, flexible);
            w.i32("port", port);
            w.i16("error_code", error.code());
            w.nullable_string_v("error_message", message(error), flexible);
            w.tagged_fields_v(flexible);
        });
    }
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 1 {
        r.i32("throttle_time_ms")?;
    }
    if version <= 3 {
        r.i16("error_code")?;
        if version >= 1 {
            r.nullable_string_v("error_message", flexible)?;
        }
        r.i32("node_id")?;
        r.string_v("host", flexible)?;
        r.i32("port")?;
    } else {
        r.array_v("coordinators", flexible, |r| {
            r.string_v("key", flexible)?;
            r.i32("node_id")?;
            r.string_v("host", flexible)?;
            r.i32("port")?;
            r.i16("error_code")?;
            r.nullable_string_v("error_message", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
    }
    r.tagged_fields_v("tagged_fields", flexible)
}
