//! Every response is checked: correlation id, error codes, topic, partition, record counts and,
//! for Fetch, every batch's header and offsets (and a CRC per response). A benchmark that
//! measures failures is worthless.
//!
//! The checks on the hot path (Produce, Fetch) read the response in place with the library's
//! `Reader` and allocate nothing unless something is wrong (the message then says what) —
//! except Fetch's CRC check, one small vector per response of a megabyte.

use mini_kafka::log::batch::{self, BatchHeader};
use mini_kafka::wire::{DecodeError, Reader, Uuid};
use std::collections::BTreeMap;

/// Counts of failures by kind ("produce: error code 3", "fetch: i/o: timed out", ...).
#[derive(Default, Debug, Clone)]
pub struct Tally(pub BTreeMap<String, u64>);

impl Tally {
    pub fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
    pub fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

pub type Check<T> = Result<T, String>;

fn e(e: DecodeError) -> String {
    e.to_string()
}

/// Reads a response header and checks the correlation id (Kafka answers in order).
pub fn response_header(body: &[u8], expected: i32, flexible: bool) -> Check<Reader<'_>> {
    let mut r = Reader::new(body);
    let id = r.i32("correlation_id").map_err(e)?;
    if id != expected {
        return Err(format!("correlation id {id}, expected {expected}"));
    }
    r.tagged_fields_v("header", flexible).map_err(e)?;
    Ok(r)
}

/// Checks a Produce v11 response for one partition. `Ok(Some(code))` for a well-formed response
/// with a non-zero error code; `Err` for a malformed one (the connection cannot go on).
pub fn check_produce_response(body: &[u8], corr: i32, topic: &str, partition: i32) -> Check<Option<i16>> {
    let mut r = response_header(body, corr, true)?;
    let topics = r.array_len_v("responses", true).map_err(e)?;
    if topics != 1 {
        return Err(format!("{topics} topics in the response, expected 1"));
    }
    let name = r.string_v("name", true).map_err(e)?;
    if name != topic {
        return Err(format!("topic {name:?} in the response, expected {topic:?}"));
    }
    let partitions = r.array_len_v("partition_responses", true).map_err(e)?;
    if partitions != 1 {
        return Err(format!("{partitions} partitions in the response, expected 1"));
    }
    let index = r.i32("index").map_err(e)?;
    let code = r.i16("error_code").map_err(e)?;
    let base_offset = r.i64("base_offset").map_err(e)?;
    r.i64("log_append_time_ms").map_err(e)?;
    r.i64("log_start_offset").map_err(e)?;
    let record_errors = r.array_len_v("record_errors", true).map_err(e)?;
    for _ in 0..record_errors {
        r.i32("batch_index").map_err(e)?;
        r.nullable_string_v("batch_index_error_message", true).map_err(e)?;
        r.tagged_fields("record_error").map_err(e)?;
    }
    let message = r.nullable_string_v("error_message", true).map_err(e)?;
    r.tagged_fields("partition").map_err(e)?;
    r.tagged_fields("topic").map_err(e)?;
    r.i32("throttle_time_ms").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    if index != partition {
        return Err(format!("partition {index} in the response, expected {partition}"));
    }
    if code != 0 {
        if let Some(m) = message {
            eprintln!("bench: produce error {code}: {m}");
        }
        return Ok(Some(code));
    }
    if base_offset < 0 {
        return Err(format!("base_offset {base_offset} with error code 0"));
    }
    Ok(None)
}

/// What one partition of a Fetch v16 response held.
pub struct Fetched {
    pub error_code: i16,
    pub high_watermark: i64,
    pub bytes: u64,
    pub records: u64,
    /// The offset after the last record returned (the next fetch offset).
    pub next_offset: Option<i64>,
}

/// Checks a Fetch v16 response for one partition, and the record batches in it (see
/// [`check_batches`]).
pub fn check_fetch_response(body: &[u8], corr: i32, topic_id: Uuid, partition: i32) -> Check<Fetched> {
    let mut r = response_header(body, corr, true)?;
    r.i32("throttle_time_ms").map_err(e)?;
    let top_error = r.i16("error_code").map_err(e)?;
    r.i32("session_id").map_err(e)?;
    let topics = r.array_len_v("responses", true).map_err(e)?;
    if top_error != 0 {
        return Ok(Fetched { error_code: top_error, high_watermark: -1, bytes: 0, records: 0, next_offset: None });
    }
    if topics != 1 {
        return Err(format!("{topics} topics in the response, expected 1"));
    }
    let id = r.uuid("topic_id").map_err(e)?;
    if id != topic_id {
        return Err(format!("topic id {id} in the response, expected {topic_id}"));
    }
    let partitions = r.array_len_v("partitions", true).map_err(e)?;
    if partitions != 1 {
        return Err(format!("{partitions} partitions in the response, expected 1"));
    }
    let index = r.i32("partition_index").map_err(e)?;
    let error_code = r.i16("error_code").map_err(e)?;
    let high_watermark = r.i64("high_watermark").map_err(e)?;
    r.i64("last_stable_offset").map_err(e)?;
    r.i64("log_start_offset").map_err(e)?;
    let aborted = r.array_len_v("aborted_transactions", true).map_err(e)?;
    for _ in 0..aborted {
        r.i64("producer_id").map_err(e)?;
        r.i64("first_offset").map_err(e)?;
        r.tagged_fields("aborted").map_err(e)?;
    }
    r.i32("preferred_read_replica").map_err(e)?;
    let records = r.nullable_bytes_v("records", true).map_err(e)?.unwrap_or_default();
    r.tagged_fields("partition").map_err(e)?;
    r.tagged_fields("topic").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    if index != partition {
        return Err(format!("partition {index} in the response, expected {partition}"));
    }
    let mut fetched =
        Fetched { error_code, high_watermark, bytes: records.len() as u64, records: 0, next_offset: None };
    check_batches(records, &mut fetched).map_err(|e| format!("fetched records: {e}"))?;
    Ok(fetched)
}

/// Walks the record batches of a fetch response: every batch's header is checked — its length
/// within the records, magic 2, a record count that matches its offsets, and offsets that follow
/// on from the batch before — and the first batch's CRC-32C. Checking every batch's CRC would
/// cost this generator about a core for every 20 GB/s fetched (0.4 of the machine's 2 at the
/// sink's speed), as much as the sink itself, and the limit would measure the generator again;
/// a server that served the wrong bytes would show in the first batch of some response (and
/// the broker's tests check the bytes fully).
fn check_batches(records: &[u8], fetched: &mut Fetched) -> Check<()> {
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        let header = BatchHeader::decode(&mut Reader::new(rest))
            .map_err(|_| format!("batch at byte {at}: the header is cut off"))?;
        if header.batch_length < (batch::HEADER_LEN - 12) as i32 || header.total_len() > rest.len() {
            return Err(format!("batch at byte {at}: batch_length {} in {} bytes", header.batch_length, rest.len()));
        }
        if header.magic != 2 {
            return Err(format!("batch at byte {at}: magic {}", header.magic));
        }
        batch::check_record_count(&header).map_err(|e| format!("batch at byte {at}: {e}"))?;
        if let Some(next) = fetched.next_offset
            && header.base_offset != next
        {
            return Err(format!("batch at byte {at}: base offset {}, expected {next}", header.base_offset));
        }
        if at == 0
            && let (_, Some(damage)) = batch::split(&rest[..header.total_len()])
        {
            return Err(damage.to_string());
        }
        fetched.records += header.records_count as u64;
        fetched.next_offset = Some(header.last_offset() + 1);
        at += header.total_len();
    }
    Ok(())
}

/// Checks an ApiVersions v3 response; returns the advertised `(api key, min, max)` list.
pub fn check_api_versions_response(body: &[u8], corr: i32) -> Check<Vec<(i16, i16, i16)>> {
    let mut r = response_header(body, corr, false)?; // ApiVersions always answers with header v0
    let code = r.i16("error_code").map_err(e)?;
    if code != 0 {
        return Err(format!("ApiVersions error code {code}"));
    }
    let mut versions = Vec::new();
    for _ in 0..r.array_len_v("api_keys", true).map_err(e)? {
        versions.push((r.i16("api_key").map_err(e)?, r.i16("min").map_err(e)?, r.i16("max").map_err(e)?));
        r.tagged_fields("api_key").map_err(e)?;
    }
    r.i32("throttle_time_ms").map_err(e)?;
    r.tagged_fields("response").map_err(e)?;
    Ok(versions)
}

/// Checks a Metadata v1 response: at least one broker, no error for any topic or partition.
pub fn check_metadata_response(body: &[u8], corr: i32) -> Check<()> {
    let mut r = response_header(body, corr, false)?;
    let brokers = r.array_len_v("brokers", false).map_err(e)?;
    for _ in 0..brokers {
        r.i32("node_id").map_err(e)?;
        r.string_v("host", false).map_err(e)?;
        r.i32("port").map_err(e)?;
        r.nullable_string_v("rack", false).map_err(e)?;
    }
    r.i32("controller_id").map_err(e)?;
    for _ in 0..r.array_len_v("topics", false).map_err(e)? {
        let code = r.i16("error_code").map_err(e)?;
        let name = r.string_v("name", false).map_err(e)?;
        if code != 0 {
            return Err(format!("Metadata error code {code} for topic {name}"));
        }
        r.bool("is_internal").map_err(e)?;
        for _ in 0..r.array_len_v("partitions", false).map_err(e)? {
            let code = r.i16("error_code").map_err(e)?;
            if code != 0 {
                return Err(format!("Metadata error code {code} for a partition of {name}"));
            }
            r.i32("partition_index").map_err(e)?;
            r.i32("leader_id").map_err(e)?;
            for list in ["replica_nodes", "isr_nodes"] {
                for _ in 0..r.array_len_v(list, false).map_err(e)? {
                    r.i32(list).map_err(e)?;
                }
            }
        }
    }
    if brokers == 0 {
        return Err("Metadata lists no broker".into());
    }
    if r.remaining() != 0 {
        return Err(format!("{} bytes left after the Metadata v1 response", r.remaining()));
    }
    Ok(())
}

/// Checks a CreateTopics v7 response: no error for any topic; returns each topic's id.
pub fn check_create_topics_response(body: &[u8], corr: i32) -> Check<BTreeMap<String, Uuid>> {
    let mut r = response_header(body, corr, true)?;
    let e = |e: DecodeError| format!("CreateTopics response: {e}");
    r.i32("throttle_time_ms").map_err(e)?;
    let mut ids = BTreeMap::new();
    for _ in 0..r.array_len_v("topics", true).map_err(e)? {
        let name = r.string_v("name", true).map_err(e)?;
        let id = r.uuid("topic_id").map_err(e)?;
        let code = r.i16("error_code").map_err(e)?;
        let message = r.nullable_string_v("error_message", true).map_err(e)?;
        if code != 0 {
            return Err(format!("CreateTopics {name}: error code {code} {}", message.unwrap_or("")));
        }
        r.i32("num_partitions").map_err(e)?;
        r.i16("replication_factor").map_err(e)?;
        for _ in 0..r.nullable_array_len_v("configs", true).map_err(e)?.unwrap_or(0) {
            r.string_v("name", true).map_err(e)?;
            r.nullable_string_v("value", true).map_err(e)?;
            r.bool("read_only").map_err(e)?;
            r.i8("config_source").map_err(e)?;
            r.bool("is_sensitive").map_err(e)?;
            r.tagged_fields("config").map_err(e)?;
        }
        r.tagged_fields("topic").map_err(e)?;
        ids.insert(name.to_string(), id);
    }
    Ok(ids)
}
