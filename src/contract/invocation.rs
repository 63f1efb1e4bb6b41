//! The kong command lines kongrade runs: which subcommand, with which of Kong's flags.

use std::path::PathBuf;

use serde::Serialize;

/// Which `kong` subcommand to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KongCommand {
    Bootstrap,
    Up,
    Finish,
    List,
    Status,
    Version,
}

impl KongCommand {
    pub fn as_str(self) -> &'static str {
        match self {
            KongCommand::Bootstrap => "bootstrap",
            KongCommand::Up => "up",
            KongCommand::Finish => "finish",
            KongCommand::List => "list",
            KongCommand::Status => "status",
            KongCommand::Version => "version",
        }
    }
}

/// One invocation, with the flags kongrade passes through to Kong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    pub command: KongCommand,
    /// `-c FILE`
    pub conf: Option<PathBuf>,
    /// `--db-timeout S`
    pub db_timeout: Option<u64>,
    /// `--lock-timeout S`
    pub lock_timeout: Option<u64>,
    /// `--force`
    pub force: bool,
}

impl Invocation {
    pub fn new(command: KongCommand) -> Self {
        Invocation {
            command,
            conf: None,
            db_timeout: None,
            lock_timeout: None,
            force: false,
        }
    }

    /// Kong's own arguments after the kong command: `migrations up -c FILE ...` or `version`.
    pub fn kong_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        if self.command == KongCommand::Version {
            a.push("version".to_string());
            return a;
        }
        a.push("migrations".into());
        a.push(self.command.as_str().into());
        if let Some(c) = &self.conf {
            a.push("-c".into());
            a.push(c.display().to_string());
        }
        if let Some(t) = self.db_timeout {
            a.push("--db-timeout".into());
            a.push(t.to_string());
        }
        if let Some(t) = self.lock_timeout {
            a.push("--lock-timeout".into());
            a.push(t.to_string());
        }
        if self.force {
            a.push("--force".into());
        }
        a
    }
}

/// Quotes an argument for display the way a POSIX shell would read it back.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}
