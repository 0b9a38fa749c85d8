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
    let mut groups_names = Vec::with_capacity(n);
    for _ in 0..n {
        groups_names.push(r.string_v("group_name", flexible)?);
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(DeleteGroupsRequest { groups_names })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let flexible = req.flexible;
    let q = decode(r, flexible)?;
    w.i32(0); // throttle_time_ms
    w.array_len_v(q.groups_names.len(), flexible);
    for group_id in &q.groups_names {
        let error = if group_id.is_empty() { ErrorCode::InvalidGroupId } else { broker.groups.delete(group_id) };
        w.string_v(group_id, flexible);
        w.i16(error.code());
        w.tagged_fields_v(flexible);
    }
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}
