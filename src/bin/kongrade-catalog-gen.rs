//! Writes kongrade's migration catalog (`assets/catalog.json`) from a Kong git repository.

use std::path::PathBuf;

use clap::Parser;
use color_eyre::eyre::{eyre, Result, WrapErr};

use kongrade::exec::catalog_gen::{self, GenOptions, RockOverlay};
use kongrade::kong::version::Version;

/// Generates kongrade's migration catalog from Kong's git history.
///
/// For every final release tag X.Y.Z between --from and --to (rc, alpha and beta tags are
/// skipped) it reads these files at the tag with the `git` command, without a checkout:
///
///   kong/constants.lua                        BUNDLED_PLUGINS, in Kong's order
///   kong/db/migrations/core/init.lua          the core migrations, then each listed module
///   kong/plugins/<name>/migrations/init.lua   for each bundled plugin whose handler.lua is in
///                                             the tree, then each listed module
///   kong/templates/kong_defaults.lua         kong.conf keys and defaults (--conf-out)
///   kong/ (the tree's file names)             the Lua modules each release ships: kong.x.y
///                                             for kong/x/y.lua or kong/x/y/init.lua
///                                             (--modules-out)
///   kong-X.Y.Z-<rev>.rockspec                 only when a bundled plugin is not in the tree:
///                                             the rock providing it and its constraint
///
/// Migration modules are read statically, never run. Besides each migration's phases, the
/// catalog's "facts" list says what it changes per database and phase (tables created,
/// altered, dropped, indexes created, rows written), read from the `up` SQL and from the SQL
/// strings and helper calls in up_f/teardown; one entry per change of the module across tags. Modules that return what another module
/// computes (operations.ws_migrate_plugin(...), require(...)(...)) are followed within the tag.
/// A plugin shipped as a separate rock takes its migrations from the overlay (--rocks): the
/// newest release there that the rockspec's constraint allows, as luarocks would install.
///
/// Example:  kongrade-catalog-gen --kong-repo ~/src/kong
///
/// With --derive-rock ROCK --rock-repo DIR it instead reads every version tag of a rock's own
/// repository (each with its ROCK-<version>-<rev>.rockspec) and writes that rock's entry into
/// the overlay:  kongrade-catalog-gen --derive-rock kong-plugin-session --rock-repo DIR
#[derive(Parser, Debug)]
#[command(name = "kongrade-catalog-gen", version, verbatim_doc_comment)]
struct Args {
    /// Kong's git repository (plain or bare).
    #[arg(long, value_name = "DIR", required_unless_present = "derive_rock")]
    kong_repo: Option<PathBuf>,

    /// Oldest release to include.
    #[arg(long, default_value = "1.0.0")]
    from: Version,

    /// Newest release to include.
    #[arg(long, default_value = "3.9.3")]
    to: Version,

    /// Where to write the catalog.
    #[arg(long, value_name = "FILE", default_value = "assets/catalog.json")]
    out: PathBuf,

    /// Where to write kong.conf's keys and defaults per release (from each tag's
    /// kong/templates/kong_defaults.lua).
    #[arg(long, value_name = "FILE", default_value = "assets/kong-conf.json")]
    conf_out: PathBuf,

    /// Where to write the Lua modules each release ships under kong/ (per module, the runs of
    /// releases that ship it).
    #[arg(long, value_name = "FILE", default_value = "assets/kong-modules.json")]
    modules_out: PathBuf,

    /// The external rocks overlay: rock name -> plugins -> releases with their migrations.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "assets/external-rocks.json"
    )]
    rocks: PathBuf,

    /// Update the overlay's entry for this rock (e.g. kong-plugin-session) from --rock-repo.
    #[arg(long, value_name = "ROCK", requires = "rock_repo")]
    derive_rock: Option<String>,

    /// The rock's own git repository, whose version tags are its releases.
    #[arg(long, value_name = "DIR")]
    rock_repo: Option<PathBuf>,
}

fn main() -> Result<()> {
    color_eyre::install()?;
    let args = Args::parse();

    if let (Some(rock), Some(repo)) = (&args.derive_rock, &args.rock_repo) {
        let mut overlay = RockOverlay::load(&args.rocks)?;
        let entry = catalog_gen::derive_rock(rock, repo)?;
        let n = entry.releases.as_ref().map_or(0, Vec::len);
        let with = entry
            .releases
            .iter()
            .flatten()
            .filter(|r| !r.subsystems.is_empty())
            .count();
        catalog_gen::merge_rock(&mut overlay, entry);
        write(
            &args.rocks,
            &(serde_json::to_string_pretty(&overlay)? + "\n"),
        )?;
        eprintln!(
            "{rock}: {n} releases, {with} with migrations, written to {}",
            args.rocks.display()
        );
        return Ok(());
    }

    let kong_repo = args
        .kong_repo
        .ok_or_else(|| eyre!("--kong-repo is required"))?;
    let rocks = RockOverlay::load(&args.rocks)?;
    let generated = catalog_gen::generate(&GenOptions {
        kong_repo,
        from: args.from,
        to: args.to,
        rocks,
        rocks_label: args.rocks.display().to_string(),
    })?;
    for note in &generated.notes {
        eprintln!("note: {note}");
    }
    let c = &generated.catalog;
    for r in &c.releases {
        let rocks: Vec<String> = r
            .subsystems
            .iter()
            .filter(|s| s.origin.starts_with("rock:"))
            .map(|s| s.origin.clone())
            .collect();
        eprintln!(
            "{}: {} subsystems, {} migrations{}",
            r.version,
            r.subsystems.len(),
            r.subsystems
                .iter()
                .map(|s| s.migrations.len())
                .sum::<usize>(),
            if rocks.is_empty() {
                String::new()
            } else {
                format!(" ({})", rocks.join(", "))
            }
        );
    }
    write(&args.out, &catalog_gen::catalog_file(&generated)?)?;
    write(&args.conf_out, &generated.conf.to_json()?)?;
    write(&args.modules_out, &generated.modules.to_json()?)?;
    eprintln!(
        "kong.conf defaults of {} releases written to {}",
        generated.conf.releases.len(),
        args.conf_out.display()
    );
    eprintln!(
        "{} Lua modules of {} releases written to {}",
        generated.modules.modules.len(),
        generated.modules.releases.len(),
        args.modules_out.display()
    );
    eprintln!(
        "{} releases written to {}",
        c.releases.len(),
        args.out.display()
    );
    Ok(())
}

fn write(path: &std::path::Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).wrap_err_with(|| format!("writing {}", path.display()))
}
