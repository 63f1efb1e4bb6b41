//! Calls of a required module's functions in `up_f` and `teardown` (`operations
//! .clean_cassandra_fields(connector, entities)`), besides Kong's `ops:ws_*` helpers.
//!
//! Which calls count: a function of a module under a `migrations` directory
//! (`kong.db.migrations.operations.210_to_211`, `kong.db.migrations.migrate_path_280_300`, a
//! plugin's `kong.plugins.x.migrations.helpers`), which is where Kong and plugins keep code that
//! runs SQL for a migration; and a function of any other module that is given the connector
//! (or a connection taken from it), the only way such a function can reach the database. The
//! other calls of Kong's migrations (`utils.deep_copy`, `log.debug`, `cjson.encode`,
//! `cassandra.uuid`, `string` and `table` functions) are not given the connector and run no SQL,
//! so they do not make every phase partial.
//!
//! A counted call is followed into the module (loaded as Kong's operations modules are) and
//! the helper's SQL read; one that cannot be followed (the module not found, not a function)
//! marks the phase `partial`: a call not followed never reads as "no change".
//!
//! `clean_cassandra_fields(connector, entities)` (operations/210_to_211.lua, 2.1.1 to 3.3)
//! loops over its entity list, which the evaluator does not run: the loop is written out here,
//! as `ws_ops` does for the workspace helpers. Per entity with unique keys it reads every row
//! (`SELECT *`) and runs `UPDATE $(TABLE) SET <key> = null, ... WHERE $(PARTITION) id = $(ID)`
//! for the rows whose keys were wrongly prefixed by 2.1.0's workspace migration.

use std::rc::Rc;

use super::ws_ops::{field, list, string, strings};
use super::{Expr, FuncBody, Scope, Val, Walker};

/// One entry of `clean_cassandra_fields`' entity list.
#[derive(Debug, PartialEq)]
struct CleanEntity {
    name: String,
    unique_keys: Vec<String>,
    partitioned: bool,
}

fn clean_entities(v: &Val) -> Option<Vec<CleanEntity>> {
    list(v)?
        .iter()
        .map(|e| {
            let Val::Table(t) = e else {
                return None;
            };
            Some(CleanEntity {
                name: string(field(t, "name"))?,
                unique_keys: strings(&field(t, "unique_keys"))?,
                partitioned: !matches!(field(t, "partitioned"), Val::Nil),
            })
        })
        .collect()
}

/// A module whose functions run a migration's SQL: one under a `migrations` directory.
fn is_migrations_module(module: &str) -> bool {
    module.split('.').any(|p| p == "migrations")
}

impl Walker<'_, '_> {
    /// `callee(args)` when the callee is a field of a required module (or the module itself):
    /// true when the call is taken care of here (followed, or the phase marked partial), false
    /// when it is not a call that counts (see the module doc) or not a module's function.
    pub(super) fn module_call(&mut self, callee: &Expr, args: &[Expr], scope: &Scope) -> bool {
        if !matches!(callee, Expr::Name(_) | Expr::Index(..)) {
            return false;
        }
        let Some(Val::Module(module, path)) = self.eval(&[callee], scope).pop() else {
            return false;
        };
        let given_connector: Vec<bool> = args.iter().map(|a| self.holds_connector(a)).collect();
        if !is_migrations_module(&module) && !given_connector.contains(&true) {
            return false;
        }
        let Val::Func(f, fscope) = self.ctx.resolve(&Val::Module(module, path.clone())) else {
            self.facts.partial = true;
            return true;
        };
        let conns = params_at(&f, &given_connector);
        if path == ["clean_cassandra_fields"] {
            self.clean_cassandra_fields(&f, &fscope, args, scope, conns);
        } else {
            self.helper(&f, &fscope, Vec::new(), conns);
        }
        true
    }

    fn clean_cassandra_fields(
        &mut self,
        f: &Rc<FuncBody>,
        fscope: &Scope,
        args: &[Expr],
        scope: &Scope,
        conns: Vec<String>,
    ) {
        let entities = match args.get(1) {
            Some(e) => {
                let v = self.eval(&[e], scope).pop().unwrap_or(Val::Nil);
                clean_entities(&self.ctx.resolve(&v))
            }
            None => None,
        };
        let Some(entities) = entities else {
            self.facts.partial = true;
            return;
        };
        for e in entities.iter().filter(|e| !e.unique_keys.is_empty()) {
            let set: Vec<String> = e
                .unique_keys
                .iter()
                .map(|k| format!("{k} = null"))
                .collect();
            let partition = if e.partitioned {
                format!("partition = '{}' AND", e.name)
            } else {
                String::new()
            };
            let keys = vec![
                ("TABLE", e.name.clone()),
                ("SET_LIST", set.join(", ")),
                ("PARTITION", partition),
                ("ID", "?".to_string()),
            ];
            self.helper(f, fscope, keys, conns.clone());
        }
    }

    /// `local coordinator = assert(connector:connect_migrations())`: a connection taken from
    /// the connector.
    pub(super) fn is_connection(&self, e: &Expr) -> bool {
        match e {
            Expr::Method(obj, name, _) => {
                matches!(
                    name.as_str(),
                    "connect_migrations" | "get_stored_connection"
                ) && self.holds_connector(obj)
            }
            Expr::Call(callee, args) if matches!(&**callee, Expr::Name(n) if n == "assert") => {
                args.first().is_some_and(|a| self.is_connection(a))
            }
            _ => false,
        }
    }

    fn holds_connector(&self, e: &Expr) -> bool {
        matches!(e, Expr::Name(n) if self.conns.contains(n))
    }

    /// `p_migrate(connector)`: in the local function, its parameter holds the connector.
    pub(super) fn pass_connector(&mut self, callee: &Expr, args: &[Expr], scope: &Scope) {
        let Expr::Name(n) = callee else {
            return;
        };
        let Some(Val::Func(f, _)) = scope.find(n).map(|b| b.val.borrow().clone()) else {
            return;
        };
        let given: Vec<bool> = args.iter().map(|a| self.holds_connector(a)).collect();
        for p in params_at(&f, &given) {
            if !self.conns.contains(&p) {
                self.conns.push(p);
            }
        }
    }
}

/// The parameters of `f` at the positions flagged.
fn params_at(f: &FuncBody, flags: &[bool]) -> Vec<String> {
    f.params
        .iter()
        .zip(flags)
        .filter(|(_, on)| **on)
        .map(|(p, _)| p.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::lua::chunk_value;

    #[test]
    fn clean_entity_lists_are_read_as_kong_writes_them() {
        let (_, v) = chunk_value(
            r#"
return {
  { name = "upstreams", unique_keys = { "name" } },
  { name = "services",  unique_keys = { "name" }, partitioned = true, },
}"#,
        )
        .unwrap();
        assert_eq!(
            clean_entities(&v).unwrap(),
            [
                CleanEntity {
                    name: "upstreams".into(),
                    unique_keys: vec!["name".into()],
                    partitioned: false,
                },
                CleanEntity {
                    name: "services".into(),
                    unique_keys: vec!["name".into()],
                    partitioned: true,
                },
            ]
        );
        let (_, v) = chunk_value("return { { name = computed() } }").unwrap();
        assert!(clean_entities(&v).is_none());
        assert!(is_migrations_module(
            "kong.db.migrations.operations.210_to_211"
        ));
        assert!(is_migrations_module("kong.plugins.foo.migrations.helpers"));
        assert!(!is_migrations_module("kong.tools.utils"));
    }
}
