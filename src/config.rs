//! The broker's configuration, read from a Kafka-style `server.properties` file.
//!
//! The file is `key=value` lines (`key: value` works too); `#` and `!` start comments. Only the
//! keys below mean something here; any other key is logged at debug level and ignored, so a real
//! Kafka properties file (like the one the CodeCrafters runner writes) can be used as it is.
//!
//! | key                            | default            | what it does here                          |
//! |--------------------------------|--------------------|--------------------------------------------|
//! | `listeners`                    | `PLAINTEXT://127.0.0.1:9092` | where to listen (`PLAINTEXT://:9092` = all interfaces) |
//! | `advertised.listeners`         | the listener       | the host/port clients are told to use      |
//! | `log.dirs` (or `log.dir`)      | none: memory only  | where partition logs and metadata live     |
//! | `node.id` (or `broker.id`)     | 1                  | this broker's id in Metadata and friends   |
//! | `num.partitions`               | 1                  | partitions of auto-created topics          |
//! | `auto.create.topics.enable`    | true               | Metadata/Produce may create topics         |
//! | `socket.request.max.bytes`     | 104857600          | largest request frame accepted             |
//! | `message.max.bytes`            | 1048588            | largest record batch accepted              |
//! | `group.initial.rebalance.delay.ms` | 300            | wait for more members before a new group's first rebalance |

use std::collections::HashMap;
use std::path::PathBuf;

/// Everything the broker needs to know at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` to bind, e.g. `0.0.0.0:9092`. Port 0 picks a free port (tests use it).
    pub bind: String,
    /// Host and port announced in Metadata; `None` means "what the listener actually got".
    pub advertised: Option<(String, u16)>,
    pub log_dir: Option<PathBuf>,
    pub node_id: i32,
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    pub socket_request_max_bytes: usize,
    pub message_max_bytes: usize,
    pub group_initial_rebalance_delay_ms: u64,
    /// Every key/value read from the file, for DescribeConfigs.
    pub properties: HashMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:9092".to_string(),
            advertised: None,
            log_dir: None,
            node_id: 1,
            num_partitions: 1,
            auto_create_topics: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            message_max_bytes: 1_048_588,
            // Kafka's default is 3000 ms, tuned for production restarts; locally a 3 s pause before
            // every new group's first assignment just looks like a hang. 300 ms still lets members
            // started together join one rebalance.
            group_initial_rebalance_delay_ms: 300,
            properties: HashMap::new(),
        }
    }
}

/// A configuration problem, reported as one line before the broker exits with code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Reads and parses a properties file.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Config::parse(&text).map_err(|ConfigError(msg)| ConfigError(format!("{}: {msg}", path.display())))
    }

    /// Parses the text of a properties file.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let mut props = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some(split) = line.find(['=', ':']) else {
                return Err(ConfigError(format!("line without '=': {line:?}")));
            };
            props.insert(line[..split].trim().to_string(), line[split + 1..].trim().to_string());
        }
        Config::from_properties(props)
    }

    fn from_properties(props: HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let controller_names: Vec<String> = props
            .get("controller.listener.names")
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        for (key, value) in &props {
            match key.as_str() {
                "listeners" => {
                    let (name, host, port) = pick_listener(value, &controller_names)?;
                    let host = if host.is_empty() { "0.0.0.0" } else { host.as_str() };
                    config.bind = format_host_port(host, port);
                    if let Some(adv) = props.get("advertised.listeners") {
                        let all = parse_listeners(adv)?;
                        let chosen = all.iter().find(|(n, _, _)| *n == name).or(all.first());
                        if let Some((_, h, p)) = chosen
                            && !h.is_empty()
                        {
                            config.advertised = Some((h.clone(), *p));
                        }
                    }
                }
                "advertised.listeners" => {
                    if !props.contains_key("listeners") {
                        let all = parse_listeners(value)?;
                        if let Some((_, h, p)) = all.first() {
                            config.advertised = Some((h.clone(), *p));
                        }
                    }
                }
                "log.dirs" | "log.dir" => {
                    // Kafka allows a comma-separated list; one directory is all this broker uses.
                    let first = value.split(',').next().unwrap_or("").trim();
                    if first.is_empty() {
                        return Err(ConfigError(format!("{key} is empty")));
                    }
                    config.log_dir = Some(PathBuf::from(first));
                }
                "node.id" | "broker.id" => config.node_id = number(key, value)?,
                "num.partitions" => {
                    config.num_partitions = number(key, value)?;
                    if config.num_partitions < 1 {
                        return Err(ConfigError(format!("{key} must be at least 1, got {value}")));
                    }
                }
                "auto.create.topics.enable" => {
                    config.auto_create_topics = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ConfigError(format!("{key} must be true or false, got {value:?}"))),
                    }
                }
                "socket.request.max.bytes" => config.socket_request_max_bytes = number(key, value)?,
                "message.max.bytes" => config.message_max_bytes = number(key, value)?,
                "group.initial.rebalance.delay.ms" => config.group_initial_rebalance_delay_ms = number(key, value)?,
                _ => log::debug!("config: ignoring {key}={value}"),
            }
        }
        config.properties = props;
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError(format!("{key} must be a number, got {value:?}")))
}

fn format_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// `PLAINTEXT://:9092,CONTROLLER://localhost:9093` → `[(PLAINTEXT, "", 9092), (CONTROLLER, "localhost", 9093)]`.
fn parse_listeners(value: &str) -> Result<Vec<(String, String, u16)>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|listener| {
            let bad = || ConfigError(format!("bad listener {listener:?}: expected NAME://host:port"));
            let (name, address) = listener.split_once("://").ok_or_else(bad)?;
            let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
            let port = port.parse().map_err(|_| bad())?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Ok((name.to_string(), host.to_string(), port))
        })
        .collect()
}

/// The client listener: the first one that is not a KRaft controller listener.
fn pick_listener(value: &str, controller_names: &[String]) -> Result<(String, String, u16), ConfigError> {
    parse_listeners(value)?
        .into_iter()
        .find(|(name, _, _)| !controller_names.contains(name) && name != "CONTROLLER")
        .ok_or_else(|| ConfigError(format!("no client listener in listeners={value}")))
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
        assert_eq!(c.log_dir, Some(PathBuf::from("/tmp/kraft-combined-logs")));
        assert_eq!(c.node_id, 1);
        assert_eq!(c.advertised, None);
    }

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

    #[test]
    fn bad_values_are_errors() {
        assert!(Config::parse("num.partitions=many").is_err());
        assert!(Config::parse("num.partitions=0").is_err());
        assert!(Config::parse("listeners=nonsense").is_err());
        assert!(Config::parse("auto.create.topics.enable=maybe").is_err());
        assert!(Config::parse("just a line").is_err());
        assert!(Config::load(std::path::Path::new("/nonexistent/server.properties")).is_err());
    }
}
