//! A stable-Rust fuzzer for kongrade's parsers of outside input (issue 13): the kong.conf
//! parser, kong's output (`kong version`, the kong command line), the `kong migrations status`
//! JSON reader and the journal reader. It mutates a committed corpus (bit flips, interesting
//! bytes, inserts, deletions, duplications, splices, truncations) with a seeded PRNG and calls
//! the target under `catch_unwind`, counting executions and panics. A panicking input is saved
//! under `fuzz/crashes/`. Not part of the test run: `fuzz/run TARGET SECONDS`.
//!
//! Usage: cargo run --release --example fuzz -- TARGET SECONDS [SEED]

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kongrade::kong::catalog::{Catalog, Db};
use kongrade::kong::conf::{self, ConfFile};
use kongrade::kong::version::Version;

const MAX_INPUT: usize = 64 << 10;
const TARGETS: &[&str] = &["conf", "kong_output", "status_json", "journal"];

/// xorshift64*: seeded, so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes the parsers treat specially.
const INTERESTING: &[u8] = &[
    0, 0x07, 0x1b, 0x7f, 0xff, 0xfe, 0xef, 0xbb, 0xbf, 0xc3, 0xe9, b'\n', b'\r', b'\\', b'#', b';',
    b'=', b'[', b'{', b'}', b'"', b'\'', b',', b':', b'-', b'+', b'.', b'0', b'9', b' ', b'\t',
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n)
                    .map(|_| {
                        if rng.below(2) == 0 {
                            INTERESTING[rng.below(INTERESTING.len())]
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect();
                input.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a range (long lines, repeated keys, big arrays).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let piece = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                for _ in 0..1 + rng.below(4) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                // Splice: our head, another entry's tail.
                let other = &corpus[rng.below(corpus.len())];
                let i = rng.below(len + 1);
                let j = rng.below(other.len() + 1);
                input.truncate(i);
                input.extend_from_slice(&other[j..]);
            }
            6 if len > 0 => input.truncate(rng.below(len)),
            _ => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
        }
    }
    input.truncate(MAX_INPUT);
}

fn run_target(target: &str, data: &[u8]) {
    match target {
        "conf" => {
            if let Ok(entries) = conf::parse_bytes(data, "fuzz.conf") {
                let file = ConfFile {
                    path: PathBuf::from("fuzz.conf"),
                    entries,
                };
                let _ = conf::build(Some(file), &|_| None, &[]).map(|c| c.pg.display_target());
            }
        }
        "kong_output" => {
            let text = String::from_utf8_lossy(data);
            let _ = Version::find_in(&text);
            let _ = kongrade::exec::kong_version::split_command(&text);
        }
        "status_json" => {
            let text = String::from_utf8_lossy(data);
            let catalog = Catalog::embedded();
            let v = Version::new(3, 4, 2);
            let _ = kongrade::exec::kong_target::target_from_status_json(
                &text,
                v,
                catalog.release(v),
                Db::Postgres,
            );
        }
        "journal" => {
            if let Ok(rb) = kongrade::exec::journal::read_from(data, "fuzz.jsonl") {
                let _ = (rb.closed(), rb.identity(), rb.completed_steps());
            }
        }
        _ => unreachable!("checked in main"),
    }
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(target), Some(secs)) = (args.first(), args.get(1).and_then(|s| s.parse().ok()))
    else {
        eprintln!(
            "usage: fuzz TARGET SECONDS [SEED]   (targets: {})",
            TARGETS.join(", ")
        );
        std::process::exit(2);
    };
    if !TARGETS.contains(&target.as_str()) {
        eprintln!("unknown target {target}: one of {}", TARGETS.join(", "));
        std::process::exit(2);
    }
    let seed: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut corpus = load_corpus(&root.join("corpus").join(target));
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let crashes = root.join("crashes");
    // Silence the default hook: a panic is counted and saved, not printed per input.
    panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(seed | 1);
    let (mut execs, mut panics) = (0u64, 0u64);
    let start = Instant::now();
    let limit = Duration::from_secs(secs);
    // Every corpus entry as it is first, then mutations.
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    while start.elapsed() < limit {
        let input = queue.pop().unwrap_or_else(|| {
            let mut x = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut x, &corpus);
            x
        });
        execs += 1;
        if panic::catch_unwind(AssertUnwindSafe(|| run_target(target, &input))).is_err() {
            panics += 1;
            let _ = std::fs::create_dir_all(&crashes);
            let _ = std::fs::write(crashes.join(format!("{target}-{panics}")), &input);
        }
    }
    println!(
        "{target}: {execs} executions, {panics} panics in {:.0} s (seed {seed}, {} corpus inputs)",
        start.elapsed().as_secs_f64(),
        corpus.len()
    );
    if panics > 0 {
        std::process::exit(1);
    }
}
