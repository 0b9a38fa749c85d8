//! AddPartitionsToTxn (key 24), versions 0-3 — "my transaction is about to write to these
//! partitions" (stage transactions). Sent before a transactional producer's first batch to each
//! partition; the first one of a transaction begins it.
//!
//! ```text
//! request                                   response
//!   transactional_id  STRING                  throttle_time_ms          INT32
//!   producer_id       INT64                   results                   ARRAY
//!   producer_epoch    INT16                     name                    STRING
//!   topics            ARRAY                     results                 ARRAY
//!     name            STRING                      partition_index       INT32
//!     partitions      ARRAY of INT32              partition_error_code  INT16
//! ```
//! Flexible from v3. (v4 and later are for brokers checking transactions with each other.)
//! A partition that does not exist is UNKNOWN_TOPIC_OR_PARTITION, and then the others are
//! OPERATION_NOT_ATTEMPTED: the request is all or nothing.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::txn::for_version;
use crate::wire::{DecodeError, Reader, Writer};

/// The fields AddPartitionsToTxn, AddOffsetsToTxn and EndTxn start with.
#[derive(Debug, PartialEq, Eq)]
pub struct TxnProducer<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

pub fn decode_producer<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<TxnProducer<'a>, DecodeError> {
    let transactional_id = r.string_v("transactional_id", flexible)?;
    Ok(TxnProducer { transactional_id, producer_id: r.i64("producer_id")?, producer_epoch: r.i16("producer_epoch")? })
}

/// `(topic, partitions)` of the request.
pub type TxnTopics<'a> = Vec<(&'a str, Vec<i32>)>;

/// The request: the producer, and the partitions.
pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(TxnProducer<'a>, TxnTopics<'a>), DecodeError> {
    let producer = decode_producer(r, flexible)?;
    let topics = r.array_v("topics", flexible, |r| {
        let name = r.string_v("name", flexible)?;
        let partitions = r.array_v("partitions", flexible, |r| r.i32("partition"))?;
        r.tagged_fields_v("tagged_fields", flexible)?;
        Ok((name, partitions))
    })?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((producer, topics))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let flexible = req.flexible;
    let (producer, topics) = decode(r, flexible)?;
    let partitions: Vec<(String, i32)> =
        topics.iter().flat_map(|(t, ps)| ps.iter().map(|p| (t.to_string(), *p))).collect();
    let id = (producer.producer_id, producer.producer_epoch);
    let errors = broker.transactions.add_partitions(broker, producer.transactional_id, id, &partitions);
    let mut errors = errors.into_iter();
    w.i32("throttle_time_ms", 0);
    w.array_v("results", flexible, &topics, |w, (name, partitions)| {
        w.string_v("name", name, flexible);
        w.array_v("results", flexible, partitions, |w, p| {
            w.i32("partition_index", *p);
            let error = errors.next().unwrap_or(crate::errors::ErrorCode::None);
            w.i16("partition_error_code", for_version(error, req.version, 2).code());
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("results", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("results", flexible, |r| {
            r.i32("partition_index")?;
            r.i16("partition_error_code")?;
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
