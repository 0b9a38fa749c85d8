//> vt6
//! Writes the files the CodeCrafters runner would write for a stage — the cluster metadata log,
//! the partition logs and a `server.properties` — so the stage can be tried by hand:
//!
//! ```sh
//! cargo run -q --example stage_files -- ea7
//! cargo run --release --bin mini-kafka -- /tmp/mini-kafka-stages/ea7/server.properties
//! ```
//!
//! The data is the same the stage's test uses (`tests/common/runner_files.rs::stage_topics`).

#[path = "../tests/common/runner_files.rs"]
mod runner_files;

fn main() {
    let Some(slug) = std::env::args().nth(1) else {
        eprintln!("usage: cargo run --example stage_files -- <stage slug, e.g. ea7>");
        std::process::exit(2);
    };
    runner_files::write_try_it_files(&slug);
}
//< vt6
