//! The catalog generator on a small Kong-like git repository built here.

use std::path::Path;
use std::process::Command;

use kongrade::exec::catalog_gen::{catalog_file, generate, GenOptions, RockOverlay};
use kongrade::kong::version::Version;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        // Works on a clean CI machine: no global identity, no signing, a fixed branch name.
        .args([
            "-c",
            "user.name=kongrade tests",
            "-c",
            "user.email=tests@kongrade.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn commit_and_tag(dir: &Path, tag: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", tag]);
    git(dir, &["tag", tag]);
}

fn constants(plugins: &[&str]) -> String {
    let list: Vec<String> = plugins.iter().map(|p| format!("  \"{p}\",")).collect();
    format!(
        "local plugins = {{\n{}\n}}\n\nlocal plugin_map = {{}}\nfor i = 1, #plugins do\n  \
         plugin_map[plugins[i]] = true\nend\n\nreturn {{\n  BUNDLED_PLUGINS = plugin_map,\n}}\n",
        list.join("\n")
    )
}

fn rockspec(version: &str, rocky: &str) -> String {
    format!(
        "package = \"kong\"\nversion = \"{version}-0\"\ndependencies = {{\n  \"inspect == 3.1.1\",\n  \
         \"luasocket == 3.0-rc1\",\n  \"kong-plugin-rocky {rocky}\",\n}}\n"
    )
}

const OVERLAY: &str = r#"{
  "about": ["test overlay"],
  "rocks": [
    {
      "rock": "kong-plugin-rocky",
      "plugins": ["rocky"],
      "source": "made up for the test",
      "releases": [
        { "version": "1.0.0" },
        { "version": "1.1.0", "subsystems": [ { "name": "rocky", "migrations": [
          { "name": "000_base_rocky", "postgres": "up", "cassandra": "up" } ] } ] },
        { "version": "1.1.3", "subsystems": [ { "name": "rocky", "migrations": [
          { "name": "000_base_rocky", "postgres": "up", "cassandra": "up" },
          { "name": "001_rocky_ttl", "postgres": "up", "cassandra": "up up_empty" } ] } ] },
        { "version": "1.2.0", "subsystems": [ { "name": "rocky", "migrations": [
          { "name": "000_base_rocky", "postgres": "up", "cassandra": "up" },
          { "name": "001_rocky_ttl", "postgres": "up", "cassandra": "up up_empty" },
          { "name": "002_rocky_pg_only", "postgres": "up" } ] } ] }
      ]
    }
  ]
}"#;

/// 1.0.0, a 1.1.0 release candidate (to be skipped), 1.1.0, and 2.0.0 (outside --to).
fn fixture(dir: &Path) {
    git(dir, &["init", "-q"]);
    write(
        dir,
        "kong/constants.lua",
        &constants(&["beta", "alpha", "rocky"]),
    );
    write(dir, "kong-1.0.0-0.rockspec", &rockspec("1.0.0", "~> 1.1"));
    write(
        dir,
        "kong/db/migrations/core/init.lua",
        "return {\n  \"000_base\",\n  \"001_100_to_110\", -- two-phase\n}\n",
    );
    write(
        dir,
        "kong/db/migrations/core/000_base.lua",
        "return {\n  postgres = {\n    up = [[\n      CREATE TABLE IF NOT EXISTS \"services\" (id UUID);\n    ]],\n  },\n  \
         cassandra = {\n    up = [[ CREATE TABLE IF NOT EXISTS services (id uuid PRIMARY KEY); ]],\n  },\n}\n",
    );
    write(
        dir,
        "kong/db/migrations/core/001_100_to_110.lua",
        "return {\n  postgres = {\n    up = [[ ALTER TABLE services ADD x TEXT; ]],\n    \
         teardown = function(connector)\n      return connector:query(\"UPDATE services SET x = 'end'\")\n    end,\n  },\n  \
         cassandra = {\n    up = \"\",\n    teardown = function() end,\n  },\n}\n",
    );
    write(
        dir,
        "kong/db/migrations/operations/100_to_110.lua",
        "local function migrate(entities)\n  return {\n    postgres = { up = \"\", up_f = function(c) return c:query(\"DELETE FROM alpha\") end, teardown = function() end },\n  }\nend\n\
         return { migrate = migrate }\n",
    );
    write(dir, "kong/plugins/alpha/handler.lua", "return {}\n");
    write(
        dir,
        "kong/plugins/alpha/migrations/init.lua",
        "return { \"000_base_alpha\" }\n",
    );
    write(
        dir,
        "kong/plugins/alpha/migrations/000_base_alpha.lua",
        "return { postgres = { up = \"CREATE TABLE alpha (id UUID)\" } }\n",
    );
    write(dir, "kong/plugins/beta/handler.lua", "return {}\n");
    write(
        dir,
        "kong/templates/kong_defaults.lua",
        "return [[\nprefix = /usr/local/kong/\nold_key = on\nheaders = server_tokens, latency_tokens\n]]\n",
    );
    // Lua modules: one that 1.1.0 removes, one that becomes a directory module; a file that is
    // not Lua and one `require` cannot name are not modules.
    write(dir, "kong/plugins/base_plugin.lua", "return {}\n");
    write(dir, "kong/router.lua", "return {}\n");
    write(
        dir,
        "kong/include/kong/model.proto",
        "syntax = \"proto3\";\n",
    );
    write(dir, "kong/vendor/odd.name.lua", "return {}\n");
    commit_and_tag(dir, "1.0.0");

    // A release candidate with a plugin that never makes it into a release.
    write(dir, "kong/plugins/gamma/handler.lua", "return {}\n");
    write(
        dir,
        "kong/plugins/gamma/migrations/init.lua",
        "return { \"000_base_gamma\" }\n",
    );
    write(
        dir,
        "kong/plugins/gamma/migrations/000_base_gamma.lua",
        "return { postgres = { up = \"x\" } }\n",
    );
    write(
        dir,
        "kong/constants.lua",
        &constants(&["beta", "alpha", "rocky", "gamma"]),
    );
    commit_and_tag(dir, "1.1.0rc1");

    std::fs::remove_dir_all(dir.join("kong/plugins/gamma")).unwrap();
    write(
        dir,
        "kong/constants.lua",
        &constants(&["beta", "alpha", "rocky"]),
    );
    std::fs::remove_file(dir.join("kong-1.0.0-0.rockspec")).unwrap();
    write(dir, "kong-1.1.0-0.rockspec", &rockspec("1.1.0", "~> 1.2"));
    write(
        dir,
        "kong/plugins/alpha/migrations/init.lua",
        "return { \"000_base_alpha\", \"001_100_to_110\" }\n",
    );
    write(
        dir,
        "kong/plugins/alpha/migrations/001_100_to_110.lua",
        "local ops = require \"kong.db.migrations.operations.100_to_110\"\nreturn ops.migrate({ \"alpha\" })\n",
    );
    write(
        dir,
        "kong/templates/kong_defaults.lua",
        "return [[\nprefix = /usr/local/kong/\nheaders = off\n\nnew_key =\n]]\n",
    );
    std::fs::remove_file(dir.join("kong/plugins/base_plugin.lua")).unwrap();
    std::fs::remove_file(dir.join("kong/router.lua")).unwrap();
    write(dir, "kong/router/init.lua", "return {}\n");
    write(dir, "kong/tools/queue.lua", "return {}\n");
    // Kong edits an old migration now and then: its facts get a second entry.
    write(
        dir,
        "kong/plugins/alpha/migrations/000_base_alpha.lua",
        "return { postgres = { up = \"CREATE TABLE alpha (id UUID);\" .. [[ CREATE INDEX alpha_idx ON alpha (id) ]] } }\n",
    );
    commit_and_tag(dir, "1.1.0");

    write(dir, "kong/constants.lua", &constants(&["beta", "alpha"]));
    std::fs::remove_file(dir.join("kong-1.1.0-0.rockspec")).unwrap();
    commit_and_tag(dir, "2.0.0");
}

fn options(repo: &Path) -> GenOptions {
    GenOptions {
        kong_repo: repo.to_path_buf(),
        from: Version::new(1, 0, 0),
        to: Version::new(1, 9, 9),
        rocks: RockOverlay::from_json(OVERLAY).unwrap(),
        rocks_label: "test-rocks.json".to_string(),
    }
}

#[test]
fn generates_the_exact_catalog_of_a_fixture_repository() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let commit = git(d.path(), &["rev-parse", "1.1.0^{commit}"]);

    let generated = generate(&options(d.path())).unwrap();
    let json = catalog_file(&generated).unwrap();
    let expected = format!(
        r#"{{"format":1,"source":"Kong git tags 1.0.0..1.1.0 at {commit}, external rocks from test-rocks.json","releases":[
{{"version":"1.0.0","bundled_plugins":["beta","alpha","rocky"],"plugins_sorted":false,"subsystems":[
 {{"name":"core","origin":"kong","migrations":[
  {{"name":"000_base","postgres":"up","cassandra":"up"}},
  {{"name":"001_100_to_110","postgres":"up teardown","cassandra":"up up_empty teardown"}}
 ]}},
 {{"name":"alpha","origin":"kong","migrations":[
  {{"name":"000_base_alpha","postgres":"up"}}
 ]}},
 {{"name":"rocky","origin":"rock:kong-plugin-rocky@1.1.3","migrations":[
  {{"name":"000_base_rocky","postgres":"up","cassandra":"up"}},
  {{"name":"001_rocky_ttl","postgres":"up","cassandra":"up up_empty"}}
 ]}}
]}},
{{"version":"1.1.0","bundled_plugins":["beta","alpha","rocky"],"plugins_sorted":false,"subsystems":[
 {{"name":"core","origin":"kong","migrations":[
  {{"name":"000_base","postgres":"up","cassandra":"up"}},
  {{"name":"001_100_to_110","postgres":"up teardown","cassandra":"up up_empty teardown"}}
 ]}},
 {{"name":"alpha","origin":"kong","migrations":[
  {{"name":"000_base_alpha","postgres":"up"}},
  {{"name":"001_100_to_110","postgres":"up up_empty up_f teardown"}}
 ]}},
 {{"name":"rocky","origin":"rock:kong-plugin-rocky@1.2.0","migrations":[
  {{"name":"000_base_rocky","postgres":"up","cassandra":"up"}},
  {{"name":"001_rocky_ttl","postgres":"up","cassandra":"up up_empty"}},
  {{"name":"002_rocky_pg_only","postgres":"up"}}
 ]}}
]}}
],"facts":[
{{"subsystem":"core","migration":"000_base","since":"1.0.0","postgres":{{"up":{{"creates":["services"]}}}},"cassandra":{{"up":{{"creates":["services"]}}}}}},
{{"subsystem":"core","migration":"001_100_to_110","since":"1.0.0","postgres":{{"up":{{"alters":[{{"table":"services","add":["x"]}}]}},"teardown":{{"writes":[{{"table":"services","update":["x"]}}]}}}},"cassandra":{{}}}},
{{"subsystem":"alpha","migration":"000_base_alpha","since":"1.0.0","postgres":{{"up":{{"creates":["alpha"]}}}}}},
{{"subsystem":"alpha","migration":"000_base_alpha","since":"1.1.0","postgres":{{"up":{{"creates":["alpha"],"indexes":[{{"name":"alpha_idx","table":"alpha"}}]}}}}}},
{{"subsystem":"alpha","migration":"001_100_to_110","since":"1.1.0","postgres":{{"up_f":{{"writes":[{{"table":"alpha","delete":true}}]}}}}}}
]}}
"#
    );
    assert_eq!(json, expected);
    assert!(generated.notes.is_empty(), "{:?}", generated.notes);
    let conf = format!(
        r#"{{"source":"kong/templates/kong_defaults.lua at Kong git tags 1.0.0..1.1.0 at {commit}","releases":[
{{"version":"1.0.0","set":{{"headers":"server_tokens, latency_tokens","old_key":"on","prefix":"/usr/local/kong/"}}}},
{{"version":"1.1.0","set":{{"headers":"off","new_key":""}},"unset":["old_key"]}}
]}}
"#
    );
    assert_eq!(generated.conf.to_json().unwrap(), conf);
    // The modules of the two releases (the release candidate's gamma is not among them).
    let modules = format!(
        r#"{{"source":"the kong/ tree at Kong git tags 1.0.0..1.1.0 at {commit}","releases":["1.0.0","1.1.0"],"modules":{{
"kong.constants":[["1.0.0","1.1.0"]],
"kong.db.migrations.core":[["1.0.0","1.1.0"]],
"kong.db.migrations.core.000_base":[["1.0.0","1.1.0"]],
"kong.db.migrations.core.001_100_to_110":[["1.0.0","1.1.0"]],
"kong.db.migrations.operations.100_to_110":[["1.0.0","1.1.0"]],
"kong.plugins.alpha.handler":[["1.0.0","1.1.0"]],
"kong.plugins.alpha.migrations":[["1.0.0","1.1.0"]],
"kong.plugins.alpha.migrations.000_base_alpha":[["1.0.0","1.1.0"]],
"kong.plugins.alpha.migrations.001_100_to_110":[["1.1.0","1.1.0"]],
"kong.plugins.base_plugin":[["1.0.0","1.0.0"]],
"kong.plugins.beta.handler":[["1.0.0","1.1.0"]],
"kong.router":[["1.0.0","1.1.0"]],
"kong.templates.kong_defaults":[["1.0.0","1.1.0"]],
"kong.tools.queue":[["1.1.0","1.1.0"]]
}}}}
"#
    );
    assert_eq!(generated.modules.to_json().unwrap(), modules);
    let gone = generated
        .modules
        .removed_on_the_way(
            "kong.plugins.base_plugin",
            Some(Version::new(1, 0, 0)),
            Version::new(1, 1, 0),
        )
        .unwrap();
    assert_eq!(
        (gone.last, gone.removed_in),
        (Version::new(1, 0, 0), Version::new(1, 1, 0))
    );
    assert!(generated
        .modules
        .removed_on_the_way(
            "kong.router",
            Some(Version::new(1, 0, 0)),
            Version::new(1, 1, 0)
        )
        .is_none());

    // The binary writes the same file.
    let out = d.path().join("out/catalog.json");
    let rocks = d.path().join("test-rocks.json");
    std::fs::write(&rocks, OVERLAY).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_kongrade-catalog-gen"))
        .current_dir(d.path())
        .args([
            "--kong-repo",
            ".",
            "--to",
            "1.9.9",
            "--out",
            "out/catalog.json",
        ])
        .args(["--rocks", "test-rocks.json", "--conf-out", "out/conf.json"])
        .args(["--modules-out", "out/modules.json"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(std::fs::read_to_string(out).unwrap(), expected);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/conf.json")).unwrap(),
        conf
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/modules.json")).unwrap(),
        modules
    );
}

#[test]
fn reads_a_bare_clone_and_plugins_sort_from_2_4() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    fixture(&src);
    // 2.4.0 sorts plugin subsystems; it bundles no external plugin, so needs no rockspec.
    write(
        &src,
        "kong/constants.lua",
        &constants(&["beta", "alpha", "aaa"]),
    );
    write(&src, "kong/plugins/aaa/handler.lua", "return {}\n");
    write(
        &src,
        "kong/plugins/aaa/migrations/init.lua",
        "return { '000_base_aaa' }\n",
    );
    write(
        &src,
        "kong/plugins/aaa/migrations/000_base_aaa.lua",
        "return { postgres = { up = [==[ ]] ]==] } }\n",
    );
    // A module back after releases without it: a second run.
    write(&src, "kong/plugins/base_plugin.lua", "return {}\n");
    commit_and_tag(&src, "2.4.0");
    let bare = d.path().join("bare.git");
    git(
        d.path(),
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let mut opts = options(&bare);
    opts.to = Version::new(9, 0, 0);
    let generated = generate(&opts).unwrap();
    let book = &generated.modules;
    let v = |s: &str| s.parse::<Version>().unwrap();
    assert_eq!(
        book.modules["kong.plugins.base_plugin"],
        [(v("1.0.0"), v("1.0.0")), (v("2.4.0"), v("2.4.0"))]
    );
    let gone = |from: &str, to: &str| {
        book.removed_on_the_way("kong.plugins.base_plugin", Some(v(from)), v(to))
            .map(|g| (g.last.to_string(), g.removed_in.to_string()))
    };
    assert_eq!(
        gone("1.0.0", "2.0.0"),
        Some(("1.0.0".into(), "1.1.0".into()))
    );
    assert_eq!(gone("1.0.0", "2.4.0"), None);
    assert_eq!(gone("1.1.0", "2.0.0"), None);
    let c = generated.catalog;
    let versions: Vec<String> = c.versions().map(|v| v.to_string()).collect();
    assert_eq!(versions, ["1.0.0", "1.1.0", "2.0.0", "2.4.0"]);
    let sorted: Vec<bool> = c.releases.iter().map(|r| r.plugins_sorted).collect();
    assert_eq!(sorted, [false, false, false, true]);
    assert!(c
        .release(Version::new(2, 0, 0))
        .unwrap()
        .subsystem("rocky")
        .is_none());
    let r = c.release(Version::new(2, 4, 0)).unwrap();
    let names: Vec<&str> = r.subsystems.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["core", "aaa", "alpha"]);
    let aaa = r.subsystem("aaa").unwrap();
    assert_eq!(
        serde_json::to_string(&aaa.migrations[0]).unwrap(),
        r#"{"name":"000_base_aaa","postgres":"up"}"#
    );
}

#[test]
fn errors_name_the_tag_and_the_file() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    // A migration listed but missing.
    write(
        d.path(),
        "kong/plugins/alpha/migrations/init.lua",
        "return { \"000_base_alpha\", \"001_100_to_110\", \"002_missing\" }\n",
    );
    write(d.path(), "kong/constants.lua", &constants(&["alpha"]));
    commit_and_tag(d.path(), "1.2.0");
    let e = format!("{:#}", generate(&options(d.path())).err().unwrap());
    assert!(e.contains("1.2.0"), "{e}");
    assert!(
        e.contains("kong/plugins/alpha/migrations/002_missing.lua"),
        "{e}"
    );

    // A bundled plugin in neither the tree nor any known rock.
    let d = tempfile::tempdir().unwrap();
    fixture(d.path());
    let mut opts = options(d.path());
    opts.rocks.rocks.clear();
    let e = format!("{:#}", generate(&opts).err().unwrap());
    assert!(e.contains("'rocky'") && e.contains("1.0.0"), "{e}");

    // A constraint no known release satisfies.
    let mut opts = options(d.path());
    if let Some(r) = opts.rocks.rocks[0].releases.as_mut() {
        r.retain(|r| r.version == "1.0.0");
    }
    let e = format!("{:#}", generate(&opts).err().unwrap());
    assert!(e.contains("kong-plugin-rocky ~> 1.1"), "{e}");
}
