//! What a migration changes, read from its module without running it: the SQL of `up`, and the
//! SQL strings and helper calls in the bodies of `up_f` and `teardown` (and of the local functions
//! they call). Heuristics, tested on Kong's shapes:
//! - every string literal in those bodies is read as SQL (`kong::sql_facts` only takes statements
//!   it recognises, so log messages and Lua patterns add nothing);
//! - `ops:fixup_plugin_config(connector, name, fn)` rewrites `plugins.config` row by row;
//! - DAO writes (`kong.db.routes:update(...)`) write their entity's table;
//! - Kong's workspace helpers (`ops:ws_*`) are read from the operations module and the entity
//!   lists they are given (`ws_ops`);
//! - calls of a migrations module's functions, or of any module's given the connector
//!   (`operations.clean_cassandra_fields(connector, entities)`), are followed into the module,
//!   or mark the phase `partial` (`module_calls`);
//! - the reading is bounded (depth, helpers being read, a work budget shared with the
//!   evaluator): past a bound the phase is `partial`;
//! - a computed `up` is read from its known parts (a `..`'s strings, string.format's template);
//!   a part that is not known (a call not followed, a helper not found) marks the phase `partial`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::{
    chunk_value, delegated_value, table_get, Block, Computed, Delegation, Eval, Expr, Field,
    FuncBody, How, Key, Scope, Stat, TableRef, Val, MAX_DEPTH, MAX_WORK,
};
use crate::kong::catalog::{DbFacts, PhaseFacts, RowWrite};
use crate::kong::sql_facts::{merge, read_sql};

mod module_calls;
mod ws_ops;

/// The facts of a migration module's two database sections, following delegations through
/// `load` as [`super::resolve_migration`] does (with the arguments the delegation passes), and
/// reading Kong's operations modules through it when a helper of theirs is called.
pub fn migration_facts<F>(
    src: &str,
    mut load: F,
) -> Result<(Option<DbFacts>, Option<DbFacts>), String>
where
    F: FnMut(&str) -> Result<Option<String>, String>,
{
    let (_, mut v) = chunk_value(src).map_err(|e| e.to_string())?;
    let mut via: Vec<Delegation> = Vec::new();
    let t = loop {
        let (d, args) = match v {
            Val::Table(t) => break t,
            Val::Delegated(d, args) => (d, args),
            Val::Module(module, path) => (
                Delegation {
                    module,
                    function: (!path.is_empty()).then(|| path.join(".")),
                    call: false,
                },
                Vec::new(),
            ),
            other => return Err(format!("the module returns {}", other.describe())),
        };
        if via.contains(&d) || via.len() >= MAX_DEPTH {
            return Err(format!("delegation loop through {d}"));
        }
        let text = load(&d.module)?.ok_or_else(|| format!("{} is not found", d.module))?;
        v = delegated_value(&text, d.function.as_deref(), d.call, &args)
            .map_err(|e| format!("{d}: {e}"))?
            .1;
        via.push(d);
    };
    let mut ctx = Ctx {
        load: &mut load,
        modules: HashMap::new(),
        depth: 0,
        reading: Vec::new(),
        budget: MAX_WORK,
    };
    let mut section = |name: &str| match table_get(&t, &Key::Str(name.to_string())) {
        Val::Table(s) => {
            let mut phase = |k: &str| of_value(&table_get(&s, &Key::Str(k.to_string())), &mut ctx);
            Some(DbFacts {
                up: phase("up"),
                up_f: phase("up_f"),
                teardown: phase("teardown"),
            })
        }
        _ => None,
    };
    Ok((section("postgres"), section("cassandra")))
}

/// What the reader may look up: other modules (Kong's operations helpers), each read once; and
/// what bounds the reading across the readers of helpers, which each start afresh.
struct Ctx<'l> {
    load: &'l mut dyn FnMut(&str) -> Result<Option<String>, String>,
    modules: HashMap<String, Option<Val>>,
    /// How deeply the bodies being read (functions, helpers) nest: at most MAX_DEPTH.
    depth: usize,
    /// The helpers being read, by address: one met again inside itself is not read again (it
    /// would never end; Kong's helpers do not recurse).
    reading: Vec<usize>,
    /// Work left for the whole module: bodies read, computed values walked, the evaluator's
    /// calls (see `Eval::budget`).
    budget: usize,
}

impl Ctx<'_> {
    fn module(&mut self, name: &str) -> Option<Val> {
        if let Some(v) = self.modules.get(name) {
            return v.clone();
        }
        let v = match (self.load)(name) {
            Ok(Some(text)) => chunk_value(&text).ok().map(|(_, v)| v),
            _ => None,
        };
        self.modules.insert(name.to_string(), v.clone());
        v
    }

    /// What a value stands for: a module's value or a field path in it (`operations.postgres
    /// .up`, `operations_200_210.postgres.teardown.ws_update_composite_cache_key`) read from
    /// the module; any other value as it is.
    fn resolve(&mut self, v: &Val) -> Val {
        let Val::Module(m, path) = v else {
            return v.clone();
        };
        let Some(mut v) = self.module(m) else {
            return Val::Unknown(format!("module {m}"));
        };
        for p in path {
            v = match v {
                Val::Table(t) => table_get(&t, &Key::Str(p.clone())),
                _ => return Val::Unknown(format!("a field of module {m}")),
            };
        }
        v
    }

    fn table(&mut self, v: &Val) -> Option<TableRef> {
        match self.resolve(v) {
            Val::Table(t) => Some(t),
            _ => None,
        }
    }
}

fn of_value(v: &Val, ctx: &mut Ctx<'_>) -> PhaseFacts {
    let mut w = Walker::new(ctx, Vec::new());
    w.value(v);
    w.facts
}

struct Walker<'c, 'l> {
    facts: PhaseFacts,
    /// Function bodies already read (by address): each once, and no loops.
    seen: HashSet<usize>,
    /// The names that hold the connector in the code being read: the phase function's first
    /// parameter, locals taken from it (`local coordinator = connector:connect_migrations()`),
    /// the parameters of local functions it is passed to.
    conns: Vec<String>,
    /// While reading one of Kong's operations helpers: the values of its templates' `$(KEY)`s,
    /// as its `render(template, keys)` fills them in.
    keys: Vec<(&'static str, String)>,
    ctx: &'c mut Ctx<'l>,
}

/// Methods of Kong's connectors: they run the SQL they are given, which is read on its own.
const CONNECTOR_METHODS: &[&str] = &[
    "query",
    "iterate",
    "execute",
    "batch",
    "get_stored_connection",
    "connect_migrations",
    "close",
    "schema_migrations",
    "wait_for_schema_consensus",
];

/// DAO methods that write their entity's rows.
const DAO_WRITES: &[&str] = &["insert", "update", "upsert", "delete"];

impl<'c, 'l> Walker<'c, 'l> {
    fn new(ctx: &'c mut Ctx<'l>, keys: Vec<(&'static str, String)>) -> Self {
        Walker {
            facts: PhaseFacts::default(),
            seen: HashSet::new(),
            conns: Vec::new(),
            keys,
            ctx,
        }
    }

    /// One more body (a function, a helper, a computed value) to read, within the depth limit
    /// and the work budget; past either the phase is `partial`, never read as "no change".
    fn enter(&mut self) -> bool {
        if self.ctx.depth >= MAX_DEPTH || self.ctx.budget == 0 {
            self.facts.partial = true;
            return false;
        }
        self.ctx.depth += 1;
        self.ctx.budget -= 1;
        true
    }

    fn leave(&mut self) {
        self.ctx.depth -= 1;
    }

    /// Values of expressions, from the evaluator, on the module's work budget.
    fn eval(&mut self, exprs: &[&Expr], scope: &Scope) -> Vec<Val> {
        let mut ev = Eval::with_budget(self.ctx.budget);
        let vals = exprs
            .iter()
            .map(|e| {
                ev.expr(e, scope)
                    .unwrap_or_else(|e| Val::Unknown(e.to_string()))
            })
            .collect();
        self.ctx.budget = ev.budget;
        vals
    }

    /// Reads a helper function (of Kong's operations module, of a required module) in a reader
    /// of its own, with its templates' `$(KEY)`s filled from `keys` and the names that hold the
    /// connector in it; a helper met again while it is being read, or past the depth limit or
    /// the budget, marks the phase partial.
    fn helper(
        &mut self,
        f: &Rc<FuncBody>,
        scope: &Scope,
        keys: Vec<(&'static str, String)>,
        conns: Vec<String>,
    ) {
        let id = Rc::as_ptr(f) as usize;
        if self.ctx.reading.contains(&id) || !self.enter() {
            self.facts.partial = true;
            return;
        }
        self.ctx.reading.push(id);
        let mut w = Walker::new(&mut *self.ctx, keys);
        w.conns = conns;
        w.func(f, scope);
        let got = w.facts;
        self.ctx.reading.pop();
        self.leave();
        merge(&mut self.facts, got);
    }

    /// A string of the code, read as SQL (with the helper's `$(KEY)`s filled in).
    fn read(&mut self, s: &str) {
        if self.keys.is_empty() {
            read_sql(s, &mut self.facts);
        } else {
            read_sql(&render(s, &self.keys), &mut self.facts);
        }
    }

    /// A value the evaluator computed: a phase's `up`, `up_f`, `teardown`.
    fn value(&mut self, v: &Val) {
        match v {
            Val::Nil => {}
            Val::Str(sql) => self.read(sql),
            Val::Func(body, scope) => {
                // The phase function's first parameter is the connector.
                self.conns.extend(body.params.first().cloned());
                self.func(body, scope)
            }
            Val::Computed(c) => self.computed(c),
            _ => self.facts.partial = true,
        }
    }

    /// The known parts of a computed value; `partial` where a part is not known.
    fn computed(&mut self, c: &Computed) {
        // Computed values may share parts (`f(a, a)`): walked as a tree, on the budget (their
        // nesting is bounded where they are made).
        if self.ctx.budget == 0 {
            self.facts.partial = true;
            return;
        }
        self.ctx.budget -= 1;
        self.computed_parts(c);
    }

    fn computed_parts(&mut self, c: &Computed) {
        match &c.how {
            How::Concat => {
                for p in &c.parts {
                    match p {
                        Val::Str(s) => self.read(s),
                        Val::Computed(c) => self.computed(c),
                        Val::Nil => {}
                        _ => self.facts.partial = true,
                    }
                }
            }
            How::Format => {
                // The template is the SQL; the other arguments are values filled into it (a
                // name filled in shows as a hole in the template, which marks it partial).
                for (i, p) in c.parts.iter().enumerate() {
                    match p {
                        Val::Str(s) => self.read(s),
                        _ if i == 0 => self.facts.partial = true,
                        _ => {}
                    }
                }
            }
            How::Call(_) => {
                // A function we do not follow may run or return its string arguments, or
                // anything else.
                for p in &c.parts {
                    match p {
                        Val::Str(s) => self.read(s),
                        Val::Computed(c) => self.computed(c),
                        _ => {}
                    }
                }
                self.facts.partial = true;
            }
            How::Method(recv, name) => {
                if name == "fixup_plugin_config" {
                    self.plugin_config_fixup();
                } else if !(name.starts_with("ws_") && self.ws_helper(recv, name, &c.parts)) {
                    self.facts.partial = true;
                }
            }
        }
    }

    fn func(&mut self, f: &Rc<FuncBody>, scope: &Scope) {
        let id = Rc::as_ptr(f) as usize;
        if self.seen.contains(&id) || !self.enter() {
            return;
        }
        self.seen.insert(id);
        self.block(&f.body, scope);
        self.leave();
    }

    fn block(&mut self, b: &Block, scope: &Scope) {
        for s in &b.stats {
            self.stat(s, scope);
        }
        if let Some((_, exprs)) = &b.ret {
            for e in exprs {
                self.expr(e, scope);
            }
        }
    }

    fn stat(&mut self, s: &Stat, scope: &Scope) {
        match s {
            Stat::Local(names, exprs) => {
                for (n, e) in names.iter().zip(exprs) {
                    if self.is_connection(e) {
                        self.conns.push(n.clone());
                    }
                }
                for e in exprs {
                    self.expr(e, scope);
                }
            }
            Stat::Assign(_, exprs) => {
                for e in exprs {
                    self.expr(e, scope);
                }
            }
            Stat::LocalFunction(_, f) | Stat::Function(_, f) => self.block(&f.body, scope),
            Stat::Call(e) => self.expr(e, scope),
            Stat::NumFor(_, b) => self.block(b, scope),
            Stat::GenFor(_, exprs, b) => {
                for e in exprs {
                    self.expr(e, scope);
                }
                self.block(b, scope);
            }
            Stat::Nested(blocks) => {
                for b in blocks {
                    self.block(b, scope);
                }
            }
            Stat::Other => {}
        }
    }

    fn expr(&mut self, e: &Expr, scope: &Scope) {
        match e {
            Expr::Str(s) => self.read(s),
            // A name of the enclosing module: its SQL string, or a local function it calls.
            Expr::Name(n) => {
                let v = scope.find(n).map(|b| b.val.borrow().clone());
                match v {
                    Some(Val::Str(s)) => self.read(&s),
                    Some(Val::Computed(c)) => self.computed(&c),
                    Some(Val::Func(f, closure)) => self.func(&f, &closure),
                    _ => {}
                }
            }
            Expr::Func(f) => self.block(&f.body, scope),
            Expr::Table(fields) => {
                for f in fields {
                    match f {
                        Field::Keyed(k, v) => {
                            self.expr(k, scope);
                            self.expr(v, scope);
                        }
                        Field::Positional(v) => self.expr(v, scope),
                    }
                }
            }
            Expr::Binary(_, a, b) | Expr::Index(a, b) => {
                self.expr(a, scope);
                self.expr(b, scope);
            }
            Expr::Call(callee, args) => {
                // `make(ops)(connector)` (Kong's `ws_migration_teardown(operations.postgres
                // .teardown)(connector)`): the function the inner call returns runs, with the
                // values it closes over.
                let made = match &**callee {
                    Expr::Call(..) => match self.eval(&[callee], scope).pop() {
                        Some(Val::Func(f, closure)) => Some((f, closure)),
                        _ => None,
                    },
                    _ => None,
                };
                match made {
                    Some((f, closure)) => self.func(&f, &closure),
                    None => {
                        if !self.module_call(callee, args, scope) {
                            self.pass_connector(callee, args, scope);
                            self.expr(callee, scope);
                        }
                    }
                }
                for a in args {
                    self.expr(a, scope);
                }
            }
            Expr::Method(obj, name, args) => {
                self.method(obj, name, args, scope);
                self.expr(obj, scope);
                for a in args {
                    self.expr(a, scope);
                }
            }
            Expr::Nil | Expr::Opaque => {}
        }
    }

    /// Kong's helper: reads every row of the named plugin, writes back its config.
    fn plugin_config_fixup(&mut self) {
        let mut w = PhaseFacts::default();
        w.writes.push(RowWrite {
            table: "plugins".into(),
            update: vec!["config".into()],
            ..RowWrite::default()
        });
        merge(&mut self.facts, w);
    }

    fn method(&mut self, obj: &Expr, name: &str, args: &[Expr], scope: &Scope) {
        if name == "fixup_plugin_config" {
            self.plugin_config_fixup();
            return;
        }
        if CONNECTOR_METHODS.contains(&name) {
            return;
        }
        // `kong.db.<entity>:update(...)`, `db.<entity>:delete(...)`.
        if let Expr::Index(_, key) = obj {
            if let Expr::Str(entity) = &**key {
                if DAO_WRITES.contains(&name) {
                    let mut w = PhaseFacts::default();
                    w.writes.push(RowWrite {
                        table: entity.clone(),
                        update: if matches!(name, "update" | "upsert") {
                            vec!["?".into()]
                        } else {
                            Vec::new()
                        },
                        insert: matches!(name, "insert" | "upsert"),
                        delete: name == "delete",
                    });
                    merge(&mut self.facts, w);
                    return;
                }
            }
        }
        if name.starts_with("ws_") {
            // Kong's workspace helpers: read from the operations module and the entity lists
            // they are given, when both are known.
            let exprs: Vec<&Expr> = std::iter::once(obj).chain(args).collect();
            let mut vals = self.eval(&exprs, scope);
            let recv = vals.remove(0);
            if !self.ws_helper(&recv, name, &vals) {
                self.facts.partial = true;
            }
        }
    }
}

/// Kong's `render(template, keys)`: each `$(KEY)` with a value in `keys` replaced by it; the
/// others left as they are (gsub keeps a match whose replacement is nil).
fn render(template: &str, keys: &[(&'static str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("$(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name_len = after
            .bytes()
            .take_while(|b| b.is_ascii_uppercase() || *b == b'_')
            .count();
        let value = (name_len > 0 && after.as_bytes().get(name_len) == Some(&b')'))
            .then(|| keys.iter().find(|(k, _)| *k == &after[..name_len]))
            .flatten();
        match value {
            Some((_, v)) => {
                out.push_str(v);
                rest = &after[name_len + 1..];
            }
            None => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(src: &str) -> (Option<DbFacts>, Option<DbFacts>) {
        migration_facts(src, |_| Ok(None)).unwrap()
    }

    fn json<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn up_sql_up_f_through_local_functions_and_teardown_helpers() {
        let src = r#"
local render_it = function(t) return t end
local DROP = [[ DROP TABLE IF EXISTS old_a; ]]

local function p_migrate(connector)
  for route, err in connector:iterate("SELECT id, paths FROM routes WHERE paths IS NOT NULL") do
    if changed then
      local sql = render_it("UPDATE routes SET paths = $(P) WHERE id = '$(ID)'")
      local _, err = connector:query(sql)
      if err then return nil, "could not update routes: " .. err end
    end
  end
  return true
end

local function dedupe(connector)
  return connector:query([[ DELETE FROM targets t1 USING targets t2 WHERE t1.id < t2.id; ]])
end

return {
  postgres = {
    up = [[ ALTER TABLE routes ADD COLUMN IF NOT EXISTS "expression" TEXT; ]] .. [[
            CREATE INDEX IF NOT EXISTS routes_x_idx ON routes (x); ]],
    up_f = p_migrate,
    teardown = function(connector)
      connector:query(DROP)
      return dedupe(connector)
    end,
  },
  cassandra = {
    up = "",
    teardown = function(connector)
      return ops:ws_adjust_data(connector, {})
    end,
  },
}
"#;
        let (pg, cass) = facts(src);
        assert_eq!(
            json(&pg),
            r#"{"up":{"alters":[{"table":"routes","add":["expression"]}],"indexes":[{"name":"routes_x_idx","table":"routes"}]},"up_f":{"writes":[{"table":"routes","update":["paths"]}]},"teardown":{"drops":["old_a"],"writes":[{"table":"targets","delete":true}]}}"#
        );
        assert_eq!(json(&cass), r#"{"teardown":{"partial":true}}"#);
    }

    #[test]
    fn computed_values_keep_their_known_parts() {
        // string.format's template, a `..` with a computed operand, `assert(v)`; a call not
        // followed keeps its string arguments but stays partial.
        let src = r#"
local fmt = string.format
local ID = require("kong.tools.utils").uuid()
return {
  postgres = {
    up = string.format([[
      CREATE TABLE IF NOT EXISTS "parameters" (key TEXT PRIMARY KEY);
      INSERT INTO parameters (key, value) VALUES('cluster_id', '%s');
    ]], ID) .. assert([[ ALTER TABLE IF EXISTS ONLY "certificates" ADD "cert_alt" TEXT; ]]),
    up_f = function() local sql = fmt("UPDATE %s SET x = 1", t) end,
  },
  cassandra = {
    up = ("CREATE TABLE IF NOT EXISTS %s (id uuid PRIMARY KEY)"):format(name)
         .. unknown_helper([[ DROP TABLE IF EXISTS old; ]]),
  },
}
"#;
        let (pg, cass) = facts(src);
        assert_eq!(
            json(&pg),
            r#"{"up":{"creates":["parameters"],"alters":[{"table":"certificates","add":["cert_alt"]}],"writes":[{"table":"parameters","insert":true}]},"up_f":{"partial":true}}"#
        );
        assert_eq!(json(&cass), r#"{"up":{"drops":["old"],"partial":true}}"#);
    }

    /// Kong's operations module, cut down to the helpers' shapes (templates as in 2.2.0 to
    /// 3.9's kong/db/migrations/operations/200_to_210.lua).
    const OPS: &str = r#"
local function render(template, keys)
  return (template:gsub("$%(([A-Z_]+)%)", keys))
end
local postgres = {
  up = {
    ws_add_workspaces = function(_)
      return render([[
        CREATE TABLE IF NOT EXISTS "workspaces" ("id" UUID PRIMARY KEY);
        INSERT INTO workspaces(id, name) VALUES ('$(ID)', 'default') ON CONFLICT DO NOTHING;
      ]], { ID = uuid() })
    end,
    ws_add_ws_id = function(_, table_name, fk_users)
      local out = {}
      table.insert(out, render([[
        DO $$
        BEGIN
          EXECUTE format('ALTER TABLE IF EXISTS ONLY "$(TABLE)" ADD "ws_id" UUID DEFAULT %L', 1);
        END;
        $$;
      ]], { TABLE = table_name }))
      table.insert(out, render([[
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" ADD CONSTRAINT "$(TABLE)_id_ws_id_unique" UNIQUE ("id", "ws_id");
      ]], { TABLE = table_name }))
      return table.concat(out, "\n")
    end,
    ws_unique_field = function(_, table_name, field_name)
      return render([[
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" DROP CONSTRAINT IF EXISTS "$(TABLE)_$(FIELD)_key";
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" ADD CONSTRAINT "$(TABLE)_ws_id_$(FIELD)_unique" UNIQUE ("ws_id", "$(FIELD)");
      ]], { TABLE = table_name, FIELD = field_name })
    end,
    ws_adjust_foreign_key = function(_, table_name, fk_prefix, foreign_table_name, is_cascade)
      return render([[
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" DROP CONSTRAINT IF EXISTS "$(TABLE)_$(FK)_id_fkey";
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" ADD CONSTRAINT "$(TABLE)_$(FK)_id_fkey"
          FOREIGN KEY ("$(FK)_id", "ws_id") REFERENCES $(FOREIGN_TABLE)("id", "ws_id") $(CASCADE);
      ]], { TABLE = table_name, FK = fk_prefix, FOREIGN_TABLE = foreign_table_name,
            CASCADE = is_cascade and "ON DELETE CASCADE" or "" })
    end,
  },
  teardown = {
    ws_update_composite_cache_key = function(_, connector, table_name, is_partitioned)
      local _, err = connector:query(render([[
        UPDATE "$(TABLE)" SET cache_key = CONCAT(cache_key, ':', 'x') WHERE cache_key LIKE '%:';
      ]], { TABLE = table_name }))
    end,
    ws_update_keys = function(_, connector, table_name, unique_keys)
      local _, err = connector:query(render([[
        ALTER TABLE IF EXISTS ONLY "$(TABLE)" ALTER "ws_id" SET DEFAULT NULL;
      ]], { TABLE = table_name }))
    end,
  },
}
local function ws_adjust_fields(ops, entities) end
local function ws_adjust_data(ops, connector, entities) end
postgres.up.ws_adjust_fields = ws_adjust_fields
postgres.teardown.ws_adjust_data = ws_adjust_data
local function ws_migrate_plugin(plugin_entities)
  local function ws_migration_up(ops)
    return ops:ws_adjust_fields(plugin_entities)
  end
  local function ws_migration_teardown(ops)
    return function(connector)
      return ops:ws_adjust_data(connector, plugin_entities)
    end
  end
  return {
    postgres = {
      up = ws_migration_up(postgres.up),
      teardown = ws_migration_teardown(postgres.teardown),
    },
  }
end
return { postgres = postgres, ws_migrate_plugin = ws_migrate_plugin }
"#;

    /// A later operations module (212_to_213 at 2.2.0) that re-keys only, with a helper taken
    /// from the first one.
    const OPS_213: &str = r#"
local operations_200_210 = require "ops"
local postgres = {
  up = [[ ]],
  teardown = {
    ws_update_composite_cache_key = operations_200_210.postgres.teardown.ws_update_composite_cache_key,
  },
}
postgres.teardown.ws_adjust_data = function(ops, connector, entities) end
return { postgres = postgres }
"#;

    fn ops_loader(m: &str) -> Result<Option<String>, String> {
        Ok(match m {
            "ops" => Some(OPS.to_string()),
            "ops213" => Some(OPS_213.to_string()),
            _ => None,
        })
    }

    #[test]
    fn workspace_helpers_are_read_from_the_operations_module_and_the_entities() {
        // A delegation passes its entity list; the helpers' loops are written out.
        let plugin = r#"
local operations = require "ops"
local plugin_entities = {
  { name = "keyauth_credentials", primary_key = "id", uniques = {"key"},
    fks = {{name = "consumer", reference = "consumers", on_delete = "cascade"}} },
}
return operations.ws_migrate_plugin(plugin_entities)
"#;
        let (pg, cass) = migration_facts(plugin, ops_loader).unwrap();
        assert_eq!(
            json(&pg),
            r#"{"up":{"alters":[{"table":"keyauth_credentials","add":["ws_id"],"other":["add constraint keyauth_credentials_id_ws_id_unique","drop constraint keyauth_credentials_consumer_id_fkey","add constraint keyauth_credentials_consumer_id_fkey","drop constraint keyauth_credentials_key_key","add constraint keyauth_credentials_ws_id_key_unique"],"scan":true}],"indexes":[{"name":"keyauth_credentials_id_ws_id_unique","table":"keyauth_credentials"},{"name":"keyauth_credentials_ws_id_key_unique","table":"keyauth_credentials"}]},"teardown":{"alters":[{"table":"keyauth_credentials","other":["alter column ws_id set default"]}]}}"#
        );
        assert!(cass.is_none());

        // Core's shape: literal SQL .. the helpers' SQL, and a teardown made by a call.
        let core = r#"
local operations = require "ops"
local entities = {
  { name = "plugins", cache_key = { "name", "route" }, uniques = {}, fks = {} },
  { name = "routes", uniques = {}, fks = {}, partitioned = true },
}
local function ws_migration_up(ops)
  return assert(ops:ws_add_workspaces()) .. assert(ops:ws_adjust_fields(entities))
end
local function ws_migration_teardown(ops)
  return function(connector)
    return ops:ws_adjust_data(connector, entities)
  end
end
return {
  postgres = {
    up = [[ ALTER TABLE services ADD COLUMN "tls_verify" BOOLEAN; ]] .. ws_migration_up(operations.postgres.up),
    teardown = function(connector)
      local _, err = ws_migration_teardown(operations.postgres.teardown)(connector)
    end,
  },
  cassandra = {
    up = ws_migration_up(somewhere_else),
    teardown = function(connector)
      return require("ops213").postgres.teardown:ws_adjust_data(connector, entities)
    end,
  },
}
"#;
        let (pg, cass) = migration_facts(core, ops_loader).unwrap();
        assert_eq!(
            json(&pg),
            r#"{"up":{"creates":["workspaces"],"alters":[{"table":"services","add":["tls_verify"]},{"table":"plugins","add":["ws_id"],"other":["add constraint plugins_id_ws_id_unique"]},{"table":"routes","add":["ws_id"],"other":["add constraint routes_id_ws_id_unique"]}],"indexes":[{"name":"plugins_id_ws_id_unique","table":"plugins"},{"name":"routes_id_ws_id_unique","table":"routes"}],"writes":[{"table":"workspaces","insert":true}]},"teardown":{"alters":[{"table":"plugins","other":["alter column ws_id set default"]},{"table":"routes","other":["alter column ws_id set default"]}],"writes":[{"table":"plugins","update":["cache_key"]}]}}"#
        );
        // An operations table that cannot be found is not guessed at; 212_to_213's only
        // re-keys the composite cache keys.
        assert_eq!(
            json(&cass),
            r#"{"up":{"partial":true},"teardown":{"writes":[{"table":"plugins","update":["cache_key"]}]}}"#
        );
    }

    /// operations/210_to_211.lua as at 2.1.1, cut down to its shapes.
    const OPS_211: &str = r#"
local re_match = ngx.re.match
local core_entities_to_clean = {
  { name = "upstreams", unique_keys = { "name" } },
  { name = "services",  unique_keys = { "name" }, partitioned = true, },
}
local function render(template, keys)
  return (template:gsub("$%(([A-Z_]+)%)", keys))
end
local function should_clean(value)
  local regex = [==[[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\:\$\(VALUE\)]==]
  local m, err = re_match(value, regex, "aijo")
  return m ~= nil
end
local function clean_cassandra_fields(connector, entities)
  local coordinator = assert(connector:connect_migrations())
  for _, entity in ipairs(entities) do
    for rows, err in coordinator:iterate("SELECT * FROM " .. entity.name) do
      for _, row in ipairs(rows) do
        local set_list = {}
        for _, key in ipairs(entity.unique_keys) do
          if row[key] and should_clean(row[key]) then
            table.insert(set_list, render([[$(KEY) = null]], { KEY = key }))
          end
        end
        if #set_list > 0 then
          local cql = render([[
            UPDATE $(TABLE) SET $(SET_LIST) WHERE $(PARTITION) id = $(ID)
          ]], {
            PARTITION = entity.partitioned and "partition = '" .. entity.name .. "' AND" or "",
            TABLE = entity.name,
            SET_LIST = table.concat(set_list, ", "),
            ID = row.id,
          })
          assert(connector:query(cql))
        end
      end
    end
  end
end
local function insert_default(coordinator)
  return coordinator:execute("INSERT INTO workspaces(id, name) VALUES (?, 'default')")
end
return {
  entities = core_entities_to_clean,
  clean_cassandra_fields = clean_cassandra_fields,
  ensure_default_ws = function(coordinator) return insert_default(coordinator) end,
}
"#;

    #[test]
    fn calls_of_migration_modules_are_followed_or_partial() {
        let load = |m: &str| -> Result<Option<String>, String> {
            Ok((m == "kong.db.migrations.operations.210_to_211").then(|| OPS_211.to_string()))
        };
        // Core's 010: the module's own list; oauth2's 005: a list of its own. The helper's
        // loop over the list is written out, its template filled per entity.
        let src = r#"
local operations = require "kong.db.migrations.operations.210_to_211"
local plugin_entities = { { name = "oauth2_tokens", unique_keys = { "access_token", "refresh_token" } } }
return {
  postgres = { up = [[]] },
  cassandra = {
    up = [[]],
    up_f = function(connector)
      return operations.clean_cassandra_fields(connector, plugin_entities)
    end,
    teardown = function(connector)
      operations.clean_cassandra_fields(connector, operations.entities)
    end
  }
}
"#;
        let (pg, cass) = migration_facts(src, load).unwrap();
        assert_eq!(json(&pg), "{}");
        assert_eq!(
            json(&cass),
            r#"{"up_f":{"writes":[{"table":"oauth2_tokens","update":["access_token","refresh_token"]}]},"teardown":{"writes":[{"table":"upstreams","update":["name"]},{"table":"services","update":["name"]}]}}"#
        );

        // Any other function of a migrations module is read as it is (through a connection
        // taken from the connector); one that cannot be found, or a list that cannot be read,
        // is partial, never "no change".
        let src = r#"
local operations = require "kong.db.migrations.operations.210_to_211"
local utils = require "kong.tools.utils"
local helpers = require "custom.helpers"
return {
  postgres = {
    up = [[]],
    up_f = function(connector)
      local coordinator = assert(connector:connect_migrations())
      operations.ensure_default_ws(coordinator)
      local copy = utils.deep_copy({})
    end,
    teardown = function(connector)
      return operations.clean_cassandra_fields(connector, computed())
    end,
  },
  cassandra = {
    up = [[]],
    up_f = function(connector)
      local coordinator = assert(connector:get_stored_connection())
      local id = utils.uuid()
      helpers.clean(coordinator, "x")
    end,
    teardown = function(connector)
      require("kong.db.migrations.operations.999").cleanup()
    end,
  },
}
"#;
        let (pg, cass) = migration_facts(src, load).unwrap();
        assert_eq!(
            json(&pg),
            r#"{"up_f":{"writes":[{"table":"workspaces","insert":true}]},"teardown":{"partial":true}}"#
        );
        assert_eq!(
            json(&cass),
            r#"{"up_f":{"partial":true},"teardown":{"partial":true}}"#
        );

        // Calls that are not given the connector, of modules that are not migrations', are no
        // SQL: they leave the facts whole.
        let (pg, _) = migration_facts(
            r#"
local utils = require "kong.tools.utils"
local log = require "kong.cmd.utils.log"
return { postgres = { up = [[]], teardown = function(connector)
  local _, err = connector:query("DELETE FROM x")
  log.debug(err)
  return utils.deep_copy({ a = 1 })
end } }"#,
            load,
        )
        .unwrap();
        assert_eq!(
            json(&pg),
            r#"{"teardown":{"writes":[{"table":"x","delete":true}]}}"#
        );
    }

    #[test]
    fn self_and_mutually_calling_helpers_stop_partial() {
        // A ws_ helper calling itself, two calling each other: each was read in a reader of
        // its own that started at depth 0 with nothing seen, until the stack overflowed.
        let (pg, _) = facts(
            "local M = {}\n\
             function M:ws_a() return M:ws_a() end\n\
             return { postgres = { up = M:ws_a() } }",
        );
        assert_eq!(json(&pg), r#"{"up":{"partial":true}}"#);
        let (pg, _) = facts(
            r#"
local M = {}
function M:ws_a() return [[ CREATE TABLE a (id INT); ]] .. M:ws_b() end
function M:ws_b() return M:ws_a() end
return { postgres = { up = M:ws_a(), teardown = function(c) return M:ws_b() end } }
"#,
        );
        assert_eq!(
            json(&pg),
            r#"{"up":{"creates":["a"],"partial":true},"teardown":{"creates":["a"],"partial":true}}"#
        );
        // Module helpers that call each other (through their modules) stop the same way.
        let (pg, _) = migration_facts(
            r#"
local ops = require "kong.db.migrations.operations.x"
return { postgres = { up = [[]], teardown = function(connector) ops.a(connector) end } }"#,
            |m| {
                Ok((m == "kong.db.migrations.operations.x").then(|| {
                    r#"
local ops = require "kong.db.migrations.operations.x"
local M = {}
function M.a(connector) connector:query("DELETE FROM t") ops.b(connector) end
function M.b(connector) ops.a(connector) end
return M"#
                        .to_string()
                }))
            },
        )
        .unwrap();
        assert_eq!(
            json(&pg),
            r#"{"teardown":{"writes":[{"table":"t","delete":true}],"partial":true}}"#
        );
    }

    #[test]
    fn hostile_modules_are_read_in_bounded_work() {
        // A local function calling itself four times per level: 4^16 calls to the depth
        // limit without a budget (and a value as large).
        let (pg, _) = facts(
            r#"
local function f(x) return f(x) .. f(x) .. f(x) .. f(x) end
return { postgres = { up = f(1), teardown = function(c) return f(c) end } }
"#,
        );
        assert!(pg.as_ref().is_some_and(|p| p.up.partial), "{pg:?}");
        // A computed string doubled by each assignment: 2^40 operands.
        let mut src = String::from(
            "local s = unknown()
",
        );
        for _ in 0..40 {
            src.push_str(
                "s = s .. s
",
            );
        }
        src.push_str("return { postgres = { up = s } }");
        let (pg, _) = facts(&src);
        assert_eq!(json(&pg), r#"{"up":{"partial":true}}"#);
        // Computed values sharing their parts: a tree of 2^40 nodes to walk.
        let mut src = String::from(
            "local s = unknown([[ DROP TABLE x; ]])
",
        );
        for _ in 0..40 {
            src.push_str(
                "s = unknown(s, s)
",
            );
        }
        src.push_str("return { postgres = { up = s } }");
        let (pg, _) = facts(&src);
        assert_eq!(json(&pg), r#"{"up":{"drops":["x"],"partial":true}}"#);
        // Computed values nested by many assignments: walked (and dropped) by recursion.
        let mut src = String::from("local s = unknown([[ DROP TABLE x; ]])\n");
        src.push_str(&"s = unknown(s)\n".repeat(50_000));
        src.push_str("return { postgres = { up = s } }");
        let (pg, _) = facts(&src);
        assert_eq!(json(&pg), r#"{"up":{"partial":true}}"#);
    }

    #[test]
    fn delegations_plugin_fixups_and_dao_writes() {
        let shared = r#"
local function ws_migration_teardown(ops)
  return function(connector)
    return ops:fixup_plugin_config(connector, "http-log", function(config) return true end)
  end
end
return function(name)
  return {
    postgres = { up = "", teardown = ws_migration_teardown(require("x").postgres.teardown) },
  }
end
"#;
        let (pg, cass) = migration_facts(
            "return require('kong.plugins.p.migrations._shared')('p')",
            |m| {
                assert_eq!(m, "kong.plugins.p.migrations._shared");
                Ok(Some(shared.to_string()))
            },
        )
        .unwrap();
        assert_eq!(
            json(&pg),
            r#"{"teardown":{"writes":[{"table":"plugins","update":["config"]}]}}"#
        );
        assert!(cass.is_none());

        let (pg, _) = facts(
            "return { postgres = { up = computed(), up_f = function() \
             for p in kong.db.plugins:each() do kong.db.plugins:update({ id = p.id }, p) end end } }",
        );
        assert_eq!(
            json(&pg),
            r#"{"up":{"partial":true},"up_f":{"writes":[{"table":"plugins","update":["?"]}]}}"#
        );
    }
}
