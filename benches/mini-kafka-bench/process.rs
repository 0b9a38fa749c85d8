//! Child processes (the broker, the sink) and what `/proc` says about them and about this
//! process: CPU time and memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

/// The children running right now and the broker directories to remove, for the watchdog
/// (which cannot reach their owners).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Notes a child (and appends its pid to the pid file, for `bench.sh` to clean up after a kill).
pub fn register(pid: u32, dir: Option<&Path>, pid_file: Option<&Path>) {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).push(pid);
    if let Some(dir) = dir {
        DIRS.lock().unwrap_or_else(|p| p.into_inner()).push(dir.to_path_buf());
    }
    if let Some(path) = pid_file {
        append_pid(path, pid);
    }
}

pub fn append_pid(pid_file: &Path, pid: u32) {
    let line = format!("{pid}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(pid_file)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Forgets a child that has been stopped, and its directory (removed by the caller).
pub fn unregister(pid: u32, dir: Option<&Path>) {
    CHILDREN.lock().unwrap_or_else(|p| p.into_inner()).retain(|&p| p != pid);
    if let Some(dir) = dir {
        DIRS.lock().unwrap_or_else(|p| p.into_inner()).retain(|d| d != dir);
    }
}

/// Kills every child and removes their directories (the watchdog, before it ends the process).
pub fn kill_all() {
    for pid in std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|p| p.into_inner())) {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    for dir in std::mem::take(&mut *DIRS.lock().unwrap_or_else(|p| p.into_inner())) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`: 100 on every Linux
/// architecture; `getconf CLK_TCK` says so, and std cannot ask `sysconf`).
const CLOCK_TICKS: f64 = 100.0;

/// CPU time of a process (all its threads, living and ended), in seconds: (user + system, user).
/// `None` for this process. User time is the program's own code; system time is the kernel
/// working for it (copies to and from sockets, TCP, page faults). Fields 14 and 15 of
/// `/proc/<pid>/stat`, counted after the command name, which is in parentheses and may hold
/// spaces.
pub fn cpu_seconds(pid: Option<u32>) -> Option<(f64, f64)> {
    let path = pid.map_or_else(|| "/proc/self/stat".to_string(), |pid| format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(path).ok()?;
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // field 3 (state) is the first
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(((utime + stime) / CLOCK_TICKS, utime / CLOCK_TICKS))
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS:`, `VmHWM:`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("{path}: no {}", field.trim_end_matches(':')))
}

/// The whole machine's CPU time from the first line of `/proc/stat`, in seconds summed over all
/// cores: (busy, stolen). Busy is every state but idle, iowait and steal; steal is time the
/// hypervisor gave this virtual machine's cores to someone else.
pub fn machine_seconds() -> Option<(f64, f64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line.split_whitespace().take(8).map(|f| f.parse().unwrap_or(0.0)).collect();
    let [user, nice, system, _idle, _iowait, irq, softirq, steal] = v[..] else { return None };
    Some(((user + nice + system + irq + softirq) / CLOCK_TICKS, steal / CLOCK_TICKS))
}

/// The CPU used during a phase, in seconds: this process, the server, the whole machine. Phases
/// run one after the other add up; `cores` divides by the wall time.
#[derive(Clone, Copy, Default, Debug)]
pub struct CpuUse {
    pub wall: f64,
    /// This process: the load generator.
    pub generator: f64,
    /// The broker or the sink.
    pub server: f64,
    /// Of which user time (the programs' own code).
    pub generator_user: f64,
    pub server_user: f64,
    /// All processes (and interrupts), these two included.
    pub machine: f64,
    pub steal: f64,
}

/// [`CpuUse`] as cores busy on average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cores {
    pub generator: f64,
    pub server: f64,
    pub generator_user: f64,
    pub server_user: f64,
    /// Every other process (other work on the machine, kernel threads).
    pub others: f64,
    pub steal: f64,
}

impl CpuUse {
    pub fn add(&mut self, other: &CpuUse) {
        self.wall += other.wall;
        self.generator += other.generator;
        self.server += other.server;
        self.generator_user += other.generator_user;
        self.server_user += other.server_user;
        self.machine += other.machine;
        self.steal += other.steal;
    }

    pub fn cores(&self) -> Option<Cores> {
        (self.wall > 0.0).then(|| Cores {
            generator: self.generator / self.wall,
            server: self.server / self.wall,
            generator_user: self.generator_user / self.wall,
            server_user: self.server_user / self.wall,
            others: (self.machine - self.generator - self.server).max(0.0) / self.wall,
            steal: self.steal / self.wall,
        })
    }
}

/// Measures a phase: both processes' CPU time at the start, and again at `stop`.
pub struct CpuMeter {
    server_pid: u32,
    started: Instant,
    generator: Option<(f64, f64)>,
    server: Option<(f64, f64)>,
    machine: Option<(f64, f64)>,
}

impl CpuMeter {
    pub fn start(server_pid: u32) -> CpuMeter {
        CpuMeter {
            server_pid,
            generator: cpu_seconds(None),
            server: cpu_seconds(Some(server_pid)),
            machine: machine_seconds(),
            started: Instant::now(),
        }
    }

    /// The CPU used since `start` (zero for a side whose `/proc` could not be read).
    pub fn stop(&self) -> CpuUse {
        let wall = self.started.elapsed().as_secs_f64();
        let since = |before: Option<(f64, f64)>, now: Option<(f64, f64)>| match (before, now) {
            (Some(b), Some(n)) => ((n.0 - b.0).max(0.0), (n.1 - b.1).max(0.0)),
            _ => (0.0, 0.0),
        };
        let generator = since(self.generator, cpu_seconds(None));
        let server = since(self.server, cpu_seconds(Some(self.server_pid)));
        let machine = since(self.machine, machine_seconds());
        CpuUse {
            wall,
            generator: generator.0,
            server: server.0,
            generator_user: generator.1,
            server_user: server.1,
            machine: machine.0,
            steal: machine.1,
        }
    }
}
