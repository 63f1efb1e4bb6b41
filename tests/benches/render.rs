//! Rendering speed: one frame of the wizard with 60 subsystems in the live pane and a long log
//! (target: under 1 ms), at 120x40 and 80x24, through ratatui's TestBackend.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use kongrade::kong::catalog::{Catalog, Db, MigrationSpec, Phases, SubsystemSpec};
use kongrade::kong::diagnose::Settings;
use kongrade::kong::snapshot::{SchemaMetaRow, Snapshot};
use kongrade::kong::target::Target;
use kongrade::tui::view::view;
use kongrade::wizard::model::{LogKind, Model, Setup, Step};
use kongrade::wizard::Interpreter;
use kongrade::wizard::{update, Msg};

fn model() -> Model {
    let mut subsystems = Vec::new();
    let mut rows = Vec::new();
    for s in 0..60 {
        let name = if s == 0 {
            "core".to_string()
        } else {
            format!("plugin-{s:02}")
        };
        let migrations: Vec<MigrationSpec> = (0..12)
            .map(|m| MigrationSpec {
                name: format!("{m:03}_migration"),
                postgres: Some(Phases {
                    up: true,
                    teardown: m % 4 == 0,
                    ..Phases::default()
                }),
                cassandra: None,
            })
            .collect();
        // The first 8 executed, 1 pending, the rest new; some subsystems done.
        let done = if s % 3 == 0 { 12 } else { 8 };
        rows.push(SchemaMetaRow {
            key: "schema_meta".into(),
            subsystem: name.clone(),
            last_executed: Some(migrations[done - 1].name.clone()),
            executed: Some(migrations[..done].iter().map(|m| m.name.clone()).collect()),
            pending: (done < 12).then(|| vec![migrations[8].name.clone()]),
        });
        subsystems.push(SubsystemSpec {
            name,
            origin: "kong".into(),
            migrations,
        });
    }
    let target = Target {
        version: Some("3.4.2".parse().expect("version")),
        db: Db::Postgres,
        source: "bench".into(),
        subsystems,
        unresolved_plugins: Vec::new(),
    };
    let mut snap = Snapshot::empty(Db::Postgres, "public");
    snap.schema_meta = Some(rows);
    snap.locks_table = true;
    let version = target.version;
    let reading = Interpreter::new(
        std::sync::Arc::new(target),
        Catalog::embedded(),
        Settings::default(),
    )
    .reading(&snap);
    let now = Instant::now();
    let mut m = Model::new(Setup::new("kong@db.example:5432/kong", version), now);
    update(
        &mut m,
        Msg::Snapshot {
            seq: 1,
            result: Ok(Box::new(reading)),
            at: now,
        },
    );
    m.step = Step::Review;
    for i in 0..5000 {
        m.log.push(
            LogKind::Stdout,
            format!(
                "plugin-{:02} migrated up to: {i:03}_migration (executed)",
                i % 60
            ),
        );
    }
    m
}

fn bench(c: &mut Criterion) {
    let m = model();
    for (w, h) in [(120u16, 40u16), (80, 24)] {
        let mut terminal = match Terminal::new(TestBackend::new(w, h)) {
            Ok(t) => t,
            Err(e) => match e {},
        };
        c.bench_function(&format!("render frame {w}x{h}, 60 subsystems"), |b| {
            b.iter(|| {
                let Ok(_) = terminal.draw(|f| {
                    view(&m, f);
                });
            })
        });
        // What the terminal machinery costs on its own (buffer diff and swap), for comparison.
        c.bench_function(&format!("baseline: a full-screen paragraph {w}x{h}"), |b| {
            let text = "x".repeat(usize::from(w) * usize::from(h));
            b.iter(|| {
                let Ok(_) = terminal.draw(|f| {
                    let area = f.area();
                    f.render_widget(
                        ratatui::widgets::Paragraph::new(text.as_str())
                            .wrap(ratatui::widgets::Wrap { trim: false }),
                        area,
                    )
                });
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
