use std::process::ExitCode;

use kongrade::cli::{Cli, Command, JournalAction};
use kongrade::cmd;

fn main() -> ExitCode {
    // Installed before anything else so every failure path gets a readable report.
    if let Err(e) = color_eyre::install() {
        eprintln!("Error: {e}");
        return ExitCode::from(1);
    }
    let cli = Cli::parse_args();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // kong.conf + KONG_* + the flags, resolved once for the commands that reach the database.
    let conn = || cmd::context::Connection::resolve(&cli.conn.options());
    let result = rt.block_on(async {
        match cli.command {
            Some(Command::Status { json }) => {
                let ctx = cmd::context::Context::new(conn()?).await?;
                cmd::status::run(&ctx, json).await
            }
            Some(Command::Backup { out, force, json }) => {
                cmd::backup::run(&conn()?, out, force, json).await
            }
            Some(Command::Journal { action, json }) => match action {
                None | Some(JournalAction::List) => cmd::journal::run(None, json),
                Some(JournalAction::Show { id }) => cmd::journal::run(Some(id), json),
            },
            Some(Command::Nodes { nodes, json }) => {
                let ctx = cmd::context::Context::new(conn()?).await?;
                cmd::nodes::run(&ctx, &nodes.options(), json).await
            }
            Some(Command::Rollback { .. }) => {
                let ctx = cmd::rollback::context(conn()?).await?;
                cmd::rollback::run(&ctx).await
            }
            Some(Command::Diagnose { json, flags }) => {
                let ctx = cmd::context::Context::new(conn()?).await?;
                cmd::diagnose::run(&ctx, json, &flags.options()).await
            }
            Some(Command::Plan {
                json,
                flags,
                strategy,
                nodes,
            }) => {
                let ctx = cmd::context::Context::new(conn()?).await?;
                let asked = strategy.options();
                cmd::plan::run(&ctx, json, &flags.options(), &asked, &nodes.options()).await
            }
            Some(Command::Rehearse(args)) => cmd::rehearse::run(conn()?, &args.options()).await,
            Some(Command::Auto(args)) => cmd::auto::run(conn()?, &args.options()).await,
            Some(Command::StandIn(args)) => cmd::standin::run(&args.options()).await,
            Some(Command::Demo(d)) => {
                kongrade::tui::demo(d.scenario.as_deref(), d.speed, d.list, &d.options()).await
            }
            None => kongrade::tui::wizard(conn()?, &cli.wizard.options()).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // Kong's own error shape: `Error: <message>` on stderr, exit 1.
            // kong.conf values and database contents end up in messages: no raw escapes.
            eprintln!(
                "Error: {}",
                kongrade::text::terminal_safe(&format!("{e:#}"))
            );
            ExitCode::from(1)
        }
    }
}
