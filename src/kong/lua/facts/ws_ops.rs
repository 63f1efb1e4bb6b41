//! Kong's workspace helpers (kong/db/migrations/operations/200_to_210.lua and 212_to_213.lua),
//! read from the operations module of the tag and the entity lists a migration gives them. The
//! helpers loop over the entities, which the static evaluator does not run: the loops are
//! written out here, and each low-level helper's SQL templates are read from the module with
//! its `$(KEY)`s filled in as the helper's `render` call does.
//!
//! - `ws_adjust_fields(entities)`: per entity `ws_add_ws_id(name)` (ADD ws_id, the (id, ws_id)
//!   unique constraint), per foreign key `ws_adjust_foreign_key(name, fk.name, fk.reference,
//!   cascade)`, per unique field `ws_unique_field(name, field)`;
//! - `ws_adjust_data(connector, entities)`: per entity with a composite cache key
//!   `ws_update_composite_cache_key(connector, name, partitioned)`, then (200_to_210 only, the
//!   helper 212_to_213 does not have) `ws_update_keys(connector, name, uniques, partitioned)`;
//! - any other `ws_*` helper of the module (`ws_add_workspaces`) is read as it is.

use super::{Key, Val, Walker};
use crate::kong::lua::{table_get, TableRef};

/// One entry of a migration's entity list (`core_entities`, `plugin_entities`).
#[derive(Debug, PartialEq)]
struct Entity {
    name: String,
    uniques: Vec<String>,
    /// (field prefix, referenced table, ON DELETE CASCADE).
    fks: Vec<(String, String, bool)>,
    /// `cache_key` has more than one field (`#entity.cache_key > 1`).
    composite_cache_key: bool,
    partitioned: bool,
}

pub(super) fn field(t: &TableRef, k: &str) -> Val {
    table_get(t, &Key::Str(k.to_string()))
}

/// The positional entries of a table, in order. A table the evaluator marked as possibly
/// changed (it was handed to a function it did not run) is read anyway: Kong's helpers do not
/// change the lists they are given.
pub(super) fn list(v: &Val) -> Option<Vec<Val>> {
    let Val::Table(t) = v else {
        return None;
    };
    let tb = t.borrow();
    Some(
        tb.fields
            .iter()
            .filter(|(k, _)| matches!(k, Key::Pos(_)))
            .map(|(_, v)| v.clone())
            .collect(),
    )
}

pub(super) fn string(v: Val) -> Option<String> {
    match v {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

pub(super) fn strings(v: &Val) -> Option<Vec<String>> {
    match v {
        Val::Nil => Some(Vec::new()),
        v => list(v)?.into_iter().map(string).collect(),
    }
}

fn entities(v: &Val) -> Option<Vec<Entity>> {
    list(v)?
        .iter()
        .map(|e| {
            let Val::Table(t) = e else {
                return None;
            };
            let fks = match field(t, "fks") {
                Val::Nil => Vec::new(),
                v => list(&v)?
                    .iter()
                    .map(|fk| {
                        let Val::Table(fk) = fk else {
                            return None;
                        };
                        let cascade = match field(fk, "on_delete") {
                            Val::Str(s) => s == "cascade",
                            Val::Nil => false,
                            _ => return None,
                        };
                        Some((
                            string(field(fk, "name"))?,
                            string(field(fk, "reference"))?,
                            cascade,
                        ))
                    })
                    .collect::<Option<_>>()?,
            };
            Some(Entity {
                name: string(field(t, "name"))?,
                uniques: strings(&field(t, "uniques"))?,
                fks,
                composite_cache_key: strings(&field(t, "cache_key"))?.len() > 1,
                // `partitioned = true`: any value but nil (booleans are not kept).
                partitioned: !matches!(field(t, "partitioned"), Val::Nil),
            })
        })
        .collect()
}

impl Walker<'_, '_> {
    /// `recv:name(args)`, a workspace helper of Kong's operations module; false when the
    /// receiver is not a table we can find or the helper is not in it (the caller marks the
    /// phase partial). Entity lists that cannot be read mark it partial here.
    pub(super) fn ws_helper(&mut self, recv: &Val, name: &str, args: &[Val]) -> bool {
        let Some(ops) = self.ctx.table(recv) else {
            return false;
        };
        if !matches!(self.ops_field(&ops, name), Val::Func(..)) {
            return false;
        }
        let entity_arg = match name {
            "ws_adjust_fields" => args.first(),
            "ws_adjust_data" => args.get(1),
            _ => {
                self.ops_helper(&ops, name, Vec::new());
                return true;
            }
        };
        let Some(entities) = entity_arg.and_then(entities) else {
            self.facts.partial = true;
            return true;
        };
        for e in entities {
            let table = || ("TABLE", e.name.clone());
            let partition = || {
                let p = if e.partitioned {
                    format!("partition = '{}' AND", e.name)
                } else {
                    String::new()
                };
                ("PARTITION", p)
            };
            if name == "ws_adjust_fields" {
                self.ops_helper(&ops, "ws_add_ws_id", vec![table()]);
                for (fk, reference, cascade) in &e.fks {
                    let cascade = if *cascade { "ON DELETE CASCADE" } else { "" };
                    self.ops_helper(
                        &ops,
                        "ws_adjust_foreign_key",
                        vec![
                            table(),
                            ("FK", fk.clone()),
                            ("FOREIGN_TABLE", reference.clone()),
                            ("CASCADE", cascade.to_string()),
                        ],
                    );
                }
                for u in &e.uniques {
                    self.ops_helper(&ops, "ws_unique_field", vec![table(), ("FIELD", u.clone())]);
                }
            } else {
                if e.composite_cache_key {
                    self.ops_helper(
                        &ops,
                        "ws_update_composite_cache_key",
                        vec![table(), partition()],
                    );
                }
                // 212_to_213's ws_adjust_data only re-keys; its module has no ws_update_keys.
                if matches!(self.ops_field(&ops, "ws_update_keys"), Val::Func(..)) {
                    // Cassandra's ws_update_keys sets ws_id and prefixes each unique field.
                    let mut set = vec!["ws_id = ?".to_string()];
                    set.extend(e.uniques.iter().map(|u| format!("{u} = ?")));
                    self.ops_helper(
                        &ops,
                        "ws_update_keys",
                        vec![table(), partition(), ("SET_LIST", set.join(", "))],
                    );
                }
            }
        }
        true
    }

    /// A helper of the operations table; 2.2's 212_to_213 takes one from 200_to_210's.
    fn ops_field(&mut self, ops: &TableRef, name: &str) -> Val {
        self.ctx.resolve(&field(ops, name))
    }

    /// Reads one helper function of the operations table with its templates' keys filled in.
    fn ops_helper(&mut self, ops: &TableRef, name: &str, keys: Vec<(&'static str, String)>) {
        let Val::Func(f, scope) = self.ops_field(ops, name) else {
            self.facts.partial = true;
            return;
        };
        self.helper(&f, &scope, keys, Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kong::lua::chunk_value;

    #[test]
    fn entity_lists_are_read_as_kong_writes_them() {
        let (_, v) = chunk_value(
            r#"
return {
  { name = "plugins", cache_key = { "name", "route" }, uniques = {},
    fks = { { name = "route", reference = "routes", on_delete = "cascade" } } },
  { name = "routes", uniques = { "name" }, fks = {}, partitioned = true, cache_key = { "x" } },
}"#,
        )
        .unwrap();
        assert_eq!(
            entities(&v).unwrap(),
            [
                Entity {
                    name: "plugins".into(),
                    uniques: vec![],
                    fks: vec![("route".into(), "routes".into(), true)],
                    composite_cache_key: true,
                    partitioned: false,
                },
                Entity {
                    name: "routes".into(),
                    uniques: vec!["name".into()],
                    fks: vec![],
                    composite_cache_key: false,
                    partitioned: true,
                }
            ]
        );
        let (_, v) = chunk_value("return { { name = computed() } }").unwrap();
        assert!(entities(&v).is_none());
    }
}
