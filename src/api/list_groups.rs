//! ListGroups (key 16), versions 0-4 — every group this coordinator knows.
//!
//! ```text
//! request                                    response
//!   states_filter  ARRAY of STRING (v4+)       throttle_time_ms  INT32 (v1+)
//!                  (empty: all states)         error_code        INT16
//!                                              groups            ARRAY
//!                                                group_id        STRING
//!                                                protocol_type   STRING ("consumer")
//!                                                group_state     STRING (v4+)
//! ```
//! v3+ is flexible. State names in the filter match case-insensitively, as in Kafka.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct ListGroupsRequest<'a> {
    pub states_filter: Vec<&'a str>,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<ListGroupsRequest<'a>, DecodeError> {
    let mut states_filter = Vec::new();
    if version >= 4 {
        let n = r.array_len_v("states_filter", flexible)?;
        for _ in 0..n {
            states_filter.push(r.string_v("state", flexible)?);
        }
    }
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(ListGroupsRequest { states_filter })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (version, flexible) = (req.version, req.flexible);
    let q = decode(r, version, flexible)?;
    let groups: Vec<_> = broker
        .groups
        .list()
        .into_iter()
        .filter(|g| q.states_filter.is_empty() || q.states_filter.iter().any(|s| s.eq_ignore_ascii_case(g.state)))
        .collect();
    if version >= 1 {
        w.i32("throttle_time_ms", 0);
    }
    w.i16("error_code", ErrorCode::None.code());
    w.array_v("groups", flexible, &groups, |w, g| {
        w.string_v("group_id", &g.group_id, flexible);
        w.string_v("protocol_type", &g.protocol_type, flexible);
        if version >= 4 {
            w.string_v("group_state", g.state, flexible);
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
    r.i16("error_code")?;
    r.array_v("groups", flexible, |r| {
        r.string_v("group_id", flexible)?;
        r.string_v("protocol_type", flexible)?;
        if version >= 4 {
            r.string_v("group_state", flexible)?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
