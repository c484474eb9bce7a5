//! What this machine allows and what the server process uses: our file descriptor limit
//! (raised so ten thousand sockets fit), the server's, and the server's resident memory, read
//! from `/proc/PID/status` and `/proc/PID/limits`.

use std::path::PathBuf;

/// VmRSS in KiB from the text of a `/proc/PID/status` file (`VmRSS:   123456 kB`).
pub fn parse_vm_rss_kb(status: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix("VmRSS:")?;
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse().ok()?;
        matches!(parts.next(), Some(unit) if unit.eq_ignore_ascii_case("kB")).then_some(value)
    })
}

/// The soft "Max open files" limit from the text of a `/proc/PID/limits` file; `u64::MAX` for
/// `unlimited`.
pub fn parse_nofile_soft(limits: &str) -> Option<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    match rest.split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

fn proc_file(pid: u32, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

/// Why the server's memory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read /proc/{pid}/status (is the server still running?): {source}")]
    Read { pid: u32, source: std::io::Error },
    #[error("/proc/{pid}/status has no VmRSS line")]
    NoRss { pid: u32 },
}

/// The resident memory of process `pid`, in KiB.
pub fn vm_rss_kb(pid: u32) -> Result<u64, ProcError> {
    let text = std::fs::read_to_string(proc_file(pid, "status"))
        .map_err(|source| ProcError::Read { pid, source })?;
    parse_vm_rss_kb(&text).ok_or(ProcError::NoRss { pid })
}

/// The soft open-files limit of process `pid`, when `/proc/PID/limits` can be read.
pub fn nofile_soft_of(pid: u32) -> Option<u64> {
    std::fs::read_to_string(proc_file(pid, "limits"))
        .ok()
        .as_deref()
        .and_then(parse_nofile_soft)
}

/// Our own open-files limit after [`raise_nofile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit and returns both.
pub fn raise_nofile() -> std::io::Result<NofileLimit> {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE.get()?;
    if soft < hard {
        Resource::NOFILE.set(hard, hard)?;
    }
    let (soft, hard) = Resource::NOFILE.get()?;
    Ok(NofileLimit { soft, hard })
}

/// True when `err` or one of its sources is the kernel refusing a descriptor (EMFILE: this
/// process's limit; ENFILE: the whole system's).
pub fn is_out_of_descriptors(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tkyc\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t 2345678 kB\n\
                          VmSize:\t 2345000 kB\nVmHWM:\t  901234 kB\nVmRSS:\t  812345 kB\n\
                          RssAnon:\t  700000 kB\nThreads:\t42\n";

    #[test]
    fn rss_from_status() {
        assert_eq!(parse_vm_rss_kb(STATUS), Some(812_345));
        assert_eq!(parse_vm_rss_kb("VmRSS: 7 kB"), Some(7));
        // A kernel thread has no VmRSS line; a malformed one is not guessed at.
        assert_eq!(parse_vm_rss_kb("Name:\tkthreadd\nState:\tS\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\tlots kB\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss_kb("VmRSS:\t12\n"), None);
        assert_eq!(parse_vm_rss_kb(""), None);
        // VmHWM / RssAnon are not VmRSS.
        assert_eq!(parse_vm_rss_kb("VmHWM:\t5 kB\nRssAnon:\t6 kB\n"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        let kb = vm_rss_kb(std::process::id()).unwrap();
        assert!(kb > 100, "{kb} KiB");
        assert!(matches!(vm_rss_kb(u32::MAX), Err(ProcError::Read { .. })));
    }

    #[test]
    fn nofile_from_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_nofile_soft(limits), Some(1024));
        assert_eq!(
            parse_nofile_soft("Max open files            unlimited            unlimited    files"),
            Some(u64::MAX)
        );
        assert_eq!(parse_nofile_soft("Max processes 10 10 processes"), None);
        assert!(nofile_soft_of(std::process::id()).is_some());
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise_nofile().unwrap();
        assert_eq!(limit.soft, limit.hard);
    }

    #[test]
    fn descriptor_exhaustion_is_recognised_through_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let emfile = Outer(std::io::Error::from_raw_os_error(libc::EMFILE));
        assert!(is_out_of_descriptors(&emfile));
        let refused = Outer(std::io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert!(!is_out_of_descriptors(&refused));
    }
}
