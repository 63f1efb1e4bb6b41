//! The catalog generator behind `kongrade-catalog-gen`: reads every final Kong release tag of a git
//! repository with the `git` command and writes what `assets/catalog.json` holds. Bundled plugins
//! that Kong shipped as separate rocks get their migrations from a small overlay file
//! (`assets/external-rocks.json`), chosen the way luarocks resolves the tag's rockspec.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use color_eyre::eyre::{eyre, Result, WrapErr};
use serde::{Deserialize, Serialize};

use super::lua_tree::{read_subsystem, read_subsystem_with_facts, ModuleFacts};
use crate::kong::catalog::{
    Catalog, MigrationFacts, MigrationSpec, Release, SubsystemSpec, CATALOG_FORMAT,
};
use crate::kong::kong_facts::{parse_defaults, ConfBook, ModuleBook};
use crate::kong::lua;
use crate::kong::version::Version;

// ---------------------------------------------------------------------------------------------
// git
// ---------------------------------------------------------------------------------------------

/// A git repository (plain or bare), read through the `git` command.
pub struct Git {
    dir: PathBuf,
}

impl Git {
    pub fn open(dir: &Path) -> Result<Git> {
        let g = Git {
            dir: dir.to_path_buf(),
        };
        g.run(&["rev-parse", "--git-dir"])
            .wrap_err_with(|| format!("{} is not a git repository", dir.display()))?;
        Ok(g)
    }

    fn command(&self) -> Command {
        let mut c = Command::new("git");
        // `-C` works for bare and plain repositories alike.
        c.arg("-C").arg(&self.dir);
        c
    }

    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .output()
            .wrap_err("running git (is it installed?)")?;
        if !out.status.success() {
            return Err(eyre!(
                "git {} failed in {}: {}",
                args.join(" "),
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn tags(&self) -> Result<Vec<String>> {
        Ok(self
            .run(&["tag", "--list"])?
            .lines()
            .map(str::to_string)
            .collect())
    }

    pub fn commit_of(&self, rev: &str) -> Result<String> {
        Ok(self
            .run(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])?
            .trim()
            .to_string())
    }

    /// Every file path under `paths` at `rev`.
    pub fn files(&self, rev: &str, paths: &[&str]) -> Result<BTreeSet<String>> {
        let mut args = vec!["ls-tree", "-r", "--name-only", rev, "--"];
        args.extend_from_slice(paths);
        Ok(self.run(&args)?.lines().map(str::to_string).collect())
    }

    pub fn cat_file(&self) -> Result<CatFile> {
        let mut child = self
            .command()
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .wrap_err("starting git cat-file")?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| eyre!("git cat-file: no stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| eyre!("git cat-file: no stdout"))?;
        Ok(CatFile {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }
}

/// One long-running `git cat-file --batch`: thousands of files without thousands of processes.
pub struct CatFile {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl CatFile {
    /// The file `path` at `rev`; `None` when it does not exist there (or is a directory).
    pub fn read(&mut self, rev: &str, path: &str) -> Result<Option<String>> {
        writeln!(self.stdin, "{rev}:{path}").wrap_err("writing to git cat-file")?;
        self.stdin.flush().wrap_err("writing to git cat-file")?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .wrap_err("reading from git cat-file")?;
        let header = header.trim_end();
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            return Ok(None);
        }
        let mut parts = header.split(' ');
        let (kind, size) = match (parts.next(), parts.next(), parts.next()) {
            (Some(_), Some(kind), Some(size)) => (kind, size),
            _ => return Err(eyre!("unexpected answer from git cat-file: '{header}'")),
        };
        let size: usize = size
            .parse()
            .map_err(|_| eyre!("unexpected answer from git cat-file: '{header}'"))?;
        // The object is followed by a newline.
        let mut buf = vec![0u8; size + 1];
        self.stdout
            .read_exact(&mut buf)
            .wrap_err("reading from git cat-file")?;
        buf.truncate(size);
        if kind != "blob" {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

impl Drop for CatFile {
    fn drop(&mut self) {
        // The process would end at EOF on stdin too; killing it is quicker, and waiting reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Rock versions and luarocks constraints
// ---------------------------------------------------------------------------------------------

/// A rock's version, numeric parts only (`2.4.5`; a luarocks revision `-1` is dropped). Equality
/// and order pad with zeros, as luarocks does (1.0 == 1.0.0).
#[derive(Clone, Debug)]
pub struct RockVersion(pub Vec<u64>);

impl PartialEq for RockVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RockVersion {}

impl RockVersion {
    /// `2.4.5`, `v0.2.0`, `2.4.5-1`; `None` for anything else (`dev`, `sandbox-2.0.0`).
    pub fn parse(s: &str) -> Option<RockVersion> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let main = match s.rsplit_once('-') {
            Some((m, rev)) if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) => m,
            _ => s,
        };
        let parts: Option<Vec<u64>> = main.split('.').map(|p| p.parse().ok()).collect();
        parts.filter(|p| !p.is_empty()).map(RockVersion)
    }

    fn part(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }
}

impl Ord for RockVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.0.len().max(other.0.len());
        (0..n)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for RockVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RockVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&parts.join("."))
    }
}

/// A rockspec dependency: `kong-plugin-session ~> 2.1`, `foo >= 1.0, < 2.0`, `bar 1.0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub name: String,
    pub constraints: Vec<(String, RockVersion)>,
}

impl Dependency {
    pub fn parse(s: &str) -> Result<Dependency> {
        let s = s.trim();
        let (name, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let mut constraints = Vec::new();
        for c in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let op_len = c
                .find(|ch: char| !matches!(ch, '=' | '~' | '<' | '>'))
                .unwrap_or(c.len());
            let (op, v) = c.split_at(op_len);
            // luarocks: a bare version means `==`.
            let op = match op {
                "" => "==",
                "==" | "~=" | "<" | ">" | "<=" | ">=" | "~>" => op,
                other => return Err(eyre!("unknown operator '{other}' in dependency '{s}'")),
            };
            let v = RockVersion::parse(v)
                .ok_or_else(|| eyre!("cannot read version '{}' in dependency '{s}'", v.trim()))?;
            constraints.push((op.to_string(), v));
        }
        Ok(Dependency {
            name: name.to_lowercase(),
            constraints,
        })
    }

    /// luarocks' rule: every constraint holds; `~> 2.1` matches a version whose leading parts
    /// equal `2.1` (2.1, 2.1.7; not 2.2).
    pub fn matches(&self, v: &RockVersion) -> bool {
        self.constraints.iter().all(|(op, want)| match op.as_str() {
            "==" => v == want,
            "~=" => v != want,
            "<" => v < want,
            ">" => v > want,
            "<=" => v <= want,
            ">=" => v >= want,
            "~>" => want.0.iter().enumerate().all(|(i, p)| v.part(i) == *p),
            _ => false,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The external rocks overlay (assets/external-rocks.json)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RockOverlay {
    pub about: Vec<String>,
    pub rocks: Vec<RockEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RockEntry {
    /// The rock's name as rockspecs depend on it.
    pub rock: String,
    /// The Kong plugins it provides.
    pub plugins: Vec<String>,
    /// Where these facts come from.
    pub source: String,
    /// Every release, oldest first, with the migrations it ships. `None`: its releases are not
    /// known here, and `source` says why none of them ships migrations.
    pub releases: Option<Vec<RockRelease>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RockRelease {
    pub version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsystems: Vec<RockSubsystem>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RockSubsystem {
    pub name: String,
    pub migrations: Vec<MigrationSpec>,
}

impl RockOverlay {
    pub fn from_json(text: &str) -> Result<RockOverlay> {
        let o: RockOverlay =
            serde_json::from_str(text).wrap_err("reading the external rocks overlay")?;
        for r in &o.rocks {
            for rel in r.releases.iter().flatten() {
                if RockVersion::parse(&rel.version).is_none() {
                    return Err(eyre!("rock {}: bad version '{}'", r.rock, rel.version));
                }
            }
        }
        Ok(o)
    }

    pub fn load(path: &Path) -> Result<RockOverlay> {
        let text = std::fs::read_to_string(path)
            .wrap_err_with(|| format!("reading {}", path.display()))?;
        RockOverlay::from_json(&text).wrap_err_with(|| format!("in {}", path.display()))
    }

    fn rock(&self, name: &str) -> Option<&RockEntry> {
        self.rocks.iter().find(|r| r.rock == name)
    }
}

/// The release luarocks would install for `dep`: the newest one allowed.
pub fn resolve_rock<'a>(entry: &'a RockEntry, dep: &Dependency) -> Result<Option<&'a RockRelease>> {
    let Some(releases) = &entry.releases else {
        return Ok(None);
    };
    let mut best: Option<(RockVersion, &RockRelease)> = None;
    for rel in releases {
        let v = RockVersion::parse(&rel.version)
            .ok_or_else(|| eyre!("rock {}: bad version '{}'", entry.rock, rel.version))?;
        if dep.matches(&v) && best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, rel));
        }
    }
    match best {
        Some((_, rel)) => Ok(Some(rel)),
        None => Err(eyre!(
            "no release of {} known to the overlay satisfies '{}'",
            entry.rock,
            describe_dep(dep)
        )),
    }
}

fn describe_dep(dep: &Dependency) -> String {
    let c: Vec<String> = dep
        .constraints
        .iter()
        .map(|(op, v)| format!("{op} {v}"))
        .collect();
    format!("{} {}", dep.name, c.join(", "))
}

// ---------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------

pub struct GenOptions {
    pub kong_repo: PathBuf,
    pub from: Version,
    pub to: Version,
    pub rocks: RockOverlay,
    /// How the overlay is named in the catalog's `source` (e.g. `assets/external-rocks.json`).
    pub rocks_label: String,
}

/// The catalog and what the generator noticed on the way (for the operator running it).
pub struct Generated {
    pub catalog: Catalog,
    /// What each migration of Kong's tree changes (rock migrations have no source here).
    pub facts: Vec<MigrationFacts>,
    /// kong.conf keys and defaults per release, from `kong/templates/kong_defaults.lua`.
    pub conf: ConfBook,
    /// The Lua modules each release ships under `kong/`, from each tag's tree.
    pub modules: ModuleBook,
    pub notes: Vec<String>,
}

/// Kong sorts plugin subsystems by name from 2.4.0 on: `load_subsystems` in
/// kong/db/migrations/state.lua gained `table.sort(sorted_plugin_names)` in 2.4.0 and iterates that
/// list; before, it iterated `pairs(plugin_names)`, whose order is unspecified.
pub const PLUGINS_SORTED_SINCE: Version = Version::new(2, 4, 0);

/// Final release tags (`X.Y.Z`, no rc/alpha/beta) in `[from, to]`, oldest first.
pub fn release_tags(git: &Git, from: Version, to: Version) -> Result<Vec<(Version, String)>> {
    let mut tags: Vec<(Version, String)> = git
        .tags()?
        .into_iter()
        .filter(|t| {
            let parts: Vec<&str> = t.split('.').collect();
            parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|t| t.parse::<Version>().ok().map(|v| (v, t)))
        .filter(|(v, _)| *v >= from && *v <= to)
        .collect();
    tags.sort();
    Ok(tags)
}

/// Kong's effective kong.conf keys and defaults (kong.conf.default is only the documented copy).
const DEFAULTS_PATH: &str = "kong/templates/kong_defaults.lua";

/// Where Kong's own Lua modules live in its tree.
const MODULES_ROOT: &str = "kong";

pub fn generate(opts: &GenOptions) -> Result<Generated> {
    let git = Git::open(&opts.kong_repo)?;
    let tags = release_tags(&git, opts.from, opts.to)?;
    let (Some((first, _)), Some((last, last_tag))) = (tags.first(), tags.last()) else {
        return Err(eyre!(
            "no release tags from {} to {} in {}",
            opts.from,
            opts.to,
            opts.kong_repo.display()
        ));
    };
    let commit = git.commit_of(last_tag)?;
    let mut cat = git.cat_file()?;
    let mut notes = Vec::new();
    let mut releases = Vec::with_capacity(tags.len());
    let mut facts: Vec<MigrationFacts> = Vec::new();
    let mut defaults: Vec<(Version, BTreeMap<String, String>)> = Vec::new();
    let mut modules: Vec<(Version, BTreeSet<String>)> = Vec::new();
    for (version, tag) in &tags {
        // `require "kong.x.y"` finds kong/x/y.lua or kong/x/y/init.lua: the tree holds the fact.
        let files = git
            .files(tag, &[MODULES_ROOT])
            .wrap_err_with(|| format!("listing {MODULES_ROOT}/ at tag {tag}"))?;
        modules.push((
            *version,
            files
                .iter()
                .filter_map(|f| ModuleBook::module_of(f))
                .collect(),
        ));
        match cat.read(tag, DEFAULTS_PATH)? {
            Some(text) => {
                let text =
                    lua::returned_string(&text).map_err(|e| eyre!("{tag}:{DEFAULTS_PATH}: {e}"))?;
                defaults.push((*version, parse_defaults(&text).into_iter().collect()));
            }
            None => notes.push(format!("{tag}: no {DEFAULTS_PATH}; no kong.conf defaults")),
        }
        let mut found = Vec::new();
        let rel = release_at(&git, &mut cat, *version, tag, opts, &mut notes, &mut found)
            .wrap_err_with(|| format!("at tag {tag}"))?;
        releases.push(rel);
        for (subsystem, (migration, postgres, cassandra)) in found {
            // A new entry only where the module's facts changed since the last release.
            let last = facts
                .iter()
                .rev()
                .find(|f| f.subsystem == subsystem && f.migration == migration);
            if last.is_some_and(|f| f.postgres == postgres && f.cassandra == cassandra) {
                continue;
            }
            facts.push(MigrationFacts {
                subsystem,
                migration,
                since: *version,
                postgres,
                cassandra,
            });
        }
    }
    facts.sort_by(|a, b| {
        (a.subsystem != "core", &a.subsystem, &a.migration, a.since).cmp(&(
            b.subsystem != "core",
            &b.subsystem,
            &b.migration,
            b.since,
        ))
    });
    let conf = ConfBook::from_full(
        format!("{DEFAULTS_PATH} at Kong git tags {first}..{last} at {commit}"),
        &defaults,
    );
    let modules = ModuleBook::from_full(
        format!("the {MODULES_ROOT}/ tree at Kong git tags {first}..{last} at {commit}"),
        &modules,
    );
    Ok(Generated {
        conf,
        modules,
        facts,
        catalog: Catalog {
            format: CATALOG_FORMAT,
            source: format!(
                "Kong git tags {first}..{last} at {commit}, external rocks from {}",
                opts.rocks_label
            ),
            releases,
        },
        notes,
    })
}

fn release_at(
    git: &Git,
    cat: &mut CatFile,
    version: Version,
    tag: &str,
    opts: &GenOptions,
    notes: &mut Vec<String>,
    facts: &mut Vec<(String, ModuleFacts)>,
) -> Result<Release> {
    let constants = cat
        .read(tag, "kong/constants.lua")?
        .ok_or_else(|| eyre!("kong/constants.lua not found"))?;
    let bundled = lua::bundled_plugins(&constants).wrap_err("reading kong/constants.lua")?;
    let files = git.files(tag, &["kong/plugins"])?;
    let mut read = |path: &str| cat.read(tag, path);
    let show = |path: &str| format!("{tag}:{path}");

    let mut with_facts = |name: &str,
                          read: &mut dyn FnMut(&str) -> Result<Option<String>>|
     -> Result<SubsystemSpec> {
        let (spec, found) = read_subsystem_with_facts(name, "kong", read, &show, true)?;
        facts.extend(found.into_iter().map(|f| (name.to_string(), f)));
        Ok(spec)
    };
    let mut subsystems = vec![with_facts("core", &mut read)?];
    let mut plugins: Vec<SubsystemSpec> = Vec::new();
    let mut external: Vec<&str> = Vec::new();
    for p in &bundled {
        let in_tree = files.contains(&format!("kong/plugins/{p}/handler.lua"));
        let has_index = files.contains(&format!("kong/plugins/{p}/migrations/init.lua"));
        if in_tree {
            if has_index {
                plugins.push(with_facts(p, &mut read)?);
            }
        } else if has_index {
            return Err(eyre!(
                "plugin '{p}' has migrations in Kong's tree but no handler.lua: neither bundled nor external"
            ));
        } else {
            external.push(p);
        }
    }

    if !external.is_empty() {
        plugins.extend(external_subsystems(
            git,
            tag,
            &external,
            &opts.rocks,
            &mut read,
            notes,
        )?);
    }

    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    subsystems.extend(plugins);
    Ok(Release {
        version,
        bundled_plugins: bundled,
        plugins_sorted: version >= PLUGINS_SORTED_SINCE,
        subsystems,
    })
}

/// Subsystems of bundled plugins that live in separate rocks: the tag's rockspec names the rock
/// and its constraint, the overlay the releases and their migrations.
fn external_subsystems(
    git: &Git,
    tag: &str,
    external: &[&str],
    overlay: &RockOverlay,
    read: &mut dyn FnMut(&str) -> Result<Option<String>>,
    notes: &mut Vec<String>,
) -> Result<Vec<SubsystemSpec>> {
    let root = git.files(tag, &[])?;
    let rockspec_name = format!("kong-{tag}-");
    let rockspecs: Vec<&String> = root
        .iter()
        .filter(|f| !f.contains('/') && f.starts_with(&rockspec_name) && f.ends_with(".rockspec"))
        .collect();
    let [rockspec] = rockspecs.as_slice() else {
        return Err(eyre!(
            "expected one kong-{tag}-<revision>.rockspec at the top of the tree, found {}",
            rockspecs.len()
        ));
    };
    let text = read(rockspec)?.ok_or_else(|| eyre!("{rockspec} not readable"))?;
    // Only the rocks the overlay knows matter; other dependencies may use versions we do not
    // need to read (`luasocket == 3.0-rc1`).
    let deps: Vec<Dependency> = lua::rockspec_dependencies(&text)
        .wrap_err_with(|| format!("reading {rockspec}"))?
        .iter()
        .filter(|d| {
            let name = d.split_whitespace().next().unwrap_or("").to_lowercase();
            overlay.rock(&name).is_some()
        })
        .map(|d| Dependency::parse(d))
        .collect::<Result<_>>()
        .wrap_err_with(|| format!("reading {rockspec}"))?;

    let mut out = Vec::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for p in external {
        // The rock the rockspec depends on that provides this plugin.
        let provider = deps.iter().find_map(|d| {
            overlay
                .rock(&d.name)
                .filter(|r| r.plugins.iter().any(|x| x == p))
                .map(|r| (d, r))
        });
        let Some((dep, entry)) = provider else {
            return Err(eyre!(
                "bundled plugin '{p}' is not in Kong's tree and no dependency of {rockspec} is \
                 known to provide it: add its rock to the external rocks overlay"
            ));
        };
        used.insert(entry.rock.as_str());
        let Some(release) = resolve_rock(entry, dep).wrap_err_with(|| format!("in {rockspec}"))?
        else {
            continue;
        };
        if let Some(sub) = release.subsystems.iter().find(|s| s.name == *p) {
            out.push(SubsystemSpec {
                name: sub.name.clone(),
                origin: format!("rock:{}@{}", entry.rock, release.version),
                migrations: sub.migrations.clone(),
            });
        }
    }
    // Rocks the rockspec pulls in for plugins this release does not bundle: worth a word.
    for d in &deps {
        if let Some(entry) = overlay.rock(&d.name) {
            if !used.contains(entry.rock.as_str()) {
                notes.push(format!(
                    "{tag}: {rockspec} depends on {} but Kong does not bundle {}",
                    entry.rock,
                    entry.plugins.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Deriving an overlay entry from a rock's own repository
// ---------------------------------------------------------------------------------------------

/// Reads every version tag of a rock's repository (`2.4.5`, `v0.2.0`, `1.0.2-1`) and the migrations
/// of each plugin it holds at that tag. Tags naming the same version must agree.
pub fn derive_rock(rock: &str, repo: &Path) -> Result<RockEntry> {
    let git = Git::open(repo)?;
    let mut cat = git.cat_file()?;
    let mut by_version: BTreeMap<RockVersion, (String, String, Vec<RockSubsystem>)> =
        BTreeMap::new();
    let mut plugins: BTreeSet<String> = BTreeSet::new();
    let mut skipped: Vec<String> = Vec::new();
    for tag in git.tags()? {
        let Some(v) = RockVersion::parse(&tag) else {
            continue;
        };
        // A release carries its rockspec (`ROCK-<version>-<rev>.rockspec`); a tag whose rockspec
        // names another version (`dev`, `scm`) was not published as this version.
        let published = git.files(&tag, &[])?.iter().any(|f| {
            f.strip_prefix(rock)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.strip_suffix(".rockspec"))
                .and_then(RockVersion::parse)
                .is_some_and(|rv| rv == v)
        });
        if !published {
            skipped.push(tag);
            continue;
        }
        let files = git.files(&tag, &["kong/plugins"])?;
        let mut here: BTreeSet<String> = BTreeSet::new();
        for f in &files {
            if let Some(name) = f
                .strip_prefix("kong/plugins/")
                .and_then(|r| r.split('/').next())
            {
                here.insert(name.to_string());
            }
        }
        let mut read = |path: &str| cat.read(&tag, path);
        let show = |path: &str| format!("{tag}:{path}");
        let mut subsystems = Vec::new();
        for p in &here {
            if files.contains(&format!("kong/plugins/{p}/migrations/init.lua")) {
                let spec = read_subsystem(p, "rock", &mut read, &show)
                    .wrap_err_with(|| format!("{rock} at tag {tag}"))?;
                subsystems.push(RockSubsystem {
                    name: spec.name,
                    migrations: spec.migrations,
                });
            }
        }
        plugins.extend(here);
        match by_version.get(&v) {
            Some((other, _, subs)) if *subs != subsystems => {
                return Err(eyre!(
                    "{rock}: tags {other} and {tag} name the same version with different migrations"
                ))
            }
            Some(_) => {}
            None => {
                by_version.insert(v.clone(), (tag.clone(), v.to_string(), subsystems));
            }
        }
    }
    if by_version.is_empty() {
        return Err(eyre!("{rock}: no version tags in {}", repo.display()));
    }
    let newest = by_version
        .values()
        .next_back()
        .map(|(tag, ..)| tag.clone())
        .unwrap_or_default();
    let commit = git.commit_of(&newest)?;
    let count = by_version.len();
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(
            "; tags skipped for lack of a matching rockspec: {}",
            skipped.join(", ")
        )
    };
    Ok(RockEntry {
        rock: rock.to_string(),
        plugins: plugins.into_iter().collect(),
        source: format!(
            "version tags of the {rock} repository ({count} versions, newest tag {newest} at \
             {commit}), read by kongrade-catalog-gen --derive-rock{skipped}"
        ),
        releases: Some(
            by_version
                .into_values()
                .map(|(_, version, subsystems)| RockRelease {
                    version,
                    subsystems,
                })
                .collect(),
        ),
    })
}

/// Puts `entry` into the overlay, replacing the rock's previous entry or appending it (sorted).
pub fn merge_rock(overlay: &mut RockOverlay, entry: RockEntry) {
    match overlay.rocks.iter_mut().find(|r| r.rock == entry.rock) {
        Some(slot) => *slot = entry,
        None => {
            overlay.rocks.push(entry);
            overlay.rocks.sort_by(|a, b| a.rock.cmp(&b.rock));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/// The catalog as lightly pretty JSON: one line per migration, so a regenerated catalog diffs
/// readably, and small enough to embed (about 300 kB for 81 releases).
pub fn catalog_json(c: &Catalog) -> Result<String> {
    let mut out = String::new();
    out.push_str(&format!(
        "{{\"format\":{},\"source\":{},\"releases\":[\n",
        c.format,
        j(&c.source)?
    ));
    for (ri, r) in c.releases.iter().enumerate() {
        out.push_str(&format!(
            "{{\"version\":{},\"bundled_plugins\":{},\"plugins_sorted\":{},\"subsystems\":[\n",
            j(&r.version)?,
            j(&r.bundled_plugins)?,
            r.plugins_sorted
        ));
        for (si, s) in r.subsystems.iter().enumerate() {
            out.push_str(&format!(
                " {{\"name\":{},\"origin\":{},\"migrations\":[\n",
                j(&s.name)?,
                j(&s.origin)?
            ));
            for (mi, m) in s.migrations.iter().enumerate() {
                out.push_str("  ");
                out.push_str(&j(m)?);
                out.push_str(if mi + 1 < s.migrations.len() {
                    ",\n"
                } else {
                    "\n"
                });
            }
            out.push_str(if si + 1 < r.subsystems.len() {
                " ]},\n"
            } else {
                " ]}\n"
            });
        }
        out.push_str(if ri + 1 < c.releases.len() {
            "]},\n"
        } else {
            "]}\n"
        });
    }
    out.push_str("]}\n");
    Ok(out)
}

/// The whole catalog.json: the catalog, then `"facts"`, one line per migration (and change).
pub fn catalog_file(g: &Generated) -> Result<String> {
    let mut out = catalog_json(&g.catalog)?;
    if g.facts.is_empty() {
        return Ok(out);
    }
    // Reopen the object closed by catalog_json's last line.
    out.truncate(out.len() - "}\n".len());
    out.push_str(",\"facts\":[\n");
    for (i, f) in g.facts.iter().enumerate() {
        out.push_str(&j(f)?);
        out.push_str(if i + 1 < g.facts.len() { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    Ok(out)
}

fn j<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).wrap_err("serializing the catalog")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> RockVersion {
        RockVersion::parse(s).unwrap()
    }

    #[test]
    fn rock_versions_parse_and_order() {
        assert_eq!(v("2.4.5-1"), v("2.4.5"));
        assert_eq!(v("v0.2.0"), RockVersion(vec![0, 2, 0]));
        assert!(v("0.2.10") > v("0.2.9"));
        assert_eq!(v("1.0").cmp(&v("1.0.0")), Ordering::Equal);
        assert!(RockVersion::parse("dev").is_none());
        assert!(RockVersion::parse("sandbox-2.0.0").is_none());
        assert!(RockVersion::parse("2.x").is_none());
    }

    #[test]
    fn constraints_follow_luarocks() {
        let d = Dependency::parse("kong-plugin-session ~> 2.1").unwrap();
        assert_eq!(d.name, "kong-plugin-session");
        assert!(d.matches(&v("2.1.0")) && d.matches(&v("2.1.2")));
        assert!(!d.matches(&v("2.2.0")) && !d.matches(&v("2.0.9")));
        let d = Dependency::parse("foo >= 1.0, < 2.0").unwrap();
        assert!(d.matches(&v("1.5")) && !d.matches(&v("2.0")) && !d.matches(&v("0.9")));
        let d = Dependency::parse("bar 1.2").unwrap();
        assert!(d.matches(&v("1.2.0")) && !d.matches(&v("1.2.1")));
        let d = Dependency::parse("lua-resty-foo").unwrap();
        assert!(d.constraints.is_empty() && d.matches(&v("9")));
        assert!(Dependency::parse("x =< 1").is_err());
    }

    #[test]
    fn resolve_picks_the_newest_allowed_release() {
        let entry = RockEntry {
            rock: "r".into(),
            plugins: vec!["p".into()],
            source: "test".into(),
            releases: Some(
                ["2.0.0", "2.1.0", "2.1.10", "2.1.2", "2.2.0"]
                    .iter()
                    .map(|s| RockRelease {
                        version: s.to_string(),
                        subsystems: vec![],
                    })
                    .collect(),
            ),
        };
        let pick = |c: &str| {
            resolve_rock(&entry, &Dependency::parse(&format!("r {c}")).unwrap())
                .map(|r| r.map(|r| r.version.clone()))
        };
        assert_eq!(pick("~> 2.1").unwrap().as_deref(), Some("2.1.10"));
        assert_eq!(pick("~> 2").unwrap().as_deref(), Some("2.2.0"));
        assert!(pick("~> 3.0").is_err());
        let none = RockEntry {
            releases: None,
            ..entry.clone()
        };
        assert_eq!(
            resolve_rock(&none, &Dependency::parse("r ~> 1.0").unwrap()).unwrap(),
            None
        );
    }
}
