//! Produce (key 0) — stages zf2, gg1, ls8, yd8, ct4, ov0 (version 11), and every producer
//! (versions 3-11, from stage clients on).
//!
//! A producer sends record batches for some partitions; the broker checks each batch, gives it
//! offsets, stores it (and writes it to the partition's segment file) and answers with the first
//! offset it got.
//!
//! ```text
//! request                                        response
//!   transactional_id  NULLABLE_STRING (v3+)        responses               ARRAY
//!   acks              INT16  (0, 1 or -1)            name                  STRING
//!   timeout_ms        INT32                          partition_responses   ARRAY
//!   topic_data        ARRAY                            index               INT32
//!     name            STRING                           error_code          INT16
//!     partition_data  ARRAY                            base_offset         INT64
//!       index         INT32                            log_append_time_ms  INT64 (-1: producer's timestamps)
//!       records       RECORDS (record batches)         log_start_offset    INT64 (v5+)
//!                                                      record_errors       ARRAY (v8+)
//!                                                      error_message       NULLABLE_STRING (v8+)
//!                                                throttle_time_ms          INT32
//! ```
//! From v9 on the encodings are compact and every struct ends in TAG_BUFFER.
//!
//! `acks=1` and `acks=-1` (all in-sync replicas) are the same on a single broker: the batch is
//! stored before the answer is sent.
//> clients
//! `acks=0` means "don't answer": the client does not read a response, so sending one would be
//! taken as the answer to its next request.
//< clients
//> transactions
//!
//! A transactional producer (stage transactions) names its `transactional_id`, and its batches
//! are flagged transactional: the transaction coordinator checks each one belongs to an open
//! transaction of the id's current producer that added the partition.
//< transactions

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::log::partition::Appended;
use crate::wire::{DecodeError, Reader, Writer};

//> clients
use crate::wire::SharedBytes;
//< clients
//> transactions
use crate::log::batch::BatchHeader;
//< transactions

pub struct ProduceRequest<'a> {
    pub transactional_id: Option<&'a str>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub topic_data: Vec<TopicData<'a>>,
}

pub struct TopicData<'a> {
    pub name: &'a str,
    pub partition_data: Vec<PartitionData<'a>>,
}

pub struct PartitionData<'a> {
    pub index: i32,
    /// The record batches, still as bytes: they are checked and stored by the log.
    pub records: Option<&'a [u8]>,
}

pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> Result<ProduceRequest<'a>, DecodeError> {
    let transactional_id = r.nullable_string_v("transactional_id", flexible)?;
    let acks = r.i16("acks")?;
    let timeout_ms = r.i32("timeout_ms")?;
    let topic_data = r.array_v("topic_data", flexible, |r| {
        let name = r.string_v("name", flexible)?;
        let partition_data = r.array_v("partition_data", flexible, |r| {
            let index = r.i32("index")?;
            let records = r.nullable_bytes_v("records", flexible)?;
            r.tagged_fields_v("tagged_fields", flexible)?;
            Ok(PartitionData { index, records })
        })?;
        r.tagged_fields_v("tagged_fields", flexible)?;
        Ok(TopicData { name, partition_data })
    })?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(ProduceRequest { transactional_id, acks, timeout_ms, topic_data })
}

/// Appends one partition's batches, or says why not.
fn produce_partition(
    broker: &Broker,
    req: &Request, //> clients
    topic: &str,
    p: &PartitionData<'_>,
) -> Result<Appended, ErrorCode> {
    let Some(partition) = broker.log.partition(topic, p.index) else {
        return Err(ErrorCode::UnknownTopicOrPartition);
    };
    //> clients
    // The batches stay where they arrived: the log keeps a view into the request's buffer, when
    // they are most of it. A view keeps the whole buffer alive, so batches that are a small part
    // of their request (a few bytes sent with megabytes for other partitions) are copied out.
    // Null records hold no batch, which the log refuses like an empty field.
    let records = match p.records {
        Some(r) if r.len() * 2 >= req.frame.len() => req.frame.view_of(r),
        Some(r) => Some(SharedBytes::from_vec(r.to_vec())),
        None => None,
    };
    let records = records.unwrap_or_else(|| SharedBytes::from_vec(Vec::new()));
    /*> clients < retention
    let appended = partition.append(&records, broker.config.message_max_bytes);
    */
    //> retention
    // message.max.bytes as it is now: a dynamic broker config may have changed it (an atomic load).
    let appended = partition.append(&records, broker.log.message_max_bytes());
    //< retention
    //< clients
    /*> zf2 < clients
    let appended = partition.append(p.records.unwrap_or_default());
    */
    appended.map_err(|e| {
        log::info!("produce to {topic}-{} refused: {e:?}", p.index);
        e.code()
    })
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let request = decode(r, req.flexible)?;
    let flexible = req.flexible;
    //> clients
    let version = req.version;
    let invalid_acks = !matches!(request.acks, -1..=1);
    let mut first_error: Option<(String, ErrorCode)> = None;
    //< clients

    w.array_v("responses", flexible, &request.topic_data, |w, topic| {
        w.string_v("name", topic.name, flexible);
        w.array_v("partition_responses", flexible, &topic.partition_data, |w, p| {
            //> clients
            let result = if invalid_acks {
                Err(ErrorCode::InvalidRequiredAcks)
            /*> clients < transactions
            } else if request.transactional_id.is_some() {
                // Transactions need a transaction coordinator, which this broker does not have.
                Err(ErrorCode::TransactionalIdAuthorizationFailed)
            } else {
                produce_partition(broker, req, topic.name, p)
            };
            */
            //> transactions
            } else {
                // A transactional (or control) batch is appended under its transaction's lock, if
                // the transaction may write it (see txn::Coordinator::produce). Others are told
                // by one bit test of the attributes, at byte 22 of the batch.
                let flagged = p.records.and_then(|r| r.get(22)).is_some_and(|attributes| attributes & 0x30 != 0);
                let header =
                    if flagged { p.records.and_then(|r| BatchHeader::decode(&mut Reader::new(r)).ok()) } else { None };
                match header {
                    Some(h) => broker.transactions.produce(request.transactional_id, &h, (topic.name, p.index), || {
                        produce_partition(broker, req, topic.name, p)
                    }),
                    None => produce_partition(broker, req, topic.name, p),
                }
            };
            //< transactions
            //< clients
            /*> zf2 < clients
            let result = produce_partition(broker, topic.name, p);
            */
            // The error row is (error, -1, -1, -1): no offset, no append time, no log start.
            let (error, base_offset, log_start_offset) = match result {
                Ok(appended) => (ErrorCode::None, appended.base_offset, appended.log_start_offset),
                Err(code) => {
                    first_error.get_or_insert_with(|| (format!("{}-{}", topic.name, p.index), code)); //> clients
                    (code, -1, -1)
                }
            };
            w.i32("index", p.index);
            w.i16("error_code", error.code());
            w.i64("base_offset", base_offset);
            // -1: the producer's timestamps are kept (and none if an error)
            w.i64("log_append_time_ms", -1);
            //> clients {}
            if version >= 5 {
                w.i64("log_start_offset", log_start_offset);
            }
            //> clients {}
            if version >= 8 {
                w.array_len_v("record_errors", 0, flexible);
                w.nullable_string_v("error_message", None, flexible);
            }
            w.tagged_fields_v(flexible);
        });
        w.tagged_fields_v(flexible);
    });
    w.i32("throttle_time_ms", 0);
    w.tagged_fields_v(flexible);
    /*> zf2 < clients
    Ok(Reply::Send)
    */
    //> clients
    Ok(match (request.acks, first_error) {
        (0, Some((partition, code))) => Reply::Close(format!("acks=0 produce to {partition} failed with {code:?}")),
        (0, None) => Reply::Nothing,
        _ => Reply::Send,
    })
    //< clients
}
//> clients

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.array_v("responses", flexible, |r| {
        r.string_v("name", flexible)?;
        r.array_v("partition_responses", flexible, |r| {
            r.i32("index")?;
            r.i16("error_code")?;
            r.i64("base_offset")?;
            r.i64("log_append_time_ms")?;
            if version >= 5 {
                r.i64("log_start_offset")?;
            }
            if version >= 8 {
                r.array_v("record_errors", flexible, |r| {
                    r.i32("batch_index")?;
                    r.nullable_string_v("batch_index_error_message", flexible)?;
                    r.tagged_fields_v("tagged_fields", flexible)
                })?;
                r.nullable_string_v("error_message", flexible)?;
            }
            r.tagged_fields_v("tagged_fields", flexible)
        })?;
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.i32("throttle_time_ms")?;
    r.tagged_fields_v("tagged_fields", flexible)
}
//< clients
