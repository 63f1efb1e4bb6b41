//! kong.conf read the way Kong reads it, for the settings kongrade needs.
//!
//! What Kong does (read from Kong 1.0 to 3.9 and Penlight 1.12 to 1.14; no code carried over):
//! - The file is `-c FILE` (which must exist), else the first of `/etc/kong/kong.conf` and
//!   `/etc/kong.conf` that exists, else none: defaults only.
//! - Penlight's `pl.config` splits the text into lines. A line that is blank or whose first
//!   non-blank character is `#` or `;` is skipped. A line ending in `\` (blanks after it allowed)
//!   is joined to the next kept line, without a separator; a `\` on the last line is dropped with
//!   its text. A line starting with `[` opens a section, which Kong cannot use (3.2+ fails to load
//!   the file, older versions ignore every later setting): kongrade refuses such a file.
//! - `key = value` splits at the first `=`; blanks around both are trimmed. A line without `=` is
//!   ignored. Every character of the key that is not an ASCII letter or digit becomes `_`
//!   (`pg-host` is read as `pg_host`), but keys are not lower-cased: Kong matches them against its
//!   own lower-case names, so `PG_HOST = x` is ignored. The last of duplicate keys wins. Quotes are
//!   kept as written.
//! - A value that starts with a digit, `+` or `-` and reads as a Lua number is turned into a number
//!   and back into text in Lua's `%.14g` format: `pg_password = 0123` is read as `123`.
//! - Kong 3.2+ then cuts a value at the first `#` not preceded by `\`, with the blanks before it,
//!   and turns `\#` into `#`. (Kong 2.x to 3.1 cut at `#` together with the character before it,
//!   so `pa#ss` was read as `p`; escaped `\#` gives `#` in every version.)
//! - `KONG_<KEY>` environment variables beat the file and are taken as they are: no comment or
//!   `\#` processing (2.x turned `\#` in them into `#`), only trimmed. An empty value unsets.
//! - An empty value means "not set", not "default".
//! - A value `{vault://env/name}` (3.x; 2.8 with vaults enabled) is the environment variable
//!   `NAME` (upper-cased, `-` -> `_`, optional `?prefix=` or `vault_env_prefix` in front, `#2`
//!   for `NAME_PREVIOUS`, `/field` to take a field of a JSON object).
//!
//! Where kongrade is stricter than Kong, on purpose: Kong silently reads a boolean other than
//! `on`/`true` as off and a non-numeric port or timeout as "not set"; kongrade reports both.
//! It also reports empty required settings and references it cannot resolve (Kong's CLI keeps an
//! unresolvable reference as literal text). Everything is validated whatever `database` says.
//!
//! Defaults differ between versions in two places: `lua_ssl_trusted_certificate` is `system` from
//! 3.0 (unset before) and `cassandra_consistency` is `ONE` up to 2.0 and an unset alias of
//! `cassandra_write_consistency`/`cassandra_read_consistency` (both `ONE`) from 2.1 to 3.3; 3.4
//! dropped Cassandra. kongrade uses the 3.x default and the 2.1+ consistency keys.
//!
//! I/O is limited to [`find_conf_file`], [`read_conf_file`], [`load`] and
//! [`load_from_process_env`]; everything else is pure.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Kong's own search order when no `-c FILE` is given.
pub const DEFAULT_CONF_PATHS: [&str; 2] = ["/etc/kong/kong.conf", "/etc/kong.conf"];

/// The settings kongrade reads, with Kong's defaults (`None`: Kong's `NONE`, not set).
const KNOWN: &[(&str, Option<&str>)] = &[
    ("prefix", Some("/usr/local/kong/")),
    ("database", Some("postgres")),
    ("plugins", Some("bundled")),
    ("lua_ssl_trusted_certificate", Some("system")),
    ("vault_env_prefix", None),
    ("pg_host", Some("127.0.0.1")),
    ("pg_port", Some("5432")),
    ("pg_user", Some("kong")),
    ("pg_password", None),
    ("pg_database", Some("kong")),
    ("pg_schema", None),
    ("pg_timeout", Some("5000")),
    ("pg_ssl", Some("off")),
    ("pg_ssl_verify", Some("off")),
    ("cassandra_contact_points", Some("127.0.0.1")),
    ("cassandra_port", Some("9042")),
    ("cassandra_keyspace", Some("kong")),
    ("cassandra_username", Some("kong")),
    ("cassandra_password", None),
    ("cassandra_timeout", Some("5000")),
    ("cassandra_ssl", Some("off")),
    ("cassandra_ssl_verify", Some("off")),
    ("cassandra_consistency", None),
    ("cassandra_write_consistency", Some("ONE")),
    ("cassandra_read_consistency", Some("ONE")),
    ("cassandra_lb_policy", Some("RequestRoundRobin")),
    ("cassandra_local_datacenter", None),
    ("cassandra_schema_consensus_timeout", Some("10000")),
];

const CONSISTENCIES: &[&str] = &[
    "ALL",
    "EACH_QUORUM",
    "QUORUM",
    "LOCAL_QUORUM",
    "ONE",
    "TWO",
    "THREE",
    "LOCAL_ONE",
];

const LB_POLICIES: &[&str] = &[
    "RoundRobin",
    "RequestRoundRobin",
    "DCAwareRoundRobin",
    "RequestDCAwareRoundRobin",
];

/// The names of the settings kongrade reads, in a stable order.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    KNOWN.iter().map(|(k, _)| *k)
}

/// Kong's default for a setting kongrade reads; `None` when unknown or unset by default.
pub fn default_value(key: &str) -> Option<&'static str> {
    KNOWN.iter().find(|(k, _)| *k == key).and_then(|(_, d)| *d)
}

fn is_known(key: &str) -> bool {
    KNOWN.iter().any(|(k, _)| *k == key)
}

/// Settings whose values must never be shown.
fn is_sensitive(key: &str) -> bool {
    key.contains("password") || key.contains("secret") || key.contains("token")
}

/// The environment variable Kong reads for a setting.
pub fn env_var_for(key: &str) -> String {
    format!("KONG_{}", key.to_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// Secret

/// A value that must not be shown: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (a connection, a child's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

// ---------------------------------------------------------------------------------------------
// Where a value came from

/// Where a setting's value came from, for error messages and `--verbose`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    File {
        path: PathBuf,
        line: usize,
    },
    /// The environment variable, e.g. `KONG_PG_HOST`.
    Env(String),
    /// A kongrade command-line flag.
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("Kong's default"),
            Origin::File { path, line } => write!(f, "{} line {}", path.display(), line),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag => f.write_str("command line"),
        }
    }
}

/// One setting as Kong would use it: trimmed text (empty: not set) and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Setting {
    value: String,
    pub origin: Origin,
    /// The vault reference the value was read through, if any.
    pub reference: Option<String>,
    sensitive: bool,
}

impl Setting {
    fn new(key: &str, value: &str, origin: Origin) -> Self {
        Setting {
            value: trim(value).to_string(),
            origin,
            reference: None,
            sensitive: is_sensitive(key),
        }
    }

    /// The value itself (empty when not set). Never print it for a password: see `shown`.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn is_set(&self) -> bool {
        !self.value.is_empty()
    }

    /// Safe to show: a vault reference is shown instead of what it resolved to, a password as
    /// `<redacted>`.
    pub fn shown(&self) -> String {
        if let Some(reference) = &self.reference {
            reference.clone()
        } else if self.sensitive && self.is_set() {
            "<redacted>".to_string()
        } else {
            self.value.clone()
        }
    }
}

impl fmt::Debug for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("value", &self.shown())
            .field("origin", &self.origin)
            .field("reference", &self.reference)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing the file text

/// One `key = value` line of a kong.conf, after Kong's own processing of the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as Kong sees it (non-alphanumerics turned into `_`, case kept).
    pub key: String,
    /// The value as Kong uses it; empty means "not set".
    pub value: String,
    /// The line the entry starts on (1-based).
    pub line: usize,
    /// Kong's reader took the value for a number and wrote it back differently
    /// (`0123` -> `123`, `1e3` -> `1000`).
    pub number_rewritten: bool,
    /// The line held bytes that are not UTF-8 (read lossily here; Kong passes the bytes on).
    pub not_utf8: bool,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if is_sensitive(&self.key) && !self.value.is_empty() {
            "<redacted>"
        } else {
            self.value.as_str()
        };
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &value)
            .field("line", &self.line)
            .field("number_rewritten", &self.number_rewritten)
            .field("not_utf8", &self.not_utf8)
            .finish()
    }
}

/// Lua's `%s`, PCRE's `\s` and Penlight's strip all use this set.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn trim(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Parses kong.conf text as Kong does. `file_label` names the file in errors.
pub fn parse_str(text: &str, file_label: &str) -> Result<Vec<Entry>, ConfError> {
    parse_lines(
        text.strip_prefix('\u{feff}').unwrap_or(text),
        file_label,
        &[],
    )
}

/// Parses kong.conf bytes as Kong does: Lua reads bytes, so a byte that is not UTF-8 (a Latin-1
/// comment) does not make the file unreadable. Such a line is read lossily and its entry marked
/// [`Entry::not_utf8`]; [`build`] refuses it only for a key kongrade uses. A UTF-8 byte-order
/// mark at the start is dropped (an editor's, not part of the first key).
pub fn parse_bytes(bytes: &[u8], file_label: &str) -> Result<Vec<Entry>, ConfError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_lines(text, file_label, &[]),
        Err(_) => {
            let mut bad = Vec::new();
            let mut text = String::with_capacity(bytes.len() + 16);
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                match std::str::from_utf8(line) {
                    Ok(l) => text.push_str(l),
                    Err(_) => {
                        bad.push(i + 1);
                        text.push_str(&String::from_utf8_lossy(line));
                    }
                }
            }
            parse_lines(&text, file_label, &bad)
        }
    }
}

/// `bad`: the (1-based, ascending) lines that were not UTF-8.
fn parse_lines(text: &str, file_label: &str, bad: &[usize]) -> Result<Vec<Entry>, ConfError> {
    let mut entries = Vec::new();
    // A line ending in `\` waits here for the next kept line: (first line, text so far).
    let mut pending: Option<(usize, String)> = None;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let start = raw.trim_start_matches(is_space);
        if start.is_empty() || start.starts_with('#') || start.starts_with(';') {
            continue;
        }
        let body = raw.trim_end_matches(is_space);
        if let Some(before) = body.strip_suffix('\\') {
            let (_, acc) = pending.get_or_insert_with(|| (line_no, String::new()));
            acc.push_str(before);
            continue;
        }
        let (first, logical) = match pending.take() {
            // A continuation that added nothing leaves the line on its own, as in Penlight.
            Some((first, mut acc)) if !acc.is_empty() => {
                acc.push_str(raw);
                (first, acc)
            }
            _ => (line_no, raw.to_string()),
        };
        if let Some(mut entry) = parse_logical_line(&logical, first, file_label)? {
            entry.not_utf8 = bad
                .binary_search_by(|b| {
                    if *b < first {
                        std::cmp::Ordering::Less
                    } else if *b > line_no {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok();
            entries.push(entry);
        }
    }
    Ok(entries)
}

fn parse_logical_line(
    line: &str,
    line_no: usize,
    file_label: &str,
) -> Result<Option<Entry>, ConfError> {
    if line.starts_with('[') {
        return Err(ConfError::Syntax {
            file: file_label.to_string(),
            line: line_no,
            message: format!(
                "'{}' starts a section, and kong.conf has none (Kong 3.2+ cannot load the file, \
                 older Kong ignores every setting after it)",
                crate::text::echo(trim(line))
            ),
        });
    }
    let body = line.trim_start_matches(is_space);
    let Some(eq) = body.find('=') else {
        // Penlight keeps such a line as a list item, which Kong never looks at.
        return Ok(None);
    };
    let key = variabilize(body[..eq].trim_end_matches(is_space));
    let raw = body[eq + 1..].trim_start_matches(is_space);
    if raw.contains("_blank_") {
        // Kong passes `_blank_` to Penlight as the list separator, so such a value becomes a
        // list that Kong then fails on.
        return Err(ConfError::Syntax {
            file: file_label.to_string(),
            line: line_no,
            message: format!(
                "the value of {key} contains '_blank_', which Kong's reader splits into a list: \
                 Kong cannot use it"
            ),
        });
    }
    if key.is_empty() {
        return Ok(None);
    }
    let (value, number_rewritten) = match penlight_value(raw) {
        PlValue::Number(text) => {
            let changed = text != clean_text(raw);
            (text, changed)
        }
        PlValue::Text(text) => (clean_text(&text), false),
    };
    Ok(Some(Entry {
        key,
        value,
        line: line_no,
        number_rewritten,
        not_utf8: false,
    }))
}

/// Penlight turns every character that is not a letter or digit into `_`.
fn variabilize(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            // Lua works on bytes: a multi-byte character becomes one `_` per byte.
            out.extend(std::iter::repeat_n('_', c.len_utf8()));
        }
    }
    out
}

enum PlValue {
    /// Read as a number: the text Lua writes back.
    Number(String),
    /// Kept as text (possibly altered by the ` kB` rule).
    Text(String),
}

/// Penlight's number conversion of a raw value (leading blanks already gone).
fn penlight_value(raw: &str) -> PlValue {
    if !raw.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
        return PlValue::Text(raw.to_string());
    }
    if let Some(n) = lua_tonumber(raw) {
        return PlValue::Number(lua_number_text(n));
    }
    // Penlight also reads `512 kB` as 512, and drops every ` kB` while trying.
    if raw.ends_with(" kB") {
        let stripped = raw.replace(" kB", "");
        return match lua_tonumber(&stripped) {
            Some(n) => PlValue::Number(lua_number_text(n)),
            None => PlValue::Text(stripped),
        };
    }
    PlValue::Text(raw.to_string())
}

/// Kong 3.2+'s comment handling of a file value, then the trimming Kong does before use.
fn clean_text(value: &str) -> String {
    let value = trim(value);
    let bytes = value.as_bytes();
    let cut = (0..bytes.len()).find(|&i| bytes[i] == b'#' && (i == 0 || bytes[i - 1] != b'\\'));
    let kept = match cut {
        Some(i) => value[..i].trim_end_matches(is_space),
        None => value,
    };
    trim(&kept.replace("\\#", "#")).to_string()
}

/// LuaJIT's `tonumber(s)`: decimal or `0x` hexadecimal, optional sign, fraction and exponent,
/// blanks around. (`inf`/`nan` are left out: no setting kongrade reads can be one.)
pub(crate) fn lua_tonumber(s: &str) -> Option<f64> {
    let t = trim(s);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let value = if body.len() > 1 && (body.starts_with("0x") || body.starts_with("0X")) {
        hex_number(&body[2..])?
    } else {
        decimal_number(body)?
    };
    Some(if neg { -value } else { value })
}

fn decimal_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    // The grammar is checked above; Rust's parser accepts the same forms and rounds correctly.
    s.parse::<f64>().ok()
}

fn hex_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa = 0f64;
    let mut digits = 0;
    let mut frac_digits = 0i32;
    let mut seen_dot = false;
    while i < b.len() {
        let c = b[i];
        if let Some(d) = (c as char).to_digit(16) {
            mantissa = mantissa * 16.0 + f64::from(d);
            digits += 1;
            if seen_dot {
                frac_digits += 1;
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let mut exp = 0i32;
    if i < b.len() && (b[i] == b'p' || b[i] == b'P') {
        i += 1;
        let neg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            exp = exp
                .saturating_mul(10)
                .saturating_add(i32::from(b[i] - b'0'));
            i += 1;
        }
        if i == start {
            return None;
        }
        if neg {
            exp = -exp;
        }
    }
    if i != b.len() {
        return None;
    }
    Some(mantissa * 2f64.powi(exp.saturating_sub(frac_digits.saturating_mul(4))))
}

/// A Lua number written back as text: C's `%.14g`.
pub(crate) fn lua_number_text(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let sci = format!("{x:.13e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..14).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{}{:02}", strip_zeros(mantissa), sign, exp.abs())
    } else {
        let decimals = usize::try_from(13 - exp).unwrap_or(0);
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Loading

/// Where to look for kong.conf and what the command line overrides.
#[derive(Clone)]
pub struct LoadOptions {
    /// `-c FILE`: must exist.
    pub conf_path: Option<PathBuf>,
    /// Tried in order when `conf_path` is not given; Kong's are [`DEFAULT_CONF_PATHS`].
    pub default_paths: Vec<PathBuf>,
    /// `(setting, value)` from kongrade's flags (`--pg-host` -> `("pg_host", ..)`); they win
    /// over everything.
    pub overrides: Vec<(String, String)>,
}

impl LoadOptions {
    /// Kong's search paths, with an optional `-c FILE`.
    pub fn new(conf_path: Option<PathBuf>) -> Self {
        LoadOptions {
            conf_path,
            default_paths: DEFAULT_CONF_PATHS.iter().map(PathBuf::from).collect(),
            overrides: Vec::new(),
        }
    }

    pub fn with_override(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.push((key.into(), value.into()));
        self
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions::new(None)
    }
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An override may be a password given on the command line.
        let overrides: Vec<(&str, &str)> = self
            .overrides
            .iter()
            .map(|(k, v)| {
                let v = if is_sensitive(k) { "<redacted>" } else { v };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("LoadOptions")
            .field("conf_path", &self.conf_path)
            .field("default_paths", &self.default_paths)
            .field("overrides", &overrides)
            .finish()
    }
}

/// A parsed kong.conf and where it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
}

/// The file Kong would read: `-c FILE` (an error if it does not exist), else the first default
/// path that exists (a directory counts, as for Kong, and fails when read), else none.
pub fn find_conf_file(opts: &LoadOptions) -> Result<Option<PathBuf>, ConfError> {
    if let Some(path) = &opts.conf_path {
        if !path.exists() {
            return Err(ConfError::NoFile { path: path.clone() });
        }
        return Ok(Some(path.clone()));
    }
    Ok(opts.default_paths.iter().find(|p| p.exists()).cloned())
}

/// Reads and parses one kong.conf: a regular file (a FIFO or `/dev/zero` would block or never
/// end) of at most [`crate::bounded::CONF_MAX`] bytes.
pub fn read_conf_file(path: &Path) -> Result<ConfFile, ConfError> {
    use crate::bounded::{self, ReadError};
    let bytes = bounded::read(path, bounded::CONF_MAX).map_err(|e| ConfError::Unreadable {
        path: path.to_path_buf(),
        source: match e {
            ReadError::Io(_, e) => e,
            ReadError::NotRegular(_, kind) => {
                io::Error::other(format!("it is not a regular file (it is {kind})"))
            }
            ReadError::TooBig(_, cap) => io::Error::other(format!(
                "it is larger than {} KB, far more than a kong.conf holds; is it the right file?",
                cap >> 10
            )),
        },
    })?;
    let label = path.display().to_string();
    Ok(ConfFile {
        path: path.to_path_buf(),
        entries: parse_bytes(&bytes, &label)?,
    })
}

/// Loads kong.conf as Kong would: file, then `KONG_*` from `env`, then the overrides.
/// `env` answers environment lookups (also those of `{vault://env/...}` references).
pub fn load(
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KongConf, ConfError> {
    let file = match find_conf_file(opts)? {
        Some(path) => Some(read_conf_file(&path)?),
        None => None,
    };
    build(file, env, &opts.overrides)
}

/// [`load`] with the process environment. A variable that is not UTF-8 is read lossily.
pub fn load_from_process_env(opts: &LoadOptions) -> Result<KongConf, ConfError> {
    load(opts, &|name| {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })
}

// ---------------------------------------------------------------------------------------------
// The typed result

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatabaseKind {
    Postgres,
    Cassandra,
    /// DB-less: nothing to migrate.
    Off,
}

impl DatabaseKind {
    /// Kong's exact (case-sensitive) names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "postgres" => Some(DatabaseKind::Postgres),
            "cassandra" => Some(DatabaseKind::Cassandra),
            "off" => Some(DatabaseKind::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::Cassandra => "cassandra",
            DatabaseKind::Off => "off",
        }
    }
}

impl fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgConf {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
    /// `None`: the server's search_path decides.
    pub schema: Option<String>,
    /// `pg_timeout`. Kong's `migrations` commands do not use it: they set it from
    /// `--db-timeout` (default 60 s).
    pub timeout_ms: u64,
    pub ssl: bool,
    pub ssl_verify: bool,
    /// `lua_ssl_trusted_certificate`: paths, PEM or base64 text, or the word `system`.
    pub trusted_certificates: Vec<String>,
}

impl PgConf {
    /// `user@host:port/database`, for screens and logs; never the password.
    pub fn display_target(&self) -> String {
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}@{}:{}/{}", self.user, host, self.port, self.database)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CassandraConf {
    pub contact_points: Vec<String>,
    pub port: u16,
    pub keyspace: String,
    pub username: String,
    pub password: Option<Secret>,
    pub ssl: bool,
    pub ssl_verify: bool,
    pub local_datacenter: Option<String>,
    /// `cassandra_timeout`; like the next one, replaced by `--db-timeout` in Kong's
    /// `migrations` commands.
    pub timeout_ms: u64,
    pub schema_consensus_timeout_ms: u64,
    /// `cassandra_write_consistency`, or the older `cassandra_consistency` when only that is set.
    pub write_consistency: String,
    pub read_consistency: String,
    pub lb_policy: String,
    pub trusted_certificates: Vec<String>,
}

/// kong.conf as Kong would use it, for the settings kongrade needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KongConf {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    pub database: DatabaseKind,
    /// As written; Kong makes it absolute against its working directory.
    pub prefix: PathBuf,
    pub pg: PgConf,
    pub cassandra: CassandraConf,
    /// The raw `plugins` list, trimmed, empty items dropped. `bundled` and `off` are kept as
    /// words: Kong loads no plugin at all when the *first* item is `off`.
    pub plugins: Vec<String>,
    /// Every setting kongrade reads with its value and origin.
    pub values: BTreeMap<String, Setting>,
    /// Things Kong accepts silently that an operator likely did not mean. Never hold a password.
    pub warnings: Vec<String>,
}

impl KongConf {
    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.values.get(key)
    }

    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|s| &s.origin)
    }
}

/// Merges defaults, a parsed file, the environment and overrides, resolves `{vault://env/...}`
/// references and validates. Pure: `env` is the only view of the environment.
pub fn build(
    file: Option<ConfFile>,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &[(String, String)],
) -> Result<KongConf, ConfError> {
    let mut values: BTreeMap<String, Setting> = KNOWN
        .iter()
        .map(|(k, d)| {
            (
                (*k).to_string(),
                Setting::new(k, d.unwrap_or(""), Origin::Default),
            )
        })
        .collect();
    let mut warnings = Vec::new();
    let path = file.as_ref().map(|f| f.path.clone());

    if let Some(file) = file {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for entry in file.entries {
            let origin = Origin::File {
                path: file.path.clone(),
                line: entry.line,
            };
            if !is_known(&entry.key) {
                let lower = entry.key.to_ascii_lowercase();
                if lower != entry.key && is_known(&lower) {
                    warnings.push(format!(
                        "{origin}: Kong ignores '{}': setting names are lower case ({lower})",
                        entry.key
                    ));
                }
                continue;
            }
            if entry.not_utf8 {
                return Err(ConfError::Syntax {
                    file: file.path.display().to_string(),
                    line: entry.line,
                    message: format!(
                        "the value of {} is not UTF-8 text; kongrade needs it as text (save the file as UTF-8)",
                        entry.key
                    ),
                });
            }
            if let Some(previous) = seen.insert(entry.key.clone(), entry.line) {
                warnings.push(format!(
                    "{} sets {} on lines {previous} and {}: Kong uses line {}",
                    file.path.display(),
                    entry.key,
                    entry.line,
                    entry.line
                ));
            }
            if entry.number_rewritten {
                let what = if is_sensitive(&entry.key) {
                    "a different text than the one written".to_string()
                } else {
                    format!("'{}'", entry.value)
                };
                warnings.push(format!(
                    "{origin}: Kong reads the value of {} as a number and uses {what}; set {} \
                     to keep it as written",
                    entry.key,
                    env_var_for(&entry.key)
                ));
            }
            values.insert(
                entry.key.clone(),
                Setting::new(&entry.key, &entry.value, origin),
            );
        }
    }

    for (key, _) in KNOWN {
        let var = env_var_for(key);
        if let Some(v) = env(&var) {
            values.insert((*key).to_string(), Setting::new(key, &v, Origin::Env(var)));
        }
    }

    for (key, value) in overrides {
        if !is_known(key) {
            return Err(ConfError::UnknownOverride { key: key.clone() });
        }
        values.insert(key.clone(), Setting::new(key, value, Origin::Flag));
    }

    // Kong 2.1-3.3: the old single `cassandra_consistency` fills whichever of the two newer
    // settings the operator did not set.
    if let Some(old) = values.get("cassandra_consistency").cloned() {
        if old.is_set() {
            for key in ["cassandra_write_consistency", "cassandra_read_consistency"] {
                if values.get(key).is_some_and(|s| s.origin == Origin::Default) {
                    values.insert(key.to_string(), old.clone());
                }
            }
        }
    }

    let vault_prefix = values
        .get("vault_env_prefix")
        .filter(|s| s.is_set())
        .map(|s| s.value.clone());
    for (key, setting) in values.iter_mut() {
        if key == "vault_env_prefix" || !is_reference(&setting.value) {
            continue;
        }
        let reference = setting.value.clone();
        let resolved = resolve_reference(
            key,
            &reference,
            &setting.origin,
            env,
            vault_prefix.as_deref(),
        )?;
        setting.value = trim(&resolved).to_string();
        setting.reference = Some(reference);
    }

    let r = Reader { values: &values };
    let database = r.database()?;
    let trusted = r.list("lua_ssl_trusted_certificate");
    let pg = PgConf {
        host: r.required("pg_host")?,
        port: r.port("pg_port")?,
        user: r.required("pg_user")?,
        password: r.secret("pg_password"),
        database: r.required("pg_database")?,
        schema: r.optional("pg_schema"),
        timeout_ms: r.millis("pg_timeout")?,
        ssl: r.flag("pg_ssl")?,
        ssl_verify: r.flag("pg_ssl_verify")?,
        trusted_certificates: trusted.clone(),
    };
    let cassandra = CassandraConf {
        contact_points: r.required_list("cassandra_contact_points")?,
        port: r.port("cassandra_port")?,
        keyspace: r.required("cassandra_keyspace")?,
        username: r.required("cassandra_username")?,
        password: r.secret("cassandra_password"),
        ssl: r.flag("cassandra_ssl")?,
        ssl_verify: r.flag("cassandra_ssl_verify")?,
        local_datacenter: r.optional("cassandra_local_datacenter"),
        timeout_ms: r.millis("cassandra_timeout")?,
        schema_consensus_timeout_ms: r.millis("cassandra_schema_consensus_timeout")?,
        write_consistency: r.one_of("cassandra_write_consistency", CONSISTENCIES)?,
        read_consistency: r.one_of("cassandra_read_consistency", CONSISTENCIES)?,
        lb_policy: r.one_of("cassandra_lb_policy", LB_POLICIES)?,
        trusted_certificates: trusted,
    };
    if database == DatabaseKind::Cassandra {
        r.check_cassandra(&cassandra)?;
    }
    let prefix = PathBuf::from(r.required("prefix")?);
    let plugins = r.list("plugins");

    Ok(KongConf {
        path,
        database,
        prefix,
        pg,
        cassandra,
        plugins,
        values,
        warnings,
    })
}

/// Typed reads of the merged settings, with errors naming the key and the value's origin.
struct Reader<'a> {
    values: &'a BTreeMap<String, Setting>,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> &Setting {
        // Every known key is inserted with its default before any read.
        &self.values[key]
    }

    fn invalid(&self, key: &str, problem: impl Into<String>) -> ConfError {
        let s = self.get(key);
        let mut problem = problem.into();
        if let Some(reference) = &s.reference {
            problem.push_str(&format!(" (read through {reference})"));
        }
        ConfError::Invalid {
            key: key.to_string(),
            value: (!s.sensitive).then(|| s.value.clone()),
            origin: s.origin.clone(),
            problem,
        }
    }

    fn empty(&self, key: &str) -> ConfError {
        let s = self.get(key);
        let default =
            default_value(key).map_or(String::new(), |d| format!(" (Kong's default is '{d}')"));
        ConfError::Invalid {
            key: key.to_string(),
            value: None,
            origin: s.origin.clone(),
            problem: format!("is empty{default}"),
        }
    }

    fn required(&self, key: &str) -> Result<String, ConfError> {
        let s = self.get(key);
        if s.is_set() {
            Ok(s.value.clone())
        } else {
            Err(self.empty(key))
        }
    }

    fn optional(&self, key: &str) -> Option<String> {
        let s = self.get(key);
        s.is_set().then(|| s.value.clone())
    }

    fn secret(&self, key: &str) -> Option<Secret> {
        self.optional(key).map(Secret)
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .value
            .split(',')
            .map(trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn required_list(&self, key: &str) -> Result<Vec<String>, ConfError> {
        let items = self.list(key);
        if items.is_empty() {
            Err(self.empty(key))
        } else {
            Ok(items)
        }
    }

    fn port(&self, key: &str) -> Result<u16, ConfError> {
        let text = self.required(key)?;
        lua_tonumber(&text)
            .filter(|n| n.fract() == 0.0 && (1.0..=65535.0).contains(n))
            .map(|n| n as u16)
            .ok_or_else(|| self.invalid(key, "is not a port number (1-65535)"))
    }

    fn millis(&self, key: &str) -> Result<u64, ConfError> {
        let text = self.required(key)?;
        // 2^53: the largest whole number a Lua number holds exactly.
        lua_tonumber(&text)
            .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= 9_007_199_254_740_992.0)
            .map(|n| n as u64)
            .ok_or_else(|| self.invalid(key, "is not a positive whole number of milliseconds"))
    }

    fn flag(&self, key: &str) -> Result<bool, ConfError> {
        match self.get(key).value.as_str() {
            "on" | "true" => Ok(true),
            // Empty is "not set", which Kong treats as off.
            "off" | "false" | "" => Ok(false),
            _ => Err(self.invalid(
                key,
                "is not on or off (Kong would silently read anything but 'on' or 'true' as off)",
            )),
        }
    }

    fn one_of(&self, key: &str, allowed: &[&str]) -> Result<String, ConfError> {
        let text = self.required(key)?;
        if allowed.contains(&text.as_str()) {
            Ok(text)
        } else {
            Err(self.invalid(key, format!("is not one of {}", allowed.join(", "))))
        }
    }

    fn database(&self) -> Result<DatabaseKind, ConfError> {
        let text = self.required("database")?;
        DatabaseKind::parse(&text).ok_or_else(|| {
            self.invalid(
                "database",
                "is not a database Kong knows (postgres, cassandra, off)",
            )
        })
    }

    /// Kong's extra checks when Cassandra is the database.
    fn check_cassandra(&self, c: &CassandraConf) -> Result<(), ConfError> {
        if c.lb_policy.contains("DCAware") && c.local_datacenter.is_none() {
            return Err(self.invalid(
                "cassandra_lb_policy",
                "needs cassandra_local_datacenter to be set",
            ));
        }
        if let Some(point) = c.contact_points.iter().find(|p| has_port(p)) {
            return Err(self.invalid(
                "cassandra_contact_points",
                format!(
                    "has a port in contact point '{point}'; Kong takes the port from \
                     cassandra_port only"
                ),
            ));
        }
        Ok(())
    }
}

/// `host:port`, `1.2.3.4:port` or `[v6]:port`; a bare IPv6 address has no port.
fn has_port(point: &str) -> bool {
    if point.starts_with('[') {
        point.contains("]:")
    } else {
        point.matches(':').count() == 1
    }
}

// ---------------------------------------------------------------------------------------------
// Vault references

/// Kong's test: `{vault://` ... `}`.
pub fn is_reference(value: &str) -> bool {
    value.starts_with("{vault://") && value.ends_with('}')
}

/// Resolves a `{vault://env/...}` reference through `env`; any other vault is an error.
fn resolve_reference(
    key: &str,
    reference: &str,
    origin: &Origin,
    env: &dyn Fn(&str) -> Option<String>,
    vault_env_prefix: Option<&str>,
) -> Result<String, ConfError> {
    let fail = |problem: String| ConfError::Vault {
        key: key.to_string(),
        reference: reference.to_string(),
        origin: origin.clone(),
        problem,
    };
    // Parsed as Kong's URL parser does: authority up to the first `/`, then `#version`,
    // `?query` and `;params` off the end of the path.
    let rest = &reference["{vault://".len()..reference.len() - 1];
    let (authority, mut path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut fragment = None;
    if let Some(i) = path.find('#') {
        fragment = Some(&path[i + 1..]);
        path = &path[..i];
    }
    let mut query = None;
    if let Some(i) = path.find('?') {
        query = Some(&path[i + 1..]);
        path = &path[..i];
    }
    if let Some(i) = path.find(';') {
        path = &path[..i];
    }
    let host = authority.split_once('@').map_or(authority, |(_, h)| h);
    let host = match host.rfind(':') {
        Some(i) if !host[i + 1..].contains(']') => &host[..i],
        _ => host,
    };
    let name = host.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() {
        return Err(fail("names no vault".to_string()));
    }
    if name != "env" {
        return Err(fail(format!(
            "uses the '{name}' vault, which only Kong itself can read (kongrade reads \
             {{vault://env/...}} only); give kongrade the value in {} instead",
            env_var_for(key)
        )));
    }
    let parts: Vec<String> = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(percent_decode)
        .collect();
    let (resource, field) = match parts.split_last() {
        None => return Err(fail("names no variable".to_string())),
        Some((last, [])) => (last.clone(), None),
        Some((last, init)) => (init.join("/"), Some(last.clone())),
    };
    let version = match fragment {
        None => None,
        Some(f) => match trim(f).parse::<i64>() {
            Ok(v) => Some(v),
            Err(_) => return Err(fail(format!("has an invalid version '#{f}'"))),
        },
    };
    let prefix = query
        .and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "prefix")
                .map(|(_, v)| percent_decode(v))
        })
        .or_else(|| vault_env_prefix.map(str::to_string));
    if let Some(p) = &prefix {
        let valid = p.chars().enumerate().all(|(i, c)| {
            c == '_' || c == '-' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
        });
        if p.is_empty() || !valid {
            return Err(fail(format!(
                "uses the prefix '{p}', which the env vault does not accept (letters, digits, \
                 '_' and '-', not starting with a digit)"
            )));
        }
    }
    let mut var = format!("{}{}", prefix.unwrap_or_default(), resource)
        .replace('-', "_")
        .to_ascii_uppercase();
    if version == Some(2) {
        var.push_str("_PREVIOUS");
    }
    let Some(value) = env(&var) else {
        return Err(fail(format!(
            "refers to environment variable {var}, which is not set"
        )));
    };
    let Some(field) = field else {
        return Ok(value);
    };
    // `/field` picks a string field of a JSON object held in the variable. The content is never
    // quoted in errors: it is a secret.
    let json: serde_json::Value = serde_json::from_str(&value).map_err(|_| {
        fail(format!(
            "takes field '{field}' of environment variable {var}, which does not hold JSON"
        ))
    })?;
    match json.get(&field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(fail(format!(
            "takes field '{field}' of environment variable {var}, which is not a string there"
        ))),
        None => Err(fail(format!(
            "takes field '{field}' of environment variable {var}, which has no such field"
        ))),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Why kong.conf could not be used. Messages name the file and line, or the environment
/// variable, and the key; they never contain a password.
#[derive(Debug)]
pub enum ConfError {
    /// `-c FILE` names nothing.
    NoFile { path: PathBuf },
    /// The file exists but could not be read.
    Unreadable { path: PathBuf, source: io::Error },
    /// Text Kong cannot read.
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// A value Kong (or kongrade) cannot use. `value` is `None` for passwords and empty values.
    Invalid {
        key: String,
        value: Option<String>,
        origin: Origin,
        problem: String,
    },
    /// A vault reference kongrade cannot resolve.
    Vault {
        key: String,
        reference: String,
        origin: Origin,
        problem: String,
    },
    /// A flag override for a setting kongrade does not read: a bug in the caller.
    UnknownOverride { key: String },
}

impl ConfError {
    /// The setting the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfError::Invalid { key, .. }
            | ConfError::Vault { key, .. }
            | ConfError::UnknownOverride { key } => Some(key),
            _ => None,
        }
    }
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfError::NoFile { path } => write!(f, "no file at: {}", path.display()),
            ConfError::Unreadable { path, source } => {
                write!(f, "could not read {}: {source}", path.display())
            }
            ConfError::Syntax {
                file,
                line,
                message,
            } => write!(f, "{file} line {line}: {message}"),
            ConfError::Invalid {
                key,
                value: Some(value),
                origin,
                problem,
            } => write!(
                f,
                "{origin}: {key} = '{}' {problem}",
                crate::text::echo(value)
            ),
            ConfError::Invalid {
                key,
                value: None,
                origin,
                problem,
            } => write!(f, "{origin}: {key} {problem}"),
            ConfError::Vault {
                key,
                reference,
                origin,
                problem,
            } => write!(
                f,
                "{origin}: {key} = '{}' {problem}",
                crate::text::echo(reference)
            ),
            ConfError::UnknownOverride { key } => {
                write!(f, "kongrade has no setting named '{key}' to override")
            }
        }
    }
}

impl std::error::Error for ConfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfError::Unreadable { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Entry> {
        match parse_str(text, "kong.conf") {
            Ok(entries) => entries,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn value_of(entries: &[Entry], key: &str) -> Option<String> {
        entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.clone())
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn build_with(
        text: &str,
        env: &[(&str, &str)],
        flags: &[(&str, &str)],
    ) -> Result<KongConf, ConfError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let flags: Vec<(String, String)> = flags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let file = ConfFile {
            path: PathBuf::from("/etc/kong/kong.conf"),
            entries: parse_str(text, "/etc/kong/kong.conf")?,
        };
        build(Some(file), &|k| env.get(k).cloned(), &flags)
    }

    fn ok(text: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> KongConf {
        match build_with(text, env, flags) {
            Ok(conf) => conf,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(text: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> String {
        match build_with(text, env, flags) {
            Ok(conf) => panic!("expected an error, got {conf:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn comments_blank_lines_and_whitespace() {
        let e = parse(
            "# a comment\n\n   # indented comment\n; semicolon comment\n\t pg_host   =   db.example  \n\
             pg_user=kong # trailing comment\npg_database = kong#no space before\n",
        );
        assert_eq!(e.len(), 3);
        assert_eq!(value_of(&e, "pg_host").as_deref(), Some("db.example"));
        assert_eq!(value_of(&e, "pg_user").as_deref(), Some("kong"));
        assert_eq!(value_of(&e, "pg_database").as_deref(), Some("kong"));
        assert_eq!(e[0].line, 5);
        assert_eq!(e[1].line, 6);
    }

    #[test]
    fn escaped_octothorpe_is_kept() {
        let e = parse("pg_password = pa\\#ss\\#word # comment\n");
        assert_eq!(value_of(&e, "pg_password").as_deref(), Some("pa#ss#word"));
        let e = parse("pg_password = \\#start\n");
        assert_eq!(value_of(&e, "pg_password").as_deref(), Some("#start"));
    }

    #[test]
    fn value_starting_with_octothorpe_is_empty() {
        let e = parse("pg_password = #secret\n");
        assert_eq!(value_of(&e, "pg_password").as_deref(), Some(""));
    }

    #[test]
    fn crlf_line_endings() {
        let e = parse("pg_host = a\r\npg_port = 5433\r\n\r\n");
        assert_eq!(value_of(&e, "pg_host").as_deref(), Some("a"));
        assert_eq!(value_of(&e, "pg_port").as_deref(), Some("5433"));
    }

    #[test]
    fn line_without_equals_is_ignored_and_last_duplicate_wins() {
        let e = parse("just some words\npg_host = a\npg_host = b\n= orphan\n");
        assert_eq!(e.len(), 2);
        assert_eq!(value_of(&e, "pg_host").as_deref(), Some("b"));
    }

    #[test]
    fn quotes_are_kept_and_value_split_at_first_equals() {
        let e = parse("pg_password = \"a=b\"\n");
        assert_eq!(value_of(&e, "pg_password").as_deref(), Some("\"a=b\""));
    }

    #[test]
    fn keys_keep_case_and_non_alphanumerics_become_underscores() {
        let e = parse("pg-host = a\nPG_PORT = 1\npg.user = u\n");
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["pg_host", "PG_PORT", "pg_user"]);
    }

    #[test]
    fn backslash_continues_a_line() {
        let e = parse("pg_host = db\\\n# comment in between\n   .example\npg_user = u\n");
        assert_eq!(value_of(&e, "pg_host").as_deref(), Some("db   .example"));
        assert_eq!(e[0].line, 1);
        assert_eq!(value_of(&e, "pg_user").as_deref(), Some("u"));
        // Nothing to join at the end: Penlight drops it.
        let e = parse("pg_user = u\npg_host = x\\\n");
        assert_eq!(value_of(&e, "pg_host"), None);
    }

    #[test]
    fn sections_and_blank_marker_are_errors() {
        let e = parse_str("pg_host = a\n[section]\npg_user = b\n", "f.conf").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("f.conf line 2: '[section]' starts a section"),
            "{e}"
        );
        let e = parse_str("pg_user = my_blank_user\n", "f.conf").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 1: the value of pg_user contains '_blank_'"),
            "{e}"
        );
        // Indented, it is an ordinary line without `=`.
        assert!(parse("  [x]\n").is_empty());
    }

    #[test]
    fn numbers_are_rewritten_like_lua() {
        let e = parse(
            "a = 0123\nb = 1e3\nc = 0x10\nd = 5432\ne = 5432 # port\nf = 512 kB\ng = +7\nh = 1.50\n\
             i = 12345678901234567\nj = 10.0.0.1\nk = 1.5.6 kB\n",
        );
        let get = |k: &str| {
            e.iter()
                .find(|x| x.key == k)
                .map(|x| (x.value.as_str(), x.number_rewritten))
        };
        assert_eq!(get("a"), Some(("123", true)));
        assert_eq!(get("b"), Some(("1000", true)));
        assert_eq!(get("c"), Some(("16", true)));
        assert_eq!(get("d"), Some(("5432", false)));
        assert_eq!(get("e"), Some(("5432", false)));
        assert_eq!(get("f"), Some(("512", true)));
        assert_eq!(get("g"), Some(("7", true)));
        assert_eq!(get("h"), Some(("1.5", true)));
        assert_eq!(get("i"), Some(("1.2345678901235e+16", true)));
        assert_eq!(get("j"), Some(("10.0.0.1", false)));
        assert_eq!(get("k"), Some(("1.5.6", false)));
    }

    #[test]
    fn lua_number_format() {
        let cases = [
            (5432.0, "5432"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e14, "1e+14"),
            (99999999999999.0, "99999999999999"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.0 / 3.0, "0.33333333333333"),
            (2.5e-300, "2.5e-300"),
        ];
        for (n, text) in cases {
            assert_eq!(lua_number_text(n), text, "{n}");
        }
    }

    #[test]
    fn lua_tonumber_accepts_what_luajit_accepts() {
        assert_eq!(lua_tonumber(" 42 "), Some(42.0));
        assert_eq!(lua_tonumber("-0x1p4"), Some(-16.0));
        assert_eq!(lua_tonumber("0x.8"), Some(0.5));
        assert_eq!(lua_tonumber("5."), Some(5.0));
        assert_eq!(lua_tonumber(".5"), Some(0.5));
        assert_eq!(lua_tonumber("1E+2"), Some(100.0));
        for bad in [
            "", "-", "0x", "1e", "1.2.3", "12abc", "inf", "nan", "1 2", "--1",
        ] {
            assert_eq!(lua_tonumber(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let conf = match build(None, &no_env, &[]) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(conf.path, None);
        assert_eq!(conf.database, DatabaseKind::Postgres);
        assert_eq!(conf.prefix, PathBuf::from("/usr/local/kong/"));
        assert_eq!(
            conf.pg,
            PgConf {
                host: "127.0.0.1".into(),
                port: 5432,
                user: "kong".into(),
                password: None,
                database: "kong".into(),
                schema: None,
                timeout_ms: 5000,
                ssl: false,
                ssl_verify: false,
                trusted_certificates: vec!["system".into()],
            }
        );
        let c = &conf.cassandra;
        assert_eq!(c.contact_points, ["127.0.0.1"]);
        assert_eq!(
            (c.port, c.keyspace.as_str(), c.username.as_str()),
            (9042, "kong", "kong")
        );
        assert_eq!(c.password, None);
        assert_eq!((c.ssl, c.ssl_verify), (false, false));
        assert_eq!((c.timeout_ms, c.schema_consensus_timeout_ms), (5000, 10000));
        assert_eq!(c.local_datacenter, None);
        assert_eq!(
            (c.write_consistency.as_str(), c.read_consistency.as_str()),
            ("ONE", "ONE")
        );
        assert_eq!(c.lb_policy, "RequestRoundRobin");
        assert_eq!(conf.plugins, ["bundled"]);
        assert_eq!(conf.origin("pg_host"), Some(&Origin::Default));
        assert!(conf.warnings.is_empty());
        assert_eq!(conf.values.len(), KNOWN.len());
    }

    #[test]
    fn file_then_env_then_flags() {
        let text = "pg_host = file-host\npg_port = 6000\npg_user = file-user\n";
        let conf = ok(
            text,
            &[("KONG_PG_HOST", "env-host"), ("KONG_PG_PORT", " 7000 ")],
            &[("pg_port", "8000")],
        );
        assert_eq!(conf.pg.host, "env-host");
        assert_eq!(conf.pg.port, 8000);
        assert_eq!(conf.pg.user, "file-user");
        assert_eq!(
            conf.origin("pg_host"),
            Some(&Origin::Env("KONG_PG_HOST".into()))
        );
        assert_eq!(conf.origin("pg_port"), Some(&Origin::Flag));
        assert_eq!(
            conf.origin("pg_user"),
            Some(&Origin::File {
                path: "/etc/kong/kong.conf".into(),
                line: 3
            })
        );
    }

    #[test]
    fn env_values_are_taken_as_written() {
        let conf = ok("", &[("KONG_PG_PASSWORD", " se#cret \\#x ")], &[]);
        assert_eq!(
            conf.pg.password.as_ref().map(Secret::expose),
            Some("se#cret \\#x")
        );
    }

    #[test]
    fn empty_value_unsets() {
        let conf = ok(
            "pg_password = hunter2\npg_schema = \n",
            &[("KONG_PG_PASSWORD", "")],
            &[],
        );
        assert_eq!(conf.pg.password, None);
        assert_eq!(conf.pg.schema, None);
        let e = err("pg_host =\n", &[], &[]);
        assert_eq!(
            e,
            "/etc/kong/kong.conf line 1: pg_host is empty (Kong's default is '127.0.0.1')"
        );
    }

    #[test]
    fn port_errors_name_file_line_and_key() {
        let e = err("\n\npg_port = abc\n", &[], &[]);
        assert_eq!(
            e,
            "/etc/kong/kong.conf line 3: pg_port = 'abc' is not a port number (1-65535)"
        );
        for bad in ["0", "65536", "54.5", "-1"] {
            let e = err(&format!("cassandra_port = {bad}\n"), &[], &[]);
            assert!(
                e.contains("cassandra_port = ") && e.contains("is not a port number"),
                "{e}"
            );
        }
        let e = err("", &[("KONG_PG_PORT", "x")], &[]);
        assert_eq!(
            e,
            "environment variable KONG_PG_PORT: pg_port = 'x' is not a port number (1-65535)"
        );
        let e = err("", &[], &[("pg_port", "99999")]);
        assert_eq!(
            e,
            "command line: pg_port = '99999' is not a port number (1-65535)"
        );
        assert_eq!(ok("pg_port = 0x1538\n", &[], &[]).pg.port, 5432);
    }

    #[test]
    fn timeout_errors() {
        for bad in ["0", "-5", "1.5", "soon"] {
            let e = err(&format!("pg_timeout = {bad}\n"), &[], &[]);
            assert!(
                e.starts_with("/etc/kong/kong.conf line 1: pg_timeout = '")
                    && e.ends_with("is not a positive whole number of milliseconds"),
                "{e}"
            );
        }
        let e = err("cassandra_schema_consensus_timeout = x\n", &[], &[]);
        assert!(
            e.contains("cassandra_schema_consensus_timeout = 'x'"),
            "{e}"
        );
        assert_eq!(ok("pg_timeout = 60000\n", &[], &[]).pg.timeout_ms, 60000);
    }

    #[test]
    fn booleans() {
        let conf = ok(
            "pg_ssl = on\npg_ssl_verify = true\ncassandra_ssl = false\n",
            &[],
            &[],
        );
        assert!(conf.pg.ssl && conf.pg.ssl_verify && !conf.cassandra.ssl);
        assert!(!ok("pg_ssl =\n", &[], &[]).pg.ssl);
        for bad in ["yes", "ON", "1"] {
            let e = err(&format!("\npg_ssl = {bad}\n"), &[], &[]);
            assert_eq!(
                e,
                format!(
                    "/etc/kong/kong.conf line 2: pg_ssl = '{bad}' is not on or off (Kong would \
                     silently read anything but 'on' or 'true' as off)"
                )
            );
        }
    }

    #[test]
    fn database_values() {
        assert_eq!(ok("database = off\n", &[], &[]).database, DatabaseKind::Off);
        assert_eq!(
            ok("database = cassandra\n", &[], &[]).database,
            DatabaseKind::Cassandra
        );
        let e = err("database = mysql\n", &[], &[]);
        assert_eq!(
            e,
            "/etc/kong/kong.conf line 1: database = 'mysql' is not a database Kong knows \
             (postgres, cassandra, off)"
        );
        assert!(err("database = Postgres\n", &[], &[]).contains("'Postgres'"));
    }

    #[test]
    fn plugins_list() {
        let conf = ok("plugins = bundled, my-plugin ,,other\n", &[], &[]);
        assert_eq!(conf.plugins, ["bundled", "my-plugin", "other"]);
        assert!(ok("plugins =\n", &[], &[]).plugins.is_empty());
        assert_eq!(ok("plugins = off\n", &[], &[]).plugins, ["off"]);
    }

    #[test]
    fn trusted_certificates_list() {
        let conf = ok(
            "lua_ssl_trusted_certificate = system, /etc/ssl/ca.pem\n",
            &[],
            &[],
        );
        assert_eq!(conf.pg.trusted_certificates, ["system", "/etc/ssl/ca.pem"]);
        assert_eq!(
            conf.cassandra.trusted_certificates,
            conf.pg.trusted_certificates
        );
    }

    #[test]
    fn cassandra_rules() {
        let conf = ok("cassandra_contact_points = a, b ,[::1]\n", &[], &[]);
        assert_eq!(conf.cassandra.contact_points, ["a", "b", "[::1]"]);
        let conf = ok(
            "cassandra_consistency = QUORUM\ncassandra_read_consistency = ALL\n",
            &[],
            &[],
        );
        assert_eq!(conf.cassandra.write_consistency, "QUORUM");
        assert_eq!(conf.cassandra.read_consistency, "ALL");
        assert!(err("cassandra_write_consistency = MANY\n", &[], &[]).contains("is not one of ALL"));
        let e = err(
            "database = cassandra\ncassandra_lb_policy = DCAwareRoundRobin\n",
            &[],
            &[],
        );
        assert!(e.contains("needs cassandra_local_datacenter"), "{e}");
        let conf = ok(
            "database = cassandra\ncassandra_lb_policy = DCAwareRoundRobin\ncassandra_local_datacenter = dc1\n",
            &[],
            &[],
        );
        assert_eq!(conf.cassandra.local_datacenter.as_deref(), Some("dc1"));
        let e = err(
            "database = cassandra\ncassandra_contact_points = a:9042\n",
            &[],
            &[],
        );
        assert!(e.contains("contact point 'a:9042'"), "{e}");
        // Only checked when Cassandra is the database, as Kong does.
        ok("cassandra_contact_points = a:9042\n", &[], &[]);
        ok(
            "database = cassandra\ncassandra_contact_points = ::1\n",
            &[],
            &[],
        );
    }

    #[test]
    fn vault_env_reference() {
        let text = "pg_password = {vault://env/pg-password}\npg_user = {vault://env/pg-user/}\n";
        let conf = ok(
            text,
            &[("PG_PASSWORD", " s3cret "), ("PG_USER", "admin")],
            &[],
        );
        assert_eq!(
            conf.pg.password.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        assert_eq!(conf.pg.user, "admin");
        let s = conf.setting("pg_password").map(|s| s.reference.clone());
        assert_eq!(s, Some(Some("{vault://env/pg-password}".to_string())));
        assert_eq!(
            conf.setting("pg_user").map(Setting::shown).as_deref(),
            Some("{vault://env/pg-user/}")
        );
    }

    #[test]
    fn vault_env_reference_unset() {
        let e = err("\npg_password = {vault://env/pg-password}\n", &[], &[]);
        assert_eq!(
            e,
            "/etc/kong/kong.conf line 2: pg_password = '{vault://env/pg-password}' refers to \
             environment variable PG_PASSWORD, which is not set"
        );
        let e = err("", &[("KONG_PG_PASSWORD", "{vault://env/db-pass}")], &[]);
        assert!(
            e.starts_with("environment variable KONG_PG_PASSWORD: pg_password"),
            "{e}"
        );
        assert!(e.contains("DB_PASS, which is not set"), "{e}");
    }

    #[test]
    fn vault_other_than_env() {
        let e = err("pg_password = {vault://aws/kong/pg}\n", &[], &[]);
        assert!(
            e.contains("uses the 'aws' vault, which only Kong itself can read"),
            "{e}"
        );
        assert!(e.contains("KONG_PG_PASSWORD"), "{e}");
    }

    #[test]
    fn vault_json_field_version_and_prefix() {
        let env = [
            ("PG_CREDS", r#"{"user":"u1","password":"p1","n":1}"#),
            ("PG_PASSWORD_PREVIOUS", "prev-secret"),
            ("MY_PG_HOST", "h"),
            ("PRE_PG_DATABASE", "d"),
        ];
        let text =
            "pg_user = {vault://env/pg-creds/user}\npg_password = {vault://env/pg-password\\#2}\n\
                    pg_host = {vault://env/pg-host?prefix=my_}\n";
        let conf = ok(text, &env, &[]);
        assert_eq!(conf.pg.user, "u1");
        assert_eq!(
            conf.pg.password.as_ref().map(Secret::expose),
            Some("prev-secret")
        );
        assert_eq!(conf.pg.host, "h");
        // `vault_env_prefix` applies to every env reference; `?prefix=` beats it.
        let text =
            "pg_database = {vault://env/pg-database}\npg_host = {vault://env/pg-host?prefix=my_}\n";
        let mut with_prefix = env.to_vec();
        with_prefix.push(("KONG_VAULT_ENV_PREFIX", "pre_"));
        let conf = ok(text, &with_prefix, &[]);
        assert_eq!(conf.pg.database, "d");
        assert_eq!(conf.pg.host, "h");
        let e = err("pg_host = {vault://env/h?prefix=9x}\n", &env, &[]);
        assert!(e.contains("prefix '9x'"), "{e}");
        let e = err("pg_user = {vault://env/pg-creds/n}\n", &env, &[]);
        assert!(e.contains("not a string"), "{e}");
        let e = err("pg_user = {vault://env/pg-creds/x}\n", &env, &[]);
        assert!(e.contains("no such field"), "{e}");
        let e = err(
            "pg_user = {vault://env/pg-password-previous/x}\n",
            &env,
            &[],
        );
        assert!(
            e.contains("does not hold JSON") && !e.contains("prev-secret"),
            "{e}"
        );
        let e = err("pg_user = {vault://env/x\\#abc}\n", &env, &[]);
        assert!(e.contains("invalid version"), "{e}");
    }

    #[test]
    fn vault_resolved_value_is_validated() {
        let e = err("pg_port = {vault://env/port}\n", &[("PORT", "x")], &[]);
        assert_eq!(
            e,
            "/etc/kong/kong.conf line 1: pg_port = 'x' is not a port number (1-65535) (read \
             through {vault://env/port})"
        );
    }

    #[test]
    fn passwords_never_shown() {
        let conf = ok(
            "pg_password = hunter2\ncassandra_password = {vault://env/cpw}\n",
            &[("CPW", "swordfish")],
            &[],
        );
        let debug = format!("{conf:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("swordfish"),
            "{debug}"
        );
        assert!(debug.contains("<redacted>"));
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "<redacted> <redacted>");
        assert_eq!(secret.expose(), "hunter2");

        let entries = parse("pg_password = hunter2\n");
        assert!(!format!("{entries:?}").contains("hunter2"));

        let opts = LoadOptions::new(None).with_override("pg_password", "hunter2");
        assert!(!format!("{opts:?}").contains("hunter2"));

        // A password that makes an error (empty, or a bad reference) is never quoted.
        let e = build_with("pg_password = {vault://env/nope}\n", &[], &[]).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"));
    }

    #[test]
    fn numeric_password_warning_hides_the_value() {
        let conf = ok("pg_password = 0123\n", &[], &[]);
        assert_eq!(conf.pg.password.as_ref().map(Secret::expose), Some("123"));
        assert_eq!(conf.warnings.len(), 1);
        let w = &conf.warnings[0];
        assert!(
            w.contains("pg_password") && w.contains("KONG_PG_PASSWORD"),
            "{w}"
        );
        assert!(!w.contains("123"), "{w}");
    }

    #[test]
    fn warnings_for_ignored_upper_case_and_duplicates() {
        let conf = ok("PG_HOST = x\npg_user = a\npg_user = b\n", &[], &[]);
        assert_eq!(conf.pg.host, "127.0.0.1");
        assert_eq!(conf.pg.user, "b");
        assert_eq!(conf.warnings.len(), 2, "{:?}", conf.warnings);
        assert!(conf.warnings[0].contains("Kong ignores 'PG_HOST'"));
        assert!(conf.warnings[1].contains("lines 2 and 3"));
    }

    #[test]
    fn unknown_keys_ignored_unknown_override_rejected() {
        let conf = ok(
            "admin_listen = 0.0.0.0:8001\nnginx_http_foo = bar\n",
            &[],
            &[],
        );
        assert!(conf.setting("admin_listen").is_none());
        assert!(conf.warnings.is_empty());
        let e = err("", &[], &[("pg_hots", "x")]);
        assert_eq!(e, "kongrade has no setting named 'pg_hots' to override");
    }

    #[test]
    fn display_target_never_has_the_password() {
        let conf = ok("pg_password = hunter2\n", &[], &[]);
        assert_eq!(conf.pg.display_target(), "kong@127.0.0.1:5432/kong");
        let conf = ok(
            "pg_host = ::1\npg_user = u\npg_database = d\npg_port = 6432\n",
            &[],
            &[],
        );
        assert_eq!(conf.pg.display_target(), "u@[::1]:6432/d");
    }

    #[test]
    fn references_detected_like_kong() {
        assert!(is_reference("{vault://env/x}"));
        assert!(!is_reference("{vault:/env/x}"));
        assert!(!is_reference("vault://env/x"));
        assert!(!is_reference("{vault://env/x"));
    }
}
