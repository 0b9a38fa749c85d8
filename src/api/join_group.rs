//! JoinGroup (key 11), versions 0-9 — "I am (still) a member of this group".
//!
//! The call blocks until the rebalance completes: every known member has rejoined, or the
//! rebalance timeout has passed (see [`crate::group`]). Then each member gets the new
//! generation, and the leader also gets every member's metadata (for consumers: the topics it
//! subscribes to) so it can compute the assignment it will send in SyncGroup.
//!
//! ```text
//! request                                         response
//!   group_id              STRING                    throttle_time_ms   INT32 (v2+)
//!   session_timeout_ms    INT32                     error_code         INT16
//!   rebalance_timeout_ms  INT32 (v1+)               generation_id      INT32
//!   member_id             STRING ("" = new)         protocol_type      NULLABLE_STRING (v7+)
//!   group_instance_id     NULLABLE_STRING (v5+)     protocol_name      STRING (NULLABLE v7+)
//!   protocol_type         STRING ("consumer")       leader             STRING
//!   protocols             ARRAY                     skip_assignment    BOOLEAN (v9+)
//!     name                STRING ("range", ...)     member_id          STRING
//!     metadata            BYTES (opaque)            members            ARRAY (leader only)
//!   reason                NULLABLE_STRING (v8+)       member_id        STRING
//!                                                     group_instance_id NULLABLE_STRING (v5+)
//!                                                     metadata         BYTES
//! ```
//! v6+ is flexible. From v4 a new member (empty member_id) first gets MEMBER_ID_REQUIRED (79)
//! with an id to rejoin with (KIP-394). v0 has no rebalance timeout: the session timeout is used.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::group::state::JoinParams;
use crate::wire::{DecodeError, Reader, Writer};
use std::time::Duration;

#[derive(Debug, PartialEq, Eq)]
pub struct JoinGroupRequest<'a> {
    pub group_id: &'a str,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub protocol_type: &'a str,
    /// `(name, metadata)`, the member's preferred protocol first.
    pub protocols: Vec<(&'a str, &'a [u8])>,
    pub reason: Option<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<JoinGroupRequest<'a>, DecodeError> {
    let group_id = r.string_v("group_id", flexible)?;
    let session_timeout_ms = r.i32("session_timeout_ms")?;
    let rebalance_timeout_ms = if version >= 1 { r.i32("rebalance_timeout_ms")? } else { session_timeout_ms };
    let member_id = r.string_v("member_id", flexible)?;
    let group_instance_id = if version >= 5 { r.nullable_string_v("group_instance_id", flexible)? } else { None };
    let protocol_type = r.string_v("protocol_type", flexible)?;
    let n = r.array_len_v("protocols", flexible)?;
    let mut protocols = Vec::new();
    for _ in 0..n {
        protocols.push(r.nested("protocol", |r| {
            let name = r.string_v("name", flexible)?;
            let metadata = r.bytes_v("metadata", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok((name, metadata))
        })?);
    }
    let reason = if version >= 8 { r.nullable_string_v("reason", flexible)? } else { None };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(JoinGroupRequest {
        group_id,
        session_timeout_ms,
        rebalance_timeout_ms,
        member_id,
        group_instance_id,
        protocol_type,
        protocols,
        reason,
    })
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let request = decode(r, version, flexible)?;
    if let Some(reason) = request.reason {
        log::debug!("group {}: member {:?} joins: {reason}", request.group_id, request.member_id);
    }
    let params = JoinParams {
        member_id: request.member_id,
        group_instance_id: request.group_instance_id,
        client_id: req.client_id.unwrap_or(""),
        client_host: req.client_host,
        session_timeout: millis(request.session_timeout_ms),
        rebalance_timeout: millis(request.rebalance_timeout_ms),
        protocol_type: request.protocol_type,
        protocols: request.protocols,
        require_known_member_id: version >= 4,
    };
    // (A negative timeout becomes 0 ms, below the minimum: INVALID_SESSION_TIMEOUT.)
    let result = broker.groups.join(request.group_id, &params, req.client);

    if version >= 2 {
        w.i32("throttle_time_ms", 0);
    }
    w.i16("error_code", result.error.code());
    w.i32("generation_id", result.generation_id);
    if version >= 7 {
        w.nullable_string_v("protocol_type", result.protocol_type.as_deref(), flexible);
        w.nullable_string_v("protocol_name", result.protocol_name.as_deref(), flexible);
    } else {
        // Not nullable before v7.
        w.string_v("protocol_name", result.protocol_name.as_deref().unwrap_or(""), flexible);
    }
    w.string_v("leader", &result.leader, flexible);
    if version >= 9 {
        w.bool("skip_assignment", false); // the leader always computes the assignment here
    }
    w.string_v("member_id", &result.member_id, flexible);
    w.array_v("members", flexible, &result.members, |w, m| {
        w.string_v("member_id", &m.member_id, flexible);
        if version >= 5 {
            w.nullable_string_v("group_instance_id", m.group_instance_id.as_deref(), flexible);
        }
        w.bytes_v("metadata", &m.metadata, flexible);
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 2 {
        r.i32("throttle_time_ms")?;
    }
    r.i16("error_code")?;
    r.i32("generation_id")?;
    if version >= 7 {
        r.nullable_string_v("protocol_type", flexible)?;
    }
    r.nullable_string_v("protocol_name", flexible)?;
    r.string_v("leader", flexible)?;
    if version >= 9 {
        r.bool("skip_assignment")?;
    }
    r.string_v("member_id", flexible)?;
    r.array_v("members", flexible, |r| {
        r.string_v("member_id", flexible)?;
        if version >= 5 {
            r.nullable_string_v("group_instance_id", flexible)?;
        }
        r.bytes_v("metadata", flexible)?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
