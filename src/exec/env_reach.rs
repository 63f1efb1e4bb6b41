//! Whether the kong a command line starts reads kongrade's environment: the clone's connection
//! reaches kong only there (`KONG_PG_*`). The line is judged as it runs: split into words as the
//! runner splits it, then through wrappers (`sudo -E`, `env`, `nice`, `timeout`...) with their
//! options, `VAR=value` prefixes and `sh -c '...'` scripts, so how a command is written does not
//! change the answer. Pure: nothing is run.

use crate::exec::kong_version::split_command;

/// Why the kong of a command line does not see the clone's connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreached {
    /// kong runs elsewhere (`docker exec`, `kubectl exec`, `ssh`): the tool's name.
    Elsewhere(String),
    /// kong runs with the environment cut or overridden on the way: what does it.
    Cut(String),
    /// The line (or a script in it) cannot be read, so nothing can be told: why.
    Unreadable(String),
}

/// The variables that say which database kong migrates: set in the command line itself, they
/// replace the clone's.
const TARGET_NAMES: &[&str] = &[
    "KONG_DATABASE",
    "KONG_PG_HOST",
    "KONG_PG_PORT",
    "KONG_PG_DATABASE",
    "KONG_PG_SCHEMA",
];

/// Those a kong must be handed (a container's `-e NAME`, sudo's `--preserve-env=LIST`), or it
/// takes its kong.conf's or the image's defaults: another database, perhaps the source.
const NEEDED: &[&str] = &["KONG_PG_HOST", "KONG_PG_PORT", "KONG_PG_DATABASE"];

/// Shells whose `-c` script is read.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "yash"];

/// Wrappers that run their command here with the environment they were given: the options
/// that take a value (short letters, long names), and how many operands come before the
/// command. `stops`: options that mean no command is run (a pid given, a list printed).
struct Wrapper {
    name: &'static str,
    short_arg: &'static str,
    long_arg: &'static [&'static str],
    operands: usize,
    stops: &'static [&'static str],
}

const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        name: "nice",
        short_arg: "n",
        long_arg: &["--adjustment"],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "ionice",
        short_arg: "cnpPu",
        long_arg: &["--class", "--classdata", "--pid", "--pgid", "--uid"],
        operands: 0,
        stops: &["-p", "-P", "-u", "--pid", "--pgid", "--uid"],
    },
    Wrapper {
        name: "chrt",
        short_arg: "TPD",
        long_arg: &["--sched-runtime", "--sched-period", "--sched-deadline"],
        operands: 1,
        stops: &["-p", "--pid"],
    },
    Wrapper {
        name: "taskset",
        short_arg: "",
        long_arg: &[],
        operands: 1,
        stops: &["-p", "--pid"],
    },
    Wrapper {
        name: "timeout",
        short_arg: "sk",
        long_arg: &["--signal", "--kill-after"],
        operands: 1,
        stops: &[],
    },
    Wrapper {
        name: "nohup",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "setsid",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "stdbuf",
        short_arg: "ioe",
        long_arg: &["--input", "--output", "--error"],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "time",
        short_arg: "fo",
        long_arg: &["--format", "--output"],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "command",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &["-v", "-V"],
    },
    Wrapper {
        name: "builtin",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "exec",
        short_arg: "a",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "unbuffer",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "chroot",
        short_arg: "",
        long_arg: &["--userspec", "--groups"],
        operands: 1,
        stops: &[],
    },
    Wrapper {
        name: "cgexec",
        short_arg: "g",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "sshpass",
        short_arg: "pfdP",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    // `busybox sh -c ...`, `microk8s kubectl exec ...`: the rest is the command.
    Wrapper {
        name: "busybox",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "microk8s",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
    Wrapper {
        name: "k3s",
        short_arg: "",
        long_arg: &[],
        operands: 0,
        stops: &[],
    },
];

/// Container engines: `exec` runs in a container (elsewhere), `run` in a new one that sees only
/// the variables passed with `-e`.
const ENGINES: &[&str] = &["docker", "podman", "nerdctl"];
/// Tools whose `exec` runs kong in a container or a pod.
const EXEC_TOOLS: &[&str] = &[
    "kubectl",
    "oc",
    "docker-compose",
    "podman-compose",
    "lxc",
    "incus",
    "crictl",
];
/// Tools that run kong on another machine.
const REMOTE: &[&str] = &["ssh", "autossh", "mosh"];

/// Wrappers nested deeper than this are not followed (then it cannot be told).
const DEPTH: usize = 8;

/// Why the kong `command_line` starts does not see kongrade's environment, if it does not.
pub fn unreached(command_line: &str) -> Option<Unreached> {
    match split_command(command_line) {
        Ok(words) => judge(&words, 0),
        Err(e) => Some(Unreached::Unreadable(e.to_string())),
    }
}

/// `/usr/bin/docker` is docker.
fn base(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// `NAME=value` (a shell's name before `=`).
fn assignment(w: &str) -> Option<(&str, &str)> {
    let (name, value) = w.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some((name, value))
}

/// An assignment that replaces one of the clone's variables (`$NAME` itself is no change).
fn overrides(name: &str, value: &str) -> bool {
    TARGET_NAMES.contains(&name) && value != format!("${name}") && value != format!("${{{name}}}")
}

fn judge(words: &[String], depth: usize) -> Option<Unreached> {
    if depth > DEPTH {
        return Some(Unreached::Unreadable(format!(
            "commands nested more than {DEPTH} deep"
        )));
    }
    let mut i = 0;
    // `NAME=value cmd` (in a script, after env or sudo).
    while let Some((name, value)) = words.get(i).and_then(|w| assignment(w)) {
        if overrides(name, value) {
            return Some(Unreached::Cut(format!("{name} is set in the command line")));
        }
        i += 1;
    }
    let program = words.get(i)?;
    let rest = &words[i + 1..];
    let name = base(program);
    if let Some(w) = WRAPPERS.iter().find(|w| w.name == name) {
        return wrapped(w, rest, depth);
    }
    match name {
        "env" => env(rest, depth),
        "sudo" => sudo(rest, depth),
        // doas keeps only a few variables unless doas.conf says keepenv, which cannot be seen
        // from here; pkexec always resets the environment; systemd-run starts a unit with its
        // own.
        "doas" | "pkexec" => {
            // What runs inside is named first (`doas docker exec`: elsewhere), else the cut.
            let (j, _) = options(rest, if name == "doas" { "uCa" } else { "" }, &["--user"]);
            rest.get(j)?;
            judge(&rest[j..], depth + 1).or_else(|| {
                Some(Unreached::Cut(if name == "doas" {
                    "doas resets the environment (unless doas.conf says keepenv, which kongrade cannot see)".into()
                } else {
                    "pkexec resets the environment".into()
                }))
            })
        }
        "systemd-run" => Some(Unreached::Cut(
            "systemd-run starts kong in a unit's own environment".into(),
        )),
        "su" | "runuser" => su(name, rest, depth),
        "flock" => flock(rest, depth),
        n if SHELLS.contains(&n) => shell(rest, depth),
        n if REMOTE.contains(&n) => Some(Unreached::Elsewhere(n.to_string())),
        n if ENGINES.contains(&n) => engine(n, rest),
        // `exec` runs in a running container or pod; kubectl's `run` in a new pod, compose's in
        // a container whose environment the compose file sets (it cannot be seen from here).
        n if EXEC_TOOLS.contains(&n) => match subcommand(rest, &["exec", "run"]).map(|(s, _)| s) {
            Some("exec") => Some(Unreached::Elsewhere(n.to_string())),
            Some("run") if n.ends_with("compose") => Some(Unreached::Unreadable(format!(
                "{n} run: the compose file's environment for kong cannot be seen from here"
            ))),
            Some("run") => Some(Unreached::Elsewhere(n.to_string())),
            _ => None,
        },
        "vagrant" => (subcommand(rest, &["ssh"]).map(|(s, _)| s) == Some("ssh"))
            .then(|| Unreached::Elsewhere(name.to_string())),
        // A script's `export KONG_PG_HOST=...` or `unset KONG_PG_HOST` before kong.
        "export" | "declare" | "typeset" | "readonly" | "local" => rest
            .iter()
            .filter_map(|w| assignment(w))
            .find_map(|(n, v)| {
                overrides(n, v).then(|| Unreached::Cut(format!("{n} is set in the command line")))
            }),
        "unset" => rest
            .iter()
            .find(|w| TARGET_NAMES.contains(&w.as_str()))
            .map(|w| Unreached::Cut(format!("unset {w} takes it away"))),
        // Builtins and tools that start no program: their words are text.
        "echo" | "printf" | "cd" | "set" | "true" | "false" | ":" | "test" | "[" | "sleep"
        | "trap" | "ulimit" | "umask" | "shift" | "read" | "wait" | "cat" | "mkdir" => None,
        // Any other program: a wrapper kongrade does not know may still start one it does
        // (`mywrap docker exec ...`): every later word naming one is judged from there.
        _ => rest
            .iter()
            .enumerate()
            .filter(|(_, w)| known(w))
            .find_map(|(j, _)| judge(&rest[j..], depth + 1)),
    }
}

/// A word naming a program this module knows, bare or as `/.../bin/NAME` (a path elsewhere,
/// such as `/etc/ssh`, is an argument).
fn known(w: &str) -> bool {
    let n = base(w);
    let bare = w == n || w.ends_with(&format!("/bin/{n}"));
    bare && (WRAPPERS.iter().any(|x| x.name == n)
        || [
            "env",
            "sudo",
            "su",
            "runuser",
            "flock",
            "vagrant",
            "doas",
            "pkexec",
            "systemd-run",
        ]
        .contains(&n)
        || SHELLS.contains(&n)
        || REMOTE.contains(&n)
        || ENGINES.contains(&n)
        || EXEC_TOOLS.contains(&n))
}

/// A wrapper's options: the index of its first operand, and each option with its value.
fn options(words: &[String], short_arg: &str, long_arg: &[&str]) -> (usize, Vec<(String, String)>) {
    let mut seen = Vec::new();
    let mut j = 0;
    while let Some(w) = words.get(j) {
        if w == "--" {
            return (j + 1, seen);
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (w.clone(), None),
            };
            let value = match value {
                Some(v) => v,
                None if long_arg.contains(&name.as_str()) => {
                    j += 1;
                    words.get(j).cloned().unwrap_or_default()
                }
                None => String::new(),
            };
            seen.push((name, value));
            j += 1;
            continue;
        }
        let Some(cluster) = w.strip_prefix('-').filter(|c| !c.is_empty()) else {
            break;
        };
        for (k, c) in cluster.char_indices() {
            if short_arg.contains(c) {
                let tail = &cluster[k + c.len_utf8()..];
                let value = if tail.is_empty() {
                    j += 1;
                    words.get(j).cloned().unwrap_or_default()
                } else {
                    tail.to_string()
                };
                seen.push((format!("-{c}"), value));
                break;
            }
            seen.push((format!("-{c}"), String::new()));
        }
        j += 1;
    }
    (j, seen)
}

fn wrapped(w: &Wrapper, rest: &[String], depth: usize) -> Option<Unreached> {
    let (j, seen) = options(rest, w.short_arg, w.long_arg);
    if seen.iter().any(|(o, _)| w.stops.contains(&o.as_str())) {
        return None;
    }
    let inner = judge(rest.get(j + w.operands..).unwrap_or(&[]), depth + 1);
    // `exec -c` (bash) runs the command with an empty environment.
    let cleared = (w.name == "exec" && seen.iter().any(|(o, _)| o == "-c"))
        .then(|| Unreached::Cut("exec -c empties the environment".into()));
    inner.or(cleared)
}

fn env(rest: &[String], depth: usize) -> Option<Unreached> {
    let (j, seen) = options(rest, "uCSP", &["--unset", "--chdir", "--split-string"]);
    let mut cut = None;
    let mut command: Vec<String> = Vec::new();
    for (o, v) in &seen {
        match o.as_str() {
            "-i" | "--ignore-environment" => {
                cut = Some(Unreached::Cut("env -i empties the environment".into()))
            }
            "-u" | "--unset" if TARGET_NAMES.contains(&v.as_str()) => {
                cut = Some(Unreached::Cut(format!("env -u {v} takes it away")))
            }
            // `env -S 'a b'`: the string's words come first.
            "-S" | "--split-string" => match split_command(v) {
                Ok(words) => command.extend(words),
                Err(e) => return Some(Unreached::Unreadable(e.to_string())),
            },
            _ => {}
        }
    }
    // A lone `-` is -i.
    let (j, dash) = match rest.get(j) {
        Some(w) if w == "-" => (j + 1, true),
        _ => (j, false),
    };
    if dash {
        cut = Some(Unreached::Cut("env - empties the environment".into()));
    }
    command.extend(rest.get(j..).unwrap_or(&[]).iter().cloned());
    // Only assignments, or nothing: env prints the environment, no kong runs.
    if command.iter().all(|w| assignment(w).is_some()) {
        return None;
    }
    judge(&command, depth + 1).or(cut)
}

fn sudo(rest: &[String], depth: usize) -> Option<Unreached> {
    let (j, seen) = options(
        rest,
        "ugpCDrtTU",
        &[
            "--user",
            "--group",
            "--prompt",
            "--close-from",
            "--chdir",
            "--role",
            "--type",
            "--command-timeout",
            "--other-user",
            "--host",
        ],
    );
    let has = |names: &[&str]| seen.iter().any(|(o, _)| names.contains(&o.as_str()));
    if has(&[
        "-l",
        "--list",
        "-v",
        "--validate",
        "-e",
        "--edit",
        "-K",
        "-V",
    ]) || j >= rest.len()
    {
        // No command: nothing is run (or `sudo` is a word of another program's arguments).
        return None;
    }
    let inner = judge(rest.get(j..).unwrap_or(&[]), depth + 1);
    let kept = seen.iter().any(|(o, v)| match o.as_str() {
        "-E" => true,
        // `--preserve-env=LIST` keeps only those listed.
        "--preserve-env" => {
            v.is_empty() || NEEDED.iter().all(|n| v.split(',').any(|l| l.trim() == *n))
        }
        _ => false,
    });
    let cut = if has(&["-i", "--login"]) {
        Some("sudo -i starts a login shell with a new environment".to_string())
    } else if !kept {
        Some("sudo resets the environment unless given -E or --preserve-env".to_string())
    } else {
        None
    };
    inner.or(cut.map(Unreached::Cut))
}

/// `su [-] [options] [user] [options]` (`-c CMD` its command), `runuser -u USER [--] CMD...`.
fn su(name: &str, rest: &[String], depth: usize) -> Option<Unreached> {
    const SHORT: &str = "cgGsuw";
    const LONG: &[&str] = &[
        "--command",
        "--group",
        "--supp-group",
        "--shell",
        "--whitelist-environment",
        "--user",
    ];
    let (j, first) = options(rest, SHORT, LONG);
    // `runuser -u USER CMD...`: no shell, the rest is the command.
    if name == "runuser" && first.iter().any(|(o, _)| o == "-u" || o == "--user") {
        return judge(rest.get(j..).unwrap_or(&[]), depth + 1);
    }
    // su takes its options before and after the user.
    let (mut seen, mut login, mut k) = (first, false, j);
    while let Some(w) = rest.get(k) {
        if w == "-" {
            login = true;
            k += 1;
            continue;
        }
        let (n, more) = options(&rest[k..], SHORT, LONG);
        seen.extend(more);
        k += n.max(1);
    }
    login |= seen.iter().any(|(o, _)| o == "-l" || o == "--login");
    let script = seen.iter().find(|(o, _)| o == "-c" || o == "--command")?;
    script_commands(&script.1, depth).or(login.then(|| {
        Unreached::Cut(format!(
            "{name} - starts a login shell with a new environment"
        ))
    }))
}

/// `flock [options] FILE CMD...` or `flock FILE -c CMD`.
fn flock(rest: &[String], depth: usize) -> Option<Unreached> {
    let (j, seen) = options(
        rest,
        "wEc",
        &["--timeout", "--conflict-exit-code", "--command"],
    );
    if let Some((_, c)) = seen.iter().find(|(o, _)| o == "-c" || o == "--command") {
        return script_commands(c, depth);
    }
    let after = rest.get(j + 1..).unwrap_or(&[]);
    // `flock FILE -c CMD`: the options may follow the file.
    let (k, seen) = options(
        after,
        "wEc",
        &["--timeout", "--conflict-exit-code", "--command"],
    );
    match seen.iter().find(|(o, _)| o == "-c" || o == "--command") {
        Some((_, c)) => script_commands(c, depth),
        None => judge(after.get(k..).unwrap_or(&[]), depth + 1),
    }
}

/// `sh [options] -c SCRIPT [args]`: the script's commands are judged. A script file (no -c)
/// cannot be seen into, as no wrapper script can.
fn shell(rest: &[String], depth: usize) -> Option<Unreached> {
    let mut c = false;
    let mut j = 0;
    while let Some(w) = rest.get(j) {
        if w == "--" {
            j += 1;
            break;
        }
        if w.starts_with("--") {
            j += if ["--rcfile", "--init-file"].contains(&w.as_str()) {
                2
            } else {
                1
            };
            continue;
        }
        let Some(cluster) = w.strip_prefix(['-', '+']).filter(|s| !s.is_empty()) else {
            break;
        };
        c |= w.starts_with('-') && cluster.contains('c');
        // `-o NAME`, `-O NAME` take the next word.
        j += if cluster.contains(['o', 'O']) { 2 } else { 1 };
    }
    if !c {
        return None;
    }
    script_commands(rest.get(j)?, depth)
}

fn script_commands(script: &str, depth: usize) -> Option<Unreached> {
    match simple_commands(script) {
        Ok(cmds) => cmds.iter().find_map(|c| judge(c, depth + 1)),
        Err(e) => Some(Unreached::Unreadable(e)),
    }
}

/// A shell script's simple commands, as words: split at `;` `&` `|` newlines, `(` `)` and
/// command substitutions, redirections and comments left out, reserved words (`if`, `then`,
/// `do`...) taken off the front. Variables are not expanded.
fn simple_commands(script: &str) -> Result<Vec<Vec<String>>, String> {
    const RESERVED: &[&str] = &[
        "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac",
    ];
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut cmd: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    // The next word is a redirection's target.
    let mut target = false;
    let mut chars = script.chars().peekable();
    let end_word =
        |cur: &mut String, in_word: &mut bool, target: &mut bool, cmd: &mut Vec<String>| {
            if *in_word {
                let w = std::mem::take(cur);
                if !std::mem::take(target) {
                    cmd.push(w);
                }
                *in_word = false;
            }
        };
    let end_cmd = |cmd: &mut Vec<String>, cmds: &mut Vec<Vec<String>>| {
        let words: Vec<String> = std::mem::take(cmd)
            .into_iter()
            .skip_while(|w| RESERVED.contains(&w.as_str()))
            .collect();
        if !words.is_empty() {
            cmds.push(words);
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err("an unclosed ' in a shell script".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => {
                            if let Some(x) = chars.next() {
                                cur.push(x);
                            }
                        }
                        Some(x) => cur.push(x),
                        None => return Err("an unclosed \" in a shell script".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(x) => {
                    cur.push(x);
                    in_word = true;
                }
            },
            '#' if !in_word => {
                for x in chars.by_ref() {
                    if x == '\n' {
                        break;
                    }
                }
                end_cmd(&mut cmd, &mut cmds);
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                end_word(&mut cur, &mut in_word, &mut target, &mut cmd);
                end_cmd(&mut cmd, &mut cmds);
            }
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' => {
                end_word(&mut cur, &mut in_word, &mut target, &mut cmd);
                end_cmd(&mut cmd, &mut cmds);
            }
            '<' | '>' => {
                // `2>` `>&` `>>`: a file descriptor before, the target after.
                if in_word && cur.chars().all(|x| x.is_ascii_digit()) {
                    cur.clear();
                    in_word = false;
                }
                end_word(&mut cur, &mut in_word, &mut target, &mut cmd);
                while chars
                    .peek()
                    .is_some_and(|x| matches!(x, '<' | '>' | '&' | '|'))
                {
                    chars.next();
                }
                target = true;
            }
            c if c.is_whitespace() => end_word(&mut cur, &mut in_word, &mut target, &mut cmd),
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut cur, &mut in_word, &mut target, &mut cmd);
    end_cmd(&mut cmd, &mut cmds);
    Ok(cmds)
}

/// The first word of `rest` that is a subcommand: one of `wanted`, or the first plain word that
/// cannot be an option's value (then not one of them). Options before it are skipped whatever
/// they are, since a value they take cannot be `exec`.
fn subcommand<'a>(rest: &'a [String], wanted: &[&str]) -> Option<(&'a str, usize)> {
    let mut after_option = false;
    for (j, w) in rest.iter().enumerate() {
        if w == "--" {
            return None;
        }
        if w.starts_with('-') && w.len() > 1 {
            after_option = !w.contains('=');
            continue;
        }
        if wanted.contains(&w.as_str()) {
            return Some((w, j));
        }
        if !after_option {
            return Some((w, j));
        }
        after_option = false;
    }
    None
}

/// docker, podman, nerdctl: `exec` (also `container exec`, `compose exec`) is elsewhere; `run`
/// (`container run`) sees only the variables passed with `-e`.
fn engine(name: &str, rest: &[String]) -> Option<Unreached> {
    let (sub, j) = subcommand(rest, &["exec", "run", "container", "compose"])?;
    let (sub, j) = match sub {
        "container" | "compose" => {
            let after = &rest[j + 1..];
            let (s, k) = subcommand(after, &["exec", "run"])?;
            if sub == "compose" && s == "run" {
                // The compose file's environment: it cannot be seen from here, and a file
                // naming the database would migrate that one.
                return Some(Unreached::Unreadable(format!(
                    "{name} compose run: the compose file's environment for kong cannot be seen from here"
                )));
            }
            (s, j + 1 + k)
        }
        s => (s, j),
    };
    match sub {
        "exec" => Some(Unreached::Elsewhere(name.to_string())),
        "run" => container_env(name, &rest[j + 1..]),
        _ => None,
    }
}

/// `run`'s `-e NAME` (passed from kongrade's environment) and `-e NAME=value` (set here).
fn container_env(name: &str, args: &[String]) -> Option<Unreached> {
    let mut passed: Vec<&str> = Vec::new();
    let mut env_file = false;
    let mut k = 0;
    while let Some(w) = args.get(k) {
        let value = match w.as_str() {
            "-e" | "--env" => {
                k += 1;
                args.get(k).map(String::as_str)
            }
            // An env file may set them (to the source): it cannot be seen from here, so only
            // `-e NAME`, which overrides it, counts.
            "--env-file" => {
                env_file = true;
                k += 1;
                None
            }
            w if w.starts_with("--env-file=") => {
                env_file = true;
                None
            }
            w => w
                .strip_prefix("--env=")
                .or_else(|| w.strip_prefix("-e").filter(|v| !v.is_empty())),
        };
        if let Some(v) = value {
            match v.split_once('=') {
                Some((n, val)) if overrides(n, val) => {
                    return Some(Unreached::Cut(format!("{name} run sets {n} itself")))
                }
                Some((n, _)) => passed.push(n),
                None => passed.push(v),
            }
        }
        k += 1;
    }
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|n| !passed.contains(n))
        .collect();
    let flags = missing
        .iter()
        .map(|n| format!("-e {n}"))
        .collect::<Vec<_>>()
        .join(" ");
    (!missing.is_empty()).then(|| {
        if env_file {
            Unreached::Unreadable(format!(
                "the env file may set the database kong migrates, and it cannot be seen from here: add {flags} (they override the file)"
            ))
        } else {
            Unreached::Cut(format!("the container is not given {flags}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Unreached::{Cut, Elsewhere, Unreadable};
    use super::*;

    const RUN: &str = "docker run --rm --network host -e KONG_DATABASE -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_USER -e KONG_PG_PASSWORD -e KONG_PG_DATABASE kong:3.4.2 kong";

    #[test]
    fn elsewhere_however_it_is_written() {
        let table: &[(&str, &str)] = &[
            ("docker exec -i kong-new kong", "docker"),
            ("/usr/bin/docker exec kong kong", "docker"),
            ("docker --context prod exec k kong", "docker"),
            ("docker -H tcp://h:2375 exec k kong", "docker"),
            ("docker container exec k kong", "docker"),
            ("docker compose -f c.yml exec kong kong", "docker"),
            ("docker-compose exec kong kong", "docker-compose"),
            ("podman exec -it k kong", "podman"),
            ("nerdctl exec k kong", "nerdctl"),
            ("kubectl -n kong exec deploy/kong -- kong", "kubectl"),
            ("oc exec kong-1 -- kong", "oc"),
            ("microk8s kubectl exec kong -- kong", "kubectl"),
            ("ssh kong-host kong", "ssh"),
            ("ssh -i ~/.ssh/id kong@host /usr/local/bin/kong", "ssh"),
            ("vagrant ssh -c kong", "vagrant"),
            ("lxc exec kong -- kong", "lxc"),
            // Wrappers, their options and VAR=value before the command.
            ("sudo docker exec k kong", "docker"),
            ("sudo -E docker exec k kong", "docker"),
            ("sudo -u root -E docker exec k kong", "docker"),
            ("sudo -Eu root docker exec k kong", "docker"),
            ("sudo --user=root -- docker exec k kong", "docker"),
            ("env X=1 docker exec k kong", "docker"),
            ("env -u HOME X=1 /usr/bin/docker exec k kong", "docker"),
            ("env -S 'docker exec' k kong", "docker"),
            ("nice -n 5 docker exec k kong", "docker"),
            ("nice -5 docker exec k kong", "docker"),
            ("nice --adjustment=5 docker exec k kong", "docker"),
            ("timeout 600 kubectl exec kong -- kong", "kubectl"),
            (
                "timeout -s KILL -k 5 600 kubectl exec kong -- kong",
                "kubectl",
            ),
            ("ionice -c 3 nohup setsid docker exec k kong", "docker"),
            ("chrt -f 10 docker exec k kong", "docker"),
            ("taskset -c 0,1 docker exec k kong", "docker"),
            ("stdbuf -oL docker exec k kong", "docker"),
            ("flock /tmp/kong.lock docker exec k kong", "docker"),
            (
                "flock -w 10 /tmp/kong.lock -c 'docker exec k kong'",
                "docker",
            ),
            ("sshpass -p secret ssh host kong", "ssh"),
            ("doas docker exec k kong", "docker"),
            ("runuser -u kong -- docker exec k kong", "docker"),
            ("su -c 'docker exec k kong' kong", "docker"),
            // Shells: the -c script's commands.
            ("sh -c 'docker exec k kong \"$@\"' sh", "docker"),
            ("bash -lc \"docker exec k kong\"", "docker"),
            ("bash -e -o pipefail -c 'docker exec k kong'", "docker"),
            ("/bin/sh -c 'exec docker exec k kong'", "docker"),
            (
                "sh -c 'cd /srv && sudo -E docker exec k kong 2>&1'",
                "docker",
            ),
            ("sh -c 'set -e; X=1 ssh host kong'", "ssh"),
            ("sh -c 'if true; then docker exec k kong; fi'", "docker"),
            ("sh -c \"bash -c 'docker exec k kong'\"", "docker"),
            ("busybox sh -c 'docker exec k kong'", "docker"),
            // A wrapper kongrade does not know, before one it does.
            ("/opt/bin/with-vault docker exec k kong", "docker"),
            ("mywrap --flag x kubectl exec kong -- kong", "kubectl"),
        ];
        for (c, tool) in table {
            assert_eq!(unreached(c), Some(Elsewhere(tool.to_string())), "{c}");
        }
    }

    #[test]
    fn an_environment_cut_on_the_way_is_named() {
        let table: &[(&str, &str)] = &[
            ("sudo kong", "sudo resets"),
            ("sudo -u kong /usr/local/bin/kong", "sudo resets"),
            ("sudo --preserve-env=PATH kong", "sudo resets"),
            ("sudo -i kong", "sudo -i"),
            ("env -i kong", "env -i"),
            ("env - kong", "env -"),
            ("env -u KONG_PG_HOST kong", "env -u KONG_PG_HOST"),
            ("env KONG_PG_DATABASE=kong kong", "KONG_PG_DATABASE is set"),
            ("sh -c 'KONG_PG_HOST=db.prod exec kong'", "KONG_PG_HOST is set"),
            ("bash -c 'exec -c kong'", "exec -c"),
            ("su - kong -c kong", "su -"),
            ("sh -c 'export KONG_PG_DATABASE=kong; kong'", "KONG_PG_DATABASE is set"),
            ("sh -c 'unset KONG_PG_HOST; kong'", "unset KONG_PG_HOST"),
            ("docker run --rm kong:3.4.2 kong", "not given -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE"),
            ("docker run --rm -e KONG_PG_HOST -e KONG_PG_DATABASE kong:3.4.2 kong", "not given -e KONG_PG_PORT"),
            ("docker run -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE=kong kong:3.4.2 kong", "sets KONG_PG_DATABASE"),
            ("sudo docker run --env KONG_PG_HOST --env=KONG_PG_PORT -eKONG_PG_DATABASE kong:3.4.2 kong", "sudo resets"),
            ("doas kong", "doas resets"),
            ("doas -u kong /usr/local/bin/kong", "doas resets"),
            ("pkexec kong", "pkexec resets"),
            ("systemd-run --wait kong", "systemd-run starts kong"),
        ];
        for (c, why) in table {
            match unreached(c) {
                Some(Cut(w)) => assert!(w.contains(why), "{c}: {w}"),
                other => panic!("{c}: {other:?}"),
            }
        }
        // What sets kong's environment where kongrade cannot see it: refused as unreadable.
        for c in [
            "docker compose run --rm kong kong",
            "docker-compose run kong kong",
            "podman-compose run kong kong",
            "docker run --env-file /etc/kong.env kong:3.4.2 kong",
            "docker run --env-file=/etc/kong.env -e KONG_PG_HOST kong:3.4.2 kong",
        ] {
            assert!(
                matches!(unreached(c), Some(Unreadable(_))),
                "{c}: {:?}",
                unreached(c)
            );
        }
        assert_eq!(
            unreached("kubectl run kong-migrations --image kong:3.4.2 -- kong"),
            Some(Elsewhere("kubectl".into()))
        );
        assert!(matches!(unreached("sh -c 'kong"), Some(Unreadable(_))));
        assert!(matches!(
            unreached("sh -c \"kong 'x\""),
            Some(Unreadable(_))
        ));
        assert!(matches!(unreached("kong 'open"), Some(Unreadable(_))));
        let deep = format!("{}kong", "nice ".repeat(12));
        assert!(matches!(unreached(&deep), Some(Unreadable(_))));
    }

    #[test]
    fn kongs_that_take_the_environment_pass() {
        let run_sudo = format!("sudo -E {RUN}");
        let table: Vec<&str> = vec![
            "kong",
            "/usr/local/bin/kong",
            "kongrade stand-in --kong-version 3.4.2",
            RUN,
            &run_sudo,
            "docker run --env-file /etc/kong.env -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE kong:3.4.2 kong",
            "docker run -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE=$KONG_PG_DATABASE kong:3.4.2 kong",
            "podman container run -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE kong:3.4.2 kong",
            "sudo -E kong",
            "sudo --preserve-env kong",
            "sudo --preserve-env=KONG_PG_HOST,KONG_PG_PORT,KONG_PG_DATABASE,PATH kong",
            "env X=1 kong",
            "env -u HOME KONG_PG_TIMEOUT=10000 kong",
            "nice -n 5 timeout 600 kong",
            "sh -c 'cd /opt/kong && exec ./bin/kong \"$@\"' kong",
            "bash -lc 'kong'",
            "sh /opt/kong/run.sh",
            "sh -c 'echo docker exec; kong'",
            "kong -c /etc/ssh/kong.conf",
            "flock /tmp/l kong",
            "command kong",
            "runuser -u kong -- kong",
            "su -c kong kong",
            // The words of another program's arguments, not commands.
            "mykong --as sudo",
            "mykong --then env -i",
        ];
        for c in table {
            assert_eq!(unreached(c), None, "{c}");
        }
    }

    #[test]
    fn scripts_split_into_simple_commands() {
        let s = |v: &[&[&str]]| -> Vec<Vec<String>> {
            v.iter()
                .map(|c| c.iter().map(|w| w.to_string()).collect())
                .collect()
        };
        assert_eq!(
            simple_commands("cd /x && if a 'b c'; then d >out 2>&1; fi # e f\n g | h").unwrap(),
            s(&[&["cd", "/x"], &["a", "b c"], &["d"], &["g"], &["h"]])
        );
        assert_eq!(
            simple_commands("x=$(docker exec k kong version) y").unwrap(),
            s(&[&["x="], &["docker", "exec", "k", "kong", "version"], &["y"]])
        );
    }
}
