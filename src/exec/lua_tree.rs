//! Reads migrations from an installed Lua tree (`--kong-lua-path DIR`): Kong's own tree, a custom
//! plugin, or a directory of plugins. The same reader serves the catalog generator, which reads
//! Kong's git tags instead of a directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use color_eyre::eyre::{eyre, Result, WrapErr};

use crate::kong::catalog::{namespace_of, DbFacts, MigrationSpec, SubsystemSpec};
use crate::kong::lua;

/// Reads the subsystem `name` (`core` or a plugin) from a Kong Lua tree. `read` gets a path
/// relative to the tree's root (`kong/plugins/acl/migrations/init.lua`) and returns the file's
/// text, or `None` when there is no such file; `show` turns such a path into what an error
/// message should name (the real file, or `tag:path`).
pub fn read_subsystem(
    name: &str,
    origin: &str,
    read: &mut dyn FnMut(&str) -> Result<Option<String>>,
    show: &dyn Fn(&str) -> String,
) -> Result<SubsystemSpec> {
    Ok(read_subsystem_with_facts(name, origin, read, show, false)?.0)
}

/// A migration's facts per database (postgres, cassandra), from its module's SQL and Lua.
pub type ModuleFacts = (String, Option<DbFacts>, Option<DbFacts>);

/// [`read_subsystem`], and with `facts` what each migration changes (a migration whose facts
/// cannot be read is left out of that list: facts are advice, the migrations are not).
pub fn read_subsystem_with_facts(
    name: &str,
    origin: &str,
    read: &mut dyn FnMut(&str) -> Result<Option<String>>,
    show: &dyn Fn(&str) -> String,
    facts: bool,
) -> Result<(SubsystemSpec, Vec<ModuleFacts>)> {
    let mut found = Vec::new();
    let namespace = namespace_of(name);
    let (index_path, index) = read_module(&namespace, read)?
        .ok_or_else(|| eyre!("{} not found", show(&lua::module_paths(&namespace)[1])))?;
    let index_path = show(&index_path);
    let names = lua::migration_index(&index).wrap_err_with(|| format!("reading {index_path}"))?;
    let mut migrations = Vec::with_capacity(names.len());
    for m in names {
        let module = format!("{namespace}.{m}");
        let (path, src) = read_module(&module, read)?.ok_or_else(|| {
            eyre!(
                "{index_path} lists migration '{m}' but {} is missing",
                show(&lua::module_paths(&module)[0])
            )
        })?;
        let path = show(&path);
        // Delegations are looked up in the same tree; a read error is kept whole.
        let mut load_error = None;
        let resolved = lua::resolve_migration(&src, |dep| match read_module(dep, read) {
            Ok(found) => Ok(found.map(|(_, text)| text)),
            Err(e) => {
                let msg = format!("reading module {dep}: {e:#}");
                load_error = Some(e);
                Err(msg)
            }
        });
        let resolved = match (resolved, load_error) {
            (Ok(r), _) => r,
            (Err(_), Some(e)) => return Err(e.wrap_err(format!("reading {path}"))),
            (Err(msg), None) => return Err(eyre!("{path}: {msg}")),
        };
        if facts {
            let got = lua::migration_facts(&src, |dep| match read_module(dep, read) {
                Ok(found) => Ok(found.map(|(_, text)| text)),
                Err(e) => Err(format!("{e:#}")),
            });
            if let Ok((pg, cass)) = got {
                found.push((m.clone(), pg, cass));
            }
        }
        migrations.push(MigrationSpec {
            name: m,
            postgres: resolved.sections.postgres,
            cassandra: resolved.sections.cassandra,
        });
    }
    Ok((
        SubsystemSpec {
            name: name.to_string(),
            origin: origin.to_string(),
            migrations,
        },
        found,
    ))
}

/// A module's file as `require` would find it: `a/b.lua`, else `a/b/init.lua`.
fn read_module(
    module: &str,
    read: &mut dyn FnMut(&str) -> Result<Option<String>>,
) -> Result<Option<(String, String)>> {
    for path in lua::module_paths(module) {
        if let Some(text) = read(&path)? {
            return Ok(Some((path, text)));
        }
    }
    Ok(None)
}

/// How a scanned directory maps onto Kong's module paths.
#[derive(Debug, PartialEq, Eq)]
enum Layout {
    /// `DIR/kong/...`: a Kong Lua root, or a plugin repository laid out like one.
    Root,
    /// `DIR/<name>/migrations/init.lua`: a `kong/plugins` directory.
    PluginsDir,
    /// `DIR/migrations/init.lua`: one plugin, named after the directory.
    Plugin(String),
}

/// Scans `dir` for migration subsystems. Accepted layouts:
/// - a Kong Lua root or a plugin repository: `DIR/kong/plugins/<name>/migrations/init.lua`, and
///   `DIR/kong/db/migrations/core/init.lua` when it is Kong itself;
/// - a plugins directory: `DIR/<name>/migrations/init.lua`;
/// - one plugin: `DIR/migrations/init.lua` (the plugin is named after `DIR`).
///
/// Returns `core` first (when present), then plugins sorted by name, with origin `lua:<dir>`.
pub fn scan(dir: &Path) -> Result<Vec<SubsystemSpec>> {
    let layout = detect(dir)?;
    let origin = format!("lua:{}", dir.display());
    let mut read = |rel: &str| -> Result<Option<String>> {
        match map_path(dir, &layout, rel) {
            Some(p) => read_optional(&p),
            None => Ok(None),
        }
    };

    let mut names: Vec<String> = Vec::new();
    match &layout {
        Layout::Root => {
            if dir.join("kong/db/migrations/core/init.lua").is_file() {
                names.push("core".to_string());
            }
            names.extend(plugins_with_migrations(&dir.join("kong/plugins"))?);
        }
        Layout::PluginsDir => names.extend(plugins_with_migrations(dir)?),
        Layout::Plugin(name) => names.push(name.clone()),
    }
    if names.is_empty() {
        return Err(eyre!(
            "no migrations found in {}: expected kong/plugins/<name>/migrations/init.lua, \
             <name>/migrations/init.lua or migrations/init.lua",
            dir.display()
        ));
    }

    let show = |rel: &str| match map_path(dir, &layout, rel) {
        Some(p) => p.display().to_string(),
        None => format!("{rel} (outside {})", dir.display()),
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let spec = read_subsystem(&name, &origin, &mut read, &show)
            .wrap_err_with(|| format!("reading the migrations of '{name}' in {}", dir.display()))?;
        out.push(spec);
    }
    Ok(out)
}

/// Each migration's module as found in `dir` (the layouts of [`scan`]): `sub/migration` ->
/// (the file, its text), for the wizard's Review to show the real SQL. A module that delegates
/// (`return require("...")("pre-function")`) or builds its SQL from another migrations module
/// (core 009's `operations.200_to_210`) is only a stub: each module the delegation followed,
/// then each migrations module it requires, is appended under a header naming it. The text is
/// capped so a stray huge file cannot fill the memory.
pub fn migration_sources(dir: &Path) -> Result<BTreeMap<String, (PathBuf, String)>> {
    const CAP: usize = 256 * 1024;
    let layout = detect(dir)?;
    let mut out = BTreeMap::new();
    for spec in scan(dir)? {
        let namespace = namespace_of(&spec.name);
        for m in &spec.migrations {
            let module = format!("{namespace}.{}", m.name);
            for rel in lua::module_paths(&module) {
                let Some(path) = map_path(dir, &layout, &rel) else {
                    continue;
                };
                if let Some(mut text) = read_optional(&path)? {
                    // A module behind it that cannot be read is said in this text only: the
                    // other migrations' sources stay shown.
                    match modules_used(dir, &layout, &module, &text) {
                        Ok(deps) => {
                            for (dep, dep_path, dep_text) in deps {
                                text.push_str(&format!(
                                    "\n\n-- ======== {dep} ({}) ========\n\n{dep_text}",
                                    dep_path.display()
                                ));
                            }
                        }
                        Err(e) => text.push_str(&format!(
                            "\n\n-- ======== the modules it uses could not be read: {e:#} ========\n"
                        )),
                    }
                    if text.len() > CAP {
                        let cut = (0..=CAP)
                            .rev()
                            .find(|i| text.is_char_boundary(*i))
                            .unwrap_or(0);
                        text.truncate(cut);
                        text.push_str("\n-- (cut: the file is longer)");
                    }
                    out.insert(format!("{}/{}", spec.name, m.name), (path, text));
                    break;
                }
            }
        }
    }
    Ok(out)
}

/// The modules a migration's text `src` is made of besides its own file, as found in `dir`:
/// those its delegation followed (`lua::resolve_migration`), then the migrations modules these
/// require by name (Kong's `kong.db.migrations.*`, a plugin's `kong.plugins.*.migrations.*`;
/// not its libraries). Each once, in that order; a module not in the tree is left out.
fn modules_used(
    dir: &Path,
    layout: &Layout,
    module: &str,
    src: &str,
) -> Result<Vec<(String, PathBuf, String)>> {
    let mut found: Vec<(String, PathBuf, String)> = Vec::new();
    let mut load_error = None;
    let load = |dep: &str| -> Result<Option<(PathBuf, String)>> {
        for rel in lua::module_paths(dep) {
            if let Some(p) = map_path(dir, layout, &rel) {
                if let Some(text) = read_optional(&p)? {
                    return Ok(Some((p, text)));
                }
            }
        }
        Ok(None)
    };
    let mut followed: Vec<(String, PathBuf, String)> = Vec::new();
    // The scan resolved it already: an error here leaves the followed part out, no more.
    let _ = lua::resolve_migration(src, |dep| match load(dep) {
        Ok(Some((p, text))) => {
            followed.push((dep.to_string(), p, text.clone()));
            Ok(Some(text))
        }
        Ok(None) => Ok(None),
        Err(e) => {
            let msg = format!("{e:#}");
            load_error = Some(e);
            Err(msg)
        }
    });
    if let Some(e) = load_error {
        return Err(e);
    }
    let is_migrations = |m: &str| {
        m.starts_with("kong.db.migrations.")
            || (m.starts_with("kong.plugins.") && m.contains(".migrations."))
    };
    let required: Vec<String> = lua::required_modules(src)
        .into_iter()
        .chain(
            followed
                .iter()
                .flat_map(|(_, _, t)| lua::required_modules(t)),
        )
        .filter(|m| is_migrations(m))
        .collect();
    for (dep, p, text) in followed {
        if dep != module && !found.iter().any(|(d, _, _)| *d == dep) {
            found.push((dep, p, text));
        }
    }
    for dep in required {
        if dep == module || found.iter().any(|(d, _, _)| *d == dep) {
            continue;
        }
        if let Some((p, text)) = load(&dep)? {
            found.push((dep, p, text));
        }
    }
    Ok(found)
}

fn detect(dir: &Path) -> Result<Layout> {
    if !dir.is_dir() {
        return Err(eyre!("{} is not a directory", dir.display()));
    }
    if dir.join("kong").is_dir() {
        return Ok(Layout::Root);
    }
    if dir.join("migrations/init.lua").is_file() {
        let name = dir
            .canonicalize()
            .wrap_err_with(|| format!("resolving {}", dir.display()))?
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| eyre!("cannot name the plugin in {}", dir.display()))?;
        return Ok(Layout::Plugin(name));
    }
    if !plugins_with_migrations(dir)?.is_empty() {
        return Ok(Layout::PluginsDir);
    }
    Err(eyre!(
        "{} holds no Kong Lua tree or plugin: expected kong/plugins/<name>/migrations/init.lua, \
         <name>/migrations/init.lua or migrations/init.lua",
        dir.display()
    ))
}

/// Where a module path of Kong's tree lives under `dir`; `None` when the layout has no such file
/// (e.g. a lone plugin directory has no `kong/db/...`).
fn map_path(dir: &Path, layout: &Layout, rel: &str) -> Option<PathBuf> {
    match layout {
        Layout::Root => Some(dir.join(rel)),
        Layout::PluginsDir => rel.strip_prefix("kong/plugins/").map(|r| dir.join(r)),
        Layout::Plugin(name) => rel
            .strip_prefix("kong/plugins/")
            .and_then(|r| r.strip_prefix(name.as_str()))
            .and_then(|r| r.strip_prefix('/'))
            .map(|r| dir.join(r)),
    }
}

/// Plugin directories under `plugins` that have `migrations/init.lua`, sorted by name.
fn plugins_with_migrations(plugins: &Path) -> Result<Vec<String>> {
    if !plugins.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in
        std::fs::read_dir(plugins).wrap_err_with(|| format!("listing {}", plugins.display()))?
    {
        let entry = entry.wrap_err_with(|| format!("listing {}", plugins.display()))?;
        let path = entry.path();
        if path.join("migrations/init.lua").is_file() {
            if let Some(n) = path.file_name().and_then(|n| n.to_str()) {
                names.push(n.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    // A module is a regular file of modest size: a FIFO or a device (a symlink to /dev/zero)
    // would hang or fill the memory, so only regular files are read, and at most MODULE_MAX.
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            return Err(eyre!(
                "{} is not a regular file: a Lua module is one",
                path.display()
            ))
        }
        Ok(m) if m.len() > MODULE_MAX => {
            return Err(eyre!(
                "{} is {} bytes: more than a Lua module of Kong's ({} at most)",
                path.display(),
                m.len(),
                MODULE_MAX
            ))
        }
        _ => {}
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // A directory where a module file was expected reads as absent, as for `require`.
        Err(_) if path.is_dir() => Ok(None),
        Err(e) => Err(e).wrap_err_with(|| format!("reading {}", path.display())),
    }
}

/// The largest module file read (Kong's biggest migration is tens of kB).
const MODULE_MAX: u64 = 4 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::catalog::Phases;

    #[test]
    fn migration_sources_are_the_modules_text() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "kong/plugins/acme-audit/migrations/init.lua",
            "return { \"000_base\" }",
        );
        write(
            d.path(),
            "kong/plugins/acme-audit/migrations/000_base.lua",
            "return { postgres = { up = [[ CREATE TABLE audit (id uuid); ]] } }",
        );
        let got = migration_sources(d.path()).unwrap();
        let (path, text) = got.get("acme-audit/000_base").expect("found");
        assert!(path.ends_with("kong/plugins/acme-audit/migrations/000_base.lua"));
        assert!(text.contains("CREATE TABLE audit"), "{text}");
        assert_eq!(got.len(), 1);
    }

    /// A module behind one migration that cannot be read (a symlink loop here) is said in that
    /// migration's text; every other migration's source is still there.
    #[test]
    fn an_unreadable_module_behind_one_migration_hides_no_other() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "kong/db/migrations/core/init.lua",
            "return { '009_200_to_210', '010_210_to_211' }",
        );
        write(
            r,
            "kong/db/migrations/core/009_200_to_210.lua",
            "local operations = require \"kong.db.migrations.operations.200_to_210\"\n\
             return { postgres = { up = [[ CREATE TABLE w (); ]] .. operations.postgres.up } }",
        );
        write(
            r,
            "kong/db/migrations/core/010_210_to_211.lua",
            "return { postgres = { up = [[ CREATE TABLE x (); ]] } }",
        );
        let ops = r.join("kong/db/migrations/operations");
        std::fs::create_dir_all(&ops).unwrap();
        std::os::unix::fs::symlink("200_to_210.lua", ops.join("200_to_210.lua")).unwrap();
        let got = migration_sources(r).unwrap();
        let (_, t009) = got.get("core/009_200_to_210").expect("009 shown");
        assert!(t009.contains("CREATE TABLE w"), "{t009}");
        assert!(
            t009.contains("the modules it uses could not be read"),
            "{t009}"
        );
        let (_, t010) = got.get("core/010_210_to_211").expect("010 shown");
        assert!(t010.contains("CREATE TABLE x"), "{t010}");
    }

    /// A module that is no regular file (a symlink to /dev/zero) is an error naming it, at once:
    /// never a read that hangs or fills the memory.
    #[test]
    fn a_module_that_is_no_regular_file_is_refused_not_read() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "kong/db/migrations/core/init.lua",
            "return { '016_280_to_300' }",
        );
        std::os::unix::fs::symlink(
            "/dev/zero",
            r.join("kong/db/migrations/core/016_280_to_300.lua"),
        )
        .unwrap();
        let e = format!("{:#}", migration_sources(r).unwrap_err());
        assert!(
            e.contains("016_280_to_300.lua is not a regular file"),
            "{e}"
        );
    }

    /// A delegating migration shows the module it delegates to; one that builds its SQL from
    /// Kong's operations module shows that module; each under a header naming it. A library
    /// it requires (`kong.tools.utils`) is not appended.
    #[test]
    fn migration_sources_append_the_modules_followed_and_required() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "kong/db/migrations/core/init.lua",
            "return { '009_200_to_210' }",
        );
        write(
            r,
            "kong/db/migrations/core/009_200_to_210.lua",
            "local operations = require \"kong.db.migrations.operations.200_to_210\"\n\
             local utils = require \"kong.tools.utils\"\n\
             return { postgres = { up = [[ CREATE TABLE w (); ]] .. operations.postgres.up } }",
        );
        write(
            r,
            "kong/db/migrations/operations/200_to_210.lua",
            "return { postgres = { up = [[ ALTER TABLE services ADD ws_id uuid; ]] } }",
        );
        write(r, "kong/tools/utils.lua", "return { utility = true }");
        write(
            r,
            "kong/plugins/pre-function/migrations/init.lua",
            "return { '001_280_to_300' }",
        );
        write(
            r,
            "kong/plugins/pre-function/migrations/001_280_to_300.lua",
            "return require(\"kong.plugins.pre-function.migrations._001_280_to_300\")(\"pre-function\")",
        );
        write(
            r,
            "kong/plugins/pre-function/migrations/_001_280_to_300.lua",
            "return function(name) return { postgres = { up = [[ UPDATE plugins SET config = '{}'; ]] } } end",
        );
        let got = migration_sources(r).unwrap();

        let (path, text) = got.get("pre-function/001_280_to_300").expect("found");
        assert!(path.ends_with("kong/plugins/pre-function/migrations/001_280_to_300.lua"));
        let (stub, rest) = text
            .split_once("-- ======== kong.plugins.pre-function.migrations._001_280_to_300 (")
            .unwrap_or_else(|| panic!("no header: {text}"));
        assert!(stub.contains("(\"pre-function\")"), "{text}");
        assert!(
            rest.contains("migrations/_001_280_to_300.lua) ========"),
            "{text}"
        );
        assert!(rest.contains("UPDATE plugins SET config"), "{text}");

        let (_, text) = got.get("core/009_200_to_210").expect("found");
        assert!(text.contains("CREATE TABLE w"), "{text}");
        let (_, ops) = text
            .split_once("-- ======== kong.db.migrations.operations.200_to_210 (")
            .unwrap_or_else(|| panic!("no header: {text}"));
        assert!(ops.contains("ALTER TABLE services ADD ws_id"), "{text}");
        assert!(
            !text.contains("utility = true"),
            "a library is not a migration: {text}"
        );
        assert_eq!(text.matches("-- ========").count(), 1, "{text}");
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn words(p: Option<Phases>) -> String {
        p.map(|p| {
            serde_json::to_value(p)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap_or_else(|| "-".to_string())
    }

    fn summary(specs: &[SubsystemSpec]) -> Vec<String> {
        specs
            .iter()
            .flat_map(|s| {
                s.migrations.iter().map(move |m| {
                    format!(
                        "{}/{}: {} | {}",
                        s.name,
                        m.name,
                        words(m.postgres),
                        words(m.cassandra)
                    )
                })
            })
            .collect()
    }

    #[test]
    fn kong_root_with_core_plugins_and_a_delegation() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "kong/db/migrations/core/init.lua",
            "return { '000_base', '001_two' }",
        );
        write(
            r,
            "kong/db/migrations/core/000_base.lua",
            "return { postgres = { up = [[ CREATE TABLE x (); ]] } }",
        );
        write(
            r,
            "kong/db/migrations/core/001_two.lua",
            "return { postgres = { up = '', teardown = function() end } }",
        );
        write(
            r,
            "kong/db/migrations/operations/shared.lua",
            "local function mk() return { postgres = { up = 'x', teardown = 1 } } end\n\
             return { mk = mk }",
        );
        write(
            r,
            "kong/plugins/zeta/migrations/init.lua",
            "return { '000_base_zeta' }",
        );
        write(
            r,
            "kong/plugins/zeta/migrations/000_base_zeta.lua",
            "return require('kong.db.migrations.operations.shared').mk()",
        );
        write(
            r,
            "kong/plugins/alpha/migrations/init.lua",
            "return { '000_base_alpha' }",
        );
        write(
            r,
            "kong/plugins/alpha/migrations/000_base_alpha.lua",
            "return { postgres = { up = 'x' }, cassandra = { up = 'y' } }",
        );
        // A plugin without migrations and a half-migrated one without init.lua are not subsystems.
        write(r, "kong/plugins/nomig/handler.lua", "return {}");
        write(
            r,
            "kong/plugins/legacy/migrations/postgres.lua",
            "return {}",
        );

        let specs = scan(r).unwrap();
        assert_eq!(
            specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["core", "alpha", "zeta"]
        );
        assert!(specs
            .iter()
            .all(|s| s.origin == format!("lua:{}", r.display())));
        assert_eq!(
            summary(&specs),
            [
                "core/000_base: up | -",
                "core/001_two: up up_empty teardown | -",
                "alpha/000_base_alpha: up | up",
                "zeta/000_base_zeta: up teardown | -",
            ]
        );
    }

    #[test]
    fn one_plugin_directory_and_a_plugins_directory() {
        let d = tempfile::tempdir().unwrap();
        let plugin = d.path().join("my-auth");
        write(&plugin, "handler.lua", "return {}");
        write(
            &plugin,
            "migrations/init.lua",
            "return { '000_base_my_auth', '001_x' }",
        );
        write(
            &plugin,
            "migrations/000_base_my_auth.lua",
            "return { postgres = { up = 'CREATE' } }",
        );
        // A plugin may delegate to a module of its own.
        write(
            &plugin,
            "migrations/001_x.lua",
            "return require('kong.plugins.my-auth.migrations._shared')('x')",
        );
        write(
            &plugin,
            "migrations/_shared.lua",
            "return function(n) return { postgres = { up = '', up_f = function() end } } end",
        );

        let specs = scan(&plugin).unwrap();
        assert_eq!(
            summary(&specs),
            [
                "my-auth/000_base_my_auth: up | -",
                "my-auth/001_x: up up_empty up_f | -"
            ]
        );

        // The parent directory holds plugins.
        let specs = scan(d.path()).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "my-auth");
    }

    #[test]
    fn missing_modules_are_errors_naming_the_file() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write(
            r,
            "kong/plugins/p/migrations/init.lua",
            "return { '000_base_p', '001_gone' }",
        );
        write(
            r,
            "kong/plugins/p/migrations/000_base_p.lua",
            "return { postgres = { up = 'x' } }",
        );
        let e = format!("{:#}", scan(r).unwrap_err());
        assert!(e.contains("kong/plugins/p/migrations/001_gone.lua"), "{e}");

        write(
            r,
            "kong/plugins/p/migrations/001_gone.lua",
            "return require('kong.db.migrations.operations.200_to_210').ws_migrate_plugin({})",
        );
        let e = format!("{:#}", scan(r).unwrap_err());
        assert!(
            e.contains("kong.db.migrations.operations.200_to_210"),
            "{e}"
        );
        assert!(e.contains("001_gone.lua"), "{e}");

        write(
            r,
            "kong/plugins/p/migrations/001_gone.lua",
            "return { postgres = { up = [[ x }",
        );
        let e = format!("{:#}", scan(r).unwrap_err());
        assert!(e.contains("001_gone.lua") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn directories_without_migrations_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = format!("{:#}", scan(d.path()).unwrap_err());
        assert!(e.contains("migrations/init.lua"), "{e}");
        let e = format!("{:#}", scan(&d.path().join("nope")).unwrap_err());
        assert!(e.contains("not a directory"), "{e}");
        std::fs::create_dir_all(d.path().join("kong/plugins/x")).unwrap();
        assert!(scan(d.path()).is_err());
    }
}
