//! `kongrade demo` end to end in a real terminal (tmux): the clean training scenario from
//! Preflight to Done by keys, the simulated kong's output in the log, the terminal restored.

mod support;

use support::tmux::{available, Tmux};

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
    t.wait_for(&["2. Backup"], 5);
    // The training cluster has nothing for pg_dump: the own-backup path, with a reference.
    t.wait_for(&["I have my own backup"], 5);
    t.keys(&["Space"]);
    t.wait_for(&["Your own backup"], 5);
    t.type_text("s3://backups/kong-before-3.4.2.dump");
    t.keys(&["Enter"]);
    t.wait_for(&["Your backup: s3://backups/kong-before-3.4.2.dump"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["3. Review", "15 migrations will run, 4 two-phase"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["4. Up", "up runs once with the NEW kong"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["Run up?", "$ kong migrations up"], 5);
    t.keys(&["Enter"]);
    t.wait_for(&["up is done", "4 pend"], 60);
    t.wait_for(&["migrations processed"], 5);
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "5. Decommission",
            "every old node",
            "kong-old-1  OLD 2.8.5: still serving",
        ],
        10,
    );
    // Finish while the old nodes still answer is refused.
    t.keys(&["Enter", "Enter"]);
    t.wait_for(
        &["finish refused", "kong-old-1: OLD 2.8.5: still serving"],
        5,
    );
    assert!(!t.screen().contains("Type 'finish'"), "{}", t.screen());
    t.keys(&["Escape"]);
    t.wait_for(&["5. Decommission"], 5);
    // Tick the checklist: stopping a simulated old node makes its Admin API go away, and the
    // probes (every 3 s) open the gate.
    // The two confirmations, then the old node's row: Space ticks its items one by one, in the
    // order a node is taken out (out of the load balancer, drained, stopped).
    t.keys(&["Space", "j", "Space", "j", "Space", "Space", "Space"]);
    t.wait_for(&["(training) kong-old-1 stopped"], 10);
    t.keys(&["j", "j", "j", "j", "Space", "Space", "Space"]);
    t.wait_for(&["finish gate open: no old node seen"], 20);
    t.keys(&["Enter"]);
    t.wait_for(&["6. Finish", "nothing blocks finish"], 10);
    t.keys(&["Enter"]);
    t.wait_for(&["Type 'finish'"], 5);
    t.type_text("finish");
    t.keys(&["Enter"]);
    t.wait_for(&["finish is done", "58 exec", "0 pend"], 60);
    t.keys(&["Enter"]);
    t.wait_for(
        &[
            "7. Done",
            "up to date for Kong 3.4.2",
            "2 kong runs:",
            "✓ kong migrations up: up is done",
        ],
        5,
    );
    t.keys(&["q"]);
    let s = t.wait_for(&["KONGRADE-EXIT=0"], 10);
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "alternate screen left on:\n{s}"
    );
    assert!(!s.contains("Database (live)"), "{s}");
}
