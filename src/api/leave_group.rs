//! LeaveGroup (key 13), versions 0-5 — a member says goodbye.
//!
//! Without it the group would wait a whole session timeout before noticing a consumer closed;
//! with it the member is removed at once and the others rebalance.
//!
//! ```text
//! request                                         response
//!   group_id            STRING                      throttle_time_ms  INT32 (v1+)
//!   member_id           STRING (v0-2)               error_code        INT16
//!   members             ARRAY (v3+)                 members           ARRAY (v3+)
//!     member_id         STRING                        member_id          STRING
//!     group_instance_id NULLABLE_STRING               group_instance_id  NULLABLE_STRING
//!     reason            NULLABLE_STRING (v5+)         error_code         INT16
//! ```
//! v4+ is flexible. v3 (KIP-345) removes several members at once, also by instance id alone
//! (an admin removing static members). Before v3 the single member's error is the top-level one.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct LeaveGroupRequest<'a> {
    pub group_id: &'a str,
    /// `(member_id, group_instance_id)`: one entry before v3.
    pub members: Vec<(&'a str, Option<&'a str>)>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<LeaveGroupRequest<'a>, DecodeError> {
    let group_id = r.string_v("group_id", flexible)?;
    let mut members = Vec::new();
    if version <= 2 {
        members.push((r.string_v("member_id", flexible)?, None));
    } else {
        let n = r.array_len_v("members", flexible)?;
        for _ in 0..n {
            members.push(r.nested("member", |r| {
                let member_id = r.string_v("member_id", flexible)?;
                let instance = r.nullable_string_v("group_instance_id", flexible)?;
                if version >= 5
                    && let Some(reason) = r.nullable_string_v("reason", flexible)?
                {
                    log::debug!("member {member_id} leaves: {reason}");
                }
                r.tagged_fields_v("tagged_fields", flexible)?;
                Ok((member_id, instance))
            })?);
        }
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(LeaveGroupRequest { group_id, members })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;
    let (error, per_member) = match broker.groups.leave(q.group_id, &q.members) {
        Ok(errors) => (ErrorCode::None, errors),
        Err(error) => (error, vec![error; q.members.len()]),
    };
    let top = if version <= 2 { per_member.first().copied().unwrap_or(error) } else { error };
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.i16("error_code", top.code());
    if version >= 3 {
        let answers: Vec<_> = q.members.iter().zip(&per_member).collect();
        w.array_v("members", flexible, &answers, |w, ((member_id, instance), error)| {
            w.string_v("member_id", member_id, flexible);
            w.nullable_string_v("group_instance_id", *instance, flexible);
            w.i16("error_code", error.code());
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
    r.i16("error_code")?;
    if version >= 3 {
        r.array_v("members", flexible, |r| {
            r.string_v("member_id", flexible)?;
            r.nullable_string_v("group_instance_id", flexible)?;
            r.i16("error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
    }
    r.tagged_fields_v("tagged_fields", flexible)
}
