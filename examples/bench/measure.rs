//! Running one child process and measuring it: wall time from spawn to exit, and its peak
//! resident memory (its own `VmHWM`, sampled from /proc while it runs).

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one measured run produced.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    /// Peak resident set size of the child in KiB.
    pub max_rss_kib: i64,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.exit_code == 0
    }
}

/// Runs `cmd` with `stdin` (or none) to its end; stdout and stderr go to files in `scratch`.
pub fn run(mut cmd: Command, stdin: Option<&str>, scratch: &Path) -> Result<Run, String> {
    let out_path = scratch.join("stdout.txt");
    let err_path = scratch.join("stderr.txt");
    let out = File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
    let err = File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?;
    match stdin {
        Some(text) => {
            let in_path = scratch.join("stdin.txt");
            std::fs::write(&in_path, text).map_err(|e| format!("{}: {e}", in_path.display()))?;
            let file = File::open(&in_path).map_err(|e| format!("{}: {e}", in_path.display()))?;
            cmd.stdin(Stdio::from(file));
        }
        None => {
            cmd.stdin(Stdio::null());
        }
    }
    cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data the kernel fills in; an all-zero value is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // The child's own high-water mark, sampled while it runs. `ru_maxrss` alone is not enough:
    // Linux carries the pre-exec mark across exec, so it also counts the memory this runner had
    // when it forked. `spawn` returns only after the exec, so every sample is the child's own.
    let mut hwm_kib: i64 = 0;
    loop {
        hwm_kib = hwm_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        // SAFETY: `pid` is our own child, not yet reaped (std never waits on it: `child` is
        // only dropped, which neither waits nor kills); the pointers are to live locals.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break;
        }
        if reaped < 0 {
            return Err(format!(
                "wait4 on {:?} failed: {}",
                cmd.get_program(),
                std::io::Error::last_os_error()
            ));
        }
        // fine-grained at first (start-up takes a few ms), then 1 ms (under 1% of a long run)
        std::thread::sleep(if started.elapsed() < Duration::from_millis(50) {
            Duration::from_micros(100)
        } else {
            Duration::from_millis(1)
        });
    }
    let wall = started.elapsed();
    drop(child);
    let exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Ok(Run {
        wall,
        // a child that ended before the first sample: the kernel's figure (an upper bound)
        max_rss_kib: if hwm_kib > 0 {
            hwm_kib
        } else {
            usage.ru_maxrss
        },
        exit_code,
        stdout: read(&out_path),
        stderr: read(&err_path),
    })
}

/// `VmHWM` (peak resident set) of a running process, KiB.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    text
}

/// Median, min and max of a set of durations (empty set: zeros).
pub fn spread(walls: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = walls.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    }
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    (median, sorted[0], sorted[n - 1])
}

/// A duration for the table: µs below 1 ms, ms below 10 s, else seconds.
pub fn fmt(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 10_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}
