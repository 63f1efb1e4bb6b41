//! The clone of a dual-cluster upgrade (and of `kongrade rehearse`): Kong's database copied into
//! another database, on the same server or another one, then proven.
//!
//! - The target is created when missing (by the clone's role, so Kong's role owns it); an
//!   existing one must be empty unless `replace`; the two servers must run the same PostgreSQL
//!   major (Kong's dual-cluster guide: the same version).
//! - `pg_dump -Fc | pg_restore` stream through a pipe, no temporary file. The dump runs at a
//!   snapshot the source exports from a REPEATABLE READ transaction, and the row counts are taken
//!   in that same transaction: writes to the source during the dump are in neither, so the
//!   proof compares like with like.
//! - Proven: `schema_meta` identical, and every table's rows (and newest write) identical to the
//!   source at the snapshot.
//!
//! The source is only read (a read-only session; pg_dump reads). Passwords reach pg_dump and
//! pg_restore in PGPASSWORD, never in argv.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use color_eyre::eyre::{eyre, Result, WrapErr};
use tokio_postgres::error::SqlState;

use super::backup::{explain_pg_dump_failure, libpq_env, tool_version};
use super::datadir;
use crate::contract::clone::{CloneRecord, TableMark};
use crate::kong::conf::{self, DatabaseKind, LoadOptions, Secret};
use crate::store::postgres::{schema_meta_text, table_marks, PgOptions, PgStore};
use crate::store::{StoreError, StoreErrorKind};

/// Where the clone goes, as the flags say (`--clone-database`, `--clone-pg-*`, `--clone-conf`).
#[derive(Debug, Clone, Default)]
pub struct CloneSpec {
    /// A second kong.conf whose pg_* keys name the clone's server and database.
    pub conf: Option<PathBuf>,
    pub database: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Replace a clone database that exists and is not empty.
    pub replace: bool,
}

impl CloneSpec {
    /// Whether any clone flag was given.
    pub fn is_given(&self) -> bool {
        self.conf.is_some()
            || self.database.is_some()
            || self.host.is_some()
            || self.port.is_some()
            || self.user.is_some()
    }

    /// The clone's connection: the second kong.conf's (or else the source's) with the flags on
    /// top. `default_db` names the database when nothing else does. Refuses the source itself.
    pub fn resolve(&self, source: &PgOptions, default_db: Option<&str>) -> Result<PgOptions> {
        let mut o = match &self.conf {
            Some(path) => {
                let c = conf::load(&LoadOptions::new(Some(path.clone())), &|_| None)
                    .map_err(|e| eyre!("--clone-conf {}: {e}", path.display()))?;
                if c.database != DatabaseKind::Postgres {
                    return Err(eyre!(
                        "--clone-conf {}: database = {}; the clone must be PostgreSQL",
                        path.display(),
                        c.database.as_str()
                    ));
                }
                PgOptions::from_conf(&c.pg)
            }
            None => source.clone(),
        };
        if let Some(h) = &self.host {
            o.host = h.clone();
        }
        if let Some(p) = self.port {
            o.port = p;
        }
        if let Some(u) = &self.user {
            o.user = u.clone();
        }
        if let Some(p) = &self.password {
            o.password = Some(p.clone());
        }
        match (&self.database, default_db) {
            (Some(d), _) => o.database = d.clone(),
            (None, Some(d)) if self.conf.is_none() => o.database = d.to_string(),
            _ => {}
        }
        if o.database.is_empty() || o.database.contains('\0') {
            return Err(eyre!(
                "the clone needs a database name (--clone-database NAME)"
            ));
        }
        if same_place(source, &o) {
            return Err(eyre!(
                "the clone would be the source itself ({}): name another database (--clone-database NAME) or server",
                o.describe()
            ));
        }
        Ok(o)
    }
}

fn same_place(a: &PgOptions, b: &PgOptions) -> bool {
    a.host == b.host && a.port == b.port && a.database == b.database
}

/// `server_version_num` as a major: `15` (10 and later), `9.6` (before).
pub fn major_of(num: u32) -> String {
    if num >= 100_000 {
        (num / 10_000).to_string()
    } else {
        format!("{}.{}", num / 10_000, (num / 100) % 100)
    }
}

/// Why two servers cannot be source and clone, if they cannot.
pub fn major_mismatch(source_num: u32, clone_num: u32) -> Option<String> {
    let (a, b) = (major_of(source_num), major_of(clone_num));
    (a != b).then(|| {
        format!(
            "the clone's server runs PostgreSQL {b}, the source's {a}: Kong's dual-cluster guide restores into the same PostgreSQL version. Use a PostgreSQL {a} server for the clone (upgrade PostgreSQL separately, before or after Kong)"
        )
    })
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn db_err(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

async fn one_value(client: &tokio_postgres::Client, sql: &str) -> Result<Option<String>> {
    let msgs = client
        .simple_query(sql)
        .await
        .map_err(|e| eyre!("{}", db_err(&e)))?;
    Ok(msgs.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    }))
}

async fn version_num(client: &tokio_postgres::Client) -> Result<u32> {
    one_value(client, "SHOW server_version_num")
        .await?
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| eyre!("the server did not say its server_version_num"))
}

/// A session on the clone's server outside the clone database (to create or drop it).
async fn maintenance(target: &PgOptions) -> Result<PgStore> {
    let mut last = None;
    for db in ["postgres", "template1"] {
        let mut o = target.clone();
        o.database = db.into();
        match PgStore::connect_writable(&o).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind == StoreErrorKind::MissingDatabase => last = Some(e),
            Err(e) => return Err(eyre!("{e}")),
        }
    }
    Err(eyre!(
        "cannot reach the clone's server {}:{} outside the clone database: {}",
        target.host,
        target.port,
        last.map(|e| e.message).unwrap_or_default()
    ))
}

/// Relations in the user's schemas: 0 is an empty database.
async fn relations(client: &tokio_postgres::Client) -> Result<i64> {
    Ok(one_value(
        client,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'",
    )
    .await?
    .and_then(|v| v.parse().ok())
    .unwrap_or(0))
}

/// What the clone's place holds now: `None` when the database does not exist, else its
/// relations (0: empty). A server that cannot be reached or read is an error, never "absent":
/// the operator is not asked to take a clone nobody can see.
pub async fn occupied(target: &PgOptions) -> Result<Option<i64>, String> {
    let store = match PgStore::connect(target).await {
        Ok(s) => s,
        Err(e) if e.kind == crate::store::StoreErrorKind::MissingDatabase => return Ok(None),
        Err(e) => {
            return Err(format!(
                "the clone's place {} cannot be read: {e}",
                target.describe()
            ))
        }
    };
    relations(store.client()).await.map(Some).map_err(|e| {
        format!(
            "the clone's place {} cannot be read: {e:#}",
            target.describe()
        )
    })
}

/// What the clone's place holds now, for the journal's word on a clone started there (absent,
/// empty, or what a replace drops: its tables and their rows, counted exactly). Errors as
/// [`occupied`]'s.
pub async fn place_at_start(
    target: &PgOptions,
) -> Result<crate::contract::clone::PlaceAtStart, String> {
    use crate::contract::clone::PlaceAtStart;
    let cannot = |e: String| {
        format!(
            "the clone's place {} cannot be read: {e}",
            target.describe()
        )
    };
    let store = match PgStore::connect(target).await {
        Ok(s) => s,
        Err(e) if e.kind == StoreErrorKind::MissingDatabase => return Ok(PlaceAtStart::Absent),
        Err(e) => return Err(cannot(e.to_string())),
    };
    let relations = relations(store.client())
        .await
        .map_err(|e| cannot(format!("{e:#}")))?;
    if relations == 0 {
        return Ok(PlaceAtStart::Empty);
    }
    // Each table's count(*) through query_to_xml: one statement, exact rows.
    let counted = one_value(
        store.client(),
        "SELECT count(*) || ' ' || coalesce(sum((xpath('/row/c/text()', query_to_xml(\
         format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), 0) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'",
    )
    .await
    .map_err(|e| cannot(format!("{e:#}")))?
    .unwrap_or_default();
    let mut it = counted.split(' ').map(|v| v.parse::<i64>().unwrap_or(0));
    Ok(PlaceAtStart::Held {
        relations,
        tables: it.next().unwrap_or(0),
        rows: it.next().unwrap_or(0),
    })
}

async fn create(admin: &PgStore, target: &PgOptions) -> Result<()> {
    let sql = format!("CREATE DATABASE {}", ident(&target.database));
    admin.client().simple_query(&sql).await.map_err(|e| {
        if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
            eyre!(
                "the role '{}' may not create databases on {}:{} (it has no CREATEDB): ask an administrator to run\n  CREATE DATABASE {} OWNER {};\nthen run again (an existing empty database is used as it is)",
                target.user,
                target.host,
                target.port,
                ident(&target.database),
                ident(&target.user)
            )
        } else {
            eyre!(
                "cannot create the clone database {}: {}",
                target.describe(),
                db_err(&e)
            )
        }
    })?;
    Ok(())
}

/// Drops the clone database (the rehearsal's scratch database, or one `replace` overwrites).
pub async fn drop_database(target: &PgOptions) -> Result<()> {
    let admin = maintenance(target).await?;
    let force = version_num(admin.client()).await? >= 130_000;
    let sql = format!(
        "DROP DATABASE IF EXISTS {}{}",
        ident(&target.database),
        if force { " WITH (FORCE)" } else { "" }
    );
    admin.client().simple_query(&sql).await.map_err(|e| {
        eyre!(
            "cannot drop the database {}: {} (drop it by hand: DROP DATABASE {};)",
            target.describe(),
            db_err(&e),
            ident(&target.database)
        )
    })?;
    Ok(())
}

/// Which database a session is in, as the server says: the same answer from the source and the
/// clone means one database reached under two names.
const HERE: &str = "SELECT current_database() || ' ' || current_setting('port') || ' ' || pg_postmaster_start_time()::text";

/// What was found at the clone's place before copying.
struct Prepared {
    created: bool,
    replaced: bool,
    server_num: u32,
    /// Sessions of an earlier clone (a killed run's pg_restore) ended before this one.
    ended: u64,
}

/// `application_name` of every pg_dump and pg_restore a clone runs.
const CLONE_APP: &str = "kongrade-clone";

/// Ends every session of an earlier clone still connected to the target (the pg_restore of a
/// run killed with -9 lives on: left alone it would go on writing into the new clone), and
/// waits until they are gone. Returns how many there were.
async fn end_leftover_sessions(client: &tokio_postgres::Client) -> Result<u64> {
    let mine = format!(
        "datname = current_database() AND application_name = '{CLONE_APP}' AND pid <> pg_backend_pid()"
    );
    let ended = one_value(
        client,
        &format!("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {mine}"),
    )
    .await?
    .and_then(|n| n.parse::<u64>().ok())
    .unwrap_or(0);
    if ended == 0 {
        return Ok(0);
    }
    // A terminated backend rolls its transaction back on its way out.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = one_value(
            client,
            &format!("SELECT count(*) FROM pg_stat_activity WHERE {mine}"),
        )
        .await?;
        if left.as_deref() == Some("0") {
            return Ok(ended);
        }
        if Instant::now() >= deadline {
            return Err(eyre!(
                "{ended} session(s) of an earlier clone (application_name {CLONE_APP}) were ended on the clone database but are still there after 60 s: check pg_stat_activity, then run again"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Makes an empty clone database ready, or says why not. Nothing is written to the source.
async fn prepare_target(
    target: &PgOptions,
    replace: bool,
    source_num: u32,
    source_here: &Option<String>,
) -> Result<Prepared> {
    match PgStore::connect_writable(target).await {
        Ok(store) => {
            // Before anything is dropped: the same database under another name (localhost
            // for 127.0.0.1, a second address of the server) is the source, not a clone.
            if one_value(store.client(), HERE).await? == *source_here {
                return Err(eyre!(
                    "the clone {} is the source database itself (same server, port and database): name another database",
                    target.describe()
                ));
            }
            let num = version_num(store.client()).await?;
            if let Some(why) = major_mismatch(source_num, num) {
                return Err(eyre!(why));
            }
            let n = relations(store.client()).await?;
            // Only on a place this clone may take: a database refused below is not touched,
            // not even its sessions.
            let ended = if n == 0 || replace {
                end_leftover_sessions(store.client()).await?
            } else {
                0
            };
            drop(store);
            if n == 0 {
                return Ok(Prepared {
                    created: false,
                    replaced: false,
                    server_num: num,
                    ended,
                });
            }
            if !replace {
                return Err(eyre!(
                    "the clone database {} exists and is not empty ({n} relations): pass --clone-replace to drop and re-create it, or name another (--clone-database NAME)",
                    target.describe()
                ));
            }
            drop_database(target).await?;
            let admin = maintenance(target).await?;
            create(&admin, target).await?;
            Ok(Prepared {
                created: true,
                replaced: true,
                server_num: num,
                ended,
            })
        }
        Err(StoreError {
            kind: StoreErrorKind::MissingDatabase,
            ..
        }) => {
            let admin = maintenance(target).await?;
            let num = version_num(admin.client()).await?;
            if let Some(why) = major_mismatch(source_num, num) {
                return Err(eyre!(why));
            }
            create(&admin, target).await?;
            Ok(Prepared {
                created: true,
                replaced: false,
                server_num: num,
                ended: 0,
            })
        }
        Err(e) => Err(eyre!("the clone's database: {e}")),
    }
}

/// The first difference between the source at the snapshot and the clone, if any.
pub fn proof_problem(
    source_meta: &[String],
    clone_meta: &[String],
    source: &[TableMark],
    clone: &[TableMark],
) -> Option<String> {
    if source_meta != clone_meta {
        return Some(format!(
            "schema_meta differs: the source has {:?}, the clone {:?}",
            source_meta, clone_meta
        ));
    }
    let mut problems = Vec::new();
    for s in source {
        match clone.iter().find(|c| c.table == s.table) {
            None => problems.push(format!("table {} is missing from the clone", s.table)),
            Some(c) if c.rows != s.rows => problems.push(format!(
                "table {} has {} rows in the clone, {} in the source at the snapshot",
                s.table, c.rows, s.rows
            )),
            Some(c) if c.newest != s.newest => problems.push(format!(
                "table {}'s newest write is {:?} in the clone, {:?} in the source",
                s.table, c.newest, s.newest
            )),
            Some(c) if c.digest.is_some() && s.digest.is_some() && c.digest != s.digest => problems
                .push(format!(
                    "table {}'s rows differ in content from the source's at the snapshot",
                    s.table
                )),
            Some(_) => {}
        }
    }
    for c in clone {
        if !source.iter().any(|s| s.table == c.table) {
            problems.push(format!(
                "table {} is in the clone, not in the source",
                c.table
            ));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Reads the rest of a child's stderr.
fn collect(stderr: Option<tokio::process::ChildStderr>) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut s = String::new();
        if let Some(mut e) = stderr {
            use tokio::io::AsyncReadExt;
            let _ = e.read_to_string(&mut s).await;
        }
        s
    })
}

/// Clones `source` into `target` and proves it (see the module's documentation). `say` gets a
/// line per phase ([`proven_line`] is the caller's to say). A database this call created is dropped again when the clone fails.
pub async fn clone_database(
    source: &PgOptions,
    target: &PgOptions,
    replace: bool,
    mut say: impl FnMut(&str),
) -> Result<CloneRecord> {
    tool_version("pg_dump")?;
    tool_version("pg_restore")?;
    if same_place(source, target) {
        return Err(eyre!(
            "the clone would be the source itself ({})",
            source.describe()
        ));
    }
    let started = Instant::now();
    let src = PgStore::connect(source)
        .await
        .map_err(|e| eyre!("the source: {e}"))?;
    let source_num = version_num(src.client()).await?;
    let source_here = one_value(src.client(), HERE).await?;
    let prepared = prepare_target(target, replace, source_num, &source_here).await?;
    if prepared.ended > 0 {
        say(&format!(
            "Ended {} leftover session(s) of an earlier clone on {} (the pg_restore of a killed run, application_name {CLONE_APP}): it can no longer write into this clone.",
            prepared.ended,
            target.describe()
        ));
    }
    say(&format!(
        "Clone database {} {} (PostgreSQL {} on both servers).",
        target.describe(),
        match (prepared.created, prepared.replaced) {
            (true, true) => "dropped and re-created",
            (true, false) => "created",
            _ => "exists and is empty",
        },
        major_of(prepared.server_num)
    ));
    let res = copy_and_prove(source, target, &src, &prepared, started, &mut say).await;
    if res.is_err() && prepared.created {
        if let Err(e) = drop_database(target).await {
            say(&format!("The half-made clone could not be dropped: {e:#}"));
        }
    }
    res
}

async fn copy_and_prove(
    source: &PgOptions,
    target: &PgOptions,
    src: &PgStore,
    prepared: &Prepared,
    started: Instant,
    say: &mut impl FnMut(&str),
) -> Result<CloneRecord> {
    let client = src.client();
    let schema = source.schema.as_deref();
    // One snapshot for the dump and the counts: what the source writes meanwhile is in neither.
    client
        .simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| eyre!("the source: {}", db_err(&e)))?;
    let snapshot = one_value(client, "SELECT pg_export_snapshot()")
        .await
        .wrap_err("exporting the source's snapshot")?
        .ok_or_else(|| eyre!("the source exported no snapshot"))?;

    let mut dump = tokio::process::Command::new("pg_dump");
    // Uncompressed: the archive only crosses a local pipe, so compressing it is CPU pg_dump and
    // pg_restore would spend (measured on 1M routes + 1M plugins: the stream about 40% faster).
    dump.args([
        "--format=custom",
        "--compress=0",
        "--no-password",
        "--snapshot",
    ])
    .arg(&snapshot)
    .envs(libpq_env(source))
    .env("PGAPPNAME", CLONE_APP)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    if let Some(s) = schema {
        dump.arg(format!("--schema={s}"));
    }
    let mut dump = dump.spawn().wrap_err("cannot start pg_dump")?;
    let pipe: Stdio = dump
        .stdout
        .take()
        .ok_or_else(|| eyre!("pg_dump has no stdout"))?
        .try_into()
        .wrap_err("connecting pg_dump to pg_restore")?;
    // Objects owned by the clone's role (Kong's), no grants naming roles the server may lack;
    // one transaction, so a failed restore leaves the database empty.
    let mut restore = tokio::process::Command::new("pg_restore")
        .args([
            "--no-password",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
        ])
        // As a keyword/value string: a bare name with '=' or a URI scheme would be read by
        // libpq as a whole connection string (another host, even the source).
        .arg(format!(
            "--dbname=dbname={}",
            conninfo_quote(&target.database)
        ))
        .envs(libpq_env(target))
        .env("PGAPPNAME", CLONE_APP)
        .stdin(pipe)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .wrap_err("cannot start pg_restore")?;
    say(&format!(
        "Streaming pg_dump | pg_restore at the source's snapshot {snapshot}..."
    ));
    let dump_err = collect(dump.stderr.take());
    let restore_err = collect(restore.stderr.take());
    let marks = async {
        let meta = schema_meta_text(client, schema).await?;
        let marks = table_marks(client, schema).await?;
        Ok::<_, tokio_postgres::Error>((meta, marks))
    };
    let (dumped, restored, counted) = tokio::join!(dump.wait(), restore.wait(), marks);
    let _ = client.simple_query("ROLLBACK").await;
    let dumped = dumped.wrap_err("waiting for pg_dump")?;
    let restored = restored.wrap_err("waiting for pg_restore")?;
    let (dump_err, restore_err) = (
        dump_err.await.unwrap_or_default(),
        restore_err.await.unwrap_or_default(),
    );
    // pg_restore first: when it fails, pg_dump dies of the closed pipe, and its error says
    // nothing of the cause.
    if !restored.success() {
        return Err(eyre!(
            "pg_restore into {} failed: {}",
            target.describe(),
            restore_err.trim()
        ));
    }
    if !dumped.success() {
        return Err(eyre!(explain_pg_dump_failure(&dump_err)));
    }
    let (source_meta, source_marks) =
        counted.map_err(|e| eyre!("counting the source's rows at the snapshot: {}", db_err(&e)))?;
    let copied = started.elapsed();
    say(&format!(
        "Copied in {} ms; proving the clone...",
        copied.as_millis()
    ));

    if source_meta.is_empty() {
        return Err(eyre!(
            "the source {} has no schema_meta: is it Kong's database (pg_database, pg_schema)?",
            source.describe()
        ));
    }
    prove(target, schema, &source_meta, &source_marks).await?;
    let rec = CloneRecord {
        source: source.describe(),
        clone: target.describe(),
        clone_host: target.host.clone(),
        clone_port: target.port,
        clone_database: target.database.clone(),
        created: prepared.created,
        replaced: prepared.replaced,
        server_major: major_of(prepared.server_num),
        snapshot,
        schema_meta_rows: source_meta.len(),
        tables: source_marks,
        elapsed_ms: started.elapsed().as_millis() as u64,
        created_at: datadir::utc_stamp(datadir::now_secs()).0,
    };
    Ok(rec)
}

/// The clone's side of the proof: its `schema_meta` and every table's mark (rows, newest
/// write, content digest) read from the clone itself and compared with the source's at the
/// snapshot. `schema` is the source's pg_schema (the dump re-creates it under that name). An
/// error names each difference.
pub async fn prove(
    target: &PgOptions,
    schema: Option<&str>,
    source_meta: &[String],
    source_marks: &[TableMark],
) -> Result<()> {
    let clone = PgStore::connect(target)
        .await
        .map_err(|e| eyre!("the clone: {e}"))?;
    let clone_meta = schema_meta_text(clone.client(), schema)
        .await
        .map_err(|e| eyre!("the clone's schema_meta: {}", db_err(&e)))?;
    let clone_marks = table_marks(clone.client(), schema)
        .await
        .map_err(|e| eyre!("counting the clone's rows: {}", db_err(&e)))?;
    match proof_problem(source_meta, &clone_meta, source_marks, &clone_marks) {
        Some(p) => Err(eyre!("the clone is not a copy of the source: {p}")),
        None => Ok(()),
    }
}

/// The proof in one line (said by the caller once the record is kept: a run killed after the
/// line has the clone on record).
pub fn proven_line(rec: &CloneRecord) -> String {
    format!(
        "Clone proven: schema_meta identical ({} rows), {} tables with {} rows identical to the source at the snapshot.",
        rec.schema_meta_rows,
        rec.tables.len(),
        rec.total_rows()
    )
}

/// kong's environment pointed at the clone: Kong's own variables, which win over kong.conf.
/// The password travels here, never in argv.
pub fn kong_env_for(clone: &PgOptions) -> Vec<(String, Secret)> {
    let mut env = vec![
        ("KONG_DATABASE".to_string(), Secret::new("postgres")),
        ("KONG_PG_HOST".to_string(), Secret::new(clone.host.as_str())),
        (
            "KONG_PG_PORT".to_string(),
            Secret::new(clone.port.to_string()),
        ),
        ("KONG_PG_USER".to_string(), Secret::new(clone.user.as_str())),
        (
            "KONG_PG_DATABASE".to_string(),
            Secret::new(clone.database.as_str()),
        ),
    ];
    if let Some(s) = &clone.schema {
        env.push(("KONG_PG_SCHEMA".to_string(), Secret::new(s.as_str())));
    }
    if let Some(p) = &clone.password {
        env.push(("KONG_PG_PASSWORD".to_string(), p.clone()));
    }
    env
}

/// `base` (kong's environment for the source) with the clone's connection replacing it.
pub fn with_clone_env(base: &[(String, Secret)], clone: &PgOptions) -> Vec<(String, Secret)> {
    let ours = kong_env_for(clone);
    let mut env: Vec<(String, Secret)> = base
        .iter()
        .filter(|(k, _)| !ours.iter().any(|(o, _)| o == k))
        .cloned()
        .collect();
    env.extend(ours);
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pg(db: &str) -> PgOptions {
        PgOptions {
            host: "db".into(),
            port: 5432,
            user: "kong".into(),
            password: Some(Secret::new("pw")),
            database: db.into(),
            schema: None,
            timeout: Duration::from_secs(5),
            ssl: false,
            ssl_verify: false,
            trusted_certificates: vec![],
        }
    }

    #[test]
    fn majors_are_compared_as_postgresql_numbers() {
        assert_eq!(major_of(150_018), "15");
        assert_eq!(major_of(90_624), "9.6");
        assert_eq!(major_of(100_001), "10");
        assert_eq!(major_mismatch(150_002, 150_018), None);
        let why = major_mismatch(140_010, 160_001).expect("refused");
        assert!(why.contains("PostgreSQL 16, the source's 14"), "{why}");
        assert!(major_mismatch(90_624, 90_500).is_some());
    }

    #[test]
    fn the_clone_is_the_source_with_the_flags_on_top_and_never_the_source() {
        let src = pg("kong");
        let spec = CloneSpec {
            database: Some("kong_new".into()),
            ..CloneSpec::default()
        };
        let o = spec.resolve(&src, None).expect("resolves");
        assert_eq!(o.describe(), "kong@db:5432/kong_new");
        assert_eq!(o.password, src.password);
        let other = CloneSpec {
            host: Some("db2".into()),
            port: Some(6432),
            user: Some("kong2".into()),
            password: Some(Secret::new("pw2")),
            ..CloneSpec::default()
        };
        // Another server may keep the database's name.
        let o = other.resolve(&src, None).expect("resolves");
        assert_eq!(o.describe(), "kong2@db2:6432/kong");
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("pw2"));
        let err = CloneSpec::default().resolve(&src, None).unwrap_err();
        assert!(format!("{err}").contains("the source itself"), "{err}");
        // The default name applies only when nothing names the database.
        let o = CloneSpec::default()
            .resolve(&src, Some("kong_rehearsal"))
            .expect("resolves");
        assert_eq!(o.database, "kong_rehearsal");
    }

    #[test]
    fn kong_is_pointed_at_the_clone_through_its_environment() {
        let base = vec![
            ("KONG_PG_DATABASE".to_string(), Secret::new("kong")),
            ("KONG_LOG_LEVEL".to_string(), Secret::new("debug")),
        ];
        let env = with_clone_env(&base, &pg("kong_new"));
        let get = |k: &str| {
            env.iter()
                .filter(|(x, _)| x == k)
                .map(|(_, v)| v.expose().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("KONG_PG_DATABASE"), ["kong_new"]);
        assert_eq!(get("KONG_PG_PASSWORD"), ["pw"]);
        assert_eq!(get("KONG_LOG_LEVEL"), ["debug"]);
    }

    #[test]
    fn the_proof_names_every_difference() {
        let m = |t: &str, n: i64| TableMark {
            table: t.into(),
            rows: n,
            newest: None,
            digest: None,
        };
        let meta = vec!["schema_meta | core | x".to_string()];
        assert_eq!(
            proof_problem(&meta, &meta, &[m("routes", 2)], &[m("routes", 2)]),
            None
        );
        let p = proof_problem(
            &meta,
            &meta,
            &[m("routes", 2), m("services", 1)],
            &[m("routes", 1), m("extra", 0)],
        )
        .expect("differs");
        assert!(
            p.contains("routes has 1 rows in the clone, 2 in the source"),
            "{p}"
        );
        assert!(p.contains("services is missing"), "{p}");
        assert!(p.contains("extra is in the clone"), "{p}");
        assert!(proof_problem(&meta, &[], &[], &[])
            .expect("differs")
            .contains("schema_meta differs"));
    }
}

/// Why a kong command cannot be pointed at the clone, if it cannot: the clone's connection
/// reaches kong only through the child's environment, and `docker exec`, `kubectl exec` or
/// `ssh` run kong in a place that environment never reaches, as a `sudo` without `-E`, an
/// `env -i` or a `KONG_PG_*=` in the line cut it on the way: that kong would migrate whatever
/// its own kong.conf names, the source included. The line is read as it runs, through
/// wrappers and `sh -c` scripts ([`crate::exec::env_reach::unreached`]).
pub fn env_unreachable(command_line: &str) -> Option<String> {
    use crate::exec::env_reach::Unreached;
    const USE: &str = "Use a kong that takes the environment: a local kong, or --kong-image / --kong-cmd 'docker run --rm --network host -e KONG_DATABASE -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_USER -e KONG_PG_PASSWORD -e KONG_PG_DATABASE kong:VERSION kong'";
    Some(match crate::exec::env_reach::unreached(command_line)? {
        Unreached::Elsewhere(tool) => format!(
            "the kong command '{command_line}' runs kong where kongrade's environment does not reach ({tool}), so kong would migrate the database its own kong.conf names, maybe the source, not the clone. {USE}"
        ),
        Unreached::Cut(how) => format!(
            "the kong command '{command_line}' does not hand kongrade's environment on to kong ({how}), so kong would migrate the database its own kong.conf names, maybe the source, not the clone. {USE}"
        ),
        Unreached::Unreadable(why) => format!(
            "the kong command '{command_line}' cannot be read ({why}), so kongrade cannot tell whether kong would see the clone's connection; nothing was run. {USE}"
        ),
    })
}

/// The source's `schema_meta` as text, row by row: read before and after every kong run on the
/// clone, so a kong that ignored the clone's connection (a template without `-e KONG_PG_*`)
/// and migrated the source is caught at once, not reported as a clean run.
pub async fn source_schema_meta(source: &PgOptions) -> Result<Vec<String>> {
    let store = PgStore::connect(source)
        .await
        .map_err(|e| eyre!("the source {}: {e}", source.describe()))?;
    schema_meta_text(store.client(), source.schema.as_deref())
        .await
        .wrap_err_with(|| format!("reading schema_meta of the source {}", source.describe()))
}

/// The message when the source's `schema_meta` changed during a kong run meant for the clone.
pub fn source_changed_message(source: &PgOptions, command: &str) -> String {
    format!(
        "STOP: 'kong migrations {command}' changed the SOURCE database {} (its schema_meta is not what it was before the run): this kong did not use the clone's connection (kongrade passes it in kong's environment; a wrapper or template that drops KONG_PG_* makes kong use its own kong.conf). Nothing more is run. Check now with `kongrade status` against the source; the old cluster may need the rollback `kongrade rollback --print` gives.",
        source.describe()
    )
}

/// A libpq keyword value, quoted: `'` and `\` escaped with a backslash.
fn conninfo_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod guard_tests {
    use super::{conninfo_quote, env_unreachable};

    #[test]
    fn a_database_name_is_never_read_as_a_connection_string() {
        assert_eq!(conninfo_quote("kong_new"), "'kong_new'");
        assert_eq!(
            conninfo_quote("host=src dbname=kong"),
            "'host=src dbname=kong'"
        );
        assert_eq!(conninfo_quote(r"a'b\c"), r"'a\'b\\c'");
    }

    #[test]
    fn kongs_the_environment_cannot_reach_are_named() {
        for c in [
            "docker exec -i kong-new kong",
            "/usr/bin/docker exec kong kong",
            "podman exec -it k kong",
            "kubectl -n kong exec deploy/kong -- kong",
            "ssh kong-host kong",
        ] {
            assert!(env_unreachable(c).is_some(), "{c}");
        }
        for c in [
            "kong",
            "/usr/local/bin/kong",
            "docker run --rm --network host -e KONG_PG_HOST -e KONG_PG_PORT -e KONG_PG_DATABASE kong:3.4.2 kong",
            "kongrade stand-in --kong-version 3.4.2",
        ] {
            assert!(env_unreachable(c).is_none(), "{c}");
        }
        // A container run that is not handed the connection takes the image's defaults.
        let why = env_unreachable("docker run --rm --network host -e KONG_PG_HOST kong:3.4.2 kong")
            .expect("refused");
        assert!(
            why.contains("(the container is not given -e KONG_PG_PORT -e KONG_PG_DATABASE)"),
            "{why}"
        );
    }

    /// However the command is wrapped, the refusal is the plain command's, word for word but
    /// for the command line it quotes.
    #[test]
    fn a_wrapped_kong_is_refused_as_the_plain_one() {
        let plain = "docker exec kong-old kong";
        let said = |c: &str| env_unreachable(c).map(|m| m.replace(c, "CMD"));
        let want = said(plain).expect("refused");
        for c in [
            "sudo docker exec kong-old kong",
            "sudo -E docker exec kong-old kong",
            "env X=1 docker exec kong-old kong",
            "nice -n 5 docker exec kong-old kong",
            "timeout 600 docker exec kong-old kong",
            "sh -c 'docker exec kong-old kong'",
            "bash -lc \"docker exec kong-old kong\"",
        ] {
            assert_eq!(said(c).as_deref(), Some(want.as_str()), "{c}");
        }
    }
}
