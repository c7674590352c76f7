//! What the bench reads about processes from /proc (Linux): resident
//! memory, CPU time and bytes written to storage, its own and the
//! server's; and its file-descriptor limit.

use serde::Serialize;

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every
/// Linux architecture the bench runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// `VmRSS` of a process in KiB (`None`: no such process, or not Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// `VmHWM` of a process (the highest its resident memory has been) in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// `write_bytes` of a process: bytes it caused to be written to storage
/// (page cache pages it dirtied that go to disk, and direct writes), as
/// Linux counts them in /proc/PID/io. Needs the same user, or root.
pub fn write_bytes(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    parse_status_field(&text, "write_bytes:")
}

/// The server's memory and disk writes at the start of a run.
#[derive(Debug, Clone, Copy)]
pub struct ServerMark {
    pid: u32,
    rss_kib: Option<u64>,
    write_bytes: Option<u64>,
}

/// What the server used over a run (`--server-pid`); `null` where a
/// reading could not be had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServerUse {
    /// VmRSS when the load started (after setup and logins), in KiB.
    pub rss_start_kib: Option<u64>,
    /// VmRSS when the load ended (after the drain; `login --password`: at
    /// the end of the burst).
    pub rss_end_kib: Option<u64>,
    /// `login --password`: VmRSS `rss_after_s` seconds after the burst.
    pub rss_after_kib: Option<u64>,
    pub rss_after_s: Option<f64>,
    /// VmHWM at the end: the most the server ever had resident (or the
    /// highest of the readings above, when that is higher: Linux updates
    /// both counters lazily, so they can differ by a few pages).
    pub rss_peak_kib: Option<u64>,
    /// Bytes the server wrote to storage from the start of the load to
    /// its end (`write_bytes` of /proc/PID/io).
    pub disk_write_bytes: Option<u64>,
    /// The same, per delivery (message x recipient) of the whole run.
    pub disk_bytes_per_delivery: Option<f64>,
}

/// The highest of the readings there are.
pub fn highest(readings: &[Option<u64>]) -> Option<u64> {
    readings.iter().flatten().copied().max()
}

impl ServerMark {
    pub fn now(pid: u32) -> ServerMark {
        ServerMark {
            pid,
            rss_kib: rss_kib(pid),
            write_bytes: write_bytes(pid),
        }
    }

    /// What the server used since `self`, given the deliveries meanwhile.
    pub fn until_now(&self, deliveries: u64) -> ServerUse {
        let written = match (self.write_bytes, write_bytes(self.pid)) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let end = rss_kib(self.pid);
        ServerUse {
            rss_start_kib: self.rss_kib,
            rss_end_kib: end,
            rss_after_kib: None,
            rss_after_s: None,
            rss_peak_kib: highest(&[peak_rss_kib(self.pid), self.rss_kib, end]),
            disk_write_bytes: written,
            disk_bytes_per_delivery: written
                .filter(|_| deliveries > 0)
                .map(|w| w as f64 / deliveries as f64),
        }
    }
}

/// The bench's own `VmHWM` (peak resident memory) in KiB.
pub fn own_peak_rss_kib() -> Option<u64> {
    status_field("/proc/self/status", "VmHWM:")
}

fn status_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    parse_status_field(&text, key)
}

fn parse_status_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// CPU seconds (user + system) used so far by `pid`, or by the bench
/// itself when `None`.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    parse_stat_cpu(&std::fs::read_to_string(path).ok()?)
}

fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses; the
    // fields after its closing parenthesis start at field 3 (state), so
    // utime (14) and stime (15) are the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// Raises the open-file limit to at least `need` if it can: the soft
/// limit up to the hard one, and past it when running as root. Returns
/// the limit in force.
pub fn raise_fd_limit(need: u64) -> u64 {
    let got = rlimit::increase_nofile_limit(need).unwrap_or(0);
    if got >= need {
        return got;
    }
    // Only root may raise the hard limit; fine when it fails.
    if rlimit::setrlimit(rlimit::Resource::NOFILE, need, need).is_ok() {
        return need;
    }
    got
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_and_stat() {
        let status = "Name:\tchatserver\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_status_field(status, "VmRSS:"), Some(12345));
        assert_eq!(parse_status_field(status, "VmSwap:"), None);
        let stat = "42 (chat server) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
    }

    #[test]
    fn the_peak_is_the_highest_reading() {
        assert_eq!(highest(&[Some(3), None, Some(5)]), Some(5));
        assert_eq!(highest(&[None, None]), None);
    }

    #[test]
    fn reads_io() {
        let io = "rchar: 100\nwchar: 2000\nread_bytes: 0\nwrite_bytes: 40960\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_status_field(io, "write_bytes:"), Some(40960));
    }

    #[test]
    fn measures_this_process_as_a_server() {
        let me = std::process::id();
        let mark = ServerMark::now(me);
        let dir = std::env::temp_dir().join(format!("chatbench-sys-{me}"));
        let data = vec![7u8; 1 << 20];
        std::fs::write(&dir, &data).unwrap();
        std::fs::File::open(&dir).unwrap().sync_all().unwrap();
        let used = mark.until_now(4);
        std::fs::remove_file(&dir).unwrap();
        assert!(used.rss_start_kib.unwrap() > 0);
        assert!(used.rss_peak_kib.unwrap() >= used.rss_end_kib.unwrap());
        // Some filesystems (tmpfs) never write to storage: only when the
        // kernel counts, the count covers the file.
        if let Some(w) = used.disk_write_bytes.filter(|&w| w > 0) {
            assert!(w >= 1 << 20, "{w}");
            assert_eq!(used.disk_bytes_per_delivery, Some(w as f64 / 4.0));
        }
    }

    #[test]
    fn reads_this_process() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(own_peak_rss_kib().unwrap() > 0);
        assert!(cpu_seconds(None).is_some());
        assert!(raise_fd_limit(64) >= 64);
    }
}
