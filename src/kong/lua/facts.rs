//! What a migration changes, read from its module without running it: the SQL of `up`, and the
//! SQL strings and helper calls in the bodies of `up_f` and `teardown` (and of the local functions
//! they call). Heuristics, tested on Kong's shapes:
//! - every string literal in those bodies is read as SQL (`kong::sql_facts` only takes statements
//!   it recognises, so log messages and Lua patterns add nothing);
//! - `ops:fixup_plugin_config(connector, name, fn)` rewrites `plugins.config` row by row;
//! - DAO writes (`kong.db.routes:update(...)`) write their entity's table;
//! - other helpers of Kong's operations modules (`ops:ws_*`) and values computed by code mark the
//!   phase `partial`.

use std::collections::HashSet;
use std::rc::Rc;

use super::{
    chunk_value, delegated_value, table_get, Block, Delegation, Expr, Field, FuncBody, Key, Scope,
    Stat, Val, MAX_DEPTH,
};
use crate::kong::catalog::{DbFacts, PhaseFacts, RowWrite};
use crate::kong::sql_facts::{merge, read_sql};

/// The facts of a migration module's two database sections, following delegations through
/// `load` as [`super::resolve_migration`] does.
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
        let d = match v {
            Val::Table(t) => break t,
            Val::Delegated(d) => d,
            Val::Module(module, path) => Delegation {
                module,
                function: (!path.is_empty()).then(|| path.join(".")),
                call: false,
            },
            other => return Err(format!("the module returns {}", other.describe())),
        };
        if via.contains(&d) || via.len() >= MAX_DEPTH {
            return Err(format!("delegation loop through {d}"));
        }
        let text = load(&d.module)?.ok_or_else(|| format!("{} is not found", d.module))?;
        v = delegated_value(&text, d.function.as_deref(), d.call)
            .map_err(|e| format!("{d}: {e}"))?
            .1;
        via.push(d);
    };
    let section = |name: &str| match table_get(&t, &Key::Str(name.to_string())) {
        Val::Table(s) => {
            let phase = |k: &str| of_value(&table_get(&s, &Key::Str(k.to_string())));
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

fn of_value(v: &Val) -> PhaseFacts {
    let mut w = Walker {
        facts: PhaseFacts::default(),
        seen: HashSet::new(),
        depth: 0,
    };
    match v {
        Val::Nil => {}
        Val::Str(sql) => read_sql(sql, &mut w.facts),
        Val::Func(body, scope) => w.func(body, scope),
        _ => w.facts.partial = true,
    }
    w.facts
}

struct Walker {
    facts: PhaseFacts,
    /// Function bodies already read (by address): each once, and no loops.
    seen: HashSet<usize>,
    depth: usize,
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

impl Walker {
    fn func(&mut self, f: &Rc<FuncBody>, scope: &Scope) {
        let id = Rc::as_ptr(f) as usize;
        if self.depth >= MAX_DEPTH || !self.seen.insert(id) {
            return;
        }
        self.depth += 1;
        self.block(&f.body, scope);
        self.depth -= 1;
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
            Stat::Local(_, exprs) | Stat::Assign(_, exprs) => {
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
            Expr::Str(s) => read_sql(s, &mut self.facts),
            // A name of the enclosing module: its SQL string, or a local function it calls.
            Expr::Name(n) => {
                let v = scope.find(n).map(|b| b.val.borrow().clone());
                match v {
                    Some(Val::Str(s)) => read_sql(&s, &mut self.facts),
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
                self.expr(callee, scope);
                for a in args {
                    self.expr(a, scope);
                }
            }
            Expr::Method(obj, name, args) => {
                self.method(obj, name, args);
                self.expr(obj, scope);
                for a in args {
                    self.expr(a, scope);
                }
            }
            Expr::Nil | Expr::Opaque => {}
        }
    }

    fn method(&mut self, obj: &Expr, name: &str, args: &[Expr]) {
        if name == "fixup_plugin_config" {
            // Kong's helper: reads every row of the named plugin, writes back its config.
            let mut w = PhaseFacts::default();
            w.writes.push(RowWrite {
                table: "plugins".into(),
                update: vec!["config".into()],
                ..RowWrite::default()
            });
            merge(&mut self.facts, w);
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
            // Kong's workspace helpers build their SQL from entity lists at run time.
            self.facts.partial = true;
        }
        let _ = args;
    }
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
