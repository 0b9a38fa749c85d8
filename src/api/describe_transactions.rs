//! DescribeTransactions (key 65), version 0 — what admin tools show of a transactional id
//! (`kafka-transactions.sh describe`; stage transactions).
//!
//! ```text
//! request                                   response
//!   transactional_ids  ARRAY of STRING        throttle_time_ms            INT32
//!                                             transaction_states          ARRAY
//!                                               error_code                INT16
//!                                               transactional_id          STRING
//!                                               transaction_state         STRING ("Ongoing", …)
//!                                               transaction_timeout_ms    INT32
//!                                               transaction_start_time_ms INT64 (-1: none open)
//!                                               producer_id               INT64
//!                                               producer_epoch            INT16
//!                                               topics                    ARRAY
//!                                                 topic                   STRING
//!                                                 partitions              ARRAY of INT32
//! ```
//! Always flexible. An id the coordinator does not hold is TRANSACTIONAL_ID_NOT_FOUND.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

pub fn decode<'a>(r: &mut Reader<'a>) -> Result<Vec<&'a str>, DecodeError> {
    let ids = r.array_v("transactional_ids", true, |r| r.string_v("transactional_id", true))?;
    r.tagged_fields_v("tagged_fields", true)?;
    Ok(ids)
}

pub fn handle(broker: &Broker, _req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let mut ids = decode(r)?;
    // An id named twice is described once: a request must not be able to multiply its response.
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    w.i32("throttle_time_ms", 0);
    w.array_v("transaction_states", true, &ids, |w, id| {
        let found = broker.transactions.describe(id);
        let error = if found.is_some() { ErrorCode::None } else { ErrorCode::TransactionalIdNotFound };
        w.i16("error_code", error.code());
        w.string_v("transactional_id", id, true);
        w.string_v("transaction_state", found.as_ref().map_or("", |d| d.state), true);
        w.i32("transaction_timeout_ms", found.as_ref().map_or(0, |d| d.timeout_ms));
        w.i64("transaction_start_time_ms", found.as_ref().map_or(-1, |d| d.started_ms));
        w.i64("producer_id", found.as_ref().map_or(-1, |d| d.producer_id));
        w.i16("producer_epoch", found.as_ref().map_or(-1, |d| d.producer_epoch));
        // The partitions, grouped by topic (they are sorted).
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in found.iter().flat_map(|d| &d.partitions) {
            match topics.last_mut() {
                Some((t, ps)) if t == topic => ps.push(*partition),
                _ => topics.push((topic, vec![*partition])),
            }
        }
        w.array_v("topics", true, &topics, |w, (topic, partitions)| {
            w.string_v("topic", topic, true);
            w.array_v("partitions", true, partitions, |w, p| w.i32("partition", *p));
            w.tagged_fields_v(true);
        });
        w.tagged_fields_v(true);
    });
    w.tagged_fields_v(true);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, _flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("transaction_states", true, |r| {
        r.i16("error_code")?;
        r.string_v("transactional_id", true)?;
        r.string_v("transaction_state", true)?;
        r.i32("transaction_timeout_ms")?;
        r.i64("transaction_start_time_ms")?;
        r.i64("producer_id")?;
        r.i16("producer_epoch")?;
        r.array_v("topics", true, |r| {
            r.string_v("topic", true)?;
            r.array_v("partitions", true, |r| r.i32("partition"))?;
            r.tagged_fields_v("tagged_fields", true)
        })?;
        r.tagged_fields_v("tagged_fields", true)
    })?;
    r.tagged_fields_v("tagged_fields", true)
}
