//! Whether a kong started by an earlier kongrade still runs, read from /proc: a process by pid
//! and start time (so a reused pid is not taken for it), and every process carrying a run's
//! marker in its environment (the command, and anything it started, even before its pid could
//! be journaled).

use std::path::Path;

/// The environment variable that marks the processes of one journaled kong run.
pub const RUN_MARKER_ENV: &str = "KONGRADE_KONG_RUN";

/// Field 22 of `/proc/PID/stat` (starttime, clock ticks after boot), and whether the process is
/// a zombie (ended, not yet reaped). None when there is no such process.
fn stat(pid: u32) -> Option<(u64, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': parse after the
    // last ')'. Then come the state (field 3) ... starttime (field 22).
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = *fields.first()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// The start time of a running process (see [`stat`]).
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|(s, _)| s)
}

/// Whether `pid` is alive and, when `start` is known, is the process that started then.
pub fn running(pid: u32, start: Option<u64>) -> bool {
    match stat(pid) {
        None | Some((_, true)) => false,
        Some((s, false)) => start.is_none_or(|want| want == s),
    }
}

/// Live processes whose environment holds `RUN_MARKER_ENV=marker` (those this user may read).
pub fn with_marker(marker: &str) -> Vec<u32> {
    let want = format!("{RUN_MARKER_ENV}={marker}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<u32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(Path::new("/proc").join(pid.to_string()).join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == want.as_bytes()))
        })
        .filter(|pid| running(*pid, None))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let me = std::process::id();
        let t = start_time(me).expect("our own stat");
        assert!(running(me, Some(t)));
        assert!(running(me, None));
        // The same pid with another start time is another process.
        assert!(!running(me, Some(t + 1)));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!running(pid, None), "reaped: gone");
    }

    #[test]
    fn processes_are_found_by_their_marker() {
        let marker = format!("test-{}-{}", std::process::id(), line!());
        assert!(with_marker(&marker).is_empty());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(RUN_MARKER_ENV, &marker)
            .spawn()
            .unwrap();
        // The environment is readable once the child has exec'd; wait for that condition.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while with_marker(&marker).is_empty() {
            assert!(std::time::Instant::now() < deadline, "never seen");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(with_marker(&marker), vec![child.id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(with_marker(&marker).is_empty());
    }
}
