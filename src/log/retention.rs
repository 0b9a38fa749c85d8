//! Retention (stage retention): a log that forgets, Kafka's way.
//!
//! A partition's log is a list of **segments**, oldest first. New batches go to the last one, the
//! *active* segment; it is closed ("rolled") and a new one started when it reaches
//! `segment.bytes` or is `segment.ms` old. Old data goes a whole segment at a time, never a
//! batch: the oldest segment is dropped (from memory, and its file from disk)
//!
//! - while the partition would still hold `retention.bytes` without it;
//! - when its newest record is older than `retention.ms`;
//! - when DeleteRecords moved the log start offset past its end;
//! - in memory only (no `log.dirs`), when all partitions together hold more than
//!   `log.memory.max.bytes`: then the oldest segment of the whole broker goes first.
//!
//! The log start offset moves to the first offset still held. A consumer asking for less gets
//! OFFSET_OUT_OF_RANGE and resets as its `auto.offset.reset` says; ListOffsets (earliest) and
//! every Fetch response tell it the new start.
//!
//! The broker's `log.*` keys give each topic its defaults; a topic's own `retention.bytes`,
//! `retention.ms`, `segment.bytes` and `segment.ms` (from CreateTopics) win over them. The broker's
//! keys can be changed while it runs, as in Kafka (AlterConfigs on a broker resource, see
//! [`DYNAMIC_BROKER_CONFIGS`]): every partition without its own setting follows at once.

use crate::config::Config;
use crate::sync::lock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// When a partition drops and rolls its segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Bytes a partition keeps at least (whole segments beyond them go); -1: no limit.
    pub bytes: i64,
    /// Milliseconds a segment is kept after its newest record; -1: forever.
    pub ms: i64,
    /// A segment is rolled once it holds this many bytes...
    pub segment_bytes: u64,
    /// ...or is this old (milliseconds since its first batch arrived).
    pub segment_ms: u64,
}

const WEEK_MS: i64 = 7 * 24 * 60 * 60 * 1000;

impl Policy {
    /// Kafka's defaults: keep a week, segments of 1 GiB or a week.
    pub const KAFKA: Policy = Policy { bytes: -1, ms: WEEK_MS, segment_bytes: 1 << 30, segment_ms: WEEK_MS as u64 };

    /// The broker's defaults, from its `log.*` keys.
    pub fn from_config(config: &Config) -> Policy {
        Policy {
            bytes: config.log_retention_bytes,
            ms: config.log_retention_ms,
            segment_bytes: config.log_segment_bytes,
            segment_ms: config.log_roll_ms,
        }
    }

    /// This policy with a topic's own settings over it. Values that do not parse were refused
    /// when they were set (see [`check_topic_config`]); here they are skipped.
    pub fn with_topic(self, configs: &BTreeMap<String, String>) -> Policy {
        self.with(configs, ["retention.bytes", "retention.ms", "segment.bytes", "segment.ms"])
    }

    /// This policy with dynamic broker configs over it: the same settings under the broker's names.
    pub fn with_broker(self, configs: &BTreeMap<String, String>) -> Policy {
        self.with(configs, ["log.retention.bytes", "log.retention.ms", "log.segment.bytes", "log.roll.ms"])
    }

    fn with(mut self, configs: &BTreeMap<String, String>, keys: [&str; 4]) -> Policy {
        let get = |key: &str| configs.get(key).and_then(|v| v.parse::<i64>().ok());
        let [bytes, ms, segment_bytes, segment_ms] = keys;
        if let Some(v) = get(bytes) {
            self.bytes = v;
        }
        if let Some(v) = get(ms) {
            self.ms = v;
        }
        if let Some(v) = get(segment_bytes).filter(|v| *v > 0) {
            self.segment_bytes = v as u64;
        }
        if let Some(v) = get(segment_ms).filter(|v| *v > 0) {
            self.segment_ms = v as u64;
        }
        self
    }
}

/// The broker configs AlterConfigs may change while the broker runs, each with the topic config
/// it is the default of: Kafka's dynamic broker configs (its `DynamicBrokerConfig`) that this
/// broker acts on. Every other broker key is read-only, set in `server.properties`.
pub const DYNAMIC_BROKER_CONFIGS: &[(&str, &str)] = &[
    ("log.retention.bytes", "retention.bytes"),
    ("log.retention.ms", "retention.ms"),
    ("log.roll.ms", "segment.ms"),
    ("log.segment.bytes", "segment.bytes"),
    ("message.max.bytes", "max.message.bytes"),
];

/// Checks a topic config this broker acts on: `Err(message)` for a value Kafka would refuse.
pub fn check_topic_config(key: &str, value: &str) -> Result<(), String> {
    check(key, key, value)
}

/// Checks a dynamic broker config as the topic config it is the default of.
pub fn check_broker_config(key: &str, value: &str) -> Result<(), String> {
    let topic_key = DYNAMIC_BROKER_CONFIGS.iter().find(|(broker_key, _)| *broker_key == key).map_or("", |c| c.1);
    check(key, topic_key, value)
}

/// Checks `key`'s value by the rule of topic config `rule`.
fn check(key: &str, rule: &str, value: &str) -> Result<(), String> {
    let least = match rule {
        "retention.bytes" | "retention.ms" => -1,
        // Kafka's smallest segment: 14 bytes would not hold a batch header, so it asks for more.
        "segment.bytes" => 14,
        "segment.ms" => 1,
        "max.message.bytes" => 0,
        _ => return Ok(()),
    };
    let number = value.parse::<i64>().map_err(|_| format!("{key} must be a number, got {value:?}"))?;
    if number < least {
        return Err(format!("{key} must be at least {least}, got {value}"));
    }
    Ok(())
}

/// Wall-clock milliseconds, as record timestamps count them.
pub fn now_ms() -> i64 {
    std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis() as i64)
}

/// Why a segment was dropped (for the log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    RetentionBytes,
    RetentionMs,
    DeleteRecords,
    MemoryBudget,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::RetentionBytes => "retention.bytes",
            Reason::RetentionMs => "retention.ms",
            Reason::DeleteRecords => "records deleted (DeleteRecords)",
            Reason::MemoryBudget => "log.memory.max.bytes (the in-memory log's budget)",
        }
    }
}

/// The bytes all partitions hold in memory, and the budget for them: an append that goes over
/// wakes the cleaner, which drops the broker's oldest segments until the log fits again.
pub struct Memory {
    used: AtomicUsize,
    max: AtomicUsize,
    over: Mutex<bool>,
    wake: Condvar,
}

impl Memory {
    /// `max` bytes in all (`usize::MAX`: no budget).
    pub fn new(max: usize) -> Memory {
        Memory { used: AtomicUsize::new(0), max: AtomicUsize::new(max), over: Mutex::new(false), wake: Condvar::new() }
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn is_over(&self) -> bool {
        self.used() > self.max()
    }

    pub fn add(&self, n: usize) {
        let used = self.used.fetch_add(n, Ordering::Relaxed) + n;
        if used > self.max() {
            *lock(&self.over) = true;
            self.wake.notify_one();
        }
    }

    pub fn sub(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// Sleeps until the budget is passed or `interval` is up (the cleaner's time check).
    pub fn wait(&self, interval: Duration) {
        let over = lock(&self.over);
        let (mut over, _) =
            self.wake.wait_timeout_while(over, interval, |over| !*over).unwrap_or_else(|p| p.into_inner());
        *over = false;
    }
}
