//! `kongrade demo`'s own surface (issue 12 point 10), through the real binary: the database
//! flags are refused by name, `--help` shows demo's flags and the `--speed` range, `--speed` is
//! checked.

use std::process::{Command, Output};

fn kongrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kongrade"))
        .args(args)
        .env(
            "KONGRADE_DATA_DIR",
            std::env::temp_dir().join("kongrade-demo-cli"),
        )
        .env_remove("KONGRADE_KONG_CMD")
        .output()
        .expect("run kongrade")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn database_flags_are_refused_by_name() {
    for (args, flag) in [
        (
            &["demo", "--target-version", "3.9.3"][..],
            "--target-version",
        ),
        (&["demo", "-c", "/nonexistent"][..], "-c"),
        (&["demo", "--pg-host", "db.prod"][..], "--pg-host"),
        (&["demo", "--pg-host=db.prod"][..], "--pg-host"),
        (
            &["demo", "--admin-url", "http://10.0.0.5:8001"][..],
            "--admin-url",
        ),
        (
            &["demo", "--speed", "4", "--kong-cmd", "kong"][..],
            "--kong-cmd",
        ),
        // Before the subcommand too.
        (&["-c", "/nonexistent", "demo"][..], "--conf"),
        (
            &["--pg-host", "db.prod", "demo", "--speed", "2"][..],
            "--pg-host",
        ),
        (&["--read-only", "demo"][..], "--read-only"),
    ] {
        let o = kongrade(args);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {out}{err}");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(
            err.contains("is not a demo flag") && err.contains("built-in training cluster"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn help_shows_demos_flags_and_the_speed_range_only() {
    let o = kongrade(&["demo", "--help"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for want in [
        "--speed",
        "0.05 to 100",
        "--scenario",
        "--list",
        "--read-only",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    for unwanted in [
        "--pg-host",
        "--conf",
        "--target-version",
        "--kong-cmd",
        "--admin-url",
    ] {
        assert!(!out.contains(unwanted), "{unwanted}: {out}");
    }
    // The top-level help still lists demo.
    let (out, _) = text(&kongrade(&["--help"]));
    assert!(out.contains("demo"), "{out}");
}

#[test]
fn speed_is_checked() {
    for bad in ["0", "0.01", "101", "nan", "inf", "fast"] {
        let o = kongrade(&["demo", "--speed", bad, "--list"]);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--speed"), "{bad}: {err}");
    }
    let o = kongrade(&["demo", "--speed", "100", "--list"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("old-node-serving"), "{out}");
    assert!(out.contains("failed-up"), "{out}");
}
