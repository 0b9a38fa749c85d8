//! The stage guides cannot drift from the code. For every `stages/NN-slug-…/README.md`:
//!
//! - its "What this stage adds" block is exactly what `scripts/stage.sh --stat SLUG` prints;
//! - every line of its `diff` blocks is a line of `scripts/stage.sh --diff SLUG`, in order;
//! - a block that starts with `$ mini-kafka decode …` (or `dump-log`) shows what that prints;
//! - every file it names (`src/…`, `tests/…`, `examples/…`) exists in the broker as it stands
//!   after that stage, or (a look ahead) in the finished broker, and every `file::item` it names
//!   is in that file.
//!
//! And nothing in the repository points at a document outside it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/stage.sh ARGS…`, which must succeed; its standard output.
fn stage_sh(args: &[&str]) -> String {
    let out = Command::new("bash").arg(root().join("scripts/stage.sh")).args(args).current_dir(root()).output();
    let out = out.expect("run scripts/stage.sh");
    assert!(out.status.success(), "scripts/stage.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The stage folders, in order, with their slugs.
fn stages() -> Vec<(String, PathBuf)> {
    let mut folders: Vec<PathBuf> =
        fs::read_dir(root().join("stages")).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    folders
        .into_iter()
        .map(|f| (f.file_name().unwrap().to_string_lossy().split('-').nth(1).unwrap().to_string(), f))
        .collect()
}

/// The fenced blocks of a Markdown text: (info string, lines).
fn fenced_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), Vec::new())),
            (Some(_), Some(_)) => blocks.push(open.take().unwrap()),
            (Some((_, lines)), None) => lines.push(line.to_string()),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    blocks
}

/// The paths a guide names in backticks, with the item after `::` if any:
/// `src/log/batch.rs::split` → ("src/log/batch.rs", Some("split")).
fn code_references(text: &str) -> Vec<(String, Option<String>)> {
    let mut refs = Vec::new();
    for quoted in text.split('`').skip(1).step_by(2) {
        let quoted = quoted.trim();
        if !["src/", "tests/", "examples/"].iter().any(|p| quoted.starts_with(p)) || quoted.contains(' ') {
            continue;
        }
        let (path, item) = match quoted.split_once("::") {
            Some((path, item)) => (path, Some(item.rsplit("::").next().unwrap().trim_end_matches("()").to_string())),
            None => (quoted, None),
        };
        refs.push((path.trim_end_matches('/').to_string(), item));
    }
    refs
}

#[test]
fn every_guide_shows_what_its_stage_adds_and_names_only_code_that_exists() {
    let snapshots = std::env::temp_dir().join(format!("mini-kafka-guides-{}", std::process::id()));
    let mut problems = Vec::new();
    for (slug, folder) in stages() {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let guide = fs::read_to_string(folder.join("README.md")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let blocks = fenced_blocks(&guide);

        // The stat block: `$ scripts/stage.sh --stat SLUG`, then its output.
        let stat_command = format!("$ scripts/stage.sh --stat {slug}");
        match blocks.iter().find(|(_, lines)| lines.first() == Some(&stat_command)) {
            Some((_, lines)) => {
                let shown = lines[1..].join("\n");
                let actual = stage_sh(&["--stat", &slug]);
                if shown.trim_end() != actual.trim_end() {
                    problems.push(format!("{name}: the stat block differs from `{stat_command}`:\n{actual}"));
                }
            }
            None => problems.push(format!("{name}: no block starting with `{stat_command}`")),
        }

        // Diff blocks: excerpts of the stage's diff, lines in order.
        let diff = stage_sh(&["--diff", &slug]);
        let diff_lines: Vec<&str> = diff.lines().collect();
        let diff_blocks: Vec<&Vec<String>> = blocks.iter().filter(|(info, _)| info == "diff").map(|(_, l)| l).collect();
        if diff_blocks.is_empty() {
            problems.push(format!("{name}: no ```diff block with the stage's central change"));
        }
        for block in diff_blocks {
            let mut from = 0;
            for line in block.iter().filter(|l| !l.starts_with("@@") && l.trim() != "…") {
                match diff_lines[from..].iter().position(|d| d == line) {
                    Some(i) => from += i + 1,
                    None => {
                        problems.push(format!(
                            "{name}: diff line not in `scripts/stage.sh --diff {slug}` (in order): {line:?}"
                        ));
                        break;
                    }
                }
            }
        }

        // Commands of the finished broker's tools, with what they print.
        for (_, lines) in blocks.iter().filter(|(_, l)| l.first().is_some_and(|l| l.starts_with("$ mini-kafka "))) {
            let args: Vec<&str> = lines[0]["$ mini-kafka ".len()..].split_whitespace().collect();
            let out = Command::new(env!("CARGO_BIN_EXE_mini-kafka")).args(&args).current_dir(root()).output().unwrap();
            let printed = String::from_utf8_lossy(&out.stdout);
            if printed.trim_end() != lines[1..].join("\n").trim_end() {
                problems.push(format!("{name}: `{}` prints something else now:\n{printed}", lines[0]));
            }
        }

        // Code the guide names exists after this stage.
        let snapshot = snapshots.join(&slug);
        stage_sh(&[&slug, snapshot.to_str().unwrap()]);
        for (path, item) in code_references(&guide) {
            let read = |base: &Path| {
                let full = base.join(&path);
                fs::read_to_string(&full).or_else(|_| fs::read_dir(&full).map(|_| String::new()))
            };
            let found = read(&snapshot).or_else(|_| read(root()));
            let Ok(text) = found else {
                problems.push(format!(
                    "{name}: names `{path}`, which exists neither after {slug} nor in the finished broker"
                ));
                continue;
            };
            if let Some(item) = item {
                let word = |i: usize| text[i + item.len()..].starts_with(|c: char| !c.is_alphanumeric() && c != '_');
                if !text.match_indices(&item).any(|(i, _)| word(i)) {
                    problems.push(format!("{name}: names `{path}::{item}`, not in that file after {slug}"));
                }
            }
        }
    }
    let _ = fs::remove_dir_all(&snapshots);
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn nothing_points_at_a_document_outside_the_repository() {
    let mut problems = Vec::new();
    let mut stack = vec![root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | ".venv" | "venv" | "__pycache__") {
                    stack.push(path);
                }
                continue;
            }
            let Ok(text) = fs::read_to_string(&path) else { continue };
            for (n, line) in text.lines().enumerate() {
                // Spelled in pieces, so this file does not match itself.
                let outside = [concat!("the con", "tract"), "\u{a7}", concat!("../sha", "red")];
                if outside.iter().any(|w| line.contains(w)) {
                    problems.push(format!("{}:{}: {line}", path.strip_prefix(root()).unwrap().display(), n + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "references to documents outside the repository:\n{}", problems.join("\n"));
}

#[test]
fn every_stage_stays_within_its_size_target() {
    // The learning path's promise: nv3 ≤ 60 lines of code, pv1 ≤ 250, sk0 ≤ 300, wq2 ≤ 800,
    // fd8 ≤ 1,100, ov0 ≤ 1,500 (the targets are in examples/stage.rs).
    let sizes = stage_sh(&["--sizes"]);
    let targets = sizes.lines().filter(|l| l.contains('≤')).count();
    assert_eq!(targets, 6, "six stages have a target:\n{sizes}");
    assert!(!sizes.contains("OVER"), "a stage is over its target:\n{sizes}");
}
