//! DeleteGroups (key 42), versions 0-2 — forget a group and its committed offsets.
//!
//! Only a group without members can be deleted (NON_EMPTY_GROUP, 68, otherwise); an unknown one
//! gets GROUP_ID_NOT_FOUND (69). The group becomes Dead and disappears from ListGroups.
//!
//! ```text
//! request                                 response
//!   groups_names  ARRAY of STRING           throttle_time_ms  INT32
//!                                           results           ARRAY
//!                                             group_id        STRING
//!                                             error_code      INT16
//! ```
//! v2 is flexible.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct DeleteGroupsRequest<'a> {
    pub groups_names: Vec<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<DeleteGroupsRequest<'a>, DecodeError> {
    let n = r.array_len_v("groups_names", flexible)?;
    let mut groups_names = Vec::new();
    for _ in 0..n {
        groups_names.push(r.string_v("group_name", flexible)?);
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(DeleteGroupsRequest { groups_names })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let flexible = req.flexible;
    let q = decode(r, flexible)?;
    w.i32("throttle_time_ms", 0);
    w.array_v("results", flexible, &q.groups_names, |w, group_id| {
        let error = if group_id.is_empty() { ErrorCode::InvalidGroupId } else { broker.groups.delete(group_id) };
        w.string_v("group_id", group_id, flexible);
        w.i16("error_code", error.code());
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("results", flexible, |r| {
        r.string_v("group_id", flexible)?;
        r.i16("error_code")?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
