//! Running kongrade as a child process in tests: its output read line by line with deadlines.

use std::process::Output;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

pub fn both(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", out(o), err(o))
}

/// A child's pipe as lines on a channel, read by a thread (so a test can wait with a deadline
/// instead of hanging on a child that never says what it should).
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Collects lines into `text` until one contains `marker` (Some(true)), the output ends
/// (Some(false), or true when `marker` is None), or `limit` passes (None).
pub fn read_until(
    rx: &Receiver<String>,
    text: &mut String,
    marker: Option<&str>,
    limit: Duration,
) -> Option<bool> {
    let deadline = Instant::now() + limit;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if marker.is_some_and(|m| line.contains(m)) {
                    return Some(true);
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Some(marker.is_none()),
            Err(RecvTimeoutError::Timeout) => return None,
        }
    }
}
