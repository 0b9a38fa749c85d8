//! EndTxn (key 26), versions 0-3 — commit or abort the transaction (stage transactions).
//!
//! ```text
//! request                                   response
//!   transactional_id  STRING                  throttle_time_ms  INT32
//!   producer_id       INT64                   error_code        INT16
//!   producer_epoch    INT16
//!   committed         BOOLEAN (true: commit, false: abort)
//! ```
//! Flexible from v3. The coordinator writes a COMMIT or ABORT marker into every partition the
//! transaction wrote and, on commit, makes its TxnOffsetCommit offsets the groups' own. When the
//! answer arrives, read_committed consumers can already read past the markers.

use super::add_partitions_to_txn::{TxnProducer, decode_producer};
use super::{Reply, Request};
use crate::broker::Broker;
use crate::txn::for_version;
use crate::wire::{DecodeError, Reader, Writer};

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<(TxnProducer<'a>, bool), DecodeError> {
    let producer = decode_producer(r, flexible)?;
    let committed = r.bool("committed")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok((producer, committed))
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let (p, commit) = decode(r, req.flexible)?;
    let producer = (p.producer_id, p.producer_epoch);
    let error = broker.transactions.end_transaction(broker, p.transactional_id, producer, commit);
    w.i32("throttle_time_ms", 0);
    w.i16("error_code", for_version(error, req.version, 2).code());
    w.tagged_fields_v(req.flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): AddOffsetsToTxn's layout, field for field.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    super::add_offsets_to_txn::decode_response(r, version, flexible)
}
