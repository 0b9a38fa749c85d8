//! DeleteTopics (key 20), versions 1-6 — `AdminClient.delete_topics`.
//!
//! ```text
//! request                                      response
//!   v1-5: topic_names  ARRAY of STRING           throttle_time_ms  INT32
//!   v6:   topics       ARRAY                     responses         ARRAY
//!           name       NULLABLE_STRING             name            STRING (nullable v6+)
//!           topic_id   UUID (used when no name)    topic_id        UUID (v6+)
//!   timeout_ms         INT32                       error_code      INT16
//!                                                  error_message   NULLABLE_STRING (v5+)
//! ```
//! Flexible from v4. A deleted topic disappears at once; its files are removed.

use super::{Reply, Request};
use crate::broker::Broker;
use crate::errors::ErrorCode;
use crate::wire::{DecodeError, Reader, Uuid, Writer};

pub fn decode<'a>(
    r: &mut Reader<'a>,
    version: i16,
    flexible: bool,
) -> Result<Vec<(Option<&'a str>, Uuid)>, DecodeError> {
    let n = r.array_len_v("topics", flexible)?;
    let mut topics = Vec::new();
    for _ in 0..n {
        if version >= 6 {
            topics.push(r.nested("topic", |r| {
                let name = r.nullable_string_v("name", flexible)?;
                let id = r.uuid("topic_id")?;
                r.tagged_fields_v("tagged_fields", flexible)?;
                Ok((name, id))
            })?);
        } else {
            topics.push((Some(r.string_v("topic_name", flexible)?), Uuid::ZERO));
        }
    }
    r.i32("timeout_ms")?;
    r.tagged_fields_v("tagged_fields", flexible)?;
    Ok(topics)
}

pub fn handle(broker: &Broker, req: &Request, r: &mut Reader<'_>, w: &mut Writer) -> Result<Reply, DecodeError> {
    let topics = decode(r, req.version, req.flexible)?;
    let (version, flexible) = (req.version, req.flexible);
    w.i32("throttle_time_ms", 0);
    w.array_v("responses", flexible, &topics, |w, &(name, id)| {
        // By name when there is one; by id otherwise (v6).
        let (name, result) = match name {
            Some(name) => (Some(name.to_string()), broker.log.delete_topic(name)),
            None => match broker.log.topic_by_id(id) {
                Some(topic) => (Some(topic.name.clone()), broker.log.delete_topic(&topic.name)),
                None => (None, Err(ErrorCode::UnknownTopicId)),
            },
        };
        if version >= 6 {
            w.nullable_string_v("name", name.as_deref(), flexible);
            w.uuid("topic_id", result.unwrap_or(id));
        } else {
            w.string_v("name", name.as_deref().unwrap_or(""), flexible);
        }
        w.i16("error_code", result.err().unwrap_or(ErrorCode::None).code());
        if version >= 5 {
            w.nullable_string_v("error_message", None, flexible);
        }
        w.tagged_fields_v(flexible);
    });
    w.tagged_fields_v(flexible);
    Ok(Reply::Send)
}

/// Reads a response back (for `mini-kafka decode`): the fields `handle` writes, in its order.
pub fn decode_response(r: &mut Reader<'_>, version: i16, flexible: bool) -> Result<(), DecodeError> {
    r.i32("throttle_time_ms")?;
    r.array_v("responses", flexible, |r| {
        r.nullable_string_v("name", flexible)?;
        if version >= 6 {
            r.uuid("topic_id")?;
        }
        r.i16("error_code")?;
        if version >= 5 {
            r.nullable_string_v("error_message", flexible)?;
        }
        r.tagged_fields_v("tagged_fields", flexible)
    })?;
    r.tagged_fields_v("tagged_fields", flexible)
}
