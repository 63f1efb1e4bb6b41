//! A **test stand-in for a Cassandra server**, not a database: no Cassandra can be installed on
//! the machines these tests run on, so this speaks just enough of the CQL native protocol v4 for
//! the real scylla driver to connect and for kongrade's Cassandra store to read, and serves
//! fixture rows held in memory.
//!
//! What it does: OPTIONS/SUPPORTED, STARTUP/READY, PasswordAuthenticator (AUTHENTICATE,
//! AUTH_RESPONSE, AUTH_SUCCESS, or error 0x0100), REGISTER, `USE`, and SELECTs — unprepared or
//! PREPARE/EXECUTE — of the form `SELECT cols FROM [ks.]table [WHERE col = x AND ...]` over the
//! system tables the driver reads (system.local, system.peers, system.peers_v2) and the ones the
//! store reads (system_schema.keyspaces/tables/columns and Kong's tables). Selectors: columns,
//! `*`, `TTL(col)`, `WRITETIME(col)`, `toUnixTimestamp(now())`. Rows with a TTL vanish when it
//! runs out, as in Cassandra; sets come back sorted and partitions in a hash order, as Cassandra
//! returns them, so a reader cannot rely on insertion order.
//!
//! What it refuses, loudly: any other statement (every write included: the store must never
//! send one), unknown keyspaces (0x2200 "Keyspace ... does not exist"), unknown tables
//! ("unconfigured table"), unknown columns, filtering on a non-key column without ALLOW
//! FILTERING. Every statement received is logged for the tests to inspect.
//!
//! Connections are served by one thread each over blocking sockets, which lets TLS (rustls,
//! already a dependency) wrap them without another crate.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Types and values

/// The CQL types the fixtures use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    Text,
    Int,
    BigInt,
    Uuid,
    Timestamp,
    Boolean,
    Inet,
    Set(Box<Ty>),
    List(Box<Ty>),
}

impl Ty {
    pub fn set_text() -> Ty {
        Ty::Set(Box::new(Ty::Text))
    }
    pub fn list_text() -> Ty {
        Ty::List(Box::new(Ty::Text))
    }

    /// The name system_schema.columns shows.
    pub fn cql_name(&self) -> String {
        match self {
            Ty::Text => "text".into(),
            Ty::Int => "int".into(),
            Ty::BigInt => "bigint".into(),
            Ty::Uuid => "uuid".into(),
            Ty::Timestamp => "timestamp".into(),
            Ty::Boolean => "boolean".into(),
            Ty::Inet => "inet".into(),
            Ty::Set(t) => format!("set<{}>", t.cql_name()),
            Ty::List(t) => format!("list<{}>", t.cql_name()),
        }
    }

    fn write_option(&self, out: &mut Vec<u8>) {
        let id: u16 = match self {
            Ty::BigInt => 0x0002,
            Ty::Boolean => 0x0004,
            Ty::Int => 0x0009,
            Ty::Timestamp => 0x000B,
            Ty::Uuid => 0x000C,
            Ty::Text => 0x000D,
            Ty::Inet => 0x0010,
            Ty::List(_) => 0x0020,
            Ty::Set(_) => 0x0022,
        };
        put_u16(out, id);
        if let Ty::Set(t) | Ty::List(t) = self {
            t.write_option(out);
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Int(i32),
    BigInt(i64),
    Uuid([u8; 16]),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Boolean(bool),
    Inet(IpAddr),
    Set(Vec<Val>),
    List(Vec<Val>),
}

impl Val {
    pub fn text(s: &str) -> Val {
        Val::Text(s.to_string())
    }
    pub fn opt_text(s: Option<&str>) -> Val {
        s.map(Val::text).unwrap_or(Val::Null)
    }
    /// A set of text; Cassandra stores an empty collection as NULL.
    pub fn text_set<S: AsRef<str>>(items: &[S]) -> Val {
        if items.is_empty() {
            return Val::Null;
        }
        Val::Set(items.iter().map(|s| Val::text(s.as_ref())).collect())
    }
    pub fn text_list<S: AsRef<str>>(items: &[S]) -> Val {
        if items.is_empty() {
            return Val::Null;
        }
        Val::List(items.iter().map(|s| Val::text(s.as_ref())).collect())
    }
    /// `8-4-4-4-12` hex.
    pub fn uuid(s: &str) -> Val {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("uuid hex");
        }
        Val::Uuid(b)
    }

    fn as_text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value's cell bytes ([bytes] without the length), `None` for NULL.
    fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Val::Null => return None,
            Val::Text(s) => out.extend_from_slice(s.as_bytes()),
            Val::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
            Val::BigInt(i) | Val::Timestamp(i) => out.extend_from_slice(&i.to_be_bytes()),
            Val::Uuid(b) => out.extend_from_slice(b),
            Val::Boolean(b) => out.push(u8::from(*b)),
            Val::Inet(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
            Val::Inet(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
            Val::Set(items) | Val::List(items) => {
                let mut items: Vec<Vec<u8>> = items.iter().filter_map(Val::encode).collect();
                // Cassandra keeps set elements sorted by their serialized form.
                if matches!(self, Val::Set(_)) {
                    items.sort();
                    items.dedup();
                }
                put_i32(&mut out, items.len() as i32);
                for i in items {
                    put_i32(&mut out, i.len() as i32);
                    out.extend_from_slice(&i);
                }
            }
        }
        Some(out)
    }

    /// A bound value decoded with the type of the column it is compared to.
    fn decode(ty: &Ty, bytes: Option<&[u8]>) -> Val {
        let Some(b) = bytes else { return Val::Null };
        match ty {
            Ty::Text => Val::Text(String::from_utf8_lossy(b).into_owned()),
            Ty::Int if b.len() == 4 => Val::Int(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            Ty::Uuid if b.len() == 16 => {
                let mut u = [0u8; 16];
                u.copy_from_slice(b);
                Val::Uuid(u)
            }
            _ => Val::Null,
        }
    }
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// Tables

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
    /// partition_key, clustering or regular, as system_schema.columns says.
    pub kind: &'static str,
}

#[derive(Clone, Debug)]
pub struct StoredRow {
    pub values: Vec<Val>,
    /// Absolute expiry (seconds since the epoch, server clock) of a row written with a TTL.
    pub expires_at: Option<i64>,
    /// Microseconds since the epoch, what WRITETIME() answers.
    pub written_at: i64,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub keyspace: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<StoredRow>,
    pub default_ttl: i32,
}

impl Table {
    /// `pk` are the partition key columns, `ck` the clustering ones; the rest are regular.
    pub fn new(keyspace: &str, name: &str, cols: &[(&str, Ty)], pk: &[&str], ck: &[&str]) -> Table {
        Table {
            keyspace: keyspace.to_string(),
            name: name.to_string(),
            columns: cols
                .iter()
                .map(|(n, t)| Column {
                    name: n.to_string(),
                    ty: t.clone(),
                    kind: if pk.contains(n) {
                        "partition_key"
                    } else if ck.contains(n) {
                        "clustering"
                    } else {
                        "regular"
                    },
                })
                .collect(),
            rows: Vec::new(),
            default_ttl: 0,
        }
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Adds a row given as (column, value) pairs; unnamed columns are NULL. `ttl` in seconds
    /// (falls back to the table's default_time_to_live), `now_ms` the server clock.
    pub fn insert(&mut self, values: &[(&str, Val)], ttl: Option<i32>, now_ms: i64) {
        let mut row = vec![Val::Null; self.columns.len()];
        for (n, v) in values {
            let i = self
                .col(n)
                .unwrap_or_else(|| panic!("{}.{} has no column {n}", self.keyspace, self.name));
            row[i] = v.clone();
        }
        let ttl = ttl.unwrap_or(self.default_ttl);
        let expires_at = (ttl > 0).then(|| now_ms.div_euclid(1000) + i64::from(ttl));
        // Same primary key: the new row replaces the old one (an upsert, as in CQL).
        let key_idx: Vec<usize> = (0..self.columns.len())
            .filter(|i| self.columns[*i].kind != "regular")
            .collect();
        self.rows
            .retain(|r| key_idx.iter().any(|i| r.values[*i] != row[*i]));
        self.rows.push(StoredRow {
            values: row,
            expires_at,
            written_at: now_ms * 1000,
        });
    }
}

/// Kong's tables as its Cassandra migrations create them.
pub mod kong_tables {
    use super::{Table, Ty};

    pub fn schema_meta(ks: &str) -> Table {
        Table::new(
            ks,
            "schema_meta",
            &[
                ("key", Ty::Text),
                ("subsystem", Ty::Text),
                ("last_executed", Ty::Text),
                ("executed", Ty::set_text()),
                ("pending", Ty::set_text()),
            ],
            &["key"],
            &["subsystem"],
        )
    }

    pub fn locks(ks: &str) -> Table {
        let mut t = Table::new(
            ks,
            "locks",
            &[("key", Ty::Text), ("owner", Ty::Text)],
            &["key"],
            &[],
        );
        t.default_ttl = 60;
        t
    }

    pub fn schema_migrations(ks: &str) -> Table {
        Table::new(
            ks,
            "schema_migrations",
            &[("id", Ty::Text), ("migrations", Ty::list_text())],
            &["id"],
            &[],
        )
    }

    /// `with_23`: the version and sync_status columns Kong 2.3 added.
    pub fn clustering_data_planes(ks: &str, with_23: bool) -> Table {
        let mut cols = vec![
            ("id", Ty::Uuid),
            ("hostname", Ty::Text),
            ("ip", Ty::Text),
            ("last_seen", Ty::Timestamp),
            ("config_hash", Ty::Text),
        ];
        if with_23 {
            cols.push(("version", Ty::Text));
            cols.push(("sync_status", Ty::Text));
        }
        let mut t = Table::new(ks, "clustering_data_planes", &cols, &["id"], &[]);
        t.default_ttl = 1_209_600;
        t
    }
}

// ---------------------------------------------------------------------------------------------
// Server state

#[derive(Clone, Debug)]
pub struct ServerState {
    pub release_version: String,
    pub cluster_name: String,
    pub data_center: String,
    /// `Some`: PasswordAuthenticator with this one role.
    pub credentials: Option<(String, String)>,
    /// The server's clock minus the local one, to tell the two apart in tests.
    pub clock_offset_ms: i64,
    /// User keyspaces (system ones are implied).
    pub keyspaces: Vec<String>,
    pub tables: Vec<Table>,
}

impl Default for ServerState {
    fn default() -> Self {
        ServerState {
            release_version: "3.11.16".into(),
            cluster_name: "kongrade test cluster".into(),
            data_center: "datacenter1".into(),
            credentials: None,
            clock_offset_ms: 0,
            keyspaces: Vec::new(),
            tables: Vec::new(),
        }
    }
}

impl ServerState {
    pub fn now_ms(&self) -> i64 {
        now_millis() + self.clock_offset_ms
    }

    pub fn table_mut(&mut self, ks: &str, name: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.keyspace == ks && t.name == name)
    }
}

const SYSTEM_KEYSPACES: &[&str] = &[
    "system",
    "system_schema",
    "system_auth",
    "system_distributed",
    "system_traces",
];

/// The host_id of the single node.
const HOST_ID: &str = "5f1d2c3b-4a59-4e68-8f77-a6b5c4d3e2f1";
const SCHEMA_VERSION: &str = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5";

impl ServerState {
    /// The system tables, generated from the state each time they are read.
    fn system_table(&self, ks: &str, name: &str) -> Option<Table> {
        let now = self.now_ms();
        match (ks, name) {
            ("system", "local") => {
                let mut t = Table::new(
                    "system",
                    "local",
                    &[
                        ("key", Ty::Text),
                        ("bootstrapped", Ty::Text),
                        ("broadcast_address", Ty::Inet),
                        ("cluster_name", Ty::Text),
                        ("cql_version", Ty::Text),
                        ("data_center", Ty::Text),
                        ("host_id", Ty::Uuid),
                        ("listen_address", Ty::Inet),
                        ("native_protocol_version", Ty::Text),
                        ("partitioner", Ty::Text),
                        ("rack", Ty::Text),
                        ("release_version", Ty::Text),
                        ("rpc_address", Ty::Inet),
                        ("schema_version", Ty::Uuid),
                        ("tokens", Ty::set_text()),
                    ],
                    &["key"],
                    &[],
                );
                let lo = Val::Inet(IpAddr::V4(Ipv4Addr::LOCALHOST));
                t.insert(
                    &[
                        ("key", Val::text("local")),
                        ("bootstrapped", Val::text("COMPLETED")),
                        ("broadcast_address", lo.clone()),
                        ("cluster_name", Val::text(&self.cluster_name)),
                        ("cql_version", Val::text("3.4.5")),
                        ("data_center", Val::text(&self.data_center)),
                        ("host_id", Val::uuid(HOST_ID)),
                        ("listen_address", lo.clone()),
                        ("native_protocol_version", Val::text("4")),
                        (
                            "partitioner",
                            Val::text("org.apache.cassandra.dht.Murmur3Partitioner"),
                        ),
                        ("rack", Val::text("rack1")),
                        ("release_version", Val::text(&self.release_version)),
                        ("rpc_address", lo),
                        ("schema_version", Val::uuid(SCHEMA_VERSION)),
                        (
                            "tokens",
                            Val::text_set(&[
                                "-9223372036854775808",
                                "-3074457345618258603",
                                "3074457345618258602",
                            ]),
                        ),
                    ],
                    None,
                    now,
                );
                Some(t)
            }
            ("system", "peers") | ("system", "peers_v2") => {
                let mut cols = vec![
                    ("peer", Ty::Inet),
                    ("data_center", Ty::Text),
                    ("host_id", Ty::Uuid),
                    ("rack", Ty::Text),
                    ("release_version", Ty::Text),
                    ("rpc_address", Ty::Inet),
                    ("schema_version", Ty::Uuid),
                    ("tokens", Ty::set_text()),
                ];
                if name == "peers_v2" {
                    cols.push(("peer_port", Ty::Int));
                    cols.push(("native_address", Ty::Inet));
                    cols.push(("native_port", Ty::Int));
                }
                Some(Table::new("system", name, &cols, &["peer"], &[]))
            }
            ("system_schema", "keyspaces") => {
                let mut t = Table::new(
                    "system_schema",
                    "keyspaces",
                    &[("keyspace_name", Ty::Text), ("durable_writes", Ty::Boolean)],
                    &["keyspace_name"],
                    &[],
                );
                for k in SYSTEM_KEYSPACES
                    .iter()
                    .map(|s| s.to_string())
                    .chain(self.keyspaces.iter().cloned())
                {
                    t.insert(
                        &[
                            ("keyspace_name", Val::Text(k)),
                            ("durable_writes", Val::Boolean(true)),
                        ],
                        None,
                        now,
                    );
                }
                Some(t)
            }
            ("system_schema", "tables") => {
                let mut t = Table::new(
                    "system_schema",
                    "tables",
                    &[
                        ("keyspace_name", Ty::Text),
                        ("table_name", Ty::Text),
                        ("default_time_to_live", Ty::Int),
                    ],
                    &["keyspace_name"],
                    &["table_name"],
                );
                for tb in &self.tables {
                    t.insert(
                        &[
                            ("keyspace_name", Val::text(&tb.keyspace)),
                            ("table_name", Val::text(&tb.name)),
                            ("default_time_to_live", Val::Int(tb.default_ttl)),
                        ],
                        None,
                        now,
                    );
                }
                Some(t)
            }
            ("system_schema", "columns") => {
                let mut t = Table::new(
                    "system_schema",
                    "columns",
                    &[
                        ("keyspace_name", Ty::Text),
                        ("table_name", Ty::Text),
                        ("column_name", Ty::Text),
                        ("kind", Ty::Text),
                        ("position", Ty::Int),
                        ("type", Ty::Text),
                    ],
                    &["keyspace_name"],
                    &["table_name", "column_name"],
                );
                for tb in &self.tables {
                    for c in &tb.columns {
                        t.insert(
                            &[
                                ("keyspace_name", Val::text(&tb.keyspace)),
                                ("table_name", Val::text(&tb.name)),
                                ("column_name", Val::text(&c.name)),
                                ("kind", Val::text(c.kind)),
                                ("position", Val::Int(-1)),
                                ("type", Val::Text(c.ty.cql_name())),
                            ],
                            None,
                            now,
                        );
                    }
                }
                Some(t)
            }
            _ => None,
        }
    }

    fn keyspace_exists(&self, ks: &str) -> bool {
        SYSTEM_KEYSPACES.contains(&ks) || self.keyspaces.iter().any(|k| k == ks)
    }
}

// ---------------------------------------------------------------------------------------------
// A tiny SELECT parser

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// Unquoted identifiers and keywords, lower-cased (CQL folds them).
    Word(String),
    /// "Quoted" identifier, case kept.
    Quoted(String),
    Str(String),
    Num(String),
    Sym(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(
                chars[start..i].iter().collect::<String>().to_lowercase(),
            ));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated {c}")),
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            v.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&o) => {
                        v.push(o);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' {
                Tok::Str(v)
            } else {
                Tok::Quoted(v)
            });
        } else if "(),.*=?;".contains(c) {
            out.push(Tok::Sym(c));
            i += 1;
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    while out.last() == Some(&Tok::Sym(';')) {
        out.pop();
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Selector {
    Star,
    Col(String),
    Ttl(String),
    WriteTime(String),
    UnixNow,
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Lit(Val),
    /// The n-th bind marker.
    Bind(usize),
}

#[derive(Clone, Debug, PartialEq)]
struct Select {
    selectors: Vec<Selector>,
    keyspace: Option<String>,
    table: String,
    conds: Vec<(String, Operand)>,
    limit: Option<usize>,
    allow_filtering: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Stmt {
    Select(Select),
    Use(String),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    binds: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn word(&mut self, w: &str) -> bool {
        if self.peek() == Some(&Tok::Word(w.to_string())) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Sym(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, c: char) -> Result<(), String> {
        if self.sym(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at {:?}", self.peek()))
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Ok(w),
            t => Err(format!("expected an identifier, found {t:?}")),
        }
    }

    fn selector(&mut self) -> Result<Selector, String> {
        if self.sym('*') {
            return Ok(Selector::Star);
        }
        let name = self.ident()?;
        if !self.sym('(') {
            return Ok(Selector::Col(name));
        }
        let sel = match name.as_str() {
            "ttl" => Selector::Ttl(self.ident()?),
            "writetime" => Selector::WriteTime(self.ident()?),
            "tounixtimestamp" => {
                if !(self.word("now") && self.sym('(') && self.sym(')')) {
                    return Err("toUnixTimestamp() of something else than now()".into());
                }
                Selector::UnixNow
            }
            f => return Err(format!("function {f}() is not served")),
        };
        self.expect_sym(')')?;
        Ok(sel)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Sym('?')) => {
                self.binds += 1;
                Ok(Operand::Bind(self.binds - 1))
            }
            Some(Tok::Str(s)) => Ok(Operand::Lit(Val::Text(s))),
            Some(Tok::Num(n)) => n
                .parse::<i32>()
                .map(|i| Operand::Lit(Val::Int(i)))
                .map_err(|e| e.to_string()),
            t => Err(format!("expected a value, found {t:?}")),
        }
    }

    fn statement(&mut self) -> Result<Stmt, String> {
        if self.word("use") {
            let ks = self.ident()?;
            return self.end(Stmt::Use(ks));
        }
        if !self.word("select") {
            return Err("only SELECT and USE are served".into());
        }
        let mut selectors = vec![self.selector()?];
        while self.sym(',') {
            selectors.push(self.selector()?);
        }
        if !self.word("from") {
            return Err(format!("expected FROM at {:?}", self.peek()));
        }
        let first = self.ident()?;
        let (keyspace, table) = if self.sym('.') {
            (Some(first), self.ident()?)
        } else {
            (None, first)
        };
        let mut conds = Vec::new();
        if self.word("where") {
            loop {
                let col = self.ident()?;
                self.expect_sym('=')?;
                conds.push((col, self.operand()?));
                if !self.word("and") {
                    break;
                }
            }
        }
        let mut limit = None;
        if self.word("limit") {
            match self.next() {
                Some(Tok::Num(n)) => limit = n.parse().ok(),
                t => return Err(format!("bad LIMIT {t:?}")),
            }
        }
        let allow_filtering = self.word("allow") && self.word("filtering");
        self.end(Stmt::Select(Select {
            selectors,
            keyspace,
            table,
            conds,
            limit,
            allow_filtering,
        }))
    }

    fn end(&mut self, s: Stmt) -> Result<Stmt, String> {
        match self.peek() {
            None => Ok(s),
            Some(t) => Err(format!("unexpected {t:?}")),
        }
    }
}

fn parse(cql: &str) -> Result<(Stmt, usize), String> {
    let mut p = Parser {
        toks: tokenize(cql)?,
        pos: 0,
        binds: 0,
    };
    let s = p.statement()?;
    Ok((s, p.binds))
}

// ---------------------------------------------------------------------------------------------
// Executing

/// A CQL error: code and message.
#[derive(Debug)]
struct CqlError(i32, String);

const ERR_SERVER: i32 = 0x0000;
const ERR_PROTOCOL: i32 = 0x000A;
const ERR_BAD_CREDENTIALS: i32 = 0x0100;
const ERR_SYNTAX: i32 = 0x2000;
const ERR_INVALID: i32 = 0x2200;

struct ResultSet {
    keyspace: String,
    table: String,
    columns: Vec<(String, Ty)>,
    rows: Vec<Vec<Val>>,
}

/// The bind markers' columns and types, for PREPARE's metadata.
fn bind_types(
    state: &ServerState,
    sel: &Select,
    current_ks: Option<&str>,
) -> Result<Vec<(String, Ty)>, CqlError> {
    let table = resolve_table(state, sel, current_ks)?;
    let mut out = Vec::new();
    for (col, op) in &sel.conds {
        if let Operand::Bind(_) = op {
            let i = table
                .col(col)
                .ok_or_else(|| CqlError(ERR_INVALID, format!("Undefined column name {col}")))?;
            out.push((col.clone(), table.columns[i].ty.clone()));
        }
    }
    Ok(out)
}

fn resolve_table(
    state: &ServerState,
    sel: &Select,
    current_ks: Option<&str>,
) -> Result<Table, CqlError> {
    let ks = match (&sel.keyspace, current_ks) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => k.to_string(),
        (None, None) => {
            return Err(CqlError(
                ERR_INVALID,
                "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename".into(),
            ))
        }
    };
    if !state.keyspace_exists(&ks) {
        return Err(CqlError(
            ERR_INVALID,
            format!("Keyspace {ks} does not exist"),
        ));
    }
    if let Some(t) = state.system_table(&ks, &sel.table) {
        return Ok(t);
    }
    state
        .tables
        .iter()
        .find(|t| t.keyspace == ks && t.name == sel.table)
        .cloned()
        .ok_or_else(|| CqlError(ERR_INVALID, format!("unconfigured table {}", sel.table)))
}

/// A stable, insertion-independent order for partitions, like a token order.
fn token_of(v: &Val) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in v.encode().unwrap_or_default() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn run_select(
    state: &ServerState,
    sel: &Select,
    binds: &[Val],
    current_ks: Option<&str>,
) -> Result<ResultSet, CqlError> {
    let table = resolve_table(state, sel, current_ks)?;
    let now_ms = state.now_ms();
    let now_s = now_ms.div_euclid(1000);

    let mut filters: Vec<(usize, Val)> = Vec::new();
    for (col, op) in &sel.conds {
        let i = table
            .col(col)
            .ok_or_else(|| CqlError(ERR_INVALID, format!("Undefined column name {col}")))?;
        if table.columns[i].kind == "regular" && !sel.allow_filtering {
            return Err(CqlError(
                ERR_INVALID,
                "Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING".into(),
            ));
        }
        let v = match op {
            Operand::Lit(v) => v.clone(),
            Operand::Bind(n) => binds.get(*n).cloned().ok_or_else(|| {
                CqlError(ERR_INVALID, format!("missing value for bind marker {n}"))
            })?,
        };
        if v.as_text().is_some() && table.columns[i].ty != Ty::Text {
            return Err(CqlError(
                ERR_INVALID,
                format!(
                    "Invalid STRING constant for {col} of type {}",
                    table.columns[i].ty.cql_name()
                ),
            ));
        }
        filters.push((i, v));
    }

    let mut columns: Vec<(String, Ty)> = Vec::new();
    // What each output column is computed from.
    enum Out {
        Col(usize),
        Ttl(usize),
        WriteTime(usize),
        Now,
    }
    let mut outs: Vec<Out> = Vec::new();
    let find = |c: &str| {
        table
            .col(c)
            .ok_or_else(|| CqlError(ERR_INVALID, format!("Undefined column name {c}")))
    };
    for s in &sel.selectors {
        match s {
            Selector::Star => {
                for (i, c) in table.columns.iter().enumerate() {
                    columns.push((c.name.clone(), c.ty.clone()));
                    outs.push(Out::Col(i));
                }
            }
            Selector::Col(c) => {
                let i = find(c)?;
                columns.push((c.clone(), table.columns[i].ty.clone()));
                outs.push(Out::Col(i));
            }
            Selector::Ttl(c) => {
                let i = find(c)?;
                if table.columns[i].kind != "regular" {
                    return Err(CqlError(
                        ERR_INVALID,
                        format!("Cannot use selection function ttl on PRIMARY KEY part {c}"),
                    ));
                }
                columns.push((format!("ttl({c})"), Ty::Int));
                outs.push(Out::Ttl(i));
            }
            Selector::WriteTime(c) => {
                let i = find(c)?;
                columns.push((format!("writetime({c})"), Ty::BigInt));
                outs.push(Out::WriteTime(i));
            }
            Selector::UnixNow => {
                columns.push(("system.tounixtimestamp(system.now())".into(), Ty::BigInt));
                outs.push(Out::Now);
            }
        }
    }

    let pk: Vec<usize> = (0..table.columns.len())
        .filter(|i| table.columns[*i].kind == "partition_key")
        .collect();
    let mut live: Vec<&StoredRow> = table
        .rows
        .iter()
        .filter(|r| r.expires_at.is_none_or(|e| now_s < e))
        .filter(|r| filters.iter().all(|(i, v)| &r.values[*i] == v))
        .collect();
    live.sort_by_key(|r| {
        pk.iter()
            .map(|i| token_of(&r.values[*i]))
            .collect::<Vec<_>>()
    });
    if let Some(n) = sel.limit {
        live.truncate(n);
    }
    let rows = live
        .into_iter()
        .map(|r| {
            outs.iter()
                .map(|o| match o {
                    Out::Col(i) => r.values[*i].clone(),
                    Out::Ttl(i) => match (r.expires_at, &r.values[*i]) {
                        (_, Val::Null) | (None, _) => Val::Null,
                        (Some(e), _) => Val::Int((e - now_s) as i32),
                    },
                    Out::WriteTime(i) => match &r.values[*i] {
                        Val::Null => Val::Null,
                        _ => Val::BigInt(r.written_at),
                    },
                    Out::Now => Val::BigInt(now_ms),
                })
                .collect()
        })
        .collect();
    Ok(ResultSet {
        keyspace: table.keyspace.clone(),
        table: table.name.clone(),
        columns,
        rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Wire format

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_string(out: &mut Vec<u8>, s: &str) {
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
}
fn put_short_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u16(out, b.len() as u16);
    out.extend_from_slice(b);
}
fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_i32(out, -1),
        Some(b) => {
            put_i32(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Bound values as sent: NULL or bytes.
type BoundValues = Vec<Option<Vec<u8>>>;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CqlError> {
        if self.pos + n > self.b.len() {
            return Err(CqlError(ERR_PROTOCOL, "truncated frame body".into()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CqlError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, CqlError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, CqlError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Result<String, CqlError> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn long_string(&mut self) -> Result<String, CqlError> {
        let n = self.i32()?;
        if n < 0 {
            return Err(CqlError(ERR_PROTOCOL, "negative string length".into()));
        }
        Ok(String::from_utf8_lossy(self.take(n as usize)?).into_owned())
    }
    fn short_bytes(&mut self) -> Result<Vec<u8>, CqlError> {
        let n = self.u16()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn bytes(&mut self) -> Result<Option<&'a [u8]>, CqlError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(n as usize)?))
    }
    fn string_map(&mut self) -> Result<HashMap<String, String>, CqlError> {
        let n = self.u16()?;
        let mut m = HashMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.string()?;
            m.insert(k, v);
        }
        Ok(m)
    }

    /// `<consistency><flags>[values][page_size][paging_state][serial][timestamp]` of QUERY and
    /// EXECUTE; returns the consistency and the raw bound values.
    fn query_parameters(&mut self) -> Result<(u16, BoundValues), CqlError> {
        let consistency = self.u16()?;
        let flags = self.u8()?;
        let mut values = Vec::new();
        if flags & 0x01 != 0 {
            let n = self.u16()?;
            for _ in 0..n {
                if flags & 0x40 != 0 {
                    self.string()?;
                }
                values.push(self.bytes()?.map(<[u8]>::to_vec));
            }
        }
        if flags & 0x04 != 0 {
            self.i32()?;
        }
        if flags & 0x08 != 0 {
            self.bytes()?;
        }
        if flags & 0x10 != 0 {
            self.u16()?;
        }
        if flags & 0x20 != 0 {
            self.take(8)?;
        }
        Ok((consistency, values))
    }
}

fn col_specs(out: &mut Vec<u8>, ks: &str, table: &str, cols: &[(String, Ty)]) {
    // Global table spec: one keyspace and table for every column.
    put_i32(out, 0x0001);
    put_i32(out, cols.len() as i32);
    put_string(out, ks);
    put_string(out, table);
    for (name, ty) in cols {
        put_string(out, name);
        ty.write_option(out);
    }
}

fn rows_body(rs: &ResultSet) -> Vec<u8> {
    let mut out = Vec::new();
    put_i32(&mut out, 0x0002);
    col_specs(&mut out, &rs.keyspace, &rs.table, &rs.columns);
    put_i32(&mut out, rs.rows.len() as i32);
    for row in &rs.rows {
        for v in row {
            put_bytes(&mut out, v.encode().as_deref());
        }
    }
    out
}

fn error_body(e: &CqlError) -> Vec<u8> {
    let mut out = Vec::new();
    put_i32(&mut out, e.0);
    put_string(&mut out, &e.1);
    out
}

const OP_ERROR: u8 = 0x00;
const OP_STARTUP: u8 = 0x01;
const OP_READY: u8 = 0x02;
const OP_AUTHENTICATE: u8 = 0x03;
const OP_OPTIONS: u8 = 0x05;
const OP_SUPPORTED: u8 = 0x06;
const OP_QUERY: u8 = 0x07;
const OP_RESULT: u8 = 0x08;
const OP_PREPARE: u8 = 0x09;
const OP_EXECUTE: u8 = 0x0A;
const OP_REGISTER: u8 = 0x0B;
const OP_AUTH_RESPONSE: u8 = 0x0F;
const OP_AUTH_SUCCESS: u8 = 0x10;

// ---------------------------------------------------------------------------------------------
// The server

/// What the tests can look at and change while the server runs.
pub struct Shared {
    pub state: Mutex<ServerState>,
    /// Every QUERY and PREPARE text received, in order.
    pub log: Mutex<Vec<String>>,
    /// Every statement run (QUERY or EXECUTE) with the consistency level it asked for.
    pub runs: Mutex<Vec<(String, u16)>>,
    prepared: Mutex<HashMap<Vec<u8>, String>>,
}

pub struct CqlServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

/// TLS material for the server: PEM certificate chain and private key.
pub struct TlsFiles {
    pub cert_pem: std::path::PathBuf,
    pub key_pem: std::path::PathBuf,
}

impl CqlServer {
    pub fn start(state: ServerState) -> CqlServer {
        Self::start_with_tls(state, None)
    }

    pub fn start_with_tls(state: ServerState, tls: Option<&TlsFiles>) -> CqlServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CQL test server");
        let addr = listener.local_addr().expect("local addr");
        let tls_config = tls.map(|t| Arc::new(server_tls(t)));
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            log: Mutex::new(Vec::new()),
            runs: Mutex::new(Vec::new()),
            prepared: Mutex::new(HashMap::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, st) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("cql-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if st.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(sock) = conn else { continue };
                    let _ = sock.set_nodelay(true);
                    let sh = sh.clone();
                    let tls_config = tls_config.clone();
                    std::thread::spawn(move || {
                        let _ = match tls_config {
                            Some(cfg) => match rustls::ServerConnection::new(cfg) {
                                Ok(c) => serve(rustls::StreamOwned::new(c, sock), &sh),
                                Err(_) => Ok(()),
                            },
                            None => serve(sock, &sh),
                        };
                    });
                }
            })
            .expect("spawn the CQL test server");
        CqlServer { addr, shared, stop }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn state(&self) -> MutexGuard<'_, ServerState> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Statements run, with their consistency (0x0001 ONE, 0x0008 SERIAL, 0x0009 LOCAL_SERIAL...).
    pub fn runs(&self) -> Vec<(String, u16)> {
        self.shared
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for CqlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn server_tls(t: &TlsFiles) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert_pem)
        .expect("server certificate")
        .collect::<Result<_, _>>()
        .expect("server certificate PEM");
    let key = PrivateKeyDer::from_pem_file(&t.key_pem).expect("server key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server TLS config")
}

/// One connection: frames in, frames out, in order.
fn serve<S: Read + Write>(mut sock: S, sh: &Shared) -> io::Result<()> {
    let mut authenticated = false;
    let mut keyspace: Option<String> = None;
    loop {
        let mut header = [0u8; 9];
        sock.read_exact(&mut header)?;
        let version = header[0];
        let flags = header[1];
        let stream = [header[2], header[3]];
        let opcode = header[4];
        let len = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) as usize;
        let reply = |op: u8, body: Vec<u8>| -> Vec<u8> {
            let mut f = vec![0x84, 0x00, stream[0], stream[1], op];
            f.extend_from_slice(&(body.len() as u32).to_be_bytes());
            f.extend_from_slice(&body);
            f
        };
        if version != 0x04 {
            // Not a v4 request (an older driver, or a TLS ClientHello): say so and hang up, as
            // Cassandra does, without trusting the length that follows.
            let e = CqlError(ERR_PROTOCOL, format!("Invalid or unsupported protocol version ({version}); supported versions are (4/v4)"));
            sock.write_all(&reply(OP_ERROR, error_body(&e)))?;
            sock.flush()?;
            return Ok(());
        }
        let mut body = vec![0u8; len];
        sock.read_exact(&mut body)?;
        let mut r = Reader { b: &body, pos: 0 };
        // Custom payload (flag 0x04) precedes the body; skip it.
        if flags & 0x04 != 0 {
            let n = r.u16().unwrap_or(0);
            for _ in 0..n {
                let _ = r.string();
                let _ = r.bytes();
            }
        }
        let needs_auth = sh
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .credentials
            .is_some();
        let result: Result<(u8, Vec<u8>), CqlError> = match opcode {
            OP_OPTIONS => {
                let mut b = Vec::new();
                put_u16(&mut b, 2);
                put_string(&mut b, "CQL_VERSION");
                put_u16(&mut b, 1);
                put_string(&mut b, "3.4.5");
                put_string(&mut b, "PROTOCOL_VERSIONS");
                put_u16(&mut b, 2);
                put_string(&mut b, "3/v3");
                put_string(&mut b, "4/v4");
                Ok((OP_SUPPORTED, b))
            }
            OP_STARTUP => r.string_map().map(|_| {
                if needs_auth {
                    let mut b = Vec::new();
                    put_string(&mut b, "org.apache.cassandra.auth.PasswordAuthenticator");
                    (OP_AUTHENTICATE, b)
                } else {
                    authenticated = true;
                    (OP_READY, Vec::new())
                }
            }),
            OP_AUTH_RESPONSE => r.bytes().and_then(|token| {
                let creds = sh
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .credentials
                    .clone();
                // SASL PLAIN: authzid \0 user \0 password.
                let parts: Vec<&[u8]> = token.unwrap_or_default().split(|b| *b == 0).collect();
                let ok = match (&creds, parts.as_slice()) {
                    (Some((u, p)), [_, user, pw]) => user == &u.as_bytes() && pw == &p.as_bytes(),
                    _ => false,
                };
                if ok {
                    authenticated = true;
                    let mut b = Vec::new();
                    put_bytes(&mut b, None);
                    Ok((OP_AUTH_SUCCESS, b))
                } else {
                    let user = parts
                        .get(1)
                        .map(|u| String::from_utf8_lossy(u).into_owned())
                        .unwrap_or_default();
                    Err(CqlError(
                        ERR_BAD_CREDENTIALS,
                        format!("Provided username {user} and/or password are incorrect"),
                    ))
                }
            }),
            _ if !authenticated => Err(CqlError(
                ERR_PROTOCOL,
                "Unexpected message, the connection is not authenticated".into(),
            )),
            OP_REGISTER => Ok((OP_READY, Vec::new())),
            OP_QUERY => r.long_string().and_then(|cql| {
                sh.log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(cql.clone());
                let (consistency, raw) = r.query_parameters()?;
                sh.runs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((cql.clone(), consistency));
                execute(sh, &cql, &raw, &mut keyspace)
            }),
            OP_PREPARE => r.long_string().and_then(|cql| {
                sh.log
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(cql.clone());
                prepare(sh, &cql, keyspace.as_deref())
            }),
            OP_EXECUTE => r.short_bytes().and_then(|id| {
                let cql = sh
                    .prepared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .cloned();
                let Some(cql) = cql else {
                    let mut b =
                        error_body(&CqlError(0x2500, "Prepared query with ID not found".into()));
                    put_short_bytes(&mut b, &id);
                    return Ok((OP_ERROR, b));
                };
                let (consistency, raw) = r.query_parameters()?;
                sh.runs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((cql.clone(), consistency));
                execute(sh, &cql, &raw, &mut keyspace)
            }),
            other => Err(CqlError(
                ERR_PROTOCOL,
                format!("opcode 0x{other:02x} is not served by the CQL test server"),
            )),
        };
        let frame = match result {
            Ok((op, b)) => reply(op, b),
            Err(e) => reply(OP_ERROR, error_body(&e)),
        };
        sock.write_all(&frame)?;
        sock.flush()?;
    }
}

fn execute(
    sh: &Shared,
    cql: &str,
    raw: &[Option<Vec<u8>>],
    keyspace: &mut Option<String>,
) -> Result<(u8, Vec<u8>), CqlError> {
    let (stmt, nbinds) = parse(cql).map_err(|e| {
        CqlError(
            ERR_SYNTAX,
            format!("the CQL test server does not serve this statement ({e}): {cql}"),
        )
    })?;
    if raw.len() != nbinds {
        return Err(CqlError(
            ERR_INVALID,
            format!(
                "There were {nbinds} markers(?) in CQL but {} bound variables",
                raw.len()
            ),
        ));
    }
    let state = sh.state.lock().unwrap_or_else(|p| p.into_inner());
    match stmt {
        Stmt::Use(ks) => {
            if !state.keyspace_exists(&ks) {
                return Err(CqlError(
                    ERR_INVALID,
                    format!("Keyspace '{ks}' does not exist"),
                ));
            }
            *keyspace = Some(ks.clone());
            let mut b = Vec::new();
            put_i32(&mut b, 0x0003);
            put_string(&mut b, &ks);
            Ok((OP_RESULT, b))
        }
        Stmt::Select(sel) => {
            let types = bind_types(&state, &sel, keyspace.as_deref())?;
            let binds: Vec<Val> = types
                .iter()
                .zip(raw)
                .map(|((_, ty), v)| Val::decode(ty, v.as_deref()))
                .collect();
            let rs = run_select(&state, &sel, &binds, keyspace.as_deref())?;
            Ok((OP_RESULT, rows_body(&rs)))
        }
    }
}

fn prepare(sh: &Shared, cql: &str, keyspace: Option<&str>) -> Result<(u8, Vec<u8>), CqlError> {
    let (stmt, _) = parse(cql).map_err(|e| {
        CqlError(
            ERR_SYNTAX,
            format!("the CQL test server does not serve this statement ({e}): {cql}"),
        )
    })?;
    let Stmt::Select(sel) = stmt else {
        return Err(CqlError(
            ERR_INVALID,
            format!("the CQL test server prepares only SELECTs: {cql}"),
        ));
    };
    let state = sh.state.lock().unwrap_or_else(|p| p.into_inner());
    let binds = bind_types(&state, &sel, keyspace)?;
    // The result's columns, from a run with NULL binds (no row matches, the metadata is right).
    let nulls = vec![Val::Null; binds.len()];
    let rs = run_select(&state, &sel, &nulls, keyspace)?;
    drop(state);
    let id: Vec<u8> = {
        let h = token_of(&Val::Text(format!("{}|{cql}", keyspace.unwrap_or(""))));
        h.to_be_bytes()
            .iter()
            .chain(h.rotate_left(17).to_be_bytes().iter())
            .copied()
            .collect()
    };
    sh.prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.clone(), cql.to_string());
    let mut b = Vec::new();
    put_i32(&mut b, 0x0004);
    put_short_bytes(&mut b, &id);
    // Bind variables' metadata: no partition key indexes (the driver then routes at random).
    put_i32(&mut b, 0x0001);
    put_i32(&mut b, binds.len() as i32);
    put_i32(&mut b, 0);
    put_string(&mut b, &rs.keyspace);
    put_string(&mut b, &rs.table);
    for (name, ty) in &binds {
        put_string(&mut b, name);
        ty.write_option(&mut b);
    }
    col_specs(&mut b, &rs.keyspace, &rs.table, &rs.columns);
    Ok((OP_RESULT, b))
}

/// Parser checks that need no network (called by one test, not in every binary that includes
/// the support module).
pub fn self_check() {
    let (s, n) =
        parse("SELECT owner, TTL(owner) FROM \"Kong\".locks WHERE key = 'migrations'").unwrap();
    assert_eq!(n, 0);
    let Stmt::Select(s) = s else { panic!() };
    assert_eq!(s.keyspace.as_deref(), Some("Kong"));
    assert_eq!(s.selectors[1], Selector::Ttl("owner".into()));
    assert!(parse("INSERT INTO locks (key) VALUES ('x')").is_err());
    let (_, n) = parse("select host_id from system.peers where peer = ? and x = ?;").unwrap();
    assert_eq!(n, 2);
}
