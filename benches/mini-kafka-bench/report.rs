//! The report: a table (median of the rounds, broker against limit, and the cores each side
//! used), notes on what bounded each throughput figure, and one JSON line with every figure.

use crate::broker::{LogMode, RETENTION_BYTES, SEGMENT_BYTES};
use crate::checks::Tally;
use crate::connections::ConnectionsRound;
use crate::generator::PhaseResult;
use crate::options::Options;
use crate::process::{Cores, CpuUse};
use crate::{MIB, PARTITIONS};
use std::fmt::Write as _;
use std::thread;

/// Everything measured, round by round: (broker, limit) pairs.
#[derive(Default)]
pub struct Rounds {
    pub produce: Vec<(PhaseResult, PhaseResult)>,
    /// The sink keeping a copy of every request (an in-memory log's floor cost).
    pub produce_keep: Vec<PhaseResult>,
    /// The broker with log.dirs (segment write-through), when the main pass was in memory.
    pub produce_dir: Vec<PhaseResult>,
    pub small_dir: Vec<(PhaseResult, PhaseResult)>,
    /// How the main pass's broker kept its log.
    pub mode: LogMode,
    pub fetch: Vec<(PhaseResult, PhaseResult)>,
    pub small: Vec<(PhaseResult, PhaseResult)>,
    pub stored: Vec<f64>,
    pub rss_stored: Vec<f64>,
    pub rss_peak: Vec<f64>,
    pub rss_idle: f64,
    pub sustained: Option<Sustained>,
    pub connections: Vec<ConnectionsRound>,
    pub broker_warnings: Vec<String>,
}

/// The sustained case (run once): the sink, the broker with retention, and again with log.dirs.
pub struct Sustained {
    pub limit: PhaseResult,
    pub broker: PhaseResult,
    /// The broker's RSS at the end, bytes.
    pub broker_rss: f64,
    /// Why the run stopped early, if it did.
    pub broker_cut: Option<String>,
    /// The same with `log.dirs`: result, RSS at the end, why it stopped early.
    pub dir: Option<(PhaseResult, f64, Option<String>)>,
}

/// The sustained case's memory target: every partition's retention plus its active segment,
/// and 64 MiB for the rest of the broker.
pub fn sustained_rss_target() -> f64 {
    PARTITIONS as f64 * (RETENTION_BYTES + SEGMENT_BYTES) as f64 + 64.0 * MIB
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 })
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Cores busy on average over some runs: the median of each figure.
fn median_cores<'a>(runs: impl Iterator<Item = &'a CpuUse>) -> Option<Cores> {
    let all: Vec<Cores> = runs.filter_map(CpuUse::cores).collect();
    let m = |f: fn(&Cores) -> f64| median(&all.iter().map(f).collect::<Vec<_>>());
    Some(Cores {
        generator: m(|c| c.generator)?,
        server: m(|c| c.server)?,
        generator_user: m(|c| c.generator_user)?,
        server_user: m(|c| c.server_user)?,
        others: m(|c| c.others)?,
        steal: m(|c| c.steal)?,
    })
}

/// One line of the table.
struct Row {
    key: &'static str,
    figure: String,
    broker: Option<f64>,
    limit: Option<f64>,
    /// broker / limit.
    ratio: Option<f64>,
    target: String,
    pass: Option<bool>,
    decimals: usize,
    /// Cores used in the broker's run and in the limit's run (throughput rows).
    cores: (Option<Cores>, Option<Cores>),
    /// One request at a time: round trips bound it, whatever the cores say.
    one_at_a_time: bool,
    /// The JSON name of the limit column (default `<key>_limit`).
    limit_key: Option<&'static str>,
    /// Whether the broker column appears in the JSON line (not when it repeats another row's).
    broker_in_json: bool,
}

impl Row {
    fn new(key: &'static str, figure: impl Into<String>, (broker, limit): (Option<f64>, Option<f64>)) -> Row {
        let ratio = match (broker, limit) {
            (Some(b), Some(l)) if l > 0.0 => Some(b / l),
            _ => None,
        };
        Row {
            key,
            figure: figure.into(),
            broker,
            limit,
            ratio,
            target: String::new(),
            pass: None,
            decimals: 1,
            cores: (None, None),
            one_at_a_time: false,
            limit_key: None,
            broker_in_json: true,
        }
    }

    fn target(mut self, target: &str, pass: Option<bool>) -> Row {
        (self.target, self.pass) = (target.to_string(), pass);
        self
    }

    fn decimals(mut self, decimals: usize) -> Row {
        self.decimals = decimals;
        self
    }

    fn cores(mut self, broker: Option<Cores>, limit: Option<Cores>) -> Row {
        self.cores = (broker, limit);
        self
    }

    fn one_at_a_time(mut self) -> Row {
        self.one_at_a_time = true;
        self
    }
}

pub struct Report {
    rows: Vec<Row>,
    errors: Tally,
    limit_errors: Tally,
    cut: Vec<String>,
    extra_json: Vec<(String, String)>,
    cores: usize,
}

fn num(x: Option<f64>, d: usize) -> String {
    x.filter(|x| x.is_finite()).map_or("null".to_string(), |x| format!("{x:.d$}"))
}

impl Report {
    pub fn new(opts: &Options, r: &Rounds, elapsed: f64) -> Report {
        let med = |f: &dyn Fn(&PhaseResult) -> f64, pairs: &[(PhaseResult, PhaseResult)]| {
            let b: Vec<f64> = pairs.iter().map(|(b, _)| f(b)).collect();
            let l: Vec<f64> = pairs.iter().map(|(_, l)| f(l)).collect();
            (median(&b), median(&l))
        };
        let cores_of = |pairs: &[(PhaseResult, PhaseResult)]| {
            (median_cores(pairs.iter().map(|(b, _)| &b.cpu)), median_cores(pairs.iter().map(|(_, l)| &l.cpu)))
        };
        let ratio_pass = |(b, l): (Option<f64>, Option<f64>), f: fn(f64) -> bool| match (b, l) {
            (Some(b), Some(l)) if l > 0.0 => Some(f(b / l)),
            _ => None,
        };
        let mut rows = Vec::new();
        let gib = opts.bytes as f64 / (MIB * 1024.0);

        let produce_mb = med(&|p| p.mb_per_s(), &r.produce);
        let (produce_cores, limit_cores) = cores_of(&r.produce);
        rows.push(
            Row::new("produce_mb_s", "produce 100×1 KiB batches, 4 conn × 8 in flight: MB/s", produce_mb)
                .target("≥ 0.5× limit", ratio_pass(produce_mb, |x| x >= 0.5))
                .cores(produce_cores, limit_cores),
        );
        let keep = median(&r.produce_keep.iter().map(|p| p.mb_per_s()).collect::<Vec<_>>());
        let mut row = Row::new(
            "produce_vs_keep",
            "  limit 2: a sink keeping every request in fresh memory, MB/s",
            (produce_mb.0, keep),
        )
        .cores(None, median_cores(r.produce_keep.iter().map(|p| &p.cpu)));
        (row.limit_key, row.broker_in_json) = (Some("produce_keep_limit_mb_s"), false); // the broker is produce_mb_s
        rows.push(row);
        let dir_mb = median(&r.produce_dir.iter().map(|p| p.mb_per_s()).collect::<Vec<_>>());
        if dir_mb.is_some() {
            rows.push(
                Row::new(
                    "produce_dir_mb_s",
                    "  the broker with log.dirs (write-through), MB/s",
                    (dir_mb, produce_mb.1),
                )
                .cores(median_cores(r.produce_dir.iter().map(|p| &p.cpu)), None),
            );
        }
        rows.push(
            Row::new(
                "produce_records_s",
                "produce 100×1 KiB batches: records/s",
                med(&|p| p.records_per_s(), &r.produce),
            )
            .decimals(0),
        );

        let (small_cores, small_limit_cores) = cores_of(&r.small);
        rows.push(
            Row::new(
                "small_records_s",
                "produce 1×100 B, 1 conn × 1 in flight: records/s",
                med(&|p| p.records_per_s(), &r.small),
            )
            .decimals(0)
            .cores(small_cores, small_limit_cores)
            .one_at_a_time(),
        );
        rows.push(Row::new("small_p50_us", "  latency p50, µs", med(&|p| p.percentile(50.0), &r.small)));
        let p99 = med(&|p| p.percentile(99.0), &r.small);
        rows.push(
            Row::new("small_p99_us", "  latency p99, µs", p99).target("≤ 2× limit", ratio_pass(p99, |x| x <= 2.0)),
        );
        let dir_p99 = med(&|p| p.percentile(99.0), &r.small_dir);
        if dir_p99.0.is_some() {
            rows.push(Row::new("small_dir_p99_us", "  latency p99 with log.dirs (write-through), µs", dir_p99));
        }
        rows.push(Row::new("small_max_us", "  latency max, µs", med(&|p| p.percentile(100.0), &r.small)));

        let fetch_mb = med(&|p| p.mb_per_s(), &r.fetch);
        let (fetch_cores, fetch_limit_cores) = cores_of(&r.fetch);
        rows.push(
            Row::new("fetch_mb_s", format!("fetch {gib:.3} GiB, 4 partitions × 4 conn: MB/s"), fetch_mb)
                .target("≥ 0.5× limit", ratio_pass(fetch_mb, |x| x >= 0.5))
                .cores(fetch_cores, fetch_limit_cores),
        );

        // Memory: "limit" is the bytes stored, the ratio RSS / stored.
        let stored = median(&r.stored);
        let rss = median(&r.rss_stored);
        let pass = match (rss, stored) {
            (Some(rss), Some(stored)) => Some(rss <= 1.2 * stored + 32.0 * MIB),
            _ => None,
        };
        let mut row = Row::new(
            "rss_after_store_mib",
            "broker RSS after storing, no retention (limit column: MiB stored), MiB",
            (rss.map(|x| x / MIB), stored.map(|x| x / MIB)),
        )
        .target("≤ 1.2× stored + 32 MiB", pass);
        row.limit_key = Some("stored_mib");
        rows.push(row);

        if let Some(s) = &r.sustained {
            let mb = (Some(s.broker.mb_per_s()), Some(s.limit.mb_per_s()));
            rows.push(
                Row::new(
                    "sustained_mb_s",
                    format!(
                        "sustained produce {:.0} s, retention {} MiB × {PARTITIONS} partitions: MB/s",
                        opts.sustained_seconds,
                        RETENTION_BYTES >> 20
                    ),
                    mb,
                )
                .target("≥ 0.5× limit", ratio_pass(mb, |x| x >= 0.5))
                .cores(s.broker.cpu.cores(), s.limit.cpu.cores()),
            );
            let target = sustained_rss_target();
            let mut row = Row::new(
                "sustained_rss_mib",
                "  broker RSS at the end (limit column: the target), MiB",
                (Some(s.broker_rss / MIB), Some(target / MIB)),
            )
            .target(&format!("≤ {:.0} MiB", target / MIB), Some(s.broker_rss <= target));
            row.limit_key = Some("sustained_rss_target_mib");
            rows.push(row);
            if let Some((dir, dir_rss, _)) = &s.dir {
                rows.push(
                    Row::new("sustained_dir_mb_s", "  the same with log.dirs, MB/s", (Some(dir.mb_per_s()), mb.1))
                        .cores(dir.cpu.cores(), None),
                );
                rows.push(Row::new(
                    "sustained_dir_rss_mib",
                    "  broker RSS at the end with log.dirs, MiB",
                    (Some(dir_rss / MIB), None),
                ));
            }
        }

        let answered: Vec<f64> = r.connections.iter().map(|c| c.answered as f64).collect();
        let min_answered = answered.iter().copied().reduce(f64::min);
        let all = opts.connections as f64;
        rows.push(
            Row::new(
                "connections_answered",
                format!("connections answered (of {}; worst round)", opts.connections),
                (min_answered, None),
            )
            .target(&format!("all {}", opts.connections), min_answered.map(|a| a >= all))
            .decimals(0),
        );
        let all_connect_ms: Vec<f64> = r.connections.iter().flat_map(|c| c.connect_ms.iter().copied()).collect();
        let slowest_connect = all_connect_ms.iter().copied().reduce(f64::max);
        let retried = all_connect_ms.iter().filter(|&&ms| ms >= 900.0).count();
        rows.push(
            Row::new(
                "connections_secs",
                format!("  time to connect and answer all {}, s", opts.connections),
                (median(&r.connections.iter().map(|c| c.secs).collect::<Vec<_>>()), None),
            )
            .decimals(2),
        );
        rows.push(Row::new(
            "slowest_connect_ms",
            "  slowest connect (≥ 1000 ms: SYN retransmitted), ms",
            (slowest_connect, None),
        ));
        let conn_rss = median(&r.connections.iter().map(|c| c.rss as f64).collect::<Vec<_>>());
        rows.push(
            Row::new(
                "connections_rss_mib",
                format!("broker RSS with {} connections open, MiB", opts.connections),
                (conn_rss.map(|x| x / MIB), None),
            )
            .target("< 256 MiB", conn_rss.map(|x| x < 256.0 * MIB)),
        );

        let mut errors = Tally::default();
        let mut limit_errors = Tally::default();
        let mut cut = Vec::new();
        for (name, pairs) in [("produce", &r.produce), ("fetch", &r.fetch), ("small produce", &r.small)] {
            for (i, (b, l)) in pairs.iter().enumerate() {
                errors.merge(&b.errors);
                limit_errors.merge(&l.errors);
                // The small-record phases are bounded by time on purpose: not a cut.
                if b.cut && name != "small produce" {
                    cut.push(format!("broker {name}, round {}", i + 1));
                }
                if l.cut && name != "small produce" {
                    cut.push(format!("limit {name}, round {}", i + 1));
                }
            }
        }
        for (b, l) in &r.small_dir {
            errors.merge(&b.errors);
            limit_errors.merge(&l.errors);
        }
        for p in &r.produce_keep {
            limit_errors.merge(&p.errors);
        }
        for (i, p) in r.produce_dir.iter().enumerate() {
            errors.merge(&p.errors);
            if p.cut {
                cut.push(format!("broker produce with log.dirs, round {}", i + 1));
            }
        }
        if let Some(s) = &r.sustained {
            // Sustained runs end at their deadline on purpose: only an early stop is a cut.
            errors.merge(&s.broker.errors);
            limit_errors.merge(&s.limit.errors);
            if let Some(why) = &s.broker_cut {
                cut.push(format!("sustained produce: {why}"));
            }
            if let Some((dir, _, why)) = &s.dir {
                errors.merge(&dir.errors);
                if let Some(why) = why {
                    cut.push(format!("sustained produce with log.dirs: {why}"));
                }
            }
        }
        for c in &r.connections {
            errors.merge(&c.errors);
        }
        rows.push(
            Row::new(
                "errors",
                "failed requests (error code, bad or missing answer)",
                (Some(errors.total() as f64), Some(limit_errors.total() as f64)),
            )
            .target("0", Some(errors.total() == 0 && limit_errors.total() == 0))
            .decimals(0),
        );

        let mut extra: Vec<(String, String)> = vec![
            ("stored_bytes".into(), num(stored, 0)),
            ("rss_after_store_bytes".into(), num(rss, 0)),
            ("rss_over_stored".into(), num(rss.zip(stored).map(|(r, s)| r / s), 3)),
            ("rss_peak_bytes".into(), num(median(&r.rss_peak), 0)),
            ("rss_idle_bytes".into(), num(Some(r.rss_idle), 0)),
            ("connections".into(), opts.connections.to_string()),
            ("connections_rss_bytes".into(), num(conn_rss, 0)),
            (
                "connections_second_request".into(),
                json_string(r.connections.first().map_or("", |c| c.second_request.as_str())),
            ),
            ("connects_retried".into(), retried.to_string()),
            ("small_mb_s".into(), num(med(&|p| p.mb_per_s(), &r.small).0, 3)),
            ("small_limit_mb_s".into(), num(med(&|p| p.mb_per_s(), &r.small).1, 3)),
            ("small_samples".into(), num(med(&|p| p.latencies_us.len() as f64, &r.small).0, 0)),
        ];
        if let Some(s) = &r.sustained {
            extra.push(("sustained_seconds".into(), format!("{:.1}", opts.sustained_seconds)));
            extra.push(("sustained_cut".into(), s.broker_cut.as_deref().map_or("null".into(), json_string)));
            let dir_cut = s.dir.as_ref().and_then(|(_, _, c)| c.as_deref());
            extra.push(("sustained_dir_cut".into(), dir_cut.map_or("null".into(), json_string)));
        }
        extra.push(("broker_warnings".into(), r.broker_warnings.len().to_string()));
        extra.push(("rounds".into(), opts.rounds.to_string()));
        extra.push(("log_mode".into(), json_string(r.mode.name())));
        extra.push(("elapsed_s".into(), format!("{elapsed:.1}")));
        let cores = thread::available_parallelism().map_or(0, |n| n.get());
        extra.push(("cores".into(), cores.to_string()));
        Report { rows, errors, limit_errors, cut, extra_json: extra, cores }
    }

    pub fn all_pass(&self) -> bool {
        self.rows.iter().all(|r| r.pass != Some(false))
            && self.rows.iter().filter(|r| !r.target.is_empty()).all(|r| r.pass.is_some())
    }

    pub fn render_header(&self, opts: &Options, mode: LogMode) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                })
            })
            .unwrap_or_else(|| "?".into());
        let mut s = String::new();
        let _ = writeln!(s, "# mini-kafka benchmark {}", opts.label);
        let _ =
            writeln!(s, "machine: {} cores ({cpu}); loopback 127.0.0.1; client and server share the cores", self.cores);
        let _ = writeln!(
            s,
            "broker:  {} as a child process; {}",
            opts.broker.display(),
            match mode {
                LogMode::Memory =>
                    "in-memory log (no log.dirs, topics made with CreateTopics); rows marked \"log.dirs\" rerun with a log dir \
                (segment write-through to the page cache, no fsync)",
                LogMode::Dir =>
                    "log.dirs in the temp dir (segment write-through to the page cache, no fsync); topics from a metadata log",
            }
        );
        let _ = writeln!(
            s,
            "limit:   a sink process (this bench, --serve-sink) that reads each request into one reused buffer and answers \
            at once (no storing, no checking); same client loop"
        );
        let _ = writeln!(
            s,
            "figures: median of {} rounds (sustained: one run); MB = 10^6 bytes of record batches; ratio = broker / limit",
            opts.rounds
        );
        let _ = writeln!(
            s,
            "cores:   CPU time / wall time of the run from /proc/<pid>/stat, generator+server (server: the broker, or the \
            sink in the limit run), of {} cores; \"others\": every other process (from /proc/stat)",
            self.cores
        );
        let _ = writeln!(s);
        s
    }

    pub fn render_table(&self) -> String {
        let fmt =
            |x: Option<f64>, d: usize| x.filter(|x| x.is_finite()).map_or("-".to_string(), |x| format!("{x:.d$}"));
        let fmt_cores = |c: Option<Cores>| c.map_or(String::new(), |c| format!("{:.2}+{:.2}", c.generator, c.server));
        let lines: Vec<[String; 8]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.figure.clone(),
                    fmt(r.broker, r.decimals),
                    fmt(r.limit, r.decimals),
                    fmt(r.ratio, 2),
                    if r.target.is_empty() { "-".into() } else { r.target.clone() },
                    match r.pass {
                        Some(true) => "PASS".into(),
                        Some(false) => "FAIL".into(),
                        None if r.target.is_empty() => "-".into(),
                        None => "n/a".into(),
                    },
                    fmt_cores(r.cores.0),
                    fmt_cores(r.cores.1),
                ]
            })
            .collect();
        let head = ["figure", "broker", "limit", "ratio", "target", "pass", "cores broker run", "cores limit run"]
            .map(String::from);
        let mut widths = head.clone().map(|h| h.chars().count());
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.chars().count());
            }
        }
        let render = |cells: &[String; 8]| {
            let mut s = String::from("|");
            for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
                let pad = " ".repeat(w - c.chars().count());
                if i == 0 || i == 4 {
                    let _ = write!(s, " {c}{pad} |");
                } else {
                    let _ = write!(s, " {pad}{c} |");
                }
            }
            s.push('\n');
            s
        };
        let mut s = render(&head);
        s.push('|');
        for w in widths {
            let _ = write!(s, "{}|", "-".repeat(w + 2));
        }
        s.push('\n');
        for l in &lines {
            s.push_str(&render(l));
        }
        s
    }

    /// What bounded one run: the cores used, and which side used them.
    fn bound(&self, cores: Option<Cores>, server: &str, one_at_a_time: bool) -> String {
        let Some(c) = cores else { return "?".into() };
        let n = self.cores as f64;
        let (g, s) = (c.generator, c.server);
        let idle = (n - g - s - c.others - c.steal).max(0.0);
        let used = format!(
            "generator {g:.2} (user {:.2}) + {server} {s:.2} (user {:.2}); others {:.2}, steal {:.2}, idle {idle:.2} of {n:.0}",
            c.generator_user, c.server_user, c.others, c.steal
        );
        let verdict = if one_at_a_time {
            "one request at a time: round trips (wake-ups) bound it, not CPU".to_string()
        } else if idle > 0.15 * n {
            "cores not full: neither side CPU-bound (round trips, wake-ups)".to_string()
        } else {
            let (big, small, b, l) = if s >= g { (server, "generator", s, g) } else { ("generator", server, g, s) };
            let mut v = format!("cores full; the {big} takes {:.1}× the {small}'s CPU", b / l.max(0.01));
            if g > s && c.generator_user < 0.1 * g {
                v += ", nearly all of it kernel time (copies into the socket, loopback TCP), not the generator's code";
            }
            v
        };
        let crowded = if c.others + c.steal > 0.2 { " (other work took part of the cores: noisy)" } else { "" };
        format!("{used}: {verdict}{crowded}")
    }

    pub fn render_notes(&self, r: &Rounds) -> String {
        let mut s = String::new();
        let _ = writeln!(s);
        let _ = writeln!(s, "what bounded each throughput figure (cores busy on average over the run):");
        for row in self.rows.iter().filter(|r| r.cores != (None, None)) {
            let name = ["MB/s", "records/s"]
                .iter()
                .fold(row.figure.trim(), |f, unit| f.trim_end_matches(unit).trim_end_matches([',', ':', ' ']));
            let _ = writeln!(s, "  {name}:");
            if row.cores.0.is_some() {
                let _ = writeln!(s, "    broker run: {}", self.bound(row.cores.0, "broker", row.one_at_a_time));
            }
            if row.cores.1.is_some() {
                let _ = writeln!(s, "    limit run:  {}", self.bound(row.cores.1, "sink", row.one_at_a_time));
            }
        }
        let _ = writeln!(s);
        if let Some(c) = r.connections.first() {
            let _ = writeln!(s, "connections: {}", c.second_request);
        }
        if !self.cut.is_empty() {
            let _ = writeln!(s, "cut short (figures cover what was done): {}", self.cut.join("; "));
        }
        for (who, tally) in [("broker", &self.errors), ("limit", &self.limit_errors)] {
            for (what, n) in &tally.0 {
                let _ = writeln!(s, "ERROR ({who}) ×{n}: {what}");
            }
        }
        for w in r.broker_warnings.iter().take(10) {
            let _ = writeln!(s, "broker log: {w}");
        }
        if r.broker_warnings.len() > 10 {
            let _ = writeln!(s, "broker log: ... {} more warnings", r.broker_warnings.len() - 10);
        }
        let elapsed = self.extra_json.iter().find(|(k, _)| k == "elapsed_s").map_or("?", |(_, v)| v.as_str());
        let _ = writeln!(s, "run time: {elapsed} s (build excluded)");
        let _ = writeln!(s, "overall: {}", if self.all_pass() { "PASS" } else { "FAIL" });
        s
    }

    pub fn render_json(&self) -> String {
        let mut fields: Vec<(String, String)> = vec![("bench".into(), json_string("mini-kafka"))];
        for r in &self.rows {
            if r.broker_in_json {
                fields.push((r.key.to_string(), num(r.broker, r.decimals)));
            }
            let limit_key = r.limit_key.map_or_else(|| format!("{}_limit", r.key), str::to_string);
            if r.limit.is_some() {
                fields.push((limit_key.clone(), num(r.limit, r.decimals)));
            }
            if r.ratio.is_some() {
                fields.push((format!("{}_ratio", r.key), num(r.ratio, 3)));
            }
            if let Some(pass) = r.pass {
                fields.push((format!("{}_pass", r.key), pass.to_string()));
            }
            for (prefix, cores) in [(r.key, r.cores.0), (limit_key.as_str(), r.cores.1)] {
                if let Some(c) = cores {
                    for (what, x) in [
                        ("generator", c.generator),
                        ("generator_user", c.generator_user),
                        ("server", c.server),
                        ("server_user", c.server_user),
                        ("others", c.others),
                        ("steal", c.steal),
                    ] {
                        fields.push((format!("{prefix}_cores_{what}"), num(Some(x), 2)));
                    }
                }
            }
        }
        fields.extend(self.extra_json.iter().cloned());
        fields.push(("all_pass".into(), self.all_pass().to_string()));
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", json_string(k))).collect();
        format!("{{{}}}", body.join(","))
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
