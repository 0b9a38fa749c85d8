//! SyncGroup (key 14), versions 0-5 — the leader hands out the assignment.
//!
//! After JoinGroup every member calls SyncGroup. The leader's call carries the assignment it
//! computed for everyone; the followers' calls carry nothing and block until the leader's
//! arrives. Each member gets back only its own part. The broker never decodes assignments.
//!
//! ```text
//! request                                         response
//!   group_id            STRING                      throttle_time_ms  INT32 (v1+)
//!   generation_id       INT32                       error_code        INT16
//!   member_id           STRING                      protocol_type     NULLABLE_STRING (v5+)
//!   group_instance_id   NULLABLE_STRING (v3+)       protocol_name     NULLABLE_STRING (v5+)
//!   protocol_type       NULLABLE_STRING (v5+)       assignment        BYTES (this member's part)
//!   protocol_name       NULLABLE_STRING (v5+)
//!   assignments         ARRAY (empty unless leader)
//!     member_id         STRING
//!     assignment        BYTES
//! ```
//! v4+ is flexible. Errors: ILLEGAL_GENERATION (22) for a stale generation, UNKNOWN_MEMBER_ID
//! (25), REBALANCE_IN_PROGRESS (27) if a new round started (the member must JoinGroup again).

use super::{Reply, Request};
use crate::broker::Broker;
use crate::group::SyncParams;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct SyncGroupRequest<'a> {
    pub group_id: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
    pub protocol_type: Option<&'a str>,
    pub protocol_name: Option<&'a str>,
    /// `(member_id, assignment)`.
    pub assignments: Vec<(&'a str, &'a [u8])>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<SyncGroupRequest<'a>, DecodeError> {
    let group_id = r.string_v("group_id", flexible)?;
    let generation_id = r.i32("generation_id")?;
    let member_id = r.string_v("member_id", flexible)?;
    let group_instance_id = if version >= 3 { r.nullable_string_v("group_instance_id", flexible)? } else { None };
    let (protocol_type, protocol_name) = if version >= 5 {
        (r.nullable_string_v("protocol_type", flexible)?, r.nullable_string_v("protocol_name", flexible)?)
    } else {
        (None, None)
    };
    let n = r.array_len_v("assignments", flexible)?;
    let mut assignments = Vec::new();
    for _ in 0..n {
        assignments.push(r.nested("assignment", |r| {
            let member_id = r.string_v("member_id", flexible)?;
            let assignment = r.bytes_v("assignment", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok((member_id, assignment))
        })?);
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(SyncGroupRequest {
        group_id,
        generation_id,
        member_id,
        group_instance_id,
        protocol_type,
        protocol_name,
        assignments,
    })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;
    let params = SyncParams {
        member_id: q.member_id,
        group_instance_id: q.group_instance_id,
        generation: q.generation_id,
        protocol: (q.protocol_type, q.protocol_name),
        assignments: &q.assignments,
    };
    let result = broker.groups.sync(q.group_id, &params, req.client);
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.i16("error_code", result.error.code());
    if version >= 5 {
        w.nullable_string_v("protocol_type", result.protocol_type.as_deref(), flexible);
        w.nullable_string_v("protocol_name", result.protocol_name.as_deref(), flexible);
    }
    w.bytes_v("assignment", &result.assignment, flexible);
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 1 {
        r.i32("throttle_time_ms")?;
    }
    r.i16("error_code")?;
    if version >= 5 {
        r.nullable_string_v("protocol_type", flexible)?;
        r.nullable_string_v("protocol_name", flexible)?;
    }
    r.bytes_v("assignment", flexible)?;
    r.tagged_fields_v("tagged_fields", flexible)
}
