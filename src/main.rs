use std::process::ExitCode;

use clap::Parser;

use kongrade::cli::{Cli, Command};
use kongrade::cmd;

fn main() -> ExitCode {
    // Installed before anything else so every failure path gets a readable report.
    if let Err(e) = color_eyre::install() {
        eprintln!("Error: {e}");
        return ExitCode::from(1);
    }
    let cli = Cli::parse();
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
    let result = rt.block_on(async {
        match cli.command {
            Some(Command::Status { json }) => {
                let ctx = cmd::context::Context::new(&cli.conn).await?;
                cmd::status::run(&ctx, json).await
            }
            Some(Command::Demo {
                scenario,
                speed,
                list,
                wizard,
            }) => kongrade::tui::demo(scenario.as_deref(), speed, list, &wizard).await,
            None => kongrade::tui::wizard(&cli.conn, &cli.wizard).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            // Kong's own error shape: `Error: <message>` on stderr, exit 1.
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}
