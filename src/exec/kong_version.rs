//! Asks the configured kong command for its version (`kong version`).

use std::process::Stdio;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::kong::version::Version;

/// Splits a command line such as `docker exec -i kong-new kong` into program and arguments,
/// honouring single and double quotes (no shell is involved, so nothing else is special).
pub fn split_command(line: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(eyre!("unbalanced quote in the kong command: {line}"));
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(eyre!("the kong command is empty"));
    }
    Ok(out)
}

/// Runs `<kong-cmd> version` and parses what it prints.
pub async fn kong_version(kong_cmd: &str, timeout: Duration) -> Result<Version> {
    let argv = split_command(kong_cmd)?;
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg("version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .wrap_err_with(|| format!("cannot run the kong command '{}'", argv[0]))?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            eyre!(
                "'{kong_cmd} version' did not answer within {} s",
                timeout.as_secs()
            )
        })?
        .wrap_err("waiting for 'kong version'")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(eyre!(
            "'{kong_cmd} version' failed ({}): {}",
            out.status,
            stderr.trim()
        ));
    }
    Version::find_in(&stdout).ok_or_else(|| {
        eyre!(
            "'{kong_cmd} version' printed no version number: {:?}",
            stdout.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell_without_one() {
        assert_eq!(
            split_command("docker exec -i kong-new kong").unwrap(),
            vec!["docker", "exec", "-i", "kong-new", "kong"]
        );
        assert_eq!(
            split_command(r#"/opt/my kong/bin/kong"#).unwrap(),
            vec!["/opt/my", "kong/bin/kong"]
        );
        assert_eq!(
            split_command(r#"'/opt/my kong/bin/kong' --v"#).unwrap(),
            vec!["/opt/my kong/bin/kong", "--v"]
        );
        assert_eq!(
            split_command(r#"a\ b "c\"d""#).unwrap(),
            vec!["a b", "c\"d"]
        );
        assert!(split_command("'open").is_err());
        assert!(split_command("   ").is_err());
    }
}
