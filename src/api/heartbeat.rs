//! Heartbeat (key 12), versions 0-4 — "I am alive; is my generation still current?"
//!
//! A member that sends nothing for `session_timeout_ms` is removed and the group rebalances
//! (the coordinator's timer thread does that even if no request ever arrives). The answer is
//! also how members learn of a rebalance: REBALANCE_IN_PROGRESS (27) means "JoinGroup again".
//!
//! ```text
//! request                                     response
//!   group_id           STRING                   throttle_time_ms  INT32 (v1+)
//!   generation_id      INT32                    error_code        INT16
//!   member_id          STRING
//!   group_instance_id  NULLABLE_STRING (v3+)
//! ```
//! v4 is flexible.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct HeartbeatRequest<'a> {
    pub group_id: &'a str,
    pub generation_id: i32,
    pub member_id: &'a str,
    pub group_instance_id: Option<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<HeartbeatRequest<'a>, DecodeError> {
    let group_id = r.string_v("group_id", flexible)?;
    let generation_id = r.i32("generation_id")?;
    let member_id = r.string_v("member_id", flexible)?;
    let group_instance_id = if version >= 3 { r.nullable_string_v("group_instance_id", flexible)? } else { None };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(HeartbeatRequest { group_id, generation_id, member_id, group_instance_id })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;
    let error = broker.groups.heartbeat(q.group_id, q.member_id, q.group_instance_id, q.generation_id);
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.i16("error_code", error.code());
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 1 {
        r.i32("throttle_time_ms")?;
    }
    r.i16("error_code")?;
    r.tagged_fields_v("tagged_fields", flexible)
}
