//! AddOffsetsToTxn (key 25), versions 0-3 — "my transaction will commit offsets of this group"
//! (stage transactions): what `send_offsets_to_transaction` sends first, before TxnOffsetCommit.
//!
//! ```text
//! request                                   response
//!   transactional_id  STRING                  throttle_time_ms  INT32
//!   producer_id       INT64                   error_code        INT16
//!   producer_epoch    INT16
//!   group_id          STRING
//! ```
//! Flexible from v3. In Kafka this adds the group's `__consumer_offsets` partition to the
//! transaction; here the coordinator notes the group.

use super::add_partitions_to_txn::{TxnProducer, decode_producer};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::txn::for_version;
use crate::wire::{DecodeError, Reader, Writer};

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(TxnProducer<'a>, &'a str), DecodeError> {
    let producer = decode_producer(r, flexible)?;
    let group_id = r.string_v("group_id", flexible)?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((producer, group_id))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (p, group_id) = decode(r, req.flexible)?;
    let error =
        broker.transactions.add_offsets(broker, p.transactional_id, (p.producer_id, p.producer_epoch), group_id);
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", for_version(error, req.version, 2).code());
    w.tagged_fields_v(req.flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.i16("error_code")?;
    r.tagged_fields_v("tagged_fields", flexible)
}
