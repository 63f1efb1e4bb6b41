//! `kongrade demo` end to end in a real terminal (tmux): the clean training scenario from
//! Preflight to Done by keys, the simulated kong's output in the log, the terminal restored.

mod support;

use support::tmux::{available, Tmux};

/// `kongrade demo ARGS` in a w x h tmux session; the script prints the exit code and waits.
fn demo(tag: &str, dir: &std::path::Path, args: &str, w: u16, h: u16) -> Tmux {
    let script = dir.join(format!("{tag}.sh"));
    std::fs::write(
        &script,
        format!(
            "KONGRADE_DATA_DIR={} {} demo {args}\necho KONGRADE-EXIT=$?\nsleep 60\n",
            dir.join("data").display(),
            env!("CARGO_BIN_EXE_kongrade")
        ),
    )
    .unwrap();
    Tmux::start_sized(tag, &script, w, h)
}

/// The column (in characters) where `needle` ends on `line`.
fn end_col(line: &str, needle: &str) -> Option<usize> {
    let i = line.find(needle)?;
    Some(line[..i].chars().count() + needle.chars().count())
}

/// The live pane's part of a screen line: right of the step pane's border.
fn live_part(line: &str) -> &str {
    match line.find("││") {
        Some(i) => &line[i..],
        None => line,
    }
}

/// Issue 12 point 9: at 60x16 the TRAINING badge stays, the live pane's columns stand under
/// their header, and up's result is on screen.
#[test]
fn at_60x16_the_badge_the_columns_and_the_result_of_up_stay_visible() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = demo("narrow", dir.path(), "--speed 4", 60, 16);
    let s = t.wait_for(&["Preflight", "TRAINING", "15 new", "core"], 20);
    let lines: Vec<&str> = s.lines().collect();
    let head = lines
        .iter()
        .map(|l| live_part(l))
        .find(|l| l.contains(" done ") || l.contains(" done"))
        .unwrap_or_else(|| panic!("no column header:\n{s}"));
    let core = lines
        .iter()
        .map(|l| live_part(l))
        .find(|l| l.contains("│core "))
        .unwrap_or_else(|| panic!("no core row:\n{s}"));
    // core is 14/19 done, 0 pending, 5 new at 2.8.5 -> 3.4.2.
    assert_eq!(end_col(head, "done"), end_col(core, "14/19"), "{s}");
    let head_n = end_col(head, " N").expect("N column");
    let core_n = end_col(core, " 5").expect("core's new count");
    assert_eq!(head_n, core_n, "{s}");
    assert!(!s.contains("TRAININ\n") && !s.contains("TRAIN…"), "{s}");
    t.keys(&["Enter"]);
    // Kong's choice for 2.8.5 -> 3.4.2 without a second cluster: in-place.
    t.wait_for(&["2. Strategy", "TRAINING"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Follow in-place?"], 5);
    t.keys(&["y"]);
    t.wait_for(&["3. Backup", "TRAINING"], 5);
    t.keys(&["Space"]);
    t.wait_for(&["Your own backup"], 5);
    t.type_text("s3://b/k.dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: s3://b/k.dump"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["6. Stop old nodes"], 5);
    // Both old nodes out (kong-old-1's row, then kong-old-2's four rows down).
    t.keys(&[
        "Space", "Space", "Space", "j", "j", "j", "j", "Space", "Space", "Space",
    ]);
    t.wait_for(&["(training) kong-old-2 stopped"], 10);
    t.wait_for(&["up's gate open"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up", "Downtime"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Checkpoint"], 5);
    t.keys(&["2"]);
    t.wait_for(&["✓ 2"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 5);
    t.keys(&["Enter"]);
    // The whole result, to its last words, on the 60x16 screen.
    let s = t.wait_for(
        &["✓ up is done", "Enter: Finish.", "TRAINING", "4 pend"],
        60,
    );
    assert!(!s.contains("more below"), "{s}");
    t.keys(&["C-c"]);
    t.wait_for(&["Leave kongrade?"], 5);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT="], 10);
}

/// Issue 12 point 5: a finding cut at 80x24 and at 100x30 says more is below, and `v` shows it
/// in full.
#[test]
fn cut_text_has_a_marker_and_v_opens_it_in_full() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // custom-plugin at 80x24: the ERR's reason does not fit.
    let t = demo("cut80", dir.path(), "--scenario custom-plugin", 80, 24);
    let s = t.wait_for(&["ERR", "▼ more below: v shows it in full"], 20);
    assert!(!s.contains("skipping releases fails"), "{s}");
    t.keys(&["v"]);
    t.wait_for(
        &[
            "Error: Kong does not support 3.4.2 -> 3.9.3 in one step",
            "skipping releases fails",
            "override it with your reason",
        ],
        5,
    );
    t.keys(&["Escape"]);
    t.wait_for(&["▼ more below"], 5);
    t.keys(&["q"]);
    t.wait_for(&["KONGRADE-EXIT=0"], 10);
    drop(t);
    // pre-1.0 at 100x30: why bootstrap is wrong is below the fold.
    let t = demo("cut100", dir.path(), "--scenario pre-1.0", 100, 30);
    let s = t.wait_for(
        &[
            "ERR",
            "Kong 0.x database",
            "▼ more below: v shows it in full",
        ],
        20,
    );
    assert!(!s.contains("take it for an empty database"), "{s}");
    t.keys(&["v"]);
    t.wait_for(
        &[
            "take it for an empty database",
            "bootstrap would then fail",
            "no step after Preflight would be right",
        ],
        5,
    );
    t.keys(&["Escape", "q"]);
    t.wait_for(&["KONGRADE-EXIT=0"], 10);
}

#[test]
fn the_demo_goes_from_preflight_to_done_by_keys_and_restores_the_terminal() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "KONGRADE_DATA_DIR={} {} demo --speed 4\necho KONGRADE-EXIT=$?\nsleep 60\n",
            dir.path().join("data").display(),
            env!("CARGO_BIN_EXE_kongrade")
        ),
    )
    .unwrap();
    let t = Tmux::start("demo", &script);
    t.wait_for(&["1. Preflight", "TRAINING", "15 new"], 20);
    assert_eq!(t.display("#{alternate_on}"), "1");
    t.keys(&["Enter"]);
    // The procedure Kong's guide recommends here: 2.8 -> 3.4 is an LTS pair (no blue-green),
    // the scenario has no second cluster, so in-place; a refused one says why.
    t.wait_for(
        &[
            "2. Strategy",
            "allowed in-place",
            "Kong's recommendation",
            "refused blue-green",
        ],
        5,
    );
    t.keys(&["j", "j", "Enter"]);
    t.wait_for(&["blue-green is refused here", "LTS"], 5);
    t.keys(&["g", "Enter"]);
    t.wait_for(&["Follow in-place?", "caution: Downtime"], 5);
    t.keys(&["y"]);
    t.wait_for(&["3. Backup"], 5);
    // The training cluster has nothing for pg_dump: the own-backup path, with a reference.
    t.wait_for(&["I have my own backup"], 5);
    t.keys(&["Space"]);
    t.wait_for(&["Your own backup"], 5);
    t.type_text("s3://backups/kong-before-3.4.2.dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: s3://backups/kong-before-3.4.2.dump"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review", "15 migrations will run, 4 two-phase"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes", "Enter writes are frozen"], 5);
    t.keys(&["Enter"]);
    t.wait_for(
        &["6. Stop old nodes", "kong-old-1  OLD 2.8.5: still serving"],
        5,
    );
    // up while an old node answers is refused, by name.
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "up runs only once every old node is stopped",
            "kong-old-1: answers",
        ],
        5,
    );
    // Stopping a simulated old node makes its Admin API go away, and the probes (every 3 s)
    // open the gate. Space on a node's row ticks its items in order (out of the load
    // balancer, drained, stopped).
    t.keys(&["Space", "Space", "Space"]);
    t.wait_for(&["(training) kong-old-1 stopped"], 10);
    t.keys(&["j", "j", "j", "j", "Space", "Space", "Space"]);
    t.wait_for(&["up's gate open: no old node answers"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up", "every old node stopped", "Downtime"], 5);
    // The trainee's checkpoint: a wrong answer is explained and does not go on.
    t.keys(&["Enter"]);
    t.wait_for(&["Which version's kong runs `up`?", "1-3 answer"], 5);
    t.keys(&["1"]);
    t.wait_for(
        &[
            "✗ 1",
            "does not know the target's migrations",
            "try another",
        ],
        5,
    );
    // Enter on a wrong answer is refused, and says so, inside the question's box: only then is
    // "not on" proven.
    t.keys(&["Enter"]);
    t.wait_for(
        &["answer first: the number of the answer you think is right"],
        30,
    );
    assert!(!t.screen().contains("Run up?"), "{}", t.screen());
    t.keys(&["2"]);
    t.wait_for(
        &["✓ 2", "Right: up runs the target release", "Enter go on"],
        5,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?", "$ kong migrations up"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["up is done", "4 pend", "Enter: Finish."], 60);
    t.wait_for(&["migrations processed"], 5);
    // In-place: finish right after up (no decommission between; its one checkpoint was up's).
    t.keys(&["Enter"]);
    t.wait_for(&["8. Finish", "nothing blocks finish", "Downtime"], 10);
    t.keys(&["Enter"]);
    t.wait_for(&["Type 'finish'"], 5);
    t.type_text("finish");
    t.keys(&["Enter"]);
    t.wait_for(&["finish is done", "58 exec", "0 pend"], 60);
    t.keys(&["Enter"]);
    // The new nodes probed: GET / answers 3.4.2; the downtime ends there.
    t.wait_for(&["9. Start new nodes", "✓ kong-new-1  new 3.4.2"], 10);
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "10. Done",
            "Strategy: in-place",
            "Downtime: ",
            "up to date for Kong 3.4.2",
            "2 kong runs:",
            "✓ kong migrations up: up is done",
            "s scenarios",
        ],
        5,
    );
    // The scenario menu: stale-lock starts afresh in the same process, then leave.
    t.keys(&["s"]);
    t.wait_for(&["Scenarios (training)", "(this one: starts over)"], 5);
    t.keys(&["3"]);
    t.wait_for(&["training:stale-lock", "Waiting for the lock"], 20);
    assert_eq!(t.display("#{alternate_on}"), "1");
    t.keys(&["q"]);
    let s = t.wait_for(&["KONGRADE-EXIT=0"], 10);
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left on:\n{s}"
    );
    assert!(!s.contains("Database (live)"), "{s}");
}

/// Issue 12: every scenario's first screen is readable at 80x24 in a real terminal: the title,
/// the TRAINING badge, the footer, the scenario's first words, and a marker where more is below.
#[test]
fn every_scenarios_first_screen_is_readable_at_80x24() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        ("clean", "1. Preflight", &["No findings"]),
        (
            "custom-plugin",
            "1. Preflight",
            &[
                "ERR  Kong does not support",
                "▼ more below: v shows it in full",
            ],
        ),
        (
            "stale-lock",
            "Waiting for the lock",
            &["Lock held by", "expires in"],
        ),
        (
            "unfinished",
            "1. Decommission",
            &["resuming at Decommission", "more row(s) below"],
        ),
        (
            "pre-1.0",
            "1. Preflight",
            &["ERR  Kong 0.x database", "▼ more below: v shows it in full"],
        ),
        (
            "old-node-serving",
            "1. Preflight",
            &["WARN Data planes older", "▼ more below: v shows it in full"],
        ),
        ("lts-dual-cluster", "1. Preflight", &["No findings"]),
        ("failed-up", "1. Preflight", &["3.3.1", "partner-keys"]),
        ("interrupted-016", "1. Preflight", &["No findings"]),
    ];
    let listed = String::from_utf8_lossy(
        &std::process::Command::new(env!("CARGO_BIN_EXE_kongrade"))
            .args(["demo", "--list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert_eq!(
        listed.matches("\n  ").count() / 2,
        cases.len(),
        "every scenario is checked here:\n{listed}"
    );
    for (name, title, texts) in cases {
        assert!(listed.contains(name), "{name} in {listed}");
        let t = demo(name, dir.path(), &format!("--scenario {name}"), 80, 24);
        let mut want = vec![*title, "TRAINING", "? help", "Database (live)"];
        want.extend(texts.iter());
        let s = t.wait_for(&want, 20);
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].contains("TRAINING"), "{name}: the badge\n{s}");
        assert!(
            lines
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.contains("? help")),
            "{name}: the footer\n{s}"
        );
        // Ctrl-C leaves; where something happened already (unfinished), it asks first.
        // Wait for one or the other, never a fixed sleep: the question, or the exit itself.
        t.keys(&["C-c"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut asked = false;
        loop {
            let s = t.screen();
            if s.contains("KONGRADE-EXIT=") {
                break;
            }
            if s.contains("Leave kongrade?") {
                asked = true;
                t.keys(&["y"]);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: Ctrl-C neither asked nor left\n{s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        t.wait_for(&["KONGRADE-EXIT=0"], 10);
        if *name == "unfinished" {
            assert!(asked, "{name}: Ctrl-C left without asking");
        }
    }
}

/// Issue 12 point 2: at 60x16 the finish checkpoint's explanation is cut with a marker, and
/// scrolling (j) brings its last line into view, the keys staying in the box.
#[test]
fn at_60x16_the_finish_checkpoint_scrolls_to_its_last_line() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // unfinished starts at Decommission: one old node to take out, then Finish.
    let t = demo(
        "ckpt60",
        dir.path(),
        "--scenario unfinished --speed 4",
        60,
        16,
    );
    t.wait_for(&["1. Decommission", "TRAINING"], 30);
    // The two confirmations, then kong-old-1's row: its three items in order.
    t.keys(&["Space", "j", "Space", "j", "Space", "Space", "Space"]);
    t.wait_for(&["finish gate open"], 60);
    t.keys(&["Enter"]);
    t.wait_for(&["2. Finish"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Checkpoint (training)"], 30);
    t.keys(&["2"]);
    let s = t.wait_for(&["✓ 2", "more below (↓/j)"], 30);
    assert!(!s.contains("(end)"), "{s}");
    for _ in 0..30 {
        t.keys(&["j"]);
    }
    // Its last line, then the end marker; the keys still in the box.
    let s = t.wait_for(
        &[
            "guide replaces them before finish.",
            "(end)",
            "more above (↑/k)",
            "Enter go on",
        ],
        30,
    );
    assert!(!s.contains("more below (↓/j)"), "{s}");
    t.keys(&["Escape", "C-c"]);
    t.wait_for(&["Leave kongrade?"], 30);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT="], 30);
}

/// Issue 12: failed-up in a real terminal: up fails, the screen says what Kong left and what
/// to do, f fixes the row, up again succeeds.
#[test]
fn failed_up_fails_says_what_to_do_and_resumes_after_the_fix() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = demo(
        "failedup",
        dir.path(),
        "--scenario failed-up --speed 8",
        120,
        40,
    );
    t.wait_for(&["1. Preflight", "TRAINING"], 30);
    t.keys(&["Enter"]);
    // Kong's choice for 3.2 -> 3.3 without a second cluster: in-place.
    t.wait_for(
        &["2. Strategy", "allowed in-place", "Kong's recommendation"],
        30,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Follow in-place?"], 30);
    t.keys(&["y"]);
    t.wait_for(&["3. Backup"], 30);
    t.keys(&["Space"]);
    t.wait_for(&["Your own backup"], 30);
    t.type_text("s3://b/k.dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: s3://b/k.dump"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["6. Stop old nodes"], 30);
    t.keys(&["Space", "Space", "Space"]);
    t.wait_for(&["up's gate open"], 60);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Checkpoint"], 30);
    t.keys(&["2"]);
    t.wait_for(&["✓ 2"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 30);
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "✗ kong exited with code 1",
            "Kong's error: failed to run migration '001_320_to_330' up",
            "Not recorded: partner-keys/001_320_to_330, which failed",
            "The migrations lock: released",
            "What to do: read Kong's error",
            "f fix the row (training)",
        ],
        60,
    );
    t.keys(&["f"]);
    t.wait_for(
        &[
            "(training) done: the second partner_keys row",
            "fixed: Enter runs up again",
        ],
        30,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["✓ up is done", "Enter: Finish."], 60);
    t.keys(&["Enter"]);
    t.wait_for(&["8. Finish"], 30);
    t.keys(&["C-c"]);
    t.wait_for(&["Leave kongrade?"], 30);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT="], 30);
}

/// interrupted-016 in a real terminal: up fails inside 016's rewrite of the routes, the screen
/// says not to run it again and Enter is refused; f takes the `~` off; then up succeeds.
#[test]
fn interrupted_016_refuses_a_rerun_until_the_tilde_is_taken_off() {
    if !available() {
        eprintln!("tmux is not installed: skipping (the CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = demo(
        "int016",
        dir.path(),
        "--scenario interrupted-016 --speed 8",
        120,
        40,
    );
    t.wait_for(&["1. Preflight", "TRAINING"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["2. Strategy", "Kong's recommendation"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Follow in-place?"], 30);
    t.keys(&["y"]);
    t.wait_for(&["3. Backup"], 30);
    t.keys(&["Space"]);
    t.wait_for(&["Your own backup"], 30);
    t.type_text("s3://b/k.dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: s3://b/k.dump"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Review"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["5. Freeze writes"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["6. Stop old nodes"], 30);
    t.keys(&["Space", "Space", "Space"]);
    t.wait_for(&["up's gate open"], 60);
    t.keys(&["Enter"]);
    t.wait_for(&["7. Up"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Checkpoint"], 30);
    t.keys(&["2"]);
    t.wait_for(&["✓ 2"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 30);
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "✗ kong exited with code 1",
            "failed to run migration '016_280_to_300' up_f: timeout",
            "Do not run up again yet",
            "412 route(s)",
            "f take the ~ off (training)",
        ],
        60,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["kongrade starts no kong while it stands"], 30);
    t.keys(&["f"]);
    t.wait_for(
        &[
            "(training) done: the 412 routes",
            "fixed: Enter runs up again",
        ],
        30,
    );
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?"], 30);
    t.keys(&["Enter"]);
    t.wait_for(&["✓ up is done"], 60);
    t.keys(&["C-c"]);
    t.wait_for(&["Leave kongrade?"], 30);
    t.keys(&["y"]);
    t.wait_for(&["KONGRADE-EXIT="], 30);
}
