//! The README's promises, checked: its API table matches the broker's version table, and the
//! commands it tells a newcomer to run exist.

use mini_kafka::api::SUPPORTED_APIS;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn the_api_table_lists_exactly_the_supported_versions() {
    let text = readme();
    let mut listed: Vec<(String, String)> = text
        .lines()
        .skip_while(|l| !l.starts_with("## What it speaks"))
        .take_while(|l| !l.starts_with("What it does not do"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| API") && !l.starts_with("|--"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect();
    let mut table: Vec<(String, String)> = SUPPORTED_APIS
        .iter()
        .map(|a| (a.name.to_string(), if a.min == a.max { a.min.to_string() } else { format!("{}–{}", a.min, a.max) }))
        .collect();
    listed.sort();
    table.sort();
    assert_eq!(listed, table, "README.md 'What it speaks' must match src/api/mod.rs SUPPORTED_APIS");
}

#[test]
fn the_commands_it_shows_exist() {
    let text = readme();
    assert!(text.contains("cargo run --release"));
    assert!(text.contains("scripts/test.sh"));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for path in ["scripts/test.sh", ".ci/run", "your_program.sh", "stages/README.md"] {
        assert!(root.join(path).exists(), "{path} is mentioned but missing");
    }
}
