//! # mini-kafka
//!
//! A small Kafka broker, written to be read. It speaks Kafka's wire protocol well enough for the
//! CodeCrafters "Build your own Kafka" runner and for real clients (kafka-python, librdkafka,
//! kcat), with a thread per connection, blocking I/O and an in-memory log that can be backed by
//! Kafka-format segment files.
//!
//! ## Follow a request from the socket to the response
//!
//! 1. [`server`] — accept, one thread per connection, read a size-prefixed frame;
//! 2. [`header`] — decode the request header (api key, version, correlation id, client id);
//! 3. [`api`] — check the version table, dispatch to the API's module, which decodes the body
//!    with a [`wire::Reader`], acts on the [`broker::Broker`] and encodes the answer with a
//!    [`wire::Writer`];
//! 4. [`server`] again — write the whole response in one go.
//!
//! ## The CodeCrafters stages, in course order
//!
//! | stages                 | what                                   | read                                |
//! |------------------------|----------------------------------------|-------------------------------------|
//! | vi6                    | bind to a port                         | [`server`]                          |
//! | nv3, wa6               | echo the correlation id                | [`header`]                          |
//! | nc5, pv1               | ApiVersions, unsupported versions      | [`api::api_versions`]               |
//! | nh4, sk0               | serial and concurrent clients          | [`server`]                          |
//! | yk1, vt6, ea7, ku4, wq2| DescribeTopicPartitions v0             | [`api::describe_topic_partitions`], [`log::metadata`] |
//! | gs0, dh6 … fd8         | Fetch v16                              | [`api::fetch`], [`log::partition`], [`log::segment`] |
//! | xz1, zf2 … ov0         | Produce v11                            | [`api::produce`], [`log::batch`]    |
//! | after the course       | consumer groups (classic protocol)     | [`group`], [`api::join_group`], [`api::sync_group`], [`api::offset_commit`] |
//!
//! The `stages/` folder of the repository has a guide per stage, with annotated bytes.
//!
//! ## Modules
//! - [`wire`] — the primitive types (integers, varints, strings, arrays, tagged fields), and
//!   `SharedBytes`, the request buffer that stored batches are views into.
//! - [`header`] — request and response headers.
//! - [`api`] — the version table and one module per API.
//! - [`log`] — record batches, partition logs, segment files, the cluster metadata log.
//! - [`group`] — the group coordinator: consumer groups, rebalances, committed offsets.
//! - [`broker`] — the state shared by all connections.
//! - [`config`] — `server.properties`.
//! - [`errors`] — Kafka's error codes.
//! - [`sync`] — lock helpers that survive a panicking thread.

pub mod api;
pub mod broker;
pub mod config;
pub mod errors;
pub mod group;
pub mod header;
pub mod log;
pub mod server;
pub mod sync;
pub mod wire;
