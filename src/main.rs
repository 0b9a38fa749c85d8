//! `mini-kafka [path/to/server.properties]`: load the configuration, start the server.

use mini_kafka::config::Config;
use mini_kafka::server::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match std::env::args_os().nth(1) {
        Some(path) => match Config::load(std::path::Path::new(&path)) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("mini-kafka: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mini-kafka: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mini-kafka: {e}");
            ExitCode::FAILURE
        }
    }
}
