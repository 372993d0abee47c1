//! Latency samples and the numbers printed from them; `/proc` readings of a child process.

use std::time::Duration;

/// Every latency of one run, in nanoseconds (a run is at most a few tens of thousands of
/// calls, so sorted samples are exact and cheaper than a histogram crate).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Samples {
            nanos: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.nanos.extend(other.nanos);
    }

    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Nearest-rank percentile in milliseconds (`q` in 0..=1); `None` without samples.
    pub fn percentile_ms(&mut self, q: f64) -> Option<f64> {
        if self.nanos.is_empty() {
            return None;
        }
        self.nanos.sort_unstable();
        let n = self.nanos.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.nanos[rank - 1] as f64 / 1e6)
    }
}

/// CPU time (user + system) of a process, in clock ticks, from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in MiB, from `VmRSS` in `/proc/<pid>/status`.
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmRSS:")
}

/// The anonymous part of RSS (heap, stacks): the memory a process really holds. The rest of
/// RSS is file-backed (the binary's code and read-only data as it is paged in), which grows as
/// new code paths run and which the kernel can drop at any time.
pub fn rss_anon_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "RssAnon:")
}

fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// How many sockets the process holds open (its listeners, client connections and pooled
/// upstream connections), from `/proc/<pid>/fd`.
pub fn open_sockets(pid: u32) -> Option<usize> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count(),
    )
}

/// Clock ticks per second (`getconf CLK_TCK`); `(100, false)` when it cannot be asked.
pub fn clock_ticks_per_second() -> (u64, bool) {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .map_or((100, false), |t| (t, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentile_ms(0.5), None);
        for ms in 1..=100u64 {
            s.push(Duration::from_millis(101 - ms));
        }
        assert_eq!(s.percentile_ms(0.5), Some(50.0));
        assert_eq!(s.percentile_ms(0.99), Some(99.0));
        assert_eq!(s.percentile_ms(1.0), Some(100.0));
        assert_eq!(s.percentile_ms(0.0), Some(1.0));
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        assert!(rss_mib(me).is_some_and(|m| m > 0.0));
    }
}
