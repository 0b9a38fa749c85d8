//! The broker's configuration (from stage ea7 on), read from a Kafka-style `server.properties`
//! file: the CodeCrafters runner starts the broker with the path of one.
//!
//! The file is `key=value` lines (`key: value` works too); `#` and `!` start comments. Only the
//! keys below mean something here; any other key is logged at debug level and ignored, so a real
//! Kafka properties file (like the one the CodeCrafters runner writes) can be used as it is. When
//! a key appears twice, the last one wins.
//!
//! | key                            | default            | what it does here                          |
//! |--------------------------------|--------------------|--------------------------------------------|
//! | `listeners`                    | `PLAINTEXT://127.0.0.1:9092` | where to listen (`PLAINTEXT://:9092` = all interfaces) |
//! | `log.dirs` (or `log.dir`)      | none: memory only  | where partition logs and metadata live     |
//> clients
//! | `socket.request.max.bytes`     | 104857600          | largest request frame accepted             |
//! | `advertised.listeners`         | the listener       | the host/port clients are told to use      |
//! | `node.id` (or `broker.id`)     | 1                  | this broker's id in Metadata and friends   |
//! | `num.partitions`               | 1                  | partitions of auto-created topics          |
//! | `auto.create.topics.enable`    | true               | Metadata/Produce may create topics         |
//! | `message.max.bytes`            | 1048588            | largest record batch accepted              |
//! | `fetch.max.bytes`              | 57671680           | most record bytes in one Fetch response (the first batch may exceed it) |
//! | `max.connections`              | 4096               | connections open at once (src/limits.rs)   |
//! | `connections.max.idle.ms`      | 600000             | a connection silent this long is closed    |
//! | `queued.max.request.bytes`     | 134217728          | bytes of requests being read, all connections together (at least `socket.request.max.bytes`) |
//! | `max.partitions` (mini-kafka's own) | 10000         | partitions of all topics together          |
//< clients
//> groups
//! | `group.initial.rebalance.delay.ms` | 300            | wait for more members before a new group's first rebalance |
//< groups
//> retention
//! | `log.retention.bytes`          | -1 (no limit)      | bytes a partition keeps (whole older segments are dropped) |
//! | `log.retention.ms` (or `.minutes`, `.hours`) | 168 hours | how long a segment is kept after its newest record |
//! | `log.segment.bytes`            | 1073741824         | a segment is rolled at this size...         |
//! | `log.roll.ms` (or `log.roll.hours`) | 168 hours     | ...or this age                              |
//! | `log.retention.check.interval.ms` | 300000          | how often the cleaner looks for expired segments |
//! | `log.memory.max.bytes` (mini-kafka's own) | 1073741824 | without `log.dirs`: bytes the in-memory log holds in all; past it the oldest segments go, and in memory segments are rolled at a sixteenth of it at most |
//!
//! `log.retention.bytes`, `log.retention.ms`, `log.segment.bytes`, `log.roll.ms` and
//! `message.max.bytes` can also be changed while the broker runs, over the values here
//! (AlterConfigs on a broker resource: src/api/alter_configs.rs).
//< retention
//> transactions
//! | `transaction.max.timeout.ms`   | 900000             | the longest `transaction.timeout.ms` a producer may ask for |
//! | `transaction.abort.timed.out.transaction.cleanup.interval.ms` | 10000 | how often transactions past their timeout are looked for (and aborted) |
//! | `transactional.id.expiration.ms` | 604800000        | a transactional id unused this long is forgotten |
//! | `max.transactional.ids` (mini-kafka's own) | 10000   | transactional ids held at once             |
//< transactions

use std::path::{Path, PathBuf};
//> clients
use std::collections::HashMap;
//< clients

/// Everything the broker needs to know at start.
pub struct Config {
    /// `host:port` to bind, e.g. `0.0.0.0:9092`. Port 0 picks a free port (tests use it).
    pub bind: String,
    pub log_dir: Option<PathBuf>,
    //> clients
    pub socket_request_max_bytes: usize,
    /// Host and port announced in Metadata; `None` means "what the listener actually got".
    pub advertised: Option<(String, u16)>,
    pub node_id: i32,
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    pub message_max_bytes: usize,
    pub fetch_max_bytes: i32,
    pub max_connections: usize,
    pub connections_max_idle_ms: u64,
    pub queued_max_request_bytes: usize,
    pub max_partitions: usize,
    //< clients
    pub group_initial_rebalance_delay_ms: u64, //> groups
    //> retention
    pub log_retention_bytes: i64,
    pub log_retention_ms: i64,
    pub log_segment_bytes: u64,
    pub log_roll_ms: u64,
    pub log_retention_check_interval_ms: u64,
    pub log_memory_max_bytes: usize,
    //< retention
    //> transactions
    pub transaction_max_timeout_ms: i32,
    pub transaction_check_interval_ms: u64,
    pub transactional_id_expiration_ms: i64,
    pub max_transactional_ids: usize,
    //< transactions
    //> clients
    /// Every key/value read from the file, for DescribeConfigs.
    pub properties: HashMap<String, String>,
    //< clients
}

impl Config {
    /// Reads and parses a properties file; without one, the defaults. An error is one line, for
    /// the broker to print before it exits with code 2.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let Some(path) = path else { return Config::parse("") };
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a properties file.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut config = Config {
            bind: "127.0.0.1:9092".to_string(),
            log_dir: None,
            //> clients
            socket_request_max_bytes: 100 * 1024 * 1024,
            advertised: None,
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            message_max_bytes: 1_048_588,
            fetch_max_bytes: 57_671_680,
            max_connections: 4096,
            connections_max_idle_ms: 600_000,
            queued_max_request_bytes: 128 << 20,
            max_partitions: 10_000,
            //< clients
            //> groups
            // Kafka's default is 3000 ms, tuned for production restarts; locally a 3 s pause before
            // every new group's first assignment just looks like a hang. 300 ms still lets members
            // started together join one rebalance.
            group_initial_rebalance_delay_ms: 300,
            //< groups
            //> retention
            log_retention_bytes: -1,
            log_retention_ms: 7 * 24 * 3_600_000,
            log_segment_bytes: 1 << 30,
            log_roll_ms: 7 * 24 * 3_600_000,
            log_retention_check_interval_ms: 300_000,
            log_memory_max_bytes: 1 << 30,
            //< retention
            //> transactions
            transaction_max_timeout_ms: 900_000,
            transaction_check_interval_ms: 10_000,
            transactional_id_expiration_ms: 7 * 24 * 3_600_000,
            max_transactional_ids: 10_000,
            //< transactions
            properties: HashMap::new(), //> clients
        };
        //> retention
        let (mut retention_ms, mut roll_ms) = ([None; 3], [None; 2]);
        //< retention
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(['#', '!'])) {
            let (key, value) = line.split_once(['=', ':']).ok_or(format!("line without '=': {line:?}"))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "listeners" => config.bind = client_listener(value)?.1,
                // Kafka allows a comma-separated list; one directory is all this broker uses.
                "log.dirs" | "log.dir" => match value.split(',').next().map(str::trim) {
                    Some(dir) if !dir.is_empty() => config.log_dir = Some(PathBuf::from(dir)),
                    _ => return Err(format!("{key} is empty")),
                },
                //> clients
                "socket.request.max.bytes" => config.socket_request_max_bytes = number(key, value)?,
                "node.id" | "broker.id" => config.node_id = number(key, value)?,
                "num.partitions" => {
                    config.num_partitions = number(key, value)?;
                    if config.num_partitions < 1 {
                        return Err(format!("{key} must be at least 1, got {value}"));
                    }
                }
                "auto.create.topics.enable" => {
                    config.auto_create_topics = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("{key} must be true or false, got {value:?}")),
                    }
                }
                "message.max.bytes" => config.message_max_bytes = number(key, value)?,
                "fetch.max.bytes" => config.fetch_max_bytes = number(key, value)?,
                "max.connections" => config.max_connections = number(key, value)?,
                "connections.max.idle.ms" => config.connections_max_idle_ms = number(key, value)?,
                "queued.max.request.bytes" => config.queued_max_request_bytes = number(key, value)?,
                "max.partitions" => config.max_partitions = number(key, value)?,
                //< clients
                "group.initial.rebalance.delay.ms" => config.group_initial_rebalance_delay_ms = number(key, value)?, //> groups
                //> retention
                "log.retention.bytes" => config.log_retention_bytes = number(key, value)?,
                // Kafka's precedence: ms over minutes over hours, whatever their order in the file.
                "log.retention.ms" => retention_ms[0] = Some(number::<i64>(key, value)?),
                "log.retention.minutes" => retention_ms[1] = Some(number::<i64>(key, value)?.saturating_mul(60_000)),
                "log.retention.hours" => retention_ms[2] = Some(number::<i64>(key, value)?.saturating_mul(3_600_000)),
                "log.segment.bytes" => config.log_segment_bytes = positive(key, value)?,
                "log.roll.ms" => roll_ms[0] = Some(positive(key, value)?),
                "log.roll.hours" => roll_ms[1] = Some(positive::<u64>(key, value)?.saturating_mul(3_600_000)),
                "log.retention.check.interval.ms" => config.log_retention_check_interval_ms = positive(key, value)?,
                "log.memory.max.bytes" => config.log_memory_max_bytes = positive(key, value)?,
                //< retention
                //> transactions
                "transaction.max.timeout.ms" => config.transaction_max_timeout_ms = positive(key, value)?,
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    config.transaction_check_interval_ms = positive(key, value)?
                }
                "transactional.id.expiration.ms" => config.transactional_id_expiration_ms = positive(key, value)?,
                "max.transactional.ids" => config.max_transactional_ids = positive(key, value)?,
                //< transactions
                _ => log::debug!("config: ignoring {key}={value}"),
            }
            config.properties.insert(key.to_string(), value.to_string()); //> clients
        }
        //> retention
        if let Some(ms) = retention_ms.into_iter().flatten().next() {
            // -1 (or any negative value) means forever.
            config.log_retention_ms = ms.max(-1);
        }
        if let Some(ms) = roll_ms.into_iter().flatten().next() {
            config.log_roll_ms = ms;
        }
        //< retention
        //> clients
        // Advertised listeners pair with listeners by name; without one, the first is taken.
        if let Some(advertised) = config.properties.get("advertised.listeners") {
            let name = config.properties.get("listeners").map(|l| client_listener(l)).transpose()?.map(|l| l.0);
            let all = advertised.split(',').map(|l| parse_listener(l.trim())).collect::<Result<Vec<_>, _>>()?;
            let chosen = all.iter().find(|(n, _)| Some(n) == name.as_ref()).or(all.first());
            if let Some((_, address)) = chosen
                && let Some((host, port)) = address.rsplit_once(':')
                && !host.is_empty()
            {
                config.advertised = Some((host.trim_matches(['[', ']']).to_string(), number("port", port)?));
            }
        }
        //< clients
        Ok(config)
    }
}
//> clients

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{key} must be a number, got {value:?}"))
}
//> retention

fn positive<T: std::str::FromStr + Default + PartialOrd>(key: &str, value: &str) -> Result<T, String> {
    let n: T = number(key, value)?;
    if n <= T::default() {
        return Err(format!("{key} must be more than 0, got {value}"));
    }
    Ok(n)
}
//< retention
//< clients

/// `PLAINTEXT://:9092` → `("PLAINTEXT", "0.0.0.0:9092")`: an empty host means every interface.
fn parse_listener(listener: &str) -> Result<(String, String), String> {
    let bad = || format!("bad listener {listener:?}: expected NAME://host:port");
    let (name, address) = listener.split_once("://").ok_or_else(bad)?;
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    Ok((name.to_string(), if host.is_empty() { format!("0.0.0.0:{port}") } else { address.to_string() }))
}

/// The listener clients connect to: the first one that is not the KRaft controller's
/// (`PLAINTEXT://:9092,CONTROLLER://:9093` → `0.0.0.0:9092`).
fn client_listener(listeners: &str) -> Result<(String, String), String> {
    let mut all = listeners.split(',').map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("CONTROLLER:"));
    parse_listener(all.next().ok_or(format!("no client listener in listeners={listeners}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codecrafters_file_parses() {
        let text = "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
            listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
            listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\nlog.dirs=/tmp/kraft-combined-logs";
        let c = Config::parse(text).unwrap();
        assert_eq!(c.bind, "0.0.0.0:9092");
        assert_eq!(Config::load(None).unwrap().bind, "127.0.0.1:9092");
        assert_eq!(c.log_dir, Some(PathBuf::from("/tmp/kraft-combined-logs")));
        //> clients
        assert_eq!(c.node_id, 1);
        assert_eq!(c.advertised, None);
        //< clients
    }

    #[test]
    fn the_last_line_wins() {
        let c = Config::parse("listeners=PLAINTEXT://:9092\nlisteners=PLAINTEXT://127.0.0.1:0").unwrap();
        assert_eq!(c.bind, "127.0.0.1:0");
    }
    //> clients

    #[test]
    fn advertised_listener_and_numbers() {
        let c = Config::parse(
            "# comment\nlisteners = PLAINTEXT://127.0.0.1:0\nadvertised.listeners=PLAINTEXT://kafka.local:19092\n\
             num.partitions=3\nauto.create.topics.enable=false\nmessage.max.bytes=1000\nunknown.key=x",
        )
        .unwrap();
        assert_eq!(c.bind, "127.0.0.1:0");
        assert_eq!(c.advertised, Some(("kafka.local".to_string(), 19092)));
        assert_eq!(c.num_partitions, 3);
        assert!(!c.auto_create_topics);
        assert_eq!(c.message_max_bytes, 1000);
    }
    //< clients

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::parse("listeners=nonsense").is_err());
        assert!(Config::parse("just a line").is_err());
        assert!(Config::load(Some(Path::new("/nonexistent/server.properties"))).is_err());
        //> clients
        assert!(Config::parse("socket.request.max.bytes=many").is_err());
        assert!(Config::parse("num.partitions=0").is_err());
        assert!(Config::parse("auto.create.topics.enable=maybe").is_err());
        //< clients
    }
}
