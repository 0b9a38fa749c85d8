//! DescribeGroups (key 15), versions 0-5 — what `kafka-consumer-groups.sh --describe` shows.
//!
//! ```text
//! request                                          response
//!   groups                         ARRAY of STRING   throttle_time_ms   INT32 (v1+)
//!   include_authorized_operations  BOOLEAN (v3+)     groups             ARRAY
//!                                                      error_code       INT16
//!                                                      group_id         STRING
//!                                                      group_state      STRING ("Stable", ...)
//!                                                      protocol_type    STRING ("consumer")
//!                                                      protocol_data    STRING (the protocol: "range")
//!                                                      members          ARRAY
//!                                                        member_id          STRING
//!                                                        group_instance_id  NULLABLE_STRING (v4+)
//!                                                        client_id          STRING
//!                                                        client_host        STRING
//!                                                        member_metadata    BYTES
//!                                                        member_assignment  BYTES
//!                                                      authorized_operations INT32 (v3+)
//! ```
//! v5 is flexible. As in Kafka, an unknown group is described as "Dead" without an error, and
//! metadata and assignments are only shown once the group is Stable.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

/// Kafka's "authorized operations not requested".
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// Without ACLs everyone may do every group operation: READ (3), DELETE (6), DESCRIBE (8),
/// as a bit set (`1 << operation code`).
const ALL_GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

#[derive(Debug, PartialEq, Eq)]
pub struct DescribeGroupsRequest<'a> {
    pub groups: Vec<&'a str>,
    pub include_authorized_operations: bool,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<DescribeGroupsRequest<'a>, DecodeError> {
    let n = r.array_len_v("groups", flexible)?;
    let mut groups = Vec::new();
    for _ in 0..n {
        groups.push(r.string_v("group", flexible)?);
    }
    let include_authorized_operations = if version >= 3 { r.bool("include_authorized_operations")? } else { false };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(DescribeGroupsRequest { groups, include_authorized_operations })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let mut q = decode(r, version, flexible)?;
    // A group named twice is described once: a request must not be able to multiply its response.
    let mut seen = std::collections::HashSet::new();
    q.groups.retain(|g| seen.insert(*g));
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.array_v("groups", flexible, &q.groups, |w, group_id| {
        let (error, d) = if group_id.is_empty() {
            (ErrorCode::InvalidGroupId, broker.groups.describe(""))
        } else {
            (ErrorCode::None, broker.groups.describe(group_id))
        };
        w.i16("error_code", error.code());
        w.string_v("group_id", group_id, flexible);
        w.string_v("group_state", d.state, flexible);
        w.string_v("protocol_type", &d.protocol_type, flexible);
        w.string_v("protocol_data", &d.protocol, flexible);
        w.array_v("members", flexible, &d.members, |w, m| {
            w.string_v("member_id", &m.member_id, flexible);
            if version >= 4 {
                w.nullable_string_v("group_instance_id", m.group_instance_id.as_deref(), flexible);
            }
            w.string_v("client_id", &m.client_id, flexible);
            w.string_v("client_host", &m.client_host, flexible);
            w.bytes_v("member_metadata", &m.metadata, flexible);
            w.bytes_v("member_assignment", &m.assignment, flexible);
            w.tagged_fields_v(flexible);
        });
        if version >= 3 {
            let operations =
                if q.include_authorized_operations { ALL_GROUP_OPERATIONS } else { OPERATIONS_NOT_REQUESTED };
            w.i32("authorized_operations", operations);
        }
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    if version >= 1 {
        r.i32("throttle_time_ms")?;
    }
    r.array_v("groups", flexible, |r| {
        r.i16("error_code")?;
        r.string_v("group_id", flexible)?;
        r.string_v("group_state", flexible)?;
        r.string_v("protocol_type", flexible)?;
        r.string_v("protocol_data", flexible)?;
        r.array_v("members", flexible, |r| {
            r.string_v("member_id", flexible)?;
            if version >= 4 {
                r.nullable_string_v("group_instance_id", flexible)?;
            }
            r.string_v("client_id", flexible)?;
            r.string_v("client_host", flexible)?;
            r.bytes_v("member_metadata", flexible)?;
            r.bytes_v("member_assignment", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        if version >= 3 {
            r.i32("authorized_operations")?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
