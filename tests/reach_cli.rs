//! Whether every kong that would run on a clone sees the clone's connection, judged the same way
//! by `auto --strategy dual-cluster` and the wizard (the real binary in tmux): with a kong
//! template, each hop's kong, named by its hop. A fake `docker` on PATH answers `kong version`
//! with the stand-in, so auto's walk of the path gets as far as the check.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::cli::{both, code, out};
use support::kong_db;
use support::pg::{self, TestDb};
use support::tmux::{available, Tmux};

const BIN: &str = env!("CARGO_BIN_EXE_kongrade");
/// A kong per hop in its own container: `docker exec` never sees kongrade's environment.
const TEMPLATE: &str = "docker exec kong-{version} kong";

fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Text without terminal colour sequences (`ESC [ ... m`).
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for x in chars.by_ref() {
                if x.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_wizard_judges_every_hops_kong_as_auto_does() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let db = TestDb::new("reach_hops");
    kong_db::bootstrap_at(&db, "2.8.5", None);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // `docker exec kong-V kong ARGS`: the stand-in as Kong V.
    write_script(
        &bin,
        "docker",
        &format!(
            "v=${{2#kong-}}\nshift 3\nexec {} stand-in --kong-version \"$v\" \"$@\"",
            shq(BIN)
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let clone = format!("{}_new", db.name);
    let flags = [
        "--kong-cmd-template",
        TEMPLATE,
        "--target-version",
        "3.5.0",
        "--clone-database",
        &clone,
    ];

    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", &path)
        .env("HOME", dir.path())
        .env("KONGRADE_DATA_DIR", dir.path().join("auto-data"));
    for (k, v) in db.kong_env() {
        c.env(k, v);
    }
    let o = c
        .args(["auto", "--strategy", "dual-cluster", "--backup=skip"])
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .expect("run kongrade auto");
    assert_eq!(code(&o), 1, "{}", both(&o));
    let auto_says = out(&o)
        .lines()
        .find(|l| l.contains("where kongrade's environment does not reach"))
        .unwrap_or_else(|| panic!("no reach refusal: {}", both(&o)))
        .to_string();
    // The first hop's kong, named by its hop.
    assert!(
        auto_says.starts_with(
            "the kong for the Kong 3.4.2 hop: the kong command 'docker exec kong-3.4.2 kong'"
        ),
        "{auto_says}"
    );

    // The wizard, in a terminal, with the same flags: refused before it starts, the same words.
    let err = dir.path().join("wizard.err");
    let done = dir.path().join("wizard.done");
    let mut env = format!(
        "PATH={} TERM=\"$TERM\" HOME={d} KONGRADE_DATA_DIR={d}",
        shq(&path),
        d = shq(&dir.path().join("wizard-data").display().to_string())
    );
    for (k, v) in db.kong_env() {
        env.push_str(&format!(" {k}={}", shq(&v)));
    }
    let run = write_script(
        dir.path(),
        "run.sh",
        &format!(
            "env -i {env} {bin} {flags} 2> {err}\necho $? > {done}\nexec sh",
            bin = shq(BIN),
            flags = flags.iter().map(|f| shq(f)).collect::<Vec<_>>().join(" "),
            err = shq(&err.display().to_string()),
            done = shq(&done.display().to_string()),
        ),
    );
    let t = Tmux::start("reach", &run);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done.exists() {
        assert!(
            Instant::now() < deadline,
            "the wizard did not end; the screen:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = std::fs::read_to_string(&done).unwrap();
    let wizard_says = plain(&std::fs::read_to_string(&err).unwrap());
    assert_eq!(status.trim(), "1", "{wizard_says}");
    assert!(
        wizard_says.contains(&auto_says),
        "{wizard_says}\n--- auto:\n{auto_says}"
    );
    assert_eq!(
        pg::psql_admin(
            pg::server(),
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{clone}'")
        )
        .unwrap()
        .trim(),
        "0"
    );
}
