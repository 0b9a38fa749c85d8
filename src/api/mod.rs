//! The APIs this broker speaks: one table of versions, and a dispatcher to one module per API
//! (from stage nc5).
//!
//! Every API module has the same shape, so reading one teaches them all:
//!
//! 1. `decode` the request body for its version into a struct (field names are Kafka's);
//! 2. `handle` it against the broker's state;
//! 3. `encode` the response for the same version.
//!
//! The version table [`SUPPORTED_APIS`] is the single source of truth: ApiVersions advertises
//! exactly it, and a request outside it is refused before any module sees it. A broker that
//! advertises a version it cannot encode breaks clients in confusing ways, so the table only
//! ever lists what the modules implement.

//> transactions
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
//< transactions
//> retention
pub mod alter_configs;
//< retention
pub mod api_versions;
//> clients
pub mod create_partitions;
pub mod create_topics;
//< clients
pub mod delete_groups; //> groups
pub mod delete_records; //> retention
pub mod delete_topics; //> clients
pub mod describe_configs; //> clients
pub mod describe_groups; //> groups
pub mod describe_topic_partitions; //> vt6
pub mod describe_transactions; //> transactions
pub mod end_txn; //> transactions
pub mod fetch; //> dh6
//> groups
pub mod find_coordinator;
pub mod heartbeat;
//< groups
pub mod incremental_alter_configs; //> retention
pub mod init_producer_id; //> clients
//> groups
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
//< groups
pub mod list_transactions; //> transactions
//> clients
pub mod list_offsets;
pub mod metadata;
//< clients
//> groups
pub mod offset_commit;
pub mod offset_fetch;
//< groups
pub mod produce; //> zf2
pub mod sync_group; //> groups
pub mod txn_offset_commit; //> transactions

//> vt6
use crate::wire::{DecodeError, Reader, Writer};
//< vt6

//> ea7
use crate::broker::Broker;
//< ea7

//> clients
use crate::wire::SharedBytes;
use std::net::TcpStream;
//< clients

/// One supported API: its key, the version range, and the first "flexible" version (compact
/// strings and arrays, tagged fields; KIP-482).
pub struct ApiSpec {
    pub key: i16,
    pub name: &'static str,
    pub min: i16,
    pub max: i16,
    pub flexible_from: i16,
}

/// Every API and version this broker implements, by key.
pub const SUPPORTED_APIS: &[ApiSpec] = &[
    /*> xz1 < clients
    ApiSpec { key: 0, name: "Produce", min: 11, max: 11, flexible_from: 9 },
    */
    /*> gs0 < clients
    ApiSpec { key: 1, name: "Fetch", min: 16, max: 16, flexible_from: 12 },
    */
    //> clients
    ApiSpec { key: 0, name: "Produce", min: 3, max: 11, flexible_from: 9 },
    ApiSpec { key: 1, name: "Fetch", min: 4, max: 16, flexible_from: 12 },
    ApiSpec { key: 2, name: "ListOffsets", min: 1, max: 8, flexible_from: 6 },
    ApiSpec { key: 3, name: "Metadata", min: 0, max: 12, flexible_from: 9 },
    //< clients
    //> groups
    ApiSpec { key: 8, name: "OffsetCommit", min: 2, max: 8, flexible_from: 8 },
    ApiSpec { key: 9, name: "OffsetFetch", min: 1, max: 8, flexible_from: 6 },
    ApiSpec { key: 10, name: "FindCoordinator", min: 0, max: 4, flexible_from: 3 },
    ApiSpec { key: 11, name: "JoinGroup", min: 0, max: 9, flexible_from: 6 },
    ApiSpec { key: 12, name: "Heartbeat", min: 0, max: 4, flexible_from: 4 },
    ApiSpec { key: 13, name: "LeaveGroup", min: 0, max: 5, flexible_from: 4 },
    ApiSpec { key: 14, name: "SyncGroup", min: 0, max: 5, flexible_from: 4 },
    ApiSpec { key: 15, name: "DescribeGroups", min: 0, max: 5, flexible_from: 5 },
    ApiSpec { key: 16, name: "ListGroups", min: 0, max: 4, flexible_from: 3 },
    //< groups
    ApiSpec { key: 18, name: "ApiVersions", min: 0, max: 4, flexible_from: 3 },
    //> clients
    ApiSpec { key: 19, name: "CreateTopics", min: 2, max: 7, flexible_from: 5 },
    ApiSpec { key: 20, name: "DeleteTopics", min: 1, max: 6, flexible_from: 4 },
    //< clients
    ApiSpec { key: 21, name: "DeleteRecords", min: 0, max: 2, flexible_from: 2 }, //> retention
    //> clients
    ApiSpec { key: 22, name: "InitProducerId", min: 0, max: 4, flexible_from: 2 },
    //< clients
    //> transactions
    ApiSpec { key: 24, name: "AddPartitionsToTxn", min: 0, max: 3, flexible_from: 3 },
    ApiSpec { key: 25, name: "AddOffsetsToTxn", min: 0, max: 3, flexible_from: 3 },
    ApiSpec { key: 26, name: "EndTxn", min: 0, max: 3, flexible_from: 3 },
    ApiSpec { key: 28, name: "TxnOffsetCommit", min: 0, max: 3, flexible_from: 3 },
    //< transactions
    //> clients
    ApiSpec { key: 32, name: "DescribeConfigs", min: 1, max: 4, flexible_from: 4 },
    //< clients
    ApiSpec { key: 33, name: "AlterConfigs", min: 0, max: 2, flexible_from: 2 }, //> retention
    //> clients
    ApiSpec { key: 37, name: "CreatePartitions", min: 0, max: 3, flexible_from: 2 },
    //< clients
    ApiSpec { key: 42, name: "DeleteGroups", min: 0, max: 2, flexible_from: 2 }, //> groups
    ApiSpec { key: 44, name: "IncrementalAlterConfigs", min: 0, max: 1, flexible_from: 1 }, //> retention
    //> transactions
    ApiSpec { key: 65, name: "DescribeTransactions", min: 0, max: 0, flexible_from: 0 },
    ApiSpec { key: 66, name: "ListTransactions", min: 0, max: 1, flexible_from: 0 },
    //< transactions
    ApiSpec { key: 75, name: "DescribeTopicPartitions", min: 0, max: 0, flexible_from: 0 }, //> yk1
];

pub const API_VERSIONS_KEY: i16 = 18;

//> vt6
/// A request whose header has been decoded and whose version is supported.
pub struct Request<'a> {
    pub api_key: i16,
    pub version: i16,
    /// Whether this version uses the flexible (compact, tagged) encoding.
    pub flexible: bool,
    pub client_id: Option<&'a str>,
    //> groups
    /// The client's address as Kafka shows it (`/127.0.0.1`), for DescribeGroups.
    pub client_host: &'a str,
    //< groups
    //> clients
    /// The whole request frame, shared: Produce stores its batches as views into it.
    pub frame: &'a SharedBytes,
    /// The client's connection, when there is one: a fetch that waits checks the client is
    /// still there.
    pub client: Option<&'a TcpStream>,
    //< clients
}

/// What the connection should do after a handler ran.
pub enum Reply {
    /// Send the response the handler wrote.
    Send,
    //> clients
    /// Send nothing: Produce with acks=0, where the client does not read a response.
    Nothing,
    /// Send nothing and close the connection: an acks=0 Produce failed. The client cannot be told
    /// in a response, so, as Kafka does, the broker hangs up; the client reconnects and refreshes
    /// its metadata.
    Close(String),
    //< clients
}

/// Routes a request to its API module. The body reader is positioned after the header; the
/// writer already holds the response header.
pub fn dispatch(
    broker: &Broker, //> ea7
    req: &Request,
    body: &mut Reader<'_>,
    w: &mut Writer,
) -> Result<Reply, DecodeError> {
    match req.api_key {
        0 => produce::handle(broker, req, body, w), //> zf2
        1 => fetch::handle(broker, req, body, w),   //> dh6
        //> clients
        2 => list_offsets::handle(broker, req, body, w),
        3 => metadata::handle(broker, req, body, w),
        //< clients
        //> groups
        8 => offset_commit::handle(broker, req, body, w),
        9 => offset_fetch::handle(broker, req, body, w),
        10 => find_coordinator::handle(broker, req, body, w),
        11 => join_group::handle(broker, req, body, w),
        12 => heartbeat::handle(broker, req, body, w),
        13 => leave_group::handle(broker, req, body, w),
        14 => sync_group::handle(broker, req, body, w),
        15 => describe_groups::handle(broker, req, body, w),
        16 => list_groups::handle(broker, req, body, w),
        //< groups
        18 => api_versions::handle(req, body, w),
        //> clients
        19 => create_topics::handle(broker, req, body, w),
        20 => delete_topics::handle(broker, req, body, w),
        //< clients
        21 => delete_records::handle(broker, req, body, w), //> retention
        //> clients
        22 => init_producer_id::handle(broker, req, body, w),
        //< clients
        //> transactions
        24 => add_partitions_to_txn::handle(broker, req, body, w),
        25 => add_offsets_to_txn::handle(broker, req, body, w),
        26 => end_txn::handle(broker, req, body, w),
        28 => txn_offset_commit::handle(broker, req, body, w),
        //< transactions
        //> clients
        32 => describe_configs::handle(broker, req, body, w),
        //< clients
        33 => alter_configs::handle(broker, req, body, w), //> retention
        //> clients
        37 => create_partitions::handle(broker, req, body, w),
        //< clients
        42 => delete_groups::handle(broker, req, body, w), //> groups
        44 => incremental_alter_configs::handle(broker, req, body, w), //> retention
        //> transactions
        65 => describe_transactions::handle(broker, req, body, w),
        66 => list_transactions::handle(broker, req, body, w),
        //< transactions
        /*> vt6 < ea7
        75 => describe_topic_partitions::handle(req, body, w),
        */
        75 => describe_topic_partitions::handle(broker, req, body, w), //> ea7
        // In the table but without a module: the stages that advertise an API (yk1, gs0, xz1) come
        // before the ones that answer it, and in between the connection is closed.
        _ => Err(DecodeError::new("request_api_key", 0, "no handler for this API yet")),
    }
}
//< vt6
//> clients

/// Reads a request body without acting on it (for `mini-kafka decode`): with the API module's
/// own `decode`, the one that serves the request.
pub fn decode_request(api_key: i16, version: i16, flexible: bool, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let (v, f) = (version, flexible);
    match api_key {
        0 => produce::decode(r, f).map(drop),
        1 => fetch::decode(r, v, f).map(drop),
        2 => list_offsets::decode(r, v, f).map(drop),
        3 => metadata::decode(r, v, f).map(drop),
        //> groups
        8 => offset_commit::decode(r, v, f).map(drop),
        9 => offset_fetch::decode(r, v, f).map(drop),
        10 => find_coordinator::decode(r, v, f).map(drop),
        11 => join_group::decode(r, v, f).map(drop),
        12 => heartbeat::decode(r, v, f).map(drop),
        13 => leave_group::decode(r, v, f).map(drop),
        14 => sync_group::decode(r, v, f).map(drop),
        15 => describe_groups::decode(r, v, f).map(drop),
        16 => list_groups::decode(r, v, f).map(drop),
        //< groups
        18 => api_versions::decode(r, v).map(drop),
        19 => create_topics::decode(r, f).map(drop),
        20 => delete_topics::decode(r, v, f).map(drop),
        21 => delete_records::decode(r, f).map(drop), //> retention
        22 => init_producer_id::decode(r, v, f).map(drop),
        //> transactions
        24 => add_partitions_to_txn::decode(r, f).map(drop),
        25 => add_offsets_to_txn::decode(r, f).map(drop),
        26 => end_txn::decode(r, f).map(drop),
        28 => txn_offset_commit::decode(r, v, f).map(drop),
        //< transactions
        32 => describe_configs::decode(r, v, f).map(drop),
        33 => alter_configs::decode(r, f).map(drop), //> retention
        37 => create_partitions::decode(r, f).map(drop),
        42 => delete_groups::decode(r, f).map(drop),             //> groups
        44 => incremental_alter_configs::decode(r, f).map(drop), //> retention
        //> transactions
        65 => describe_transactions::decode(r).map(drop),
        66 => list_transactions::decode(r, v).map(drop),
        //< transactions
        75 => describe_topic_partitions::decode(r).map(drop),
        _ => Err(DecodeError::new("request_api_key", 0, format!("no decoder for API key {api_key}"))),
    }
}

/// Reads a response body back (for `mini-kafka decode`): each API module's `decode_response`
/// reads the fields its encoder writes, in the same order.
pub fn decode_response(api_key: i16, version: i16, flexible: bool, r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let (v, f) = (version, flexible);
    match api_key {
        0 => produce::decode_response(r, v, f),
        1 => fetch::decode_response(r, v, f),
        2 => list_offsets::decode_response(r, v, f),
        3 => metadata::decode_response(r, v, f),
        //> groups
        8 => offset_commit::decode_response(r, v, f),
        9 => offset_fetch::decode_response(r, v, f),
        10 => find_coordinator::decode_response(r, v, f),
        11 => join_group::decode_response(r, v, f),
        12 => heartbeat::decode_response(r, v, f),
        13 => leave_group::decode_response(r, v, f),
        14 => sync_group::decode_response(r, v, f),
        15 => describe_groups::decode_response(r, v, f),
        16 => list_groups::decode_response(r, v, f),
        //< groups
        18 => api_versions::decode_response(r, v, f),
        19 => create_topics::decode_response(r, v, f),
        20 => delete_topics::decode_response(r, v, f),
        21 => delete_records::decode_response(r, v, f), //> retention
        22 => init_producer_id::decode_response(r, v, f),
        //> transactions
        24 => add_partitions_to_txn::decode_response(r, v, f),
        25 => add_offsets_to_txn::decode_response(r, v, f),
        26 => end_txn::decode_response(r, v, f),
        28 => txn_offset_commit::decode_response(r, v, f),
        //< transactions
        32 => describe_configs::decode_response(r, v, f),
        33 => alter_configs::decode_response(r, v, f), //> retention
        37 => create_partitions::decode_response(r, v, f),
        42 => delete_groups::decode_response(r, v, f), //> groups
        44 => incremental_alter_configs::decode_response(r, v, f), //> retention
        //> transactions
        65 => describe_transactions::decode_response(r, v, f),
        66 => list_transactions::decode_response(r, v, f),
        //< transactions
        75 => describe_topic_partitions::decode_response(r, v, f),
        _ => Err(DecodeError::new("api_key", 0, format!("no decoder for API key {api_key}"))),
    }
}
//< clients
