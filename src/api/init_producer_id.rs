//! InitProducerId (key 22), versions 0-4 — the first step of an idempotent producer (the default
//! in kafka-python 3.x, librdkafka with `enable.idempotence` and the Java client).
//!
//! ```text
//! request                                     response
//!   transactional_id        NULLABLE_STRING     throttle_time_ms  INT32
//!   transaction_timeout_ms  INT32               error_code        INT16
//!   producer_id             INT64 (v3+)         producer_id       INT64
//!   producer_epoch          INT16 (v3+)         producer_epoch    INT16
//! ```
//! Flexible from v2.
//!
//! The broker hands out a producer id; the producer numbers its batches per partition (a
//! sequence), and the log uses (producer id, epoch, sequence) to drop retried duplicates and to
//! refuse gaps — see `log::partition::check_sequence`. An idempotent producer that resets (v3+
//! sends its old id and epoch) simply gets a new id, as from Kafka.
//!
/*> clients < transactions
//! Transactions (a non-null `transactional_id`) need a transaction coordinator, which this broker
//! does not have: they get TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a clear, final refusal.
*/
//> transactions
//! With a `transactional_id` (stage transactions) the transaction coordinator answers: the id
//! keeps its producer id, and each InitProducerId bumps its epoch, fencing the producer before.
//< transactions

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Writer};

#[derive(Debug, PartialEq, Eq)]
pub struct InitProducerIdRequest<'a> {
    pub transactional_id: Option<&'a str>,
    pub transaction_timeout_ms: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

pub fn decode<'a>(r: &mut Reader<'a>, version: i16, flexible: bool) -> Result<InitProducerIdRequest<'a>, DecodeError> {
    let transactional_id = r.nullable_string_v("transactional_id", flexible)?;
    let transaction_timeout_ms = r.i32("transaction_timeout_ms")?;
    let (producer_id, producer_epoch) =
        if version >= 3 { (r.i64("producer_id")?, r.i16("producer_epoch")?) } else { (-1, -1) };
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(InitProducerIdRequest { transactional_id, transaction_timeout_ms, producer_id, producer_epoch })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let request = decode(r, req.version, req.flexible)?;
    let (error, id, epoch) = if request.transactional_id == Some("") {
        (ErrorCode::InvalidRequest, -1, -1)
    /*> clients < transactions
    } else if request.transactional_id.is_some() {
        (ErrorCode::TransactionalIdAuthorizationFailed, -1, -1)
    */
    //> transactions
    } else if let Some(id) = request.transactional_id {
        let expected = (request.producer_id >= 0).then_some((request.producer_id, request.producer_epoch));
        match broker.transactions.init_producer_id(broker, id, request.transaction_timeout_ms, expected) {
            Ok((producer_id, epoch)) => (ErrorCode::None, producer_id, epoch),
            Err(code) => (crate::txn::for_version(code, req.version, 4), -1, -1),
        }
        //< transactions
    } else {
        // Without a transactional id Kafka always hands out a new id, even to a producer that
        // sends its old one (v3+): bumping an id the client names would let it fence another.
        (ErrorCode::None, broker.new_producer_id(), 0)
    };
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", error.code());
    w.i64("producer_id", id);
    w.i16("producer_epoch", epoch);
    w.tagged_fields_v(req.flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, _version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.i16("error_code")?;
    r.i64("producer_id")?;
    r.i16("producer_epoch")?;
    r.tagged_fields_v("tagged_fields", flexible)
}
