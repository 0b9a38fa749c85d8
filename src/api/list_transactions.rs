//! ListTransactions (key 66), versions 0-1 — the transactional ids this coordinator holds
//! (`kafka-transactions.sh list`, and `find-hanging`; stage transactions).
//!
//! ```text
//! request                                      response
//!   state_filters        ARRAY of STRING         throttle_time_ms       INT32
//!   producer_id_filters  ARRAY of INT64          error_code             INT16
//!   duration_filter      INT64 (v1+; ms open,    unknown_state_filters  ARRAY of STRING
//!                               -1: any)         transaction_states     ARRAY
//!                                                  transactional_id     STRING
//!                                                  producer_id          INT64
//!                                                  transaction_state    STRING
//! ```
//! Always flexible. An empty filter lets everything through; a state name Kafka does not have is
//! ignored and returned in `unknown_state_filters`.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::txn::TxnState;
use crate::wire::{DecodeError, Reader, Writer};

/// The request: `(state_filters, producer_id_filters, duration_filter)`.
pub fn decode<'a>(r: &mut Reader<'a>, version: i16) -> Result<(Vec<&'a str>, Vec<i64>, i64), DecodeError> {
    let states = r.array_v("state_filters", true, |r| r.string_v("state_filter", true))?;
    let producer_ids = r.array_v("producer_id_filters", true, |r| r.i64("producer_id_filter"))?;
    let duration = if version >= 1 { r.i64("duration_filter")? } else { -1 };
    r.tagged_fields_v("tagged_fields", true)?;
    Ok((states, producer_ids, duration))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (state_names, producer_ids, duration) = decode(r, req.version)?;
    let states: Vec<TxnState> = state_names.iter().filter_map(|s| TxnState::from_name(s)).collect();
    let unknown: Vec<&str> = state_names.iter().copied().filter(|s| TxnState::from_name(s).is_none()).collect();
    // Only unknown names: nothing can match them.
    let listed = if states.is_empty() && !unknown.is_empty() {
        Vec::new()
    } else {
        broker.transactions.list(&states, &producer_ids, duration)
    };
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", ErrorCode::None.code());
    w.array_v("unknown_state_filters", true, &unknown, |w, s| w.string_v("state_filter", s, true));
    w.array_v("transaction_states", true, &listed, |w, (id, producer_id, state)| {
        w.string_v("transactional_id", id, true);
        w.i64("producer_id", *producer_id);
        w.string_v("transaction_state", state, true);
        w.tagged_fields_v(true);
    });
    w.tagged_fields_v(true);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, _flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.i16("error_code")?;
    r.array_v("unknown_state_filters", true, |r| r.string_v("state_filter", true))?;
    r.array_v("transaction_states", true, |r| {
        r.string_v("transactional_id", true)?;
        r.i64("producer_id")?;
        r.string_v("transaction_state", true)?;
        r.tagged_fields_v("tagged_fields", true)
    })?;
    r.tagged_fields_v("tagged_fields", true)
}
