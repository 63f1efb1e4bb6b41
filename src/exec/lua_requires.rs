//! Custom plugins' `require`s under `--kong-lua-path`, for the preflight's check of modules the
//! target removed (`kong.plugins.base_plugin` in 3.0, `kong.singletons`, the moves in
//! kong-upgrades.md: which modules each release ships is read from Kong's tags,
//! `assets/kong-modules.json`). Only plugins no Kong release bundles are read: a bundled
//! plugin's code is the release's own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

use crate::kong::preflight::CustomPlugin;

/// Directories below a plugin that are looked into, and files read at most.
const MAX_DEPTH: usize = 6;
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The custom plugins under `dir` (an installed Kong's Lua tree with `kong/plugins/<name>`, a
/// plugins directory `<name>/handler.lua`, or one plugin's directory) whose names are not in
/// `bundled`, each with the modules its `.lua` files require (file relative to `dir`).
pub fn custom_plugins(dir: &Path, bundled: &BTreeSet<String>) -> Result<Vec<CustomPlugin>> {
    let mut plugin_dirs: Vec<(String, PathBuf)> = Vec::new();
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    if dir.join("handler.lua").is_file() {
        if let Some(n) = name_of(dir) {
            plugin_dirs.push((n, dir.to_path_buf()));
        }
    } else {
        let root = if dir.join("kong/plugins").is_dir() {
            dir.join("kong/plugins")
        } else {
            dir.to_path_buf()
        };
        let entries = std::fs::read_dir(&root)
            .wrap_err_with(|| format!("--kong-lua-path: cannot list {}", root.display()))?;
        for e in entries.flatten() {
            let p = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && p.join("handler.lua").is_file() {
                if let Some(n) = name_of(&p) {
                    plugin_dirs.push((n, p));
                }
            }
        }
    }
    plugin_dirs.sort();
    let mut out = Vec::new();
    for (name, pdir) in plugin_dirs {
        if bundled.contains(&name) {
            continue;
        }
        let mut files = Vec::new();
        lua_files(&pdir, 0, &mut files);
        files.sort();
        let mut requires = Vec::new();
        for f in files {
            // Unreadable or oversized files are left out: this is advice, not a gate.
            let Ok(text) = std::fs::read(&f) else {
                continue;
            };
            let text = String::from_utf8_lossy(&text);
            let shown = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            for (line_no, code) in code_lines(&text).iter().enumerate() {
                for m in requires_in(code) {
                    requires.push((format!("{shown}:{}", line_no + 1), m));
                }
            }
        }
        out.push(CustomPlugin { name, requires });
    }
    Ok(out)
}

fn lua_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        // Symbolic links are not followed: a loop, or a tree outside the plugin.
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            lua_files(&p, depth + 1, out);
        } else if t.is_file()
            && p.extension().is_some_and(|x| x == "lua")
            && e.metadata()
                .map(|m| m.len() <= MAX_FILE_BYTES)
                .unwrap_or(false)
        {
            out.push(p);
        }
    }
}

/// The modules a Lua line requires with a literal name: `require "m"`, `require("m")`,
/// `require 'm'`, `require [[m]]`; a comment (`--` outside a string) ends the line.
pub fn requires_in(line: &str) -> Vec<String> {
    let code = strip_comment(line);
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = code[i..].find("require") {
        let start = i + pos;
        let end = start + "require".len();
        i = end;
        let before_ok = start == 0 || {
            let c = b[start - 1];
            !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b':')
        };
        let after_ok = b
            .get(end)
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if !before_ok || !after_ok {
            continue;
        }
        let rest = code[end..].trim_start();
        let rest = rest.strip_prefix('(').map(str::trim_start).unwrap_or(rest);
        let name = if let Some(r) = rest.strip_prefix("[[") {
            r.split_once("]]").map(|(n, _)| n)
        } else if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            rest[1..].split_once(q).map(|(n, _)| n)
        } else {
            None
        };
        if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
            out.push(n.to_string());
        }
    }
    out
}

/// Each line's code, with comments taken out: `--` to the end of the line, and long comments
/// (`--[[ ... ]]`, `--[==[ ... ]==]`) across lines, so a `require` in commented-out code is
/// not taken for one that runs. One entry per line of `text`, so line numbers stay true.
pub fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Inside a long comment: the closing bracket to look for.
    let mut closing: Option<String> = None;
    for line in text.lines() {
        let mut code = String::new();
        let mut rest = line;
        loop {
            if let Some(close) = &closing {
                match rest.find(close.as_str()) {
                    Some(at) => {
                        rest = &rest[at + close.len()..];
                        closing = None;
                    }
                    None => break,
                }
                continue;
            }
            let before = strip_comment(rest);
            code.push_str(before);
            if before.len() == rest.len() {
                break;
            }
            // `--` found: a long comment when `[`, `=`*, `[` follows.
            let after = &rest[before.len() + 2..];
            let level = after
                .strip_prefix('[')
                .map(|a| a.bytes().take_while(|b| *b == b'=').count())
                .filter(|n| after[1 + n..].starts_with('['));
            match level {
                Some(n) => {
                    closing = Some(format!("]{}]", "=".repeat(n)));
                    rest = &after[n + 2..];
                }
                None => break,
            }
        }
        out.push(code);
    }
    out
}

/// The line up to a `--` that is not inside a quoted string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = '\0';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '-' && prev == '-' => return &line[..i - 1],
            None => {}
        }
        prev = c;
    }
    line
}

#[cfg(test)]
mod tests {

    #[test]
    fn requires_in_long_comments_are_not_taken() {
        let text = "local a = require \"kong.one\"\n--[[ old code\nlocal b = require \"kong.plugins.base_plugin\"\n]] local c = require \"kong.two\"\n--[==[\nrequire 'kong.three'\n]==]\n-- require 'kong.four'\nlocal d = require 'kong.five' --[[ inline ]] local e = require 'kong.six'\n";
        let lines = super::code_lines(text);
        assert_eq!(lines.len(), text.lines().count());
        let found: Vec<String> = lines.iter().flat_map(|l| requires_in(l)).collect();
        assert_eq!(found, ["kong.one", "kong.two", "kong.five", "kong.six"]);
    }

    use super::*;

    #[test]
    fn require_forms_are_read_and_comments_are_not() {
        assert_eq!(
            requires_in(r#"local B = require "kong.plugins.base_plugin""#),
            ["kong.plugins.base_plugin"]
        );
        assert_eq!(
            requires_in("local x = require('kong.tools.utils').y"),
            ["kong.tools.utils"]
        );
        assert_eq!(
            requires_in("local a, b = require 'a', require [[b.c]]"),
            ["a", "b.c"]
        );
        assert!(requires_in(r#"-- local B = require "kong.plugins.base_plugin""#).is_empty());
        assert!(requires_in(r#"local s = "--"; local r = my.require "x""#).is_empty());
        assert!(requires_in("local requirement = 1").is_empty());
        assert!(requires_in("require(name)").is_empty(), "not a literal");
    }

    #[test]
    fn only_custom_plugins_of_a_tree_are_read() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kong/plugins");
        for (name, body) in [
            (
                "my-auth",
                "local BasePlugin = require \"kong.plugins.base_plugin\"\n",
            ),
            (
                "key-auth",
                "local BasePlugin = require \"kong.plugins.base_plugin\"\n",
            ),
        ] {
            std::fs::create_dir_all(p.join(name).join("lib")).unwrap();
            std::fs::write(p.join(name).join("handler.lua"), body).unwrap();
            std::fs::write(
                p.join(name).join("lib/x.lua"),
                "local u = require('kong.tools.utils')\n",
            )
            .unwrap();
        }
        let bundled: BTreeSet<String> = ["key-auth".to_string()].into();
        let found = custom_plugins(d.path(), &bundled).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "my-auth");
        assert_eq!(
            found[0].requires,
            [
                (
                    "kong/plugins/my-auth/handler.lua:1".to_string(),
                    "kong.plugins.base_plugin".to_string()
                ),
                (
                    "kong/plugins/my-auth/lib/x.lua:1".to_string(),
                    "kong.tools.utils".to_string()
                ),
            ]
        );
        // One plugin's own directory.
        let one = custom_plugins(&p.join("my-auth"), &bundled).unwrap();
        assert_eq!(one[0].name, "my-auth");
        assert_eq!(one[0].requires[0].0, "handler.lua:1");
    }
}
