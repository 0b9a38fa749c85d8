//! The command line.

use crate::MIB;
use std::path::PathBuf;
use std::time::Duration;

pub struct Options {
    /// Bytes to produce (and fetch back) per round.
    pub bytes: u64,
    pub rounds: usize,
    pub connections: usize,
    pub small_requests: u64,
    pub small_seconds: f64,
    /// Length of each sustained run (broker, broker with `log.dirs`, sink); 0 skips them.
    pub sustained_seconds: f64,
    /// A sustained run is stopped when the broker's RSS passes this (a broker that does not
    /// enforce retention would otherwise fill the machine's memory).
    pub rss_cap: u64,
    /// The whole run is stopped (children killed) after this long.
    pub timeout: Duration,
    pub broker: PathBuf,
    /// Child pids are appended here, so `bench.sh` can kill a child this process left behind.
    pub pid_file: Option<PathBuf>,
    /// Shown in the header (e.g. the git revision).
    pub label: String,
    /// Hidden: run as the sink process (see `sink.rs`) instead of the benchmark.
    pub serve_sink: bool,
}

pub const USAGE: &str = "\
usage: cargo bench --bench mini-kafka-bench -- [OPTIONS]   (or scripts/bench.sh [OPTIONS])

  --bytes MiB              bytes to produce and fetch back per round (default 1024)
  --rounds N               rounds of the main figures; each figure is their median (default 3)
  --connections N          connections opened at once in the connections phase (default 1000)
  --small-requests N       requests of the small-record latency case per round (default 20000)
  --small-seconds S        time limit of the latency case per round (default 2)
  --sustained-seconds S    length of each sustained produce run: broker, broker with log.dirs,
                           and the sink; 0 skips them (default 30)
  --rss-cap MiB            stop a sustained run when the broker's RSS passes this (default 2048)
  --timeout S              stop everything after this long (default: 150 + 3.5 × sustained)
  --broker PATH            the broker binary (default: the one Cargo built for this bench)
  --pid-file PATH          append the pids of this process and its children to PATH
  --label TEXT             shown in the report's title (e.g. the git revision)
  --bench, --quiet         ignored (cargo bench passes them)";

impl Options {
    /// Parses the arguments (without the program name). `Err(USAGE)` for --help.
    pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut o = Options {
            bytes: 1 << 30,
            rounds: 3,
            connections: 1000,
            small_requests: 20_000,
            small_seconds: 2.0,
            sustained_seconds: 30.0,
            rss_cap: 2048 << 20,
            timeout: Duration::ZERO,
            broker: PathBuf::from(env!("CARGO_BIN_EXE_mini-kafka")),
            pid_file: None,
            label: String::new(),
            serve_sink: false,
        };
        let mut timeout = None;
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
            let num = |v: String| match v.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(format!("{flag}: not a number ≥ 0: {v}")),
            };
            match flag.as_str() {
                "--bytes" => o.bytes = (num(value()?)? * MIB) as u64,
                "--rounds" => o.rounds = num(value()?)?.max(1.0) as usize,
                "--connections" => o.connections = num(value()?)? as usize,
                "--small-requests" => o.small_requests = num(value()?)? as u64,
                "--small-seconds" => o.small_seconds = num(value()?)?,
                "--sustained-seconds" => o.sustained_seconds = num(value()?)?,
                "--rss-cap" => o.rss_cap = (num(value()?)? * MIB) as u64,
                "--timeout" => timeout = Some(Duration::from_secs_f64(num(value()?)?)),
                "--broker" => o.broker = PathBuf::from(value()?),
                "--pid-file" => o.pid_file = Some(PathBuf::from(value()?)),
                "--label" => o.label = value()?,
                "--serve-sink" => o.serve_sink = true,
                "--bench" | "--quiet" | "-q" => {}
                "-h" | "--help" => return Err(USAGE.to_string()),
                _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
            }
        }
        // The main rounds take about 15 s each at most; the sustained runs 3.5 × their length
        // with the brokers' start and stop.
        o.timeout = timeout.unwrap_or_else(|| Duration::from_secs_f64(150.0 + 3.5 * o.sustained_seconds));
        Ok(o)
    }
}
