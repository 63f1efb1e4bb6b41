//! What a piece of migration SQL (or CQL) does, read without a database: the tables it creates,
//! alters, drops, the indexes it creates and the rows it writes. A heuristic reader for the catalog
//! generator, not a SQL parser: it looks at each statement's first words (at the start of the text,
//! after `;`, and after PL/pgSQL's BEGIN/THEN/ELSE/LOOP), reads `DO $$ ... $$` blocks (they run)
//! and skips function bodies (they run later, as triggers). A table whose name is not written out
//! (`$(TABLE)`, `%s`) marks the facts `partial`.

use super::catalog::{IndexFact, PhaseFacts, RowWrite, TableAlter};

#[derive(Clone, Debug, PartialEq)]
enum T {
    /// A bare word, upper-cased for keywords; `raw` keeps the spelling for names.
    Word {
        up: String,
        raw: String,
    },
    /// `"quoted identifier"`.
    Quoted(String),
    /// `$(NAME)` templates, `%s`, `$1`, `?`: a value or name filled in at run time.
    Hole,
    /// `'string'`, its text (`''` read as `'`): PL/pgSQL's `EXECUTE '...'` runs one.
    Text(String),
    /// Numbers.
    Lit,
    /// `$tag$ ... $tag$`.
    Dollar(String),
    Sym(char),
}

fn lex(sql: &str) -> Vec<T> {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'\'' {
            i += 1;
            let mut text = String::new();
            let mut from = i;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        text.push_str(&sql[from..=i]);
                        i += 2;
                        from = i;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            text.push_str(&sql[from..i.min(b.len())]);
            i += 1;
            out.push(T::Text(text));
        } else if c == b'"' {
            let start = i + 1;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            out.push(T::Quoted(sql[start..i.min(b.len())].to_string()));
            i += 1;
        } else if c == b'$' {
            // `$(NAME)` template, `$1` parameter, or a dollar quote `$tag$`.
            if b.get(i + 1) == Some(&b'(') {
                while i < b.len() && b[i] != b')' {
                    i += 1;
                }
                i += 1;
                out.push(T::Hole);
            } else if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(T::Hole);
            } else {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if b.get(j) == Some(&b'$') {
                    let tag = &sql[i..=j];
                    let body_start = j + 1;
                    match sql[body_start..].find(tag) {
                        Some(end) => {
                            out.push(T::Dollar(sql[body_start..body_start + end].to_string()));
                            i = body_start + end + tag.len();
                        }
                        None => {
                            out.push(T::Dollar(sql[body_start..].to_string()));
                            i = b.len();
                        }
                    }
                } else {
                    out.push(T::Sym('$'));
                    i += 1;
                }
            }
        } else if c == b'%' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
            i += 2;
            out.push(T::Hole);
        } else if c == b'?' {
            i += 1;
            out.push(T::Hole);
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let raw = &sql[start..i];
            out.push(T::Word {
                up: raw.to_ascii_uppercase(),
                raw: raw.to_string(),
            });
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(T::Lit);
        } else {
            // Any other character (UTF-8 continuation bytes included) is punctuation to us.
            let ch = sql[i..].chars().next().unwrap_or(' ');
            i += ch.len_utf8();
            out.push(T::Sym(ch));
        }
    }
    out
}

fn is_kw(t: Option<&T>, kw: &str) -> bool {
    matches!(t, Some(T::Word { up, .. }) if up == kw)
}

/// A name token: bare or quoted, with a `schema.` prefix dropped.
fn name_at(toks: &[T], i: &mut usize) -> Option<Result<String, ()>> {
    let n = match toks.get(*i)? {
        T::Word { raw, .. } => Ok(raw.to_ascii_lowercase()),
        // A quoted template (`"$(TABLE)"`, `"%s"`) is filled in at run time.
        T::Quoted(q) if q.contains(['$', '%']) => Err(()),
        T::Quoted(q) => Ok(q.clone()),
        T::Hole => Err(()),
        _ => return None,
    };
    *i += 1;
    if toks.get(*i) == Some(&T::Sym('.')) {
        let mut j = *i + 1;
        if let Some(next) = name_at(toks, &mut j) {
            *i = j;
            return Some(next);
        }
    }
    Some(n)
}

fn skip_kws(toks: &[T], i: &mut usize, kws: &[&str]) {
    for kw in kws {
        if is_kw(toks.get(*i), kw) {
            *i += 1;
        }
    }
}

/// Reads SQL or CQL text into `facts`.
pub fn read_sql(sql: &str, facts: &mut PhaseFacts) {
    read_tokens(&lex(sql), facts);
}

/// The facts of one piece of SQL.
pub fn of_sql(sql: &str) -> PhaseFacts {
    let mut f = PhaseFacts::default();
    read_sql(sql, &mut f);
    f
}

fn read_tokens(toks: &[T], facts: &mut PhaseFacts) {
    let mut start = true;
    // The first word of the current statement, to tell `DO $$` (runs now) from a function body.
    let mut first: Option<String> = None;
    let mut i = 0;
    while i < toks.len() {
        if start {
            start = false;
            first = match &toks[i] {
                T::Word { up, .. } => Some(up.clone()),
                _ => None,
            };
            statement(toks, i, facts);
        }
        match &toks[i] {
            T::Sym(';') => {
                start = true;
                first = None;
            }
            T::Word { up, .. } if matches!(up.as_str(), "BEGIN" | "THEN" | "ELSE" | "LOOP") => {
                start = true;
            }
            T::Dollar(body) if first.as_deref() == Some("DO") => read_sql(body, facts),
            _ => {}
        }
        i += 1;
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

fn alter_of<'a>(facts: &'a mut PhaseFacts, table: &str) -> &'a mut TableAlter {
    if let Some(p) = facts.alters.iter().position(|a| a.table == table) {
        return &mut facts.alters[p];
    }
    facts.alters.push(TableAlter {
        table: table.to_string(),
        ..TableAlter::default()
    });
    let last = facts.alters.len() - 1;
    &mut facts.alters[last]
}

fn write_of<'a>(facts: &'a mut PhaseFacts, table: &str) -> &'a mut RowWrite {
    if let Some(p) = facts.writes.iter().position(|w| w.table == table) {
        return &mut facts.writes[p];
    }
    facts.writes.push(RowWrite {
        table: table.to_string(),
        ..RowWrite::default()
    });
    let last = facts.writes.len() - 1;
    &mut facts.writes[last]
}

/// One statement starting at `toks[i]`, if it is one we read.
fn statement(toks: &[T], mut i: usize, facts: &mut PhaseFacts) {
    let word = |j: usize| match toks.get(j) {
        Some(T::Word { up, .. }) => up.as_str(),
        _ => "",
    };
    let table = |i: &mut usize, facts: &mut PhaseFacts| -> Option<String> {
        match name_at(toks, i) {
            Some(Ok(n)) => Some(n),
            Some(Err(())) => {
                facts.partial = true;
                None
            }
            None => None,
        }
    };
    match word(i) {
        "CREATE" => {
            i += 1;
            skip_kws(
                toks,
                &mut i,
                &["OR", "REPLACE", "UNLOGGED", "TEMP", "TEMPORARY"],
            );
            skip_kws(toks, &mut i, &["UNIQUE", "CUSTOM"]);
            match word(i) {
                "TABLE" => {
                    i += 1;
                    skip_kws(toks, &mut i, &["IF", "NOT", "EXISTS"]);
                    if let Some(t) = table(&mut i, facts) {
                        push_unique(&mut facts.creates, t);
                    }
                }
                "INDEX" => {
                    i += 1;
                    skip_kws(toks, &mut i, &["CONCURRENTLY", "IF", "NOT", "EXISTS"]);
                    let name = if word(i) == "ON" {
                        None
                    } else {
                        match name_at(toks, &mut i) {
                            Some(Ok(n)) => Some(n),
                            _ => {
                                facts.partial = true;
                                None
                            }
                        }
                    };
                    if word(i) != "ON" {
                        return;
                    }
                    i += 1;
                    skip_kws(toks, &mut i, &["ONLY"]);
                    if let Some(t) = table(&mut i, facts) {
                        let ix = IndexFact { name, table: t };
                        if !facts.indexes.contains(&ix) {
                            facts.indexes.push(ix);
                        }
                    }
                }
                _ => {}
            }
        }
        "ALTER" if word(i + 1) == "TABLE" => {
            i += 2;
            skip_kws(toks, &mut i, &["IF", "EXISTS", "ONLY"]);
            let Some(t) = table(&mut i, facts) else {
                return;
            };
            alter_actions(toks, i, &t, facts);
        }
        "DROP" if word(i + 1) == "TABLE" => {
            i += 2;
            skip_kws(toks, &mut i, &["IF", "EXISTS"]);
            while let Some(t) = table(&mut i, facts) {
                push_unique(&mut facts.drops, t);
                if toks.get(i) != Some(&T::Sym(',')) {
                    break;
                }
                i += 1;
            }
        }
        // PL/pgSQL (in a DO block): `EXECUTE 'sql'`, `EXECUTE format('sql', ...)` run that SQL.
        "EXECUTE" => {
            i += 1;
            if word(i) == "FORMAT" && toks.get(i + 1) == Some(&T::Sym('(')) {
                i += 2;
            }
            if let Some(T::Text(sql)) = toks.get(i) {
                read_sql(sql, facts);
            }
        }
        "TRUNCATE" => {
            i += 1;
            skip_kws(toks, &mut i, &["TABLE", "ONLY"]);
            if let Some(t) = table(&mut i, facts) {
                write_of(facts, &t).delete = true;
            }
        }
        "DELETE" if word(i + 1) == "FROM" => {
            i += 2;
            skip_kws(toks, &mut i, &["ONLY"]);
            if let Some(t) = table(&mut i, facts) {
                write_of(facts, &t).delete = true;
            }
        }
        "INSERT" if word(i + 1) == "INTO" => {
            i += 2;
            if let Some(t) = table(&mut i, facts) {
                write_of(facts, &t).insert = true;
            }
        }
        "UPDATE" => {
            i += 1;
            skip_kws(toks, &mut i, &["ONLY"]);
            let Some(t) = table(&mut i, facts) else {
                return;
            };
            // An alias, or Cassandra's `USING TTL n`, may come before SET.
            let mut j = i;
            while j < toks.len() && j < i + 6 && word(j) != "SET" {
                j += 1;
            }
            if word(j) != "SET" {
                return;
            }
            let cols = set_columns(toks, j + 1);
            let w = write_of(facts, &t);
            for c in cols {
                push_unique(&mut w.update, c);
            }
            if w.update.is_empty() {
                // Known to write, columns unread: still a write.
                w.update.push("?".into());
            }
        }
        _ => {}
    }
}

/// `SET a = ..., b = ...`: the column names, up to WHERE/FROM/RETURNING or the statement's end.
fn set_columns(toks: &[T], mut i: usize) -> Vec<String> {
    let mut cols = Vec::new();
    let mut depth = 0i32;
    let mut expect_col = true;
    while let Some(t) = toks.get(i) {
        match t {
            T::Sym('(') => depth += 1,
            T::Sym(')') => depth -= 1,
            T::Sym(';') => break,
            T::Sym(',') if depth == 0 => expect_col = true,
            T::Word { up, .. }
                if depth == 0 && matches!(up.as_str(), "WHERE" | "FROM" | "RETURNING") =>
            {
                break
            }
            T::Word { raw, .. } | T::Quoted(raw) if expect_col && depth == 0 => {
                if toks.get(i + 1) == Some(&T::Sym('=')) {
                    push_unique(&mut cols, raw.to_ascii_lowercase());
                }
                expect_col = false;
            }
            _ => {}
        }
        i += 1;
    }
    cols
}

/// The actions of `ALTER TABLE t ...`, separated by top-level commas.
fn alter_actions(toks: &[T], mut i: usize, table: &str, facts: &mut PhaseFacts) {
    let word = |j: usize| match toks.get(j) {
        Some(T::Word { up, .. }) => up.clone(),
        _ => String::new(),
    };
    let col = |j: &mut usize| -> Option<String> {
        match toks.get(*j) {
            Some(T::Word { raw, .. }) => {
                *j += 1;
                Some(raw.to_ascii_lowercase())
            }
            Some(T::Quoted(q)) => {
                *j += 1;
                Some(q.clone())
            }
            _ => None,
        }
    };
    loop {
        let action = word(i);
        match action.as_str() {
            "ADD" => {
                i += 1;
                match word(i).as_str() {
                    "CONSTRAINT" => {
                        let mut j = i + 1;
                        let n = col(&mut j);
                        push_unique(
                            &mut alter_of(facts, table).other,
                            format!("add constraint {}", n.clone().unwrap_or_default())
                                .trim_end()
                                .to_string(),
                        );
                        // A unique or primary key constraint builds its index over the table.
                        if matches!(word(j).as_str(), "UNIQUE" | "PRIMARY") {
                            add_index(facts, n, table);
                        }
                        if validates(toks, j) {
                            alter_of(facts, table).scan = true;
                        }
                    }
                    "PRIMARY" | "UNIQUE" | "FOREIGN" | "CHECK" => {
                        push_unique(
                            &mut alter_of(facts, table).other,
                            format!("add {}", word(i).to_ascii_lowercase()),
                        );
                        if matches!(word(i).as_str(), "UNIQUE" | "PRIMARY") {
                            add_index(facts, None, table);
                        }
                        if validates(toks, i) {
                            alter_of(facts, table).scan = true;
                        }
                    }
                    _ => {
                        skip_kws(toks, &mut i, &["COLUMN", "IF", "NOT", "EXISTS"]);
                        if let Some(c) = col(&mut i) {
                            // `ADD c TEXT UNIQUE` builds an index, named as PostgreSQL names it.
                            let words = clause_words(toks, i);
                            if words.contains(&"UNIQUE") {
                                add_index(facts, Some(format!("{table}_{c}_key")), table)
                            } else if words.contains(&"PRIMARY") {
                                add_index(facts, Some(format!("{table}_pkey")), table)
                            }
                            // A new column's REFERENCES is checked against the existing rows
                            // only when the column is given a default: without one every row
                            // holds NULL, which a foreign key lets pass, and PostgreSQL marks
                            // the key valid without reading the table. With a DEFAULT clause
                            // (even DEFAULT NULL: PostgreSQL looks at the clause, not its
                            // value) it reads every row, as ADD FOREIGN KEY does.
                            if words.contains(&"REFERENCES") && words.contains(&"DEFAULT") {
                                alter_of(facts, table).scan = true;
                            }
                            push_unique(&mut alter_of(facts, table).add, c);
                        }
                    }
                }
            }
            "DROP" => {
                i += 1;
                if word(i) == "CONSTRAINT" {
                    i += 1;
                    skip_kws(toks, &mut i, &["IF", "EXISTS"]);
                    let n = col(&mut i).unwrap_or_default();
                    push_unique(
                        &mut alter_of(facts, table).other,
                        format!("drop constraint {n}").trim_end().to_string(),
                    );
                } else {
                    skip_kws(toks, &mut i, &["COLUMN", "IF", "EXISTS"]);
                    if let Some(c) = col(&mut i) {
                        push_unique(&mut alter_of(facts, table).drop, c);
                    }
                }
            }
            "ALTER" => {
                i += 1;
                skip_kws(toks, &mut i, &["COLUMN"]);
                if let Some(c) = col(&mut i) {
                    // A new type rewrites every row; SET NOT NULL reads every row under an
                    // ACCESS EXCLUSIVE lock to check it; defaults and DROP NOT NULL only
                    // change the catalog.
                    let (what, rewrite, scan) = match (word(i).as_str(), word(i + 1).as_str()) {
                        ("TYPE", _) | ("SET", "DATA") => ("type", true, false),
                        ("SET", "NOT") => ("set not null", false, true),
                        ("DROP", "NOT") => ("drop not null", false, false),
                        ("SET", "DEFAULT") => ("set default", false, false),
                        ("DROP", "DEFAULT") => ("drop default", false, false),
                        _ => ("", false, false),
                    };
                    let a = alter_of(facts, table);
                    push_unique(
                        &mut a.other,
                        format!("alter column {c} {what}").trim_end().to_string(),
                    );
                    a.rewrite |= rewrite;
                    a.scan |= scan;
                }
            }
            "RENAME" => {
                i += 1;
                let what = if word(i) == "TO" {
                    i += 1;
                    format!("rename to {}", col(&mut i).unwrap_or_default())
                } else {
                    skip_kws(toks, &mut i, &["COLUMN"]);
                    let a = col(&mut i).unwrap_or_default();
                    skip_kws(toks, &mut i, &["TO"]);
                    format!("rename column {a} to {}", col(&mut i).unwrap_or_default())
                };
                push_unique(&mut alter_of(facts, table).other, what);
            }
            "" => return,
            // VALIDATE CONSTRAINT reads every row for the check that NOT VALID skipped (under
            // a SHARE UPDATE EXCLUSIVE lock, which lets writes through, but it takes the time).
            "VALIDATE" => {
                let a = alter_of(facts, table);
                push_unique(&mut a.other, "validate".to_string());
                a.scan = true;
            }
            other => push_unique(
                &mut alter_of(facts, table).other,
                other.to_ascii_lowercase(),
            ),
        }
        // On to the next top-level comma, or the end of the statement.
        let mut depth = 0i32;
        loop {
            match toks.get(i) {
                None | Some(T::Sym(';')) => return,
                Some(T::Sym('(')) => depth += 1,
                Some(T::Sym(')')) => depth -= 1,
                Some(T::Sym(',')) if depth <= 0 => {
                    i += 1;
                    break;
                }
                // PL/pgSQL: `EXCEPTION WHEN ... THEN` or `END` closes the statement too.
                Some(T::Word { up, .. })
                    if depth <= 0 && matches!(up.as_str(), "EXCEPTION" | "END") =>
                {
                    return
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// The top-level words of an action from `toks[i]` to its end (a top-level comma or the
/// statement's end), upper-cased: a column definition's keys, a constraint's kind and options.
fn clause_words(toks: &[T], mut i: usize) -> Vec<&str> {
    let mut depth = 0i32;
    let mut words = Vec::new();
    while let Some(t) = toks.get(i) {
        match t {
            T::Sym('(') => depth += 1,
            T::Sym(')') => depth -= 1,
            T::Sym(',') | T::Sym(';') if depth <= 0 => break,
            T::Word { up, .. } if depth <= 0 => match up.as_str() {
                "EXCEPTION" | "END" => break,
                w => words.push(w),
            },
            _ => {}
        }
        i += 1;
    }
    words
}

/// Whether the table constraint whose kind is at `toks[i]` checks the existing rows when added:
/// a FOREIGN KEY or a CHECK reads every row (PostgreSQL's ALTER TABLE: "a scan of the table to
/// verify that all existing rows satisfy the new constraint") unless it is `NOT VALID`. Unique
/// and primary keys are counted by their index build instead.
fn validates(toks: &[T], i: usize) -> bool {
    let words = clause_words(toks, i);
    let not_valid = words.windows(2).any(|w| w == ["NOT", "VALID"]);
    matches!(words.first(), Some(&"FOREIGN") | Some(&"CHECK")) && !not_valid
}

fn add_index(facts: &mut PhaseFacts, name: Option<String>, table: &str) {
    let ix = IndexFact {
        name,
        table: table.to_string(),
    };
    if !facts.indexes.contains(&ix) {
        facts.indexes.push(ix);
    }
}

/// Merges `other` into `into`, keeping first-seen order.
pub fn merge(into: &mut PhaseFacts, other: PhaseFacts) {
    for t in other.creates {
        push_unique(&mut into.creates, t);
    }
    for a in other.alters {
        let slot = alter_of(into, &a.table);
        for c in a.add {
            push_unique(&mut slot.add, c);
        }
        for c in a.drop {
            push_unique(&mut slot.drop, c);
        }
        for c in a.other {
            push_unique(&mut slot.other, c);
        }
        slot.rewrite |= a.rewrite;
        slot.scan |= a.scan;
    }
    for t in other.drops {
        push_unique(&mut into.drops, t);
    }
    for ix in other.indexes {
        if !into.indexes.contains(&ix) {
            into.indexes.push(ix);
        }
    }
    for w in other.writes {
        let slot = write_of(into, &w.table);
        for c in w.update {
            push_unique(&mut slot.update, c);
        }
        slot.insert |= w.insert;
        slot.delete |= w.delete;
    }
    into.partial |= other.partial;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(f: &PhaseFacts) -> String {
        serde_json::to_string(f).unwrap()
    }

    #[test]
    fn ddl_with_do_blocks_quotes_and_comments() {
        let f = of_sql(
            r#"
      DO $$
        BEGIN
          IF (SELECT to_regclass('vaults_beta')) IS NOT NULL THEN
            CREATE TABLE sm_vaults ( LIKE vaults_beta INCLUDING ALL );
            ALTER TABLE sm_vaults ADD CONSTRAINT sm_vaults_ws_id_fkey FOREIGN KEY(ws_id) REFERENCES workspaces(id);
            INSERT INTO sm_vaults SELECT * FROM vaults_beta;
          END IF;
        END;
      $$;
      -- DROP TABLE commented_out;
      DO $$
        BEGIN
          ALTER TABLE IF EXISTS ONLY "targets" ADD COLUMN "cache_key" TEXT UNIQUE;
        EXCEPTION WHEN duplicate_column THEN
          -- Do nothing
        END;
      $$;
      ALTER TABLE upstreams ADD hash_on_query_arg TEXT, ADD COLUMN IF NOT EXISTS b INT, DROP COLUMN old;
      ALTER TABLE plugins ALTER COLUMN created_at TYPE TIMESTAMP WITH TIME ZONE USING created_at AT TIME ZONE 'UTC';
      CREATE INDEX IF NOT EXISTS "routes_ws_id_idx" ON "routes" ("ws_id");
      CREATE UNIQUE INDEX ON only_unnamed (a);
      CREATE INDEX CONCURRENTLY x_idx ON x USING GIN(tags);
      DROP TABLE IF EXISTS vaults_beta, "vaults" CASCADE;
      CREATE OR REPLACE FUNCTION f() RETURNS TRIGGER AS $f$
        BEGIN INSERT INTO tags VALUES (1); END;
      $f$ LANGUAGE plpgsql;
      "#,
        );
        assert_eq!(
            json(&f),
            r#"{"creates":["sm_vaults"],"alters":[{"table":"sm_vaults","other":["add constraint sm_vaults_ws_id_fkey"],"scan":true},{"table":"targets","add":["cache_key"]},{"table":"upstreams","add":["hash_on_query_arg","b"],"drop":["old"]},{"table":"plugins","other":["alter column created_at type"],"rewrite":true}],"drops":["vaults_beta","vaults"],"indexes":[{"name":"targets_cache_key_key","table":"targets"},{"name":"routes_ws_id_idx","table":"routes"},{"table":"only_unnamed"},{"name":"x_idx","table":"x"}],"writes":[{"table":"sm_vaults","insert":true}]}"#
        );
    }

    /// Whether `sql`'s one altered table is read through (`scan`), or None when it alters not
    /// exactly one table.
    fn scan(sql: &str) -> Option<bool> {
        let f = of_sql(sql);
        (f.alters.len() == 1).then(|| f.alters[0].scan)
    }

    /// A new FOREIGN KEY reads every row to check it against the referenced table, named or
    /// not, as 009's ws_adjust_foreign_key re-makes them. A unique or primary key is counted by
    /// its index build, not as a scan; NOT DEFERRABLE is not NOT VALID.
    #[test]
    fn a_new_foreign_key_scans_the_table() {
        assert_eq!(
            scan(
                r#"ALTER TABLE IF EXISTS ONLY "routes" ADD CONSTRAINT "routes_service_id_fkey" FOREIGN KEY ("service_id", "ws_id") REFERENCES services("id", "ws_id") ON DELETE CASCADE;"#
            ),
            Some(true)
        );
        assert_eq!(
            scan("ALTER TABLE routes ADD FOREIGN KEY (service_id) REFERENCES services (id)"),
            Some(true)
        );
        assert_eq!(
            scan("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id) NOT DEFERRABLE"),
            Some(true)
        );
        assert_eq!(
            scan("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a), ADD PRIMARY KEY (id)"),
            Some(false)
        );
    }

    /// A new column's REFERENCES: without a default every row holds NULL, which the key lets
    /// pass, and nothing is read (009's upstreams.client_certificate_id); with one (ws_add_ws_id's
    /// `ws_id ... DEFAULT %L`) every row is checked. A default alone is not a scan.
    #[test]
    fn a_new_columns_references_scans_only_with_a_default() {
        assert_eq!(
            scan(
                r#"ALTER TABLE IF EXISTS ONLY "upstreams" ADD "client_certificate_id" UUID REFERENCES "certificates" ("id");"#
            ),
            Some(false)
        );
        assert_eq!(
            scan(
                r#"DO $$ BEGIN EXECUTE format('ALTER TABLE IF EXISTS ONLY "acls" ADD "ws_id" UUID REFERENCES "workspaces" ("id") DEFAULT %L', 1); END; $$;"#
            ),
            Some(true)
        );
        assert_eq!(scan("ALTER TABLE t ADD c INT DEFAULT 0"), Some(false));
    }

    /// A new CHECK reads every row to check it, named or not.
    #[test]
    fn a_new_check_scans_the_table() {
        assert_eq!(
            scan("ALTER TABLE t ADD CONSTRAINT t_c CHECK (c > 0)"),
            Some(true)
        );
        assert_eq!(scan("ALTER TABLE t ADD CHECK (c IS NOT NULL)"), Some(true));
    }

    /// NOT VALID skips the read (only the catalog changes) where the same constraint without
    /// it reads the table; one NOT VALID beside a checked one still reads it.
    #[test]
    fn not_valid_constraints_do_not_scan() {
        let fk = "ALTER TABLE routes ADD CONSTRAINT r_fk FOREIGN KEY (s) REFERENCES services (id)";
        let ck = "ALTER TABLE t ADD CONSTRAINT t_c CHECK (c > 0)";
        for sql in [fk, ck] {
            assert_eq!(scan(&format!("{sql} NOT VALID;")), Some(false), "{sql}");
            assert_eq!(scan(&format!("{sql};")), Some(true), "{sql}");
        }
        assert_eq!(
            scan("ALTER TABLE t ADD CONSTRAINT a CHECK (x > 0) NOT VALID, ADD CONSTRAINT b CHECK (y > 0)"),
            Some(true)
        );
    }

    /// VALIDATE CONSTRAINT is the read NOT VALID put off.
    #[test]
    fn validate_constraint_scans_the_table() {
        let f = of_sql("ALTER TABLE routes VALIDATE CONSTRAINT r_fk;");
        assert_eq!(
            json(&f),
            r#"{"alters":[{"table":"routes","other":["validate"],"scan":true}]}"#
        );
    }

    #[test]
    fn writes_templates_and_cql() {
        let f = of_sql("UPDATE routes SET paths = $(NORMALIZED_PATH) WHERE id = '$(ID)'");
        assert_eq!(
            json(&f),
            r#"{"writes":[{"table":"routes","update":["paths"]}]}"#
        );
        let f = of_sql(
            "DELETE FROM targets t1 USING targets t2 WHERE t1.created_at < t2.created_at;\n\
             UPDATE targets SET cache_key = CONCAT('targets:', upstream_id), \"x\" = f(a, b) WHERE 1 = 1;",
        );
        assert_eq!(
            json(&f),
            r#"{"writes":[{"table":"targets","update":["cache_key","x"],"delete":true}]}"#
        );
        let f = of_sql("UPDATE routes SET paths = ? WHERE partition = 'routes' AND id = ?");
        assert_eq!(
            json(&f),
            r#"{"writes":[{"table":"routes","update":["paths"]}]}"#
        );
        let f = of_sql("ALTER TABLE IF EXISTS ONLY \"$(TABLE)\" ADD \"ws_id\" UUID");
        assert_eq!(json(&f), r#"{"partial":true}"#);
        // Reads and prose are not writes.
        let f = of_sql("SELECT id, paths FROM routes WHERE paths IS NOT NULL");
        assert!(f.is_empty());
        assert!(of_sql("could not update routes: %s").is_empty());
    }

    #[test]
    fn execute_in_do_blocks_and_unique_constraints() {
        // PL/pgSQL runs EXECUTE's SQL (Kong's ws_add_ws_id); a quote inside is doubled.
        let f = of_sql(
            r#"DO $$ BEGIN
              EXECUTE format('ALTER TABLE IF EXISTS ONLY "acls" ADD "ws_id" UUID DEFAULT %L', 1);
              EXECUTE 'UPDATE acls SET cache_key = ''x''';
            END; $$;
            ALTER TABLE acls ADD CONSTRAINT "acls_id_ws_id_unique" UNIQUE ("id", "ws_id"),
              ADD CONSTRAINT acls_fkey FOREIGN KEY (a) REFERENCES b (id), ADD PRIMARY KEY (id);"#,
        );
        assert_eq!(
            json(&f),
            r#"{"alters":[{"table":"acls","add":["ws_id"],"other":["add constraint acls_id_ws_id_unique","add constraint acls_fkey","add primary"],"scan":true}],"indexes":[{"name":"acls_id_ws_id_unique","table":"acls"},{"table":"acls"}],"writes":[{"table":"acls","update":["cache_key"]}]}"#
        );
        // Only a new type rewrites the table; SET NOT NULL scans it (under lock), defaults and
        // DROP NOT NULL change the catalog. A column's own UNIQUE or PRIMARY KEY builds an
        // index, named as PostgreSQL names it.
        let f = of_sql(
            r#"ALTER TABLE ca ALTER COLUMN d SET NOT NULL, ALTER "ws_id" SET DEFAULT NULL,
                 ALTER e DROP DEFAULT, ALTER f DROP NOT NULL, ADD g TEXT REFERENCES x (id);
               ALTER TABLE p ALTER COLUMN c SET DATA TYPE JSONB USING c::jsonb,
                 ADD COLUMN k TEXT PRIMARY KEY, ADD COLUMN "u" TEXT UNIQUE;"#,
        );
        assert_eq!(
            json(&f),
            r#"{"alters":[{"table":"ca","add":["g"],"other":["alter column d set not null","alter column ws_id set default","alter column e drop default","alter column f drop not null"],"scan":true},{"table":"p","add":["k","u"],"other":["alter column c type"],"rewrite":true}],"indexes":[{"name":"p_pkey","table":"p"},{"name":"p_u_key","table":"p"}]}"#
        );
        // A function body's EXECUTE runs later, as a trigger: not read.
        let f = of_sql(
            "CREATE FUNCTION f() RETURNS TRIGGER AS $$ BEGIN EXECUTE FORMAT('DELETE FROM %s', TG_TABLE_NAME); END; $$ LANGUAGE plpgsql;",
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn merge_keeps_first_order_and_unions() {
        let mut a = of_sql("UPDATE t SET a = 1; CREATE TABLE x (id int)");
        merge(
            &mut a,
            of_sql("UPDATE t SET b = 1; DELETE FROM t; CREATE TABLE x (id int)"),
        );
        assert_eq!(
            json(&a),
            r#"{"creates":["x"],"writes":[{"table":"t","update":["a","b"],"delete":true}]}"#
        );
        assert_eq!(a.tables(), ["x", "t"]);
    }
}
