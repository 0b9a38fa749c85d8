//! # mini-kafka
//!
//! A small Kafka broker, written to be read. It speaks Kafka's wire protocol well enough for the
//! CodeCrafters "Build your own Kafka" runner and for real clients (kafka-python, librdkafka,
//! kcat), with a thread per connection, blocking I/O and an in-memory log that can be backed by
//! Kafka-format segment files.
//!
//> vt6
//! ## Follow a request from the socket to the response
//!
//! 1. [`server`] — accept, one thread per connection, read a size-prefixed frame;
//! 2. `header` — decode the request header (api key, version, correlation id, client id);
//! 3. `api` — check the version table, dispatch to the API's module, which decodes the body
//!    with a `wire::Reader`, acts on the broker's state and encodes the answer with a
//!    `wire::Writer`;
//! 4. [`server`] again — write the whole response in one go.
//!
//< vt6
//! ## The learning path: when each piece arrived
//!
//! This source is the broker as it stands after one stage of the CodeCrafters course (`stages/`
//! has a guide per stage). In the full repository, the source is the finished broker, and margin
//! notes in the code say when each piece arrived; `scripts/stage.sh SLUG DIR` writes the broker
//! of any stage from them:
//!
//! ```text
//! //> eg2 … //< eg2       the lines between arrived at stage eg2
//! a line ending in a note //> eg2 arrived at eg2 alone
//! //> clients {}          the braces of the next block arrived at clients (its body came earlier)
//! /*> nv3 < wa6 … */      the code of stages nv3 up to wa6, which replaced it: kept as a comment
//! ```
//!
//! | stages                 | what                                   | read                                |
//! |------------------------|----------------------------------------|-------------------------------------|
//! | vi6                    | bind to a port                         | `main`, `server`                    |
//! | nv3, wa6               | answer with a correlation id           | `server`, `header`                  |
//! | nc5, pv1               | the version table, ApiVersions         | `api`, `api::api_versions`          |
//! | nh4, sk0               | serial and concurrent clients          | `server`                            |
//! | yk1, vt6 … wq2         | DescribeTopicPartitions v0             | `api::describe_topic_partitions`, `log::metadata` |
//! | gs0, dh6 … fd8         | Fetch v16                              | `api::fetch`, `log::partition`, `log::segment` |
//! | xz1, zf2 … ov0         | Produce v11                            | `api::produce`, `log::batch`        |
//! | clients                | the APIs and versions real clients use | `api::metadata`, `api::list_offsets`, … |
//! | groups                 | consumer groups (classic protocol)     | `group`, `api::join_group`, `api::sync_group`, … |
//> retention
//! | retention              | a log that forgets; configs that change | `log::retention`, `api::alter_configs`, … |
//< retention
//> transactions
//! | transactions           | exactly-once: transactions, read_committed | `txn`, `api::end_txn`, `log::partition`, … |
//< transactions
//!
//! ## Modules
//!
//! - [`server`] — the listener and the connections.
//> wa6
//! - `wire` — the primitive types (integers, varints, strings, arrays, tagged fields).
//! - `header` — request and response headers.
//< wa6
//> nc5
//! - `api` — the version table and one module per API.
//! - `errors` — Kafka's error codes.
//< nc5
//> ea7
//! - `config` — `server.properties`.
//! - `broker` — the state shared by all connections.
//! - `log` — record batches, partition logs, segment files, the cluster metadata log.
//< ea7
//> zf2
//! - `sync` — lock helpers that survive a panicking thread.
//< zf2
//> clients
//! - `inspect` — messages and log files as annotated field trees (`RUST_LOG=trace`,
//!   `mini-kafka decode`, `mini-kafka dump-log`).
//! - `limits` — what clients may cost: connections, idle time, bytes of requests in flight.
//< clients
//> groups
//! - `group` — the group coordinator: consumer groups, rebalances, committed offsets.
//< groups
//> transactions
//! - `txn` — the transaction coordinator: transactional ids, their epochs, commit and abort.
//< transactions

pub mod api; //> nc5
pub mod broker; //> ea7
pub mod config; //> ea7
pub mod errors; //> nc5
pub mod group; //> groups
pub mod header; //> wa6
pub mod inspect; //> clients
pub mod limits; //> clients
pub mod log; //> ea7
pub mod server;
pub mod sync; //> zf2
pub mod txn; //> transactions
pub mod wire; //> wa6
