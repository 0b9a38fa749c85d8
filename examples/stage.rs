//! Writes mini-kafka as it stands after one stage of the learning path, from the one source of
//! this repository (the idea comes from *Crafting Interpreters*, whose chapters' code is split out
//! of one annotated source). Run it through `scripts/stage.sh`.
//!
//! The source carries margin notes that say when each piece of code arrived:
//!
//! ```text
//! //> eg2  …  //< eg2      the lines between arrived at stage eg2
//! code; //> eg2            this one line arrived at eg2 (`} //< eg2` closes a block after its line)
//! //> clients {}           the next line opens a block (`if … {`) whose braces arrived at clients;
//!                          before that the block's body stands alone, one level less indented
//! /*> nv3 < wa6  …  */     code of stages nv3 up to wa6, which replaced it: a comment in the
//!                          finished broker, code in the snapshots of nv3, nc5 … up to wa6
//! ```
//!
//! The snapshot of stage S keeps the lines whose stages include S and drops the notes. Every file
//! of `src/` is taken (but `src/bin/`); a file of `tests/` or `examples/` only if its first line
//! opens a block, which says from which stage on it belongs.

use std::fs;
use std::path::{Path, PathBuf};

/// A stage, from its folder `stages/NN-slug-words`.
struct Stage {
    slug: String,
    folder: String,
    /// The first line of its README, without the `#`.
    title: String,
}

/// An open marker: lines inside it exist from stage `from` (an index) to `until` (exclusive).
struct Frame {
    slug: String,
    from: usize,
    until: usize,
    kind: Kind,
}

#[derive(PartialEq)]
enum Kind {
    Block,
    Replaced,
    /// `//> slug {}`: the opener's indentation once it has been seen.
    Wrap(Option<usize>),
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Run from the repository's root (scripts/stage.sh does; so does cargo for the unit tests).
    let root = Path::new(".");
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--sizes"] => sizes(root).map(|table| print!("{table}")),
        ["--list"] => read_stages(root).map(|s| s.iter().for_each(|s| println!("{} {}", s.slug, s.folder))),
        [slug, out] => write_snapshot(root, slug, Path::new(out)),
        _ => Err("usage: stage SLUG OUT_DIR | --sizes | --list".to_string()),
    };
    if let Err(e) = result {
        eprintln!("stage: {e}");
        std::process::exit(1);
    }
}

fn read_stages(root: &Path) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for entry in fs::read_dir(root.join("stages")).map_err(|e| format!("stages/: {e}"))? {
        let folder = entry.map_err(|e| e.to_string())?.file_name().to_string_lossy().into_owned();
        let mut words = folder.splitn(3, '-');
        let (Some(number), Some(slug)) = (words.next(), words.next()) else { continue };
        if number.len() != 2 || !number.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let readme = fs::read_to_string(root.join("stages").join(&folder).join("README.md")).unwrap_or_default();
        let title = readme.lines().next().unwrap_or("").trim_start_matches('#').trim().to_string();
        stages.push(Stage { slug: slug.to_string(), folder, title });
    }
    stages.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(stages)
}

/// Keeps the lines of `text` that exist at stage index `at`, given every stage's slug in order.
fn render(text: &str, at: usize, slugs: &[&str]) -> Result<String, String> {
    let index = |slug: &str, line: usize| {
        slugs.iter().position(|s| *s == slug).ok_or(format!("line {line}: unknown stage '{slug}'"))
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    // How many markers were open when the last doc comment or attribute was kept: code dropped
    // by a marker opened after it is one of several versions of the item they describe.
    let mut docs_depth = 0;
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("//> ") {
            let wrap = rest.ends_with(" {}");
            let slug = rest.trim_end_matches(" {}").trim();
            let from = index(slug, n)?;
            if let Some(outer) = stack.last()
                && from < outer.from
            {
                return Err(format!("line {n}: '{slug}' opens inside '{}', which comes later", outer.slug));
            }
            let kind = if wrap { Kind::Wrap(None) } else { Kind::Block };
            stack.push(Frame { slug: slug.to_string(), from, until: usize::MAX, kind });
            continue;
        }
        if let Some(slug) = trimmed.strip_prefix("//< ") {
            match stack.pop() {
                Some(f) if f.kind == Kind::Block && f.slug == slug => continue,
                _ => return Err(format!("line {n}: '//< {slug}' closes nothing open")),
            }
        }
        if let Some(rest) = trimmed.strip_prefix("/*> ") {
            let Some((from, until)) = rest.split_once(" < ") else {
                return Err(format!("line {n}: expected '/*> FIRST < REPLACED_AT'"));
            };
            let (from, until) = (index(from.trim(), n)?, index(until.trim(), n)?);
            if until <= from {
                return Err(format!("line {n}: a block cannot be replaced before it arrives"));
            }
            stack.push(Frame { slug: rest.to_string(), from, until, kind: Kind::Replaced });
            continue;
        }
        if trimmed == "*/" && stack.last().is_some_and(|f| f.kind == Kind::Replaced) {
            stack.pop();
            continue;
        }
        // An ordinary line: which stages have it, and how far it is indented at stage `at`.
        let (mut from, mut until, mut dedent) = (0, usize::MAX, 0);
        let indent = line.len() - line.trim_start().len();
        let mut closes_wrap = false;
        let top = stack.len().saturating_sub(1);
        for (i, frame) in stack.iter_mut().enumerate() {
            match frame.kind {
                Kind::Wrap(None) if i == top => frame.kind = Kind::Wrap(Some(indent)), // the opener
                Kind::Wrap(Some(opened)) if i == top && opened == indent && trimmed.starts_with('}') => {
                    if trimmed != "}" {
                        return Err(format!("line {n}: a block marked {{}} must end with a lone '}}'"));
                    }
                    closes_wrap = true;
                }
                Kind::Wrap(Some(_)) => {
                    dedent += if at < frame.from { 4 } else { 0 };
                    continue;
                }
                _ => {}
            }
            from = from.max(frame.from);
            until = until.min(frame.until);
        }
        if closes_wrap {
            stack.pop();
        }
        let kept_by_markers = from <= at && at < until;
        let mut code = line;
        if let Some((before, slug)) = line.rsplit_once("//> ")
            && !before.trim().is_empty()
            && !slug.contains(' ')
        {
            if before.trim_end().ends_with('{') {
                return Err(format!("line {n}: rustfmt moves a note after '{{' to the next line; use //> … //<"));
            }
            from = from.max(index(slug.trim(), n)?);
            code = before.trim_end();
        }
        // `} //< slug`: rustfmt pulls a closing note up onto the brace before it.
        let mut closes_block = false;
        if let Some((before, slug)) = line.rsplit_once("//< ")
            && !before.trim().is_empty()
            && !slug.contains(' ')
        {
            match stack.last() {
                Some(f) if f.kind == Kind::Block && f.slug == slug.trim() => closes_block = true,
                _ => return Err(format!("line {n}: '//< {slug}' closes nothing open")),
            }
            code = before.trim_end();
        }
        if from <= at && at < until {
            let spaces = code.len() - code.trim_start().len();
            out.push(code[spaces.min(dedent)..].to_string());
            if trimmed.starts_with("///") || trimmed.starts_with("#[") {
                docs_depth = stack.len();
            }
        } else if !trimmed.is_empty()
            && !trimmed.starts_with("//")
            && !trimmed.starts_with("#[")
            && (kept_by_markers || stack.len() <= docs_depth)
        {
            // Doc comments and attributes go with the item below them.
            while out.last().is_some_and(|l| l.trim_start().starts_with("///") || l.trim_start().starts_with("#[")) {
                out.pop();
            }
        }
        if closes_block {
            stack.pop();
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("'{}' is never closed", open.slug));
    }
    Ok(tidy(&out))
}

/// Drops the blank lines that removed code leaves behind: doubled ones, and ones at the start or
/// end of a block (where rustfmt would not put them either).
fn tidy(lines: &[String]) -> String {
    let mut text = String::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty()).map_or("}", |l| l.trim());
            let previous = text.trim_end();
            if previous.is_empty() || text.ends_with("\n\n") || previous.ends_with('{') || next.starts_with('}') {
                continue;
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Every file the snapshots are made from, relative to the root: `src/` (not `src/bin/`), and the
/// files of `tests/` and `examples/` that open with a marker.
fn source_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() && !path.ends_with("bin") {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples"] {
        walk(&root.join(dir), &mut files);
    }
    files.retain(|p| {
        p.starts_with(root.join("src"))
            || fs::read_to_string(p).is_ok_and(|t| t.lines().next().is_some_and(|l| l.starts_with("//> ")))
    });
    files.iter().map(|p| p.strip_prefix(root).unwrap_or(p).to_path_buf()).collect()
}

/// The snapshot's files (relative path, text) at stage index `at`: the files of `src/` that its
/// `mod` declarations reach from `lib.rs` and `main.rs`, and the non-empty files of the rest.
fn render_all(root: &Path, stages: &[Stage], at: usize) -> Result<Vec<(PathBuf, String)>, String> {
    let slugs: Vec<&str> = stages.iter().map(|s| s.slug.as_str()).collect();
    let mut files = Vec::new();
    for path in source_files(root) {
        let text = fs::read_to_string(root.join(&path)).map_err(|e| format!("{}: {e}", path.display()))?;
        let kept = render(&text, at, &slugs).map_err(|e| format!("{}: {e}", path.display()))?;
        if !kept.trim().is_empty() {
            files.push((path, kept));
        }
    }
    let mut reached: Vec<PathBuf> = vec!["src/lib.rs".into(), "src/main.rs".into()];
    let mut i = 0;
    while i < reached.len() {
        let (file, dir) = (reached[i].clone(), reached[i].with_extension(""));
        let dir = if file.ends_with("mod.rs") || file.parent() == Some(Path::new("src")) {
            file.parent().unwrap_or(Path::new("src")).to_path_buf()
        } else {
            dir
        };
        let text = files.iter().find(|(p, _)| *p == file).map_or("", |(_, t)| t.as_str());
        for line in text.lines().map(str::trim) {
            if let Some(name) =
                line.strip_prefix("pub mod ").or(line.strip_prefix("mod ")).and_then(|m| m.strip_suffix(';'))
            {
                reached.push(dir.join(format!("{name}.rs")));
                reached.push(dir.join(name).join("mod.rs"));
            }
        }
        i += 1;
    }
    files.retain(|(p, _)| !p.starts_with("src") || p.starts_with("src/bin") || reached.contains(p));
    Ok(files)
}

/// Lines of Rust code: not blank, not only a comment, outside `#[cfg(test)]` modules.
fn code_lines(text: &str) -> usize {
    let mut count = 0;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed == "#[cfg(test)]" {
            let indent = &line[..line.len() - line.trim_start().len()];
            lines.by_ref().find(|l| *l == format!("{indent}}}"));
        } else if !trimmed.is_empty() && !trimmed.starts_with("//") {
            count += 1;
        }
    }
    count
}

fn sizes(root: &Path) -> Result<String, String> {
    const TARGETS: &[(&str, usize)] =
        &[("nv3", 60), ("pv1", 250), ("sk0", 300), ("wq2", 800), ("fd8", 1100), ("ov0", 1500)];
    let stages = read_stages(root)?;
    let width = stages.iter().map(|s| s.folder.len()).max().unwrap_or(0);
    let mut table = format!("{:<width$} {:>6} {:>6}  target\n", "stage", "lines", "added");
    let mut previous = 0;
    let scratch = std::env::temp_dir().join(format!("mini-kafka-sizes-{}", std::process::id()));
    for (at, stage) in stages.iter().enumerate() {
        // Counted in the snapshot as written (formatted), the way a reader sees it.
        let dir = scratch.join(&stage.slug);
        write_snapshot(root, &stage.slug, &dir)?;
        let files = render_all(root, &stages, at)?;
        let text = |p: &Path| fs::read_to_string(dir.join(p)).unwrap_or_default();
        let lines: usize = files.iter().filter(|(p, _)| p.starts_with("src")).map(|(p, _)| code_lines(&text(p))).sum();
        let target = match TARGETS.iter().find(|(slug, _)| *slug == stage.slug) {
            Some(&(_, max)) => format!("≤ {max} {}", if lines <= max { "ok" } else { "OVER" }),
            None => String::new(),
        };
        table += &format!("{:<width$} {lines:>6} {:>+6}  {target}\n", stage.folder, lines as i64 - previous as i64);
        previous = lines;
    }
    let _ = fs::remove_dir_all(&scratch);
    Ok(table)
}

fn write_snapshot(root: &Path, slug: &str, out: &Path) -> Result<(), String> {
    let stages = read_stages(root)?;
    let at = stages.iter().position(|s| s.slug == slug).ok_or(format!("no stage '{slug}' in stages/"))?;
    let stage = &stages[at];
    let write = |path: &Path, text: &str| {
        let path = out.join(path);
        fs::create_dir_all(path.parent().unwrap_or(out)).and_then(|()| fs::write(&path, text))
    };
    let files = render_all(root, &stages, at)?;
    for (path, text) in &files {
        write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    // Lines the notes removed can leave a call or a list shorter than rustfmt would write it.
    let rust: Vec<PathBuf> = files.iter().map(|(p, _)| out.join(p)).collect();
    let config = root.join("rustfmt.toml");
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--config-path"])
        .arg(&config)
        .args(&rust)
        .status();
    // Runtime crates: those the snapshot's code names (`log::info!`, not `crate::log::…`).
    let code: String = files.iter().filter(|(p, _)| !p.starts_with("tests")).map(|(_, t)| t.as_str()).collect();
    let manifest = fs::read_to_string(root.join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    let mut cargo = String::from(
        "[package]\nname = \"mini-kafka\"\nversion = \"0.1.0\"\nedition = \"2024\"\nlicense = \"MIT\"\n\
         description = \"mini-kafka as it stands after one stage of its learning path\"\n\n[dependencies]\n",
    );
    let dependencies = manifest.split("[dependencies]\n").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
    for line in dependencies.lines().filter(|l| l.contains(" = ")) {
        let krate = line.split(' ').next().unwrap_or("").replace('-', "_");
        let named = code
            .match_indices(&format!("{krate}::"))
            .any(|(i, _)| !code[..i].ends_with(|c: char| c == ':' || c == '_' || c.is_alphanumeric()));
        if named {
            cargo += &format!("{line}\n");
        }
    }
    write(Path::new("Cargo.toml"), &cargo).map_err(|e| e.to_string())?;
    let mut readme = format!(
        "# mini-kafka after stage {}\n\nThe broker as it stands after this stage of the learning path, generated from \
         the finished mini-kafka by `scripts/stage.sh {slug}`. What this stage added: \
         [`stages/{}/README.md`](stages/{}/README.md).\n\n```sh\ncargo run --release                       \
         # the broker on localhost:9092\ncargo run --release -- server.properties  # with a Kafka-style config\n\
         cargo test                                # the tests of every stage so far\n```\n\nThe facts every stage \
         relies on (the wire format, the runner's files) are in [`stages/REFERENCE.md`](stages/REFERENCE.md). \
         To go on from here, this repository is a starting point: the next stage's guide, in the full \
         mini-kafka, shows what it adds.\n\n## The stages so far\n\n",
        stage.title, stage.folder, stage.folder
    );
    for s in &stages[..=at] {
        readme += &format!("- [{}](stages/{}/README.md)\n", s.title, s.folder);
    }
    write(Path::new("README.md"), &readme).map_err(|e| e.to_string())?;
    // Copied as they are: the runner's files, the toolchain settings and the stages so far.
    let mut copies: Vec<PathBuf> = ["your_program.sh", "codecrafters.yml", ".codecrafters/compile.sh"]
        .iter()
        .chain(&[".codecrafters/run.sh", "rustfmt.toml", ".gitignore", "Cargo.lock", "stages/REFERENCE.md"])
        .map(PathBuf::from)
        .collect();
    for s in &stages[..=at] {
        let dir = Path::new("stages").join(&s.folder);
        let entries = fs::read_dir(root.join(&dir)).map_err(|e| format!("{}: {e}", dir.display()))?;
        copies.extend(entries.flatten().map(|e| dir.join(e.file_name())));
    }
    for path in copies.iter().filter(|p| root.join(p).exists()) {
        fs::create_dir_all(out.join(path).parent().unwrap_or(out))
            .and_then(|()| fs::copy(root.join(path), out.join(path)))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLUGS: &[&str] = &["vi6", "nv3", "wa6", "nh4"];

    fn at(text: &str, slug: &str) -> String {
        render(text, SLUGS.iter().position(|s| *s == slug).unwrap(), SLUGS).unwrap()
    }

    #[test]
    fn blocks_and_single_lines_arrive_at_their_stage() {
        let text = "a\n//> nv3\nb\n    //> wa6\n    c {\n    } //< wa6\n//< nv3\nd //> nh4\n";
        assert_eq!(at(text, "vi6"), "a\n");
        assert_eq!(at(text, "nv3"), "a\nb\n");
        assert_eq!(at(text, "wa6"), "a\nb\n    c {\n    }\n");
        assert_eq!(at(text, "nh4"), "a\nb\n    c {\n    }\nd\n");
    }

    #[test]
    fn replaced_code_lives_until_its_successor_arrives() {
        let text = "fn f() {\n/*> nv3 < nh4\n    old();\n*/\n    new(); //> nh4\n}\n";
        assert_eq!(at(text, "vi6"), "fn f() {\n}\n");
        assert_eq!(at(text, "wa6"), "fn f() {\n    old();\n}\n");
        assert_eq!(at(text, "nh4"), "fn f() {\n    new();\n}\n");
    }

    #[test]
    fn a_wrapper_arrives_around_older_lines() {
        let text = "x\n//> wa6 {}\nif v {\n    y\n    if w {\n        z\n    }\n}\n";
        assert_eq!(at(text, "nv3"), "x\ny\nif w {\n    z\n}\n");
        assert_eq!(at(text, "wa6"), "x\nif v {\n    y\n    if w {\n        z\n    }\n}\n");
    }

    #[test]
    fn removed_code_leaves_no_doubled_or_dangling_blank_lines() {
        let text = "a {\n\n//> nh4\n    b\n//< nh4\n\n    c\n\n//> nh4\n    d\n//< nh4\n}\n";
        assert_eq!(at(text, "vi6"), "a {\n    c\n}\n");
    }

    #[test]
    fn doc_comments_stay_with_whichever_version_of_their_item_is_kept() {
        let text = "/// a\n/*> nv3 < nh4\nfn a() {}\n*/\n//> nh4\nfn b() {}\n//< nh4\n";
        assert_eq!(at(text, "wa6"), "/// a\nfn a() {}\n");
        assert_eq!(at(text, "nh4"), "/// a\nfn b() {}\n");
    }

    #[test]
    fn doc_comments_and_attributes_leave_with_their_item() {
        let text = "/// a\n#[derive(Debug)]\nstruct A; //> nh4\n/// b\nstruct B;\n";
        assert_eq!(at(text, "wa6"), "/// b\nstruct B;\n");
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        let err = |text: &str| render(text, 0, SLUGS).unwrap_err();
        assert!(err("//> xyz\n").contains("line 1: unknown stage 'xyz'"));
        assert!(err("//> nv3\n").contains("never closed"));
        assert!(err("a\n//< nv3\n").contains("line 2"));
        assert!(err("/*> nh4 < nv3\n*/\n").contains("line 1"));
        assert!(err("//> wa6\n//> nv3\n//< nv3\n//< wa6\n").contains("line 2"));
    }

    #[test]
    fn code_lines_leave_out_comments_blanks_and_unit_tests() {
        let text =
            "//! doc\n#[inline]\nfn a() {\n    // why\n\n}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\nfn b() {}\n";
        assert_eq!(code_lines(text), 4);
    }
}
