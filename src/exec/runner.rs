//! Running `kong migrations ...`: the events a run produces, shared by the wizard, `auto` and
//! the stand-in running in-process for `demo`.

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

/// Tags a run so late events of an earlier run can be told apart.
pub type RunId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a run reports, in order: Started, Lines, then exactly one of Exited / SpawnFailed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The command line as shown to the operator (no secrets: they travel in the environment).
    Started {
        command_line: String,
    },
    Line {
        stream: Stream,
        text: String,
    },
    /// `code` is None when a signal ended it (then `signal` says which).
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    SpawnFailed {
        message: String,
    },
}
