//! `mini-kafka [path/to/server.properties]`: load the configuration, start the server.
//> clients
//!
//! Two more commands explain bytes instead of serving them (`src/inspect/`):
//! `mini-kafka decode [--response API_KEY VERSION] [FILE|-]` for captured frames, and
//! `mini-kafka dump-log FILE.log...` for log segment files.
//< clients

//> ea7
use mini_kafka::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    //> clients
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("decode") => Some(mini_kafka::inspect::decode::run(&args[1..])),
        Some("dump-log") => Some(mini_kafka::inspect::dump_log::run(&args[1..])),
        _ => None,
    };
    if let Some(result) = command {
        let Err(error) = result else { return ExitCode::SUCCESS };
        eprintln!("mini-kafka: {error}");
        return ExitCode::FAILURE;
    }
    //< clients
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let path = std::env::args_os().nth(1);
    // A failure is one line on stderr, and exit status 2 for a bad configuration, 1 when serving failed.
    let config = Config::load(path.as_deref().map(std::path::Path::new)).map_err(|e| (2, e));
    let served = config.and_then(|config| mini_kafka::server::run(config).map_err(|e| (1, e.to_string())));
    let Err((status, error)) = served else { return ExitCode::SUCCESS };
    eprintln!("mini-kafka: {error}");
    ExitCode::from(status)
}
//< ea7
/*> vi6 < ea7
fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // The runner starts the broker with the path of a Kafka-style server.properties file, whose
    // `listeners` says where to listen: `PLAINTEXT://:9092` means port 9092 on every interface.
    // (From stage ea7 on, src/config.rs reads that file.)
    let properties = std::env::args_os().nth(1).map(std::fs::read_to_string).transpose()?.unwrap_or_default();
    let listeners = properties.lines().filter_map(|line| line.trim().strip_prefix("listeners=")).last();
    let address = match listeners.and_then(|l| l.split(',').next()?.split_once("://")) {
        Some((_, address)) if address.starts_with(':') => format!("0.0.0.0{address}"),
        Some((_, address)) => address.to_string(),
        None => "127.0.0.1:9092".to_string(),
    };
    mini_kafka::server::run(&address)
}
*/
