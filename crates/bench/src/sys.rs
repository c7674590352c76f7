//! What the bench reads about processes from /proc (Linux): resident
//! memory and CPU time, its own and the server's; and its file-descriptor
//! limit.

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every
/// Linux architecture the bench runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// `VmRSS` of a process in KiB (`None`: no such process, or not Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(&format!("/proc/{pid}/status"), "VmRSS:")
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
    fn reads_this_process() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(own_peak_rss_kib().unwrap() > 0);
        assert!(cpu_seconds(None).is_some());
        assert!(raise_fd_limit(64) >= 64);
    }
}
