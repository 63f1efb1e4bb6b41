//! Just enough Lua to read Kong's migration files without running them: a complete lexer, a
//! parser for the Lua 5.1/LuaJIT grammar that keeps only the structure we need, and a small static
//! evaluator of straight-line code (locals, table constructors, field assignments, `require`).
//!
//! What it answers:
//! - [`migration_index`]: the names listed by a subsystem's `migrations/init.lua`;
//! - [`migration_module`]: which keys each database section of a migration module has, or which
//!   module/function it delegates to (`return ops.ws_migrate_plugin(...)`,
//!   `return require("x")("name")`); [`resolve_migration`] follows such delegations through a
//!   caller-supplied loader, so this module stays free of I/O;
//! - [`bundled_plugins`]: `BUNDLED_PLUGINS` of `kong/constants.lua`, in Kong's order.
//!
//! Anything it cannot determine statically is an error, never a guess.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use super::catalog::Phases;

mod facts;
pub use facts::migration_facts;

/// A problem reading a Lua file; `line` is 1-based when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LuaError {
    pub line: Option<u32>,
    pub message: String,
}

impl LuaError {
    fn at(line: u32, message: impl Into<String>) -> Self {
        LuaError {
            line: Some(line),
            message: message.into(),
        }
    }

    fn new(message: impl Into<String>) -> Self {
        LuaError {
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for LuaError {}

type LResult<T> = Result<T, LuaError>;

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Name(String),
    Kw(&'static str),
    Str(String),
    Num,
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: u32,
}

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

// Longest first, so that `...` wins over `..` and `.`.
const SYMBOLS: &[&str] = &[
    "...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::", "+", "-", "*", "/", "%", "^", "#",
    "&", "~", "|", "<", ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
];

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    fn peek(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.src.get(self.pos).copied()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn tokens(mut self) -> LResult<Vec<Token>> {
        let mut out = Vec::new();
        // A first line starting with `#` (shebang) is skipped by Lua.
        if self.src.starts_with(b"#") {
            while let Some(c) = self.peek(0) {
                if c == b'\n' {
                    break;
                }
                self.pos += 1;
            }
        }
        loop {
            self.skip_space_and_comments()?;
            let line = self.line;
            let Some(c) = self.peek(0) else {
                out.push(Token {
                    tok: Tok::Eof,
                    line,
                });
                return Ok(out);
            };
            let tok = if c.is_ascii_alphabetic() || c == b'_' {
                let start = self.pos;
                while self
                    .peek(0)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                let word = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                match KEYWORDS.iter().find(|k| **k == word) {
                    Some(k) => Tok::Kw(k),
                    None => Tok::Name(word),
                }
            } else if c.is_ascii_digit()
                || (c == b'.' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
            {
                self.number();
                Tok::Num
            } else if c == b'"' || c == b'\'' {
                Tok::Str(self.short_string(c)?)
            } else if c == b'[' && self.long_bracket_level().is_some() {
                Tok::Str(self.long_string()?)
            } else {
                let rest = &self.src[self.pos..];
                let sym = SYMBOLS
                    .iter()
                    .find(|s| rest.starts_with(s.as_bytes()))
                    .ok_or_else(|| {
                        LuaError::at(line, format!("unexpected character '{}'", c as char))
                    })?;
                self.pos += sym.len();
                Tok::Sym(sym)
            };
            out.push(Token { tok, line });
        }
    }

    fn skip_space_and_comments(&mut self) -> LResult<()> {
        loop {
            match self.peek(0) {
                Some(c) if c.is_ascii_whitespace() => {
                    self.bump();
                }
                Some(b'-') if self.peek(1) == Some(b'-') => {
                    self.pos += 2;
                    if self.peek(0) == Some(b'[') && self.long_bracket_level().is_some() {
                        self.long_string()?;
                    } else {
                        while self.peek(0).is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn number(&mut self) {
        // Permissive: digits, hex, fractions, exponents and LuaJIT suffixes (ULL, LL, i). The value
        // never matters to us, only where the literal ends.
        let hex = self.peek(0) == Some(b'0') && matches!(self.peek(1), Some(b'x' | b'X'));
        while let Some(c) = self.peek(0) {
            let exp = if hex {
                matches!(c, b'p' | b'P')
            } else {
                matches!(c, b'e' | b'E')
            };
            if exp && matches!(self.peek(1), Some(b'+' | b'-')) {
                self.pos += 2;
            } else if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// At `[`: the level of a long bracket `[==[` (number of `=`), if this is one.
    fn long_bracket_level(&self) -> Option<usize> {
        let mut n = 0;
        while self.peek(1 + n) == Some(b'=') {
            n += 1;
        }
        (self.peek(1 + n) == Some(b'[')).then_some(n)
    }

    fn long_string(&mut self) -> LResult<String> {
        let line = self.line;
        let level = self.long_bracket_level().unwrap_or(0);
        self.pos += level + 2;
        // A newline right after the opening bracket is not part of the string.
        if self.peek(0) == Some(b'\r') {
            self.bump();
            if self.peek(0) == Some(b'\n') {
                self.bump();
            }
        } else if self.peek(0) == Some(b'\n') {
            self.bump();
            if self.peek(0) == Some(b'\r') {
                self.bump();
            }
        }
        let start = self.pos;
        loop {
            match self.peek(0) {
                None => return Err(LuaError::at(line, "unfinished long string or comment")),
                Some(b']') => {
                    let mut n = 0;
                    while self.peek(1 + n) == Some(b'=') {
                        n += 1;
                    }
                    if n == level && self.peek(1 + n) == Some(b']') {
                        let s = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
                        self.pos += level + 2;
                        return Ok(s);
                    }
                    self.bump();
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    fn short_string(&mut self, quote: u8) -> LResult<String> {
        let line = self.line;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(LuaError::at(line, "unfinished string"));
            };
            match c {
                b'\n' => return Err(LuaError::at(line, "unfinished string")),
                c if c == quote => break,
                b'\\' => {
                    let Some(e) = self.bump() else {
                        return Err(LuaError::at(line, "unfinished string"));
                    };
                    match e {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'a' => out.push(7),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'v' => out.push(11),
                        b'\n' => out.push(b'\n'),
                        b'\\' | b'"' | b'\'' => out.push(e),
                        b'x' => {
                            let mut v = 0u32;
                            for _ in 0..2 {
                                let d = self
                                    .bump()
                                    .and_then(|d| (d as char).to_digit(16))
                                    .ok_or_else(|| LuaError::at(self.line, "bad \\x escape"))?;
                                v = v * 16 + d;
                            }
                            out.push(v as u8);
                        }
                        b'z' => {
                            while self.peek(0).is_some_and(|c| c.is_ascii_whitespace()) {
                                self.bump();
                            }
                        }
                        b'u' => {
                            if self.bump() != Some(b'{') {
                                return Err(LuaError::at(self.line, "bad \\u escape"));
                            }
                            let mut v = 0u32;
                            loop {
                                match self.bump() {
                                    Some(b'}') => break,
                                    Some(d) => {
                                        let d = (d as char).to_digit(16).ok_or_else(|| {
                                            LuaError::at(self.line, "bad \\u escape")
                                        })?;
                                        v = v.saturating_mul(16).saturating_add(d);
                                    }
                                    None => return Err(LuaError::at(line, "unfinished string")),
                                }
                            }
                            let ch = char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER);
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        d if d.is_ascii_digit() => {
                            let mut v = u32::from(d - b'0');
                            for _ in 0..2 {
                                match self.peek(0) {
                                    Some(d) if d.is_ascii_digit() => {
                                        v = v * 10 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            if v > 255 {
                                return Err(LuaError::at(self.line, "decimal escape too large"));
                            }
                            out.push(v as u8);
                        }
                        other => {
                            return Err(LuaError::at(
                                self.line,
                                format!("invalid escape '\\{}'", other as char),
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

fn lex(src: &str) -> LResult<Vec<Token>> {
    Lexer {
        src: src.as_bytes(),
        pos: 0,
        line: 1,
    }
    .tokens()
}

// ---------------------------------------------------------------------------------------------
// Parser: the whole grammar, but only the parts that matter survive in the tree.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Expr {
    Nil,
    Str(String),
    /// Numbers, booleans, `...`, unary operators: a value we never need to know.
    Opaque,
    /// A binary operation, kept so that string concatenation folds and the facts reader sees
    /// both operands.
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Table(Vec<Field>),
    Func(Rc<FuncBody>),
    Name(String),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, Vec<Expr>),
    Method(Box<Expr>, String, Vec<Expr>),
}

#[derive(Clone, Debug)]
enum Field {
    Keyed(Expr, Expr),
    Positional(Expr),
}

#[derive(Debug)]
struct FuncBody {
    params: Vec<String>,
    body: Block,
    line: u32,
}

#[derive(Debug, Default)]
struct Block {
    stats: Vec<Stat>,
    ret: Option<(u32, Vec<Expr>)>,
}

#[derive(Debug)]
enum Stat {
    Local(Vec<String>, Vec<Expr>),
    LocalFunction(String, Rc<FuncBody>),
    /// `function a.b.c()` / `function a.b:c()`, as an assignment to that target.
    Function(Expr, Rc<FuncBody>),
    Assign(Vec<Expr>, Vec<Expr>),
    Call(Expr),
    NumFor(String, Block),
    GenFor(Vec<String>, Vec<Expr>, Block),
    /// `do`, `while`, `repeat`, `if`: blocks that may or may not run.
    Nested(Vec<Block>),
    /// `break`, `goto`, labels, `;`.
    Other,
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Blocks and expressions being parsed, one inside the other.
    levels: usize,
}

/// How deeply blocks and expressions may nest, so that odd code cannot exhaust the stack of the
/// parser (or of the readers, which recurse over the same tree). Half Lua's own limit
/// (LUAI_MAXCCALLS, 200: "chunk has too many syntax levels"), which a debug build's 2 MB test
/// threads do not reach; Kong's migrations nest a few levels.
const MAX_SYNTAX_LEVELS: usize = 100;

impl Parser {
    fn tok(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn line(&self) -> u32 {
        self.toks[self.pos.min(self.toks.len() - 1)].line
    }

    fn next(&mut self) -> Tok {
        let t = self.tok().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.tok(), Tok::Sym(x) if *x == s)
    }

    fn is_kw(&self, k: &str) -> bool {
        matches!(self.tok(), Tok::Kw(x) if *x == k)
    }

    fn accept_sym(&mut self, s: &str) -> bool {
        let yes = self.is_sym(s);
        if yes {
            self.next();
        }
        yes
    }

    fn accept_kw(&mut self, k: &str) -> bool {
        let yes = self.is_kw(k);
        if yes {
            self.next();
        }
        yes
    }

    fn describe(t: &Tok) -> String {
        match t {
            Tok::Name(n) => format!("'{n}'"),
            Tok::Kw(k) => format!("'{k}'"),
            Tok::Str(_) => "a string".to_string(),
            Tok::Num => "a number".to_string(),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "the end of the file".to_string(),
        }
    }

    fn err<T>(&self, what: &str) -> LResult<T> {
        Err(LuaError::at(
            self.line(),
            format!("expected {what}, found {}", Self::describe(self.tok())),
        ))
    }

    fn expect_sym(&mut self, s: &str) -> LResult<()> {
        if self.accept_sym(s) {
            Ok(())
        } else {
            self.err(&format!("'{s}'"))
        }
    }

    fn expect_kw(&mut self, k: &str) -> LResult<()> {
        if self.accept_kw(k) {
            Ok(())
        } else {
            self.err(&format!("'{k}'"))
        }
    }

    fn name(&mut self) -> LResult<String> {
        match self.tok().clone() {
            Tok::Name(n) => {
                self.next();
                Ok(n)
            }
            _ => self.err("a name"),
        }
    }

    fn block_end(&self) -> bool {
        matches!(self.tok(), Tok::Eof)
            || self.is_kw("end")
            || self.is_kw("else")
            || self.is_kw("elseif")
            || self.is_kw("until")
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> LResult<T>) -> LResult<T> {
        if self.levels >= MAX_SYNTAX_LEVELS {
            return Err(LuaError::at(
                self.line(),
                format!("the code nests more than {MAX_SYNTAX_LEVELS} levels deep"),
            ));
        }
        self.levels += 1;
        let r = f(self);
        self.levels -= 1;
        r
    }

    fn block(&mut self) -> LResult<Block> {
        self.nested(Self::block_stats)
    }

    fn block_stats(&mut self) -> LResult<Block> {
        let mut b = Block::default();
        while !self.block_end() {
            if self.is_kw("return") {
                let line = self.line();
                self.next();
                let exprs = if self.block_end() || self.is_sym(";") {
                    Vec::new()
                } else {
                    self.expr_list()?
                };
                self.accept_sym(";");
                if !self.block_end() {
                    return self.err("the end of the block after 'return'");
                }
                b.ret = Some((line, exprs));
                break;
            }
            b.stats.push(self.statement()?);
        }
        Ok(b)
    }

    fn statement(&mut self) -> LResult<Stat> {
        let line = self.line();
        match self.tok().clone() {
            Tok::Sym(";") => {
                self.next();
                Ok(Stat::Other)
            }
            Tok::Sym("::") => {
                self.next();
                self.name()?;
                self.expect_sym("::")?;
                Ok(Stat::Other)
            }
            Tok::Kw("break") => {
                self.next();
                Ok(Stat::Other)
            }
            Tok::Kw("goto") => {
                self.next();
                self.name()?;
                Ok(Stat::Other)
            }
            Tok::Kw("do") => {
                self.next();
                let b = self.block()?;
                self.expect_kw("end")?;
                Ok(Stat::Nested(vec![b]))
            }
            Tok::Kw("while") => {
                self.next();
                self.expr()?;
                self.expect_kw("do")?;
                let b = self.block()?;
                self.expect_kw("end")?;
                Ok(Stat::Nested(vec![b]))
            }
            Tok::Kw("repeat") => {
                self.next();
                let b = self.block()?;
                self.expect_kw("until")?;
                self.expr()?;
                Ok(Stat::Nested(vec![b]))
            }
            Tok::Kw("if") => {
                self.next();
                let mut blocks = Vec::new();
                self.expr()?;
                self.expect_kw("then")?;
                blocks.push(self.block()?);
                loop {
                    if self.accept_kw("elseif") {
                        self.expr()?;
                        self.expect_kw("then")?;
                        blocks.push(self.block()?);
                    } else if self.accept_kw("else") {
                        blocks.push(self.block()?);
                        self.expect_kw("end")?;
                        break;
                    } else {
                        self.expect_kw("end")?;
                        break;
                    }
                }
                Ok(Stat::Nested(blocks))
            }
            Tok::Kw("for") => {
                self.next();
                let first = self.name()?;
                if self.accept_sym("=") {
                    self.expr()?;
                    self.expect_sym(",")?;
                    self.expr()?;
                    if self.accept_sym(",") {
                        self.expr()?;
                    }
                    self.expect_kw("do")?;
                    let b = self.block()?;
                    self.expect_kw("end")?;
                    Ok(Stat::NumFor(first, b))
                } else {
                    let mut names = vec![first];
                    while self.accept_sym(",") {
                        names.push(self.name()?);
                    }
                    self.expect_kw("in")?;
                    let exprs = self.expr_list()?;
                    self.expect_kw("do")?;
                    let b = self.block()?;
                    self.expect_kw("end")?;
                    Ok(Stat::GenFor(names, exprs, b))
                }
            }
            Tok::Kw("function") => {
                self.next();
                let mut target = Expr::Name(self.name()?);
                let mut method = false;
                loop {
                    if self.accept_sym(".") {
                        let n = self.name()?;
                        target = Expr::Index(Box::new(target), Box::new(Expr::Str(n)));
                    } else if self.accept_sym(":") {
                        let n = self.name()?;
                        target = Expr::Index(Box::new(target), Box::new(Expr::Str(n)));
                        method = true;
                        break;
                    } else {
                        break;
                    }
                }
                let mut f = self.func_body(line)?;
                if method {
                    f.params.insert(0, "self".to_string());
                }
                Ok(Stat::Function(target, Rc::new(f)))
            }
            Tok::Kw("local") => {
                self.next();
                if self.accept_kw("function") {
                    let n = self.name()?;
                    let f = self.func_body(line)?;
                    return Ok(Stat::LocalFunction(n, Rc::new(f)));
                }
                let mut names = vec![self.local_name()?];
                while self.accept_sym(",") {
                    names.push(self.local_name()?);
                }
                let exprs = if self.accept_sym("=") {
                    self.expr_list()?
                } else {
                    Vec::new()
                };
                Ok(Stat::Local(names, exprs))
            }
            _ => {
                let e = self.suffixed_expr()?;
                if self.is_sym("=") || self.is_sym(",") {
                    let mut targets = vec![e];
                    while self.accept_sym(",") {
                        targets.push(self.suffixed_expr()?);
                    }
                    self.expect_sym("=")?;
                    let exprs = self.expr_list()?;
                    for t in &targets {
                        if !matches!(t, Expr::Name(_) | Expr::Index(..)) {
                            return Err(LuaError::at(line, "cannot assign to this expression"));
                        }
                    }
                    Ok(Stat::Assign(targets, exprs))
                } else if matches!(e, Expr::Call(..) | Expr::Method(..)) {
                    Ok(Stat::Call(e))
                } else {
                    Err(LuaError::at(line, "syntax error: expected a statement"))
                }
            }
        }
    }

    /// A local's name, with an optional Lua 5.4 attribute (`<const>`, `<close>`).
    fn local_name(&mut self) -> LResult<String> {
        let n = self.name()?;
        if self.accept_sym("<") {
            self.name()?;
            self.expect_sym(">")?;
        }
        Ok(n)
    }

    fn func_body(&mut self, line: u32) -> LResult<FuncBody> {
        self.expect_sym("(")?;
        let mut params = Vec::new();
        if !self.is_sym(")") {
            loop {
                if self.accept_sym("...") {
                    break;
                }
                params.push(self.name()?);
                if !self.accept_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym(")")?;
        let body = self.block()?;
        self.expect_kw("end")?;
        Ok(FuncBody { params, body, line })
    }

    fn expr_list(&mut self) -> LResult<Vec<Expr>> {
        let mut v = vec![self.expr()?];
        while self.accept_sym(",") {
            v.push(self.expr()?);
        }
        Ok(v)
    }

    fn binary_priority(&self) -> Option<(u8, u8)> {
        // (left, right) priorities as in Lua 5.3's parser; right < left for right-associative.
        let p = match self.tok() {
            Tok::Kw("or") => (1, 1),
            Tok::Kw("and") => (2, 2),
            Tok::Sym("<" | ">" | "<=" | ">=" | "~=" | "==") => (3, 3),
            Tok::Sym("|") => (4, 4),
            Tok::Sym("~") => (5, 5),
            Tok::Sym("&") => (6, 6),
            Tok::Sym("<<" | ">>") => (7, 7),
            Tok::Sym("..") => (9, 8),
            Tok::Sym("+" | "-") => (10, 10),
            Tok::Sym("*" | "/" | "//" | "%") => (11, 11),
            Tok::Sym("^") => (14, 13),
            _ => return None,
        };
        Some(p)
    }

    fn expr(&mut self) -> LResult<Expr> {
        self.sub_expr(0)
    }

    fn sub_expr(&mut self, limit: u8) -> LResult<Expr> {
        self.nested(|p| p.sub_expr_at(limit))
    }

    fn sub_expr_at(&mut self, limit: u8) -> LResult<Expr> {
        const UNARY_PRIORITY: u8 = 12;
        let mut left = if matches!(self.tok(), Tok::Kw("not") | Tok::Sym("-" | "#" | "~")) {
            self.next();
            self.sub_expr(UNARY_PRIORITY)?;
            Expr::Opaque
        } else {
            self.simple_expr()?
        };
        while let Some((l, r)) = self.binary_priority() {
            if l <= limit {
                break;
            }
            let op = match self.next() {
                Tok::Sym(s) => s,
                Tok::Kw(k) => k,
                _ => "?",
            };
            let right = self.sub_expr(r)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn simple_expr(&mut self) -> LResult<Expr> {
        let line = self.line();
        let e = match self.tok().clone() {
            Tok::Num | Tok::Kw("true") | Tok::Kw("false") | Tok::Sym("...") => {
                self.next();
                Expr::Opaque
            }
            Tok::Kw("nil") => {
                self.next();
                Expr::Nil
            }
            Tok::Str(s) => {
                self.next();
                Expr::Str(s)
            }
            Tok::Sym("{") => self.table()?,
            Tok::Kw("function") => {
                self.next();
                Expr::Func(Rc::new(self.func_body(line)?))
            }
            _ => return self.suffixed_expr(),
        };
        Ok(e)
    }

    fn primary_expr(&mut self) -> LResult<Expr> {
        match self.tok().clone() {
            Tok::Name(n) => {
                self.next();
                Ok(Expr::Name(n))
            }
            Tok::Sym("(") => {
                self.next();
                let e = self.expr()?;
                self.expect_sym(")")?;
                // Parentheses cut a call down to one value; for us it is the same value.
                Ok(e)
            }
            _ => self.err("an expression"),
        }
    }

    fn suffixed_expr(&mut self) -> LResult<Expr> {
        let mut e = self.primary_expr()?;
        loop {
            match self.tok().clone() {
                Tok::Sym(".") => {
                    self.next();
                    let n = self.name()?;
                    e = Expr::Index(Box::new(e), Box::new(Expr::Str(n)));
                }
                Tok::Sym("[") => {
                    self.next();
                    let k = self.expr()?;
                    self.expect_sym("]")?;
                    e = Expr::Index(Box::new(e), Box::new(k));
                }
                Tok::Sym(":") => {
                    self.next();
                    let n = self.name()?;
                    let args = self.call_args()?;
                    e = Expr::Method(Box::new(e), n, args);
                }
                Tok::Sym("(") | Tok::Sym("{") | Tok::Str(_) => {
                    let args = self.call_args()?;
                    e = Expr::Call(Box::new(e), args);
                }
                _ => return Ok(e),
            }
        }
    }

    fn call_args(&mut self) -> LResult<Vec<Expr>> {
        match self.tok().clone() {
            Tok::Str(s) => {
                self.next();
                Ok(vec![Expr::Str(s)])
            }
            Tok::Sym("{") => Ok(vec![self.table()?]),
            Tok::Sym("(") => {
                self.next();
                if self.accept_sym(")") {
                    return Ok(Vec::new());
                }
                let args = self.expr_list()?;
                self.expect_sym(")")?;
                Ok(args)
            }
            _ => self.err("function arguments"),
        }
    }

    fn table(&mut self) -> LResult<Expr> {
        self.expect_sym("{")?;
        let mut fields = Vec::new();
        while !self.is_sym("}") {
            if self.accept_sym("[") {
                let k = self.expr()?;
                self.expect_sym("]")?;
                self.expect_sym("=")?;
                fields.push(Field::Keyed(k, self.expr()?));
            } else if matches!(self.tok(), Tok::Name(_))
                && matches!(
                    self.toks.get(self.pos + 1).map(|t| &t.tok),
                    Some(Tok::Sym("="))
                )
            {
                let n = self.name()?;
                self.next();
                fields.push(Field::Keyed(Expr::Str(n), self.expr()?));
            } else {
                fields.push(Field::Positional(self.expr()?));
            }
            if !self.accept_sym(",") && !self.accept_sym(";") {
                break;
            }
        }
        self.expect_sym("}")?;
        Ok(Expr::Table(fields))
    }
}

fn parse(src: &str) -> LResult<Block> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        levels: 0,
    };
    let b = p.block()?;
    if !matches!(p.tok(), Tok::Eof) {
        return p.err("the end of the file");
    }
    Ok(b)
}

// ---------------------------------------------------------------------------------------------
// Static evaluation of straight-line code
// ---------------------------------------------------------------------------------------------

/// A table built by the code: its fields in order of first assignment. `dynamic` is set when code
/// we do not follow (a loop, a branch) writes into it, so its contents cannot be trusted.
#[derive(Debug, Default)]
struct TableVal {
    fields: Vec<(Key, Val)>,
    positional: usize,
    dynamic: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Key {
    Str(String),
    Pos(usize),
}

type TableRef = Rc<RefCell<TableVal>>;

#[derive(Clone, Debug)]
enum Val {
    Nil,
    Str(String),
    Table(TableRef),
    Func(Rc<FuncBody>, Scope),
    /// `require "x"`, or a field path inside it.
    Module(String, Vec<String>),
    /// A call of a module (or of a function found in one): where the value really comes from,
    /// with the arguments it is given (`ops.ws_migrate_plugin(plugin_entities)`).
    Delegated(Delegation, Vec<Val>),
    /// `string.format`, kept so that the facts reader knows its first argument is a template.
    StringFormat,
    /// A value computed by code we do not run, with what it is made of: the operands of a `..`
    /// that is not two strings, or a call not followed and its arguments (string.format's
    /// template, a helper's entity list). The facts reader reads the known parts.
    Computed(Rc<Computed>),
    /// Anything else: numbers, operators, unknown globals.
    Unknown(String),
}

/// How a [`Val::Computed`] was made.
#[derive(Debug)]
enum How {
    /// `a .. b`, `parts` being the operands in order (nested concatenations flattened).
    Concat,
    /// `string.format(template, ...)` or `template:format(...)`: `parts` are its arguments.
    Format,
    /// A call of a function we do not follow (its description), `parts` its arguments.
    Call(String),
    /// `recv:name(...)`, `parts` its arguments (without the receiver).
    Method(Val, String),
}

#[derive(Debug)]
struct Computed {
    how: How,
    parts: Vec<Val>,
    /// How many computed values deep it is (1: none of its parts is computed).
    depth: usize,
}

/// How deeply computed values may nest (`s = f(s)` on each of many lines): the facts reader
/// walks them, and Rust drops them, by recursion.
const MAX_NESTING: usize = 64;

impl Computed {
    fn val(how: How, parts: Vec<Val>) -> Val {
        let inner = parts
            .iter()
            .map(|p| match p {
                Val::Computed(c) => c.depth,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        if inner >= MAX_NESTING {
            return Val::Unknown("a value nested deeper than the reader follows".to_string());
        }
        Val::Computed(Rc::new(Computed {
            how,
            parts,
            depth: inner + 1,
        }))
    }
}

impl Val {
    fn describe(&self) -> String {
        match self {
            Val::Nil => "nil".to_string(),
            Val::Str(_) => "a string".to_string(),
            Val::Table(_) => "a table".to_string(),
            Val::Func(..) => "a function".to_string(),
            Val::Module(m, path) if path.is_empty() => format!("module {m}"),
            Val::Module(m, path) => format!("{}() of module {m}", path.join(".")),
            Val::Delegated(d, _) => d.to_string(),
            // As it was said before these values kept their parts.
            Val::StringFormat => "a field of global 'string'".to_string(),
            Val::Computed(c) => match &c.how {
                How::Concat => "a computed value".to_string(),
                How::Format => "the result of calling a field of global 'string'".to_string(),
                How::Call(callee) => format!("the result of calling {callee}"),
                How::Method(recv, name) => {
                    format!("the result of method '{name}' of {}", recv.describe())
                }
            },
            Val::Unknown(what) => what.clone(),
        }
    }
}

/// Lexical scope as a persistent list: a closure keeps the chain it was created in, and later
/// `local`s do not leak into it, while assignments to existing locals are seen (as in Lua).
#[derive(Clone, Debug, Default)]
struct Scope(Option<Rc<Binding>>);

#[derive(Debug)]
struct Binding {
    name: String,
    val: RefCell<Val>,
    parent: Scope,
}

impl Scope {
    fn bind(&self, name: &str, val: Val) -> Scope {
        Scope(Some(Rc::new(Binding {
            name: name.to_string(),
            val: RefCell::new(val),
            parent: self.clone(),
        })))
    }

    fn find(&self, name: &str) -> Option<Rc<Binding>> {
        let mut cur = self.0.clone();
        while let Some(b) = cur {
            if b.name == name {
                return Some(b);
            }
            cur = b.parent.0.clone();
        }
        None
    }
}

fn table_get(t: &TableRef, key: &Key) -> Val {
    t.borrow()
        .fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or(Val::Nil)
}

fn table_set(t: &TableRef, key: Key, val: Val) {
    let mut tb = t.borrow_mut();
    if let Some(slot) = tb.fields.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = val;
    } else {
        tb.fields.push((key, val));
    }
}

struct Eval {
    /// Guards against pathological recursion through function bodies.
    depth: usize,
    /// Work left: each function followed and each operand a `..` keeps costs one. The depth
    /// limit alone lets a function calling itself k times run k^16 calls (and build a value that
    /// large); past the budget calls are not followed and concatenations are unknown, which the
    /// facts reader marks partial, so a hostile module is read in bounded time.
    budget: usize,
    /// Globals assigned by straight-line code (a rockspec is nothing but globals).
    globals: TableRef,
}

impl Default for Eval {
    fn default() -> Self {
        Eval::with_budget(MAX_WORK)
    }
}

const MAX_DEPTH: usize = 16;

/// The work one module may cost the reader (calls followed, operands kept, bodies walked): far
/// above what Kong's largest migrations take (a few hundred), far below what hurts.
const MAX_WORK: usize = 20_000;

impl Eval {
    fn with_budget(budget: usize) -> Self {
        Eval {
            depth: 0,
            budget,
            globals: TableRef::default(),
        }
    }

    fn key(&mut self, e: &Expr, scope: &Scope) -> LResult<Option<Key>> {
        Ok(match self.expr(e, scope)? {
            Val::Str(s) => Some(Key::Str(s)),
            _ => None,
        })
    }

    fn expr(&mut self, e: &Expr, scope: &Scope) -> LResult<Val> {
        Ok(match e {
            Expr::Nil => Val::Nil,
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Opaque => Val::Unknown("a computed value".to_string()),
            // Lua's `..` on two strings is their concatenation; other operators (and their
            // operands, which could call functions) are not evaluated.
            // Otherwise the operands are kept, for the facts reader.
            Expr::Binary("..", a, b) => match (self.expr(a, scope)?, self.expr(b, scope)?) {
                (Val::Str(a), Val::Str(b)) => Val::Str(a + &b),
                (a, b) => {
                    let mut parts = Vec::new();
                    for v in [a, b] {
                        match v {
                            Val::Computed(c) if matches!(c.how, How::Concat) => {
                                parts.extend(c.parts.iter().cloned())
                            }
                            v => parts.push(v),
                        }
                    }
                    match self.budget.checked_sub(parts.len()) {
                        Some(left) => {
                            self.budget = left;
                            Computed::val(How::Concat, parts)
                        }
                        None => {
                            self.budget = 0;
                            Val::Unknown("a value larger than the reader follows".to_string())
                        }
                    }
                }
            },
            Expr::Binary(..) => Val::Unknown("a computed value".to_string()),
            Expr::Func(f) => Val::Func(f.clone(), scope.clone()),
            Expr::Name(n) => match scope.find(n) {
                Some(b) => b.val.borrow().clone(),
                None => match table_get(&self.globals, &Key::Str(n.clone())) {
                    Val::Nil => Val::Unknown(format!("global '{n}'")),
                    v => v,
                },
            },
            Expr::Table(fields) => {
                let t: TableRef = Rc::default();
                for f in fields {
                    match f {
                        Field::Keyed(k, v) => {
                            let v = self.expr(v, scope)?;
                            match self.key(k, scope)? {
                                Some(k) => table_set(&t, k, v),
                                None => t.borrow_mut().dynamic = true,
                            }
                        }
                        Field::Positional(v) => {
                            let v = self.expr(v, scope)?;
                            let mut tb = t.borrow_mut();
                            tb.positional += 1;
                            let i = tb.positional;
                            tb.fields.push((Key::Pos(i), v));
                        }
                    }
                }
                Val::Table(t)
            }
            Expr::Index(obj, key) => {
                let o = self.expr(obj, scope)?;
                let k = self.key(key, scope)?;
                match (o, k) {
                    (Val::Table(t), Some(k)) => table_get(&t, &k),
                    (Val::Module(m, mut path), Some(Key::Str(k))) => {
                        path.push(k);
                        Val::Module(m, path)
                    }
                    (Val::Unknown(g), Some(Key::Str(k)))
                        if g == "global 'string'" && k == "format" =>
                    {
                        Val::StringFormat
                    }
                    (o, _) => Val::Unknown(format!("a field of {}", o.describe())),
                }
            }
            Expr::Call(callee, args) => {
                // `require` is only special while nobody shadowed it.
                let is_require =
                    matches!(&**callee, Expr::Name(n) if n == "require" && scope.find(n).is_none());
                let f = if is_require {
                    Val::Nil
                } else {
                    self.expr(callee, scope)?
                };
                let args: Vec<Val> = args
                    .iter()
                    .map(|a| self.expr(a, scope))
                    .collect::<LResult<_>>()?;
                if is_require {
                    return Ok(match args.first() {
                        Some(Val::Str(m)) => Val::Module(m.clone(), Vec::new()),
                        _ => Val::Unknown("require of a computed module name".to_string()),
                    });
                }
                // `assert(v, ...)` is `v` when it returns (Kong: `assert(ops:ws_add_workspaces())`).
                if matches!(&**callee, Expr::Name(n) if n == "assert" && scope.find(n).is_none()) {
                    if let Some(v) = args.first() {
                        return Ok(v.clone());
                    }
                }
                match f {
                    // A local function is followed (what it returns, what it writes), within
                    // a depth limit.
                    Val::Func(body, closure) if self.depth < MAX_DEPTH && self.budget > 0 => {
                        self.budget -= 1;
                        match self.call(&body, &closure, &args)? {
                            Some(v) => v,
                            None => Val::Unknown(
                                "the result of a function without a final return".to_string(),
                            ),
                        }
                    }
                    other => {
                        // A function we do not run may change any table it is given.
                        for a in &args {
                            if let Val::Table(t) = a {
                                t.borrow_mut().dynamic = true;
                            }
                        }
                        match other {
                            Val::Module(module, path) => Val::Delegated(
                                Delegation {
                                    module,
                                    function: (!path.is_empty()).then(|| path.join(".")),
                                    call: true,
                                },
                                args,
                            ),
                            Val::StringFormat => Computed::val(How::Format, args),
                            other => Computed::val(How::Call(other.describe()), args),
                        }
                    }
                }
            }
            Expr::Method(obj, name, args) => {
                let recv = self.expr(obj, scope)?;
                let mut vals = Vec::new();
                for a in args {
                    vals.push(self.expr(a, scope)?);
                }
                for v in vals.iter().chain([&recv]) {
                    if let Val::Table(t) = v {
                        t.borrow_mut().dynamic = true;
                    }
                }
                if matches!(recv, Val::Str(_)) && name == "format" {
                    // `("..."):format(...)` is string.format with the receiver as template.
                    let mut parts = vec![recv];
                    parts.extend(vals);
                    Computed::val(How::Format, parts)
                } else {
                    Computed::val(How::Method(recv, name.clone()), vals)
                }
            }
        })
    }

    /// Runs a block's straight-line statements; returns the value of its final `return`, if any.
    fn block(&mut self, b: &Block, scope: &Scope) -> LResult<Option<(u32, Val)>> {
        let mut scope = scope.clone();
        for s in &b.stats {
            self.stat(s, &mut scope)?;
        }
        self.ret(b, &scope)
    }

    fn ret(&mut self, b: &Block, scope: &Scope) -> LResult<Option<(u32, Val)>> {
        match &b.ret {
            None => Ok(None),
            Some((line, exprs)) => {
                let v = match exprs.first() {
                    Some(e) => self.expr(e, scope)?,
                    None => Val::Nil,
                };
                Ok(Some((*line, v)))
            }
        }
    }

    fn stat(&mut self, s: &Stat, scope: &mut Scope) -> LResult<()> {
        match s {
            Stat::Local(names, exprs) => {
                let vals = self.values(exprs, names.len(), scope)?;
                for (n, v) in names.iter().zip(vals) {
                    *scope = scope.bind(n, v);
                }
            }
            Stat::LocalFunction(n, f) => {
                // Bound before the body so the function can call itself.
                *scope = scope.bind(n, Val::Nil);
                if let Some(b) = scope.find(n) {
                    *b.val.borrow_mut() = Val::Func(f.clone(), scope.clone());
                }
            }
            Stat::Function(target, f) => {
                let v = Val::Func(f.clone(), scope.clone());
                self.assign(target, v, scope)?;
            }
            Stat::Assign(targets, exprs) => {
                let vals = self.values(exprs, targets.len(), scope)?;
                for (t, v) in targets.iter().zip(vals) {
                    self.assign(t, v, scope)?;
                }
            }
            Stat::Call(e) => {
                self.expr(e, scope)?;
            }
            Stat::Other => {}
            Stat::NumFor(_, body) | Stat::GenFor(_, _, body) => self.taint(body, scope)?,
            Stat::Nested(blocks) => {
                for body in blocks {
                    self.taint(body, scope)?;
                }
            }
        }
        Ok(())
    }

    /// Values for `n` targets: Lua's adjustment (missing ones are nil, extra ones dropped).
    fn values(&mut self, exprs: &[Expr], n: usize, scope: &Scope) -> LResult<Vec<Val>> {
        let mut vals = Vec::with_capacity(n);
        for (i, e) in exprs.iter().enumerate() {
            let v = self.expr(e, scope)?;
            if i < n {
                vals.push(v);
            }
        }
        while vals.len() < n {
            // A trailing call may yield several values: those are unknown, not nil.
            let multi = matches!(exprs.last(), Some(Expr::Call(..) | Expr::Method(..)));
            vals.push(if multi {
                Val::Unknown("an extra return value".to_string())
            } else {
                Val::Nil
            });
        }
        Ok(vals)
    }

    fn assign(&mut self, target: &Expr, v: Val, scope: &Scope) -> LResult<()> {
        match target {
            Expr::Name(n) => match scope.find(n) {
                Some(b) => *b.val.borrow_mut() = v,
                None => table_set(&self.globals, Key::Str(n.clone()), v),
            },
            Expr::Index(obj, key) => {
                if let Val::Table(t) = self.expr(obj, scope)? {
                    match self.key(key, scope)? {
                        Some(k) => table_set(&t, k, v),
                        None => t.borrow_mut().dynamic = true,
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Code in a loop or branch: we do not run it, but any table it writes into is marked, so a
    /// section built that way is reported instead of misread.
    fn taint(&mut self, b: &Block, scope: &Scope) -> LResult<()> {
        let mut scope = scope.clone();
        for s in &b.stats {
            match s {
                Stat::Local(names, _) => {
                    for n in names {
                        scope = scope.bind(n, Val::Unknown(format!("local '{n}' of a loop")));
                    }
                }
                Stat::LocalFunction(n, _) => {
                    scope = scope.bind(n, Val::Unknown(format!("local function '{n}'")));
                }
                Stat::Assign(targets, _) => {
                    for t in targets {
                        self.taint_target(t, &scope)?;
                    }
                }
                Stat::Function(t, _) => self.taint_target(t, &scope)?,
                Stat::NumFor(v, body) => {
                    let inner = scope.bind(v, Val::Unknown("a loop variable".to_string()));
                    self.taint(body, &inner)?;
                }
                Stat::GenFor(vars, _, body) => {
                    let mut inner = scope.clone();
                    for v in vars {
                        inner = inner.bind(v, Val::Unknown("a loop variable".to_string()));
                    }
                    self.taint(body, &inner)?;
                }
                Stat::Nested(blocks) => {
                    for body in blocks {
                        self.taint(body, &scope)?;
                    }
                }
                Stat::Call(_) | Stat::Other => {}
            }
        }
        Ok(())
    }

    fn taint_target(&mut self, t: &Expr, scope: &Scope) -> LResult<()> {
        match t {
            Expr::Index(obj, _) => {
                if let Val::Table(t) = self.expr(obj, scope)? {
                    t.borrow_mut().dynamic = true;
                }
            }
            Expr::Name(n) => {
                if let Some(b) = scope.find(n) {
                    *b.val.borrow_mut() =
                        Val::Unknown(format!("'{n}', assigned in a loop or branch"));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Runs a function's body with `args` bound to its parameters; `None` when the body does not
    /// end with a return statement.
    fn call(&mut self, f: &FuncBody, scope: &Scope, args: &[Val]) -> LResult<Option<Val>> {
        let mut inner = scope.clone();
        for (i, p) in f.params.iter().enumerate() {
            let v = args
                .get(i)
                .cloned()
                .unwrap_or_else(|| Val::Unknown(format!("parameter '{p}'")));
            inner = inner.bind(p, v);
        }
        self.depth += 1;
        let r = self.block(&f.body, &inner);
        self.depth -= 1;
        Ok(r?.map(|(_, v)| v))
    }
}

fn chunk_value(src: &str) -> LResult<(u32, Val)> {
    let b = parse(src)?;
    let mut ev = Eval::default();
    ev.block(&b, &Scope::default())?
        .ok_or_else(|| LuaError::new("the file does not end with a return statement"))
}

// ---------------------------------------------------------------------------------------------
// What callers ask
// ---------------------------------------------------------------------------------------------

/// A module that returns one string (`kong/templates/kong_defaults.lua`: `return [[ ... ]]`).
pub fn returned_string(src: &str) -> Result<String, LuaError> {
    match chunk_value(src)? {
        (_, Val::Str(s)) => Ok(s),
        (line, other) => Err(LuaError::at(
            line,
            format!("expected a string, found {}", other.describe()),
        )),
    }
}

/// `migrations/init.lua`: `return { "000_base", ... }`.
pub fn migration_index(src: &str) -> Result<Vec<String>, LuaError> {
    let (line, v) = chunk_value(src)?;
    let t = match v {
        Val::Table(t) => t,
        other => {
            return Err(LuaError::at(
                line,
                format!(
                    "expected a list of migration names, found {}",
                    other.describe()
                ),
            ))
        }
    };
    let tb = t.borrow();
    if tb.dynamic {
        return Err(LuaError::at(
            line,
            "the list of migrations is built by code",
        ));
    }
    let mut names = Vec::new();
    for (k, v) in &tb.fields {
        match (k, v) {
            (Key::Pos(_), Val::Str(s)) => names.push(s.clone()),
            (Key::Pos(i), other) => {
                return Err(LuaError::at(
                    line,
                    format!("entry {i} of the list is {}, not a name", other.describe()),
                ))
            }
            (Key::Str(k), _) => {
                return Err(LuaError::at(
                    line,
                    format!("the list of migrations has a key '{k}'"),
                ))
            }
        }
    }
    Ok(names)
}

/// The two database sections of a migration; `None` when the module has no section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    pub postgres: Option<Phases>,
    pub cassandra: Option<Phases>,
}

/// A migration module that returns what another module computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    /// The `require`d module, e.g. `kong.db.migrations.operations.200_to_210`.
    pub module: String,
    /// A field (path) of the table the module returns (`ws_migrate_plugin`), or `None` for the
    /// module's value itself.
    pub function: Option<String>,
    /// That value is called (`ops.ws_migrate_plugin(...)`, `require("x")(...)`), rather than
    /// returned as it is (`return require("x")`).
    pub call: bool,
}

impl fmt::Display for Delegation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.module;
        match (&self.function, self.call) {
            (Some(func), true) => write!(f, "{func}() of module {m}"),
            (None, true) => write!(f, "the function returned by module {m}"),
            (Some(field), false) => write!(f, "field '{field}' of module {m}"),
            (None, false) => write!(f, "the value of module {m}"),
        }
    }
}

/// What a migration module returns, read statically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleShape {
    Sections(Sections),
    Delegates(Delegation),
}

fn sections_of(v: Val, line: u32, what: &str) -> LResult<ModuleShape> {
    let t = match v {
        Val::Table(t) => t,
        Val::Delegated(d, _) => return Ok(ModuleShape::Delegates(d)),
        Val::Module(module, path) => {
            return Ok(ModuleShape::Delegates(Delegation {
                module,
                function: (!path.is_empty()).then(|| path.join(".")),
                call: false,
            }))
        }
        other => {
            return Err(LuaError::at(
                line,
                format!("{what} returns {}, not a table", other.describe()),
            ))
        }
    };
    if t.borrow().dynamic {
        return Err(LuaError::at(
            line,
            format!("{what} returns a table built by code"),
        ));
    }
    let section = |name: &str| -> LResult<Option<Phases>> {
        let s = match table_get(&t, &Key::Str(name.to_string())) {
            Val::Nil => return Ok(None),
            Val::Table(s) => s,
            other => {
                return Err(LuaError::at(
                    line,
                    format!("section '{name}' is {}, not a table", other.describe()),
                ))
            }
        };
        if s.borrow().dynamic {
            return Err(LuaError::at(
                line,
                format!("section '{name}' is built by code"),
            ));
        }
        let present = |k: &str| !matches!(table_get(&s, &Key::Str(k.to_string())), Val::Nil);
        let up = table_get(&s, &Key::Str("up".to_string()));
        Ok(Some(Phases {
            up: !matches!(up, Val::Nil),
            up_empty: match &up {
                Val::Nil => true,
                // Lua's whitespace (%s): space, \t, \n, \v, \f, \r.
                Val::Str(sql) => sql
                    .chars()
                    .all(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')),
                _ => false,
            },
            up_f: present("up_f"),
            teardown: present("teardown"),
        }))
    };
    Ok(ModuleShape::Sections(Sections {
        postgres: section("postgres")?,
        cassandra: section("cassandra")?,
    }))
}

/// A migration module (`kong/plugins/x/migrations/000_base_x.lua`).
pub fn migration_module(src: &str) -> Result<ModuleShape, LuaError> {
    let (line, v) = chunk_value(src)?;
    sections_of(v, line, "the module")
}

/// The migration a module provides to another that delegates to it: the value at `field` of the
/// table the module returns (or the module's value itself when `field` is `None`), called when
/// `call` is set.
pub fn delegated_migration(
    src: &str,
    field: Option<&str>,
    call: bool,
) -> Result<ModuleShape, LuaError> {
    let (line, v, what) = delegated_value(src, field, call, &[])?;
    sections_of(v, line, &what)
}

/// The value a delegating module gets from `src`: the value at `field` of the table it returns
/// (or its value itself), called with `args` when `call` is set; with the line and words for
/// messages.
fn delegated_value(
    src: &str,
    field: Option<&str>,
    call: bool,
    args: &[Val],
) -> LResult<(u32, Val, String)> {
    let (line, mut v) = chunk_value(src)?;
    let mut what = "the value the module returns".to_string();
    if let Some(path) = field {
        for part in path.split('.') {
            v = match v {
                Val::Table(t) => table_get(&t, &Key::Str(part.to_string())),
                other => {
                    return Err(LuaError::at(
                        line,
                        format!("cannot find '{path}': {} is not a table", other.describe()),
                    ))
                }
            };
        }
        what = format!("'{path}' of the module");
    }
    if !call {
        return Ok((line, v, what));
    }
    let Val::Func(f, scope) = v else {
        return Err(LuaError::at(
            line,
            format!("{what} is {}, not a function", v.describe()),
        ));
    };
    // The sections' keys never depend on the arguments (names, entity lists): the migration's
    // shape is read without them, its facts with them.
    let mut ev = Eval::default();
    let r = ev.call(&f, &scope, args)?.ok_or_else(|| {
        LuaError::at(
            f.line,
            format!("the function ({what}) does not end with a return statement"),
        )
    })?;
    Ok((f.line, r, format!("the function ({what})")))
}

/// Kong's file for a Lua module name, as `require` finds it in a Lua tree: `a/b/c.lua`, then
/// `a/b/c/init.lua`.
pub fn module_paths(module: &str) -> [String; 2] {
    let base = module.replace('.', "/");
    [format!("{base}.lua"), format!("{base}/init.lua")]
}

/// The modules `src` requires by a literal name (`require "a.b"`, `require("a.b")`), in order,
/// once each: what a migration may build its SQL from (core 009 calls
/// `kong.db.migrations.operations.200_to_210`). Read from the tokens, so a comment or a string
/// is not taken for code; a source that does not lex lists none.
pub fn required_modules(src: &str) -> Vec<String> {
    let Ok(toks) = lex(src) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if !matches!(&t.tok, Tok::Name(n) if n == "require") {
            continue;
        }
        let arg = match toks.get(i + 1).map(|t| &t.tok) {
            Some(Tok::Str(m)) => Some(m),
            Some(Tok::Sym("(")) => match toks.get(i + 2).map(|t| &t.tok) {
                Some(Tok::Str(m)) => Some(m),
                _ => None,
            },
            _ => None,
        };
        if let Some(m) = arg {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
    }
    out
}

/// A migration read to the end, following delegations; `via` names the modules followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub sections: Sections,
    pub via: Vec<Delegation>,
}

/// Reads a migration module, following delegations through `load`, which returns a module's
/// source by name (`Ok(None)` when no such module exists; `Err` for a read failure).
pub fn resolve_migration<F>(src: &str, mut load: F) -> Result<Resolved, String>
where
    F: FnMut(&str) -> Result<Option<String>, String>,
{
    let mut via: Vec<Delegation> = Vec::new();
    let mut shape = migration_module(src).map_err(|e| e.to_string())?;
    loop {
        match shape {
            ModuleShape::Sections(sections) => return Ok(Resolved { sections, via }),
            ModuleShape::Delegates(d) => {
                if via.contains(&d) || via.len() >= MAX_DEPTH {
                    return Err(format!("delegation loop through {d}"));
                }
                let text = load(&d.module)?
                    .ok_or_else(|| format!("it returns {d}, but that module is not found"))?;
                shape = delegated_migration(&text, d.function.as_deref(), d.call)
                    .map_err(|e| format!("{d}: {e}"))?;
                via.push(d);
            }
        }
    }
}

/// `kong/constants.lua`: the names in `BUNDLED_PLUGINS`, in Kong's order. Kong builds that set
/// from a list with a loop (`for i = 1, #plugins do plugin_map[plugins[i]] = true end`); exactly
/// that shape (or `for _, p in ipairs(plugins) do plugin_map[p] = true end`, or a plain list) is
/// accepted, anything else is an error.
pub fn bundled_plugins(src: &str) -> Result<Vec<String>, LuaError> {
    let b = parse(src)?;
    let mut ev = Eval::default();
    let mut scope = Scope::default();
    // Loops of the shape `set[list[i]] = true`: (the set, the list's names, line).
    let mut fills: Vec<(TableRef, LResult<Vec<String>>)> = Vec::new();
    for s in &b.stats {
        if let Some(fill) = set_fill(&mut ev, s, &scope)? {
            fills.push(fill);
        }
        ev.stat(s, &mut scope)?;
    }
    let (line, ret) = ev
        .ret(&b, &scope)?
        .ok_or_else(|| LuaError::new("kong/constants.lua does not end with a return statement"))?;
    let Val::Table(ret) = ret else {
        return Err(LuaError::at(
            line,
            "kong/constants.lua does not return a table",
        ));
    };
    let set = match table_get(&ret, &Key::Str("BUNDLED_PLUGINS".to_string())) {
        Val::Table(t) => t,
        other => {
            return Err(LuaError::at(
                line,
                format!("BUNDLED_PLUGINS is {}, not a table", other.describe()),
            ))
        }
    };
    if !set.borrow().dynamic {
        // A plain list of names. Empty is refused: every Kong bundles plugins, so an empty set
        // means it is filled in a way we did not see.
        return match string_list(&set) {
            Some(list) if !list.is_empty() => Ok(list),
            Some(_) => Err(LuaError::at(line, "BUNDLED_PLUGINS is empty")),
            None => Err(LuaError::at(line, "BUNDLED_PLUGINS is not a list of names")),
        };
    }
    let mut matching = fills.into_iter().filter(|(t, _)| Rc::ptr_eq(t, &set));
    match (matching.next(), matching.next()) {
        (Some((_, list)), None) => {
            list.map_err(|e| LuaError::at(line, format!("BUNDLED_PLUGINS: {e}")))
        }
        (Some(_), Some(_)) => Err(LuaError::at(
            line,
            "BUNDLED_PLUGINS is filled by several loops",
        )),
        (None, _) => Err(LuaError::at(
            line,
            "cannot tell how BUNDLED_PLUGINS is filled",
        )),
    }
}

/// A rockspec's `dependencies`: the constraint strings as written (`"kong-plugin-session ~> 2.1"`).
pub fn rockspec_dependencies(src: &str) -> Result<Vec<String>, LuaError> {
    let b = parse(src)?;
    let mut ev = Eval::default();
    ev.block(&b, &Scope::default())?;
    match table_get(&ev.globals, &Key::Str("dependencies".to_string())) {
        // A rock without dependencies may leave the field out.
        Val::Nil => Ok(Vec::new()),
        Val::Table(t) => string_list(&t)
            .ok_or_else(|| LuaError::new("the rockspec's dependencies are not a list of strings")),
        other => Err(LuaError::new(format!(
            "the rockspec's dependencies are {}, not a list",
            other.describe()
        ))),
    }
}

fn string_list(t: &TableRef) -> Option<Vec<String>> {
    let tb = t.borrow();
    if tb.dynamic {
        return None;
    }
    tb.fields
        .iter()
        .map(|(k, v)| match (k, v) {
            (Key::Pos(_), Val::Str(s)) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// A top-level loop that fills a set from a list: `for i = 1, #list do set[list[i]] = true end` or
/// `for _, x in ipairs(list) do set[x] = true end`. Returns the set and the list's names.
fn set_fill(
    ev: &mut Eval,
    s: &Stat,
    scope: &Scope,
) -> LResult<Option<(TableRef, LResult<Vec<String>>)>> {
    let (body, list_expr) = match s {
        Stat::NumFor(var, body) => {
            let [Stat::Assign(targets, _)] = body.stats.as_slice() else {
                return Ok(None);
            };
            let [Expr::Index(_, key)] = targets.as_slice() else {
                return Ok(None);
            };
            match &**key {
                Expr::Index(list, i) if matches!(&**i, Expr::Name(n) if n == var) => {
                    (body, &**list)
                }
                _ => return Ok(None),
            }
        }
        Stat::GenFor(vars, iter, body) => {
            let [Stat::Assign(targets, _)] = body.stats.as_slice() else {
                return Ok(None);
            };
            let [Expr::Index(_, key)] = targets.as_slice() else {
                return Ok(None);
            };
            let by_value = vars.len() == 2 && matches!(&**key, Expr::Name(n) if *n == vars[1]);
            match iter.as_slice() {
                [Expr::Call(f, args)]
                    if by_value
                        && args.len() == 1
                        && matches!(&**f, Expr::Name(x) if x == "ipairs") =>
                {
                    (body, &args[0])
                }
                _ => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let [Stat::Assign(targets, values)] = body.stats.as_slice() else {
        return Ok(None);
    };
    let ([Expr::Index(set, _)], [Expr::Opaque]) = (targets.as_slice(), values.as_slice()) else {
        return Ok(None);
    };
    let Val::Table(set) = ev.expr(set, scope)? else {
        return Ok(None);
    };
    let list = match ev.expr(list_expr, scope)? {
        Val::Table(l) => {
            string_list(&l).ok_or_else(|| LuaError::new("its source list is not a list of names"))
        }
        other => Err(LuaError::new(format!(
            "it is built from {}",
            other.describe()
        ))),
    };
    Ok(Some((set, list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &str) -> Option<Phases> {
        Some(Phases::parse_words(words).unwrap())
    }

    fn sections(src: &str) -> Sections {
        match migration_module(src).unwrap() {
            ModuleShape::Sections(s) => s,
            other => panic!("expected sections, got {other:?}"),
        }
    }

    #[test]
    fn index_with_comments_quotes_and_trailing_comma() {
        let src = r#"
-- the core migrations
--[[ a block comment with "quotes", braces { } and end ]]
--[==[ a level-2 one with ]] inside ]==]
return {
  "000_base",   -- first
  '003_100_to_110';
  [[004_110_to_120]],
  [=[005_120_to_130]=],
  "006_\x31\51\u{30}_to_140", -- escapes: 1, 3, 0
}
"#;
        assert_eq!(
            migration_index(src).unwrap(),
            vec![
                "000_base",
                "003_100_to_110",
                "004_110_to_120",
                "005_120_to_130",
                "006_130_to_140"
            ]
        );
    }

    #[test]
    fn index_through_a_local_and_empty() {
        assert_eq!(
            migration_index("local m = { \"a\", \"b\" }\nreturn m").unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(migration_index("return {}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn index_errors_are_reported() {
        assert!(migration_index("return { \"a\", x = 1 }").is_err());
        assert!(migration_index("return { \"a\", 3 }").is_err());
        assert!(migration_index("local x = {}").is_err());
        let e = migration_index("return { \"a\" ").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(migration_index("return { \"unterminated }").is_err());
        assert!(migration_index("return { [[ never closed }").is_err());
    }

    #[test]
    fn one_phase_and_two_phase_sections() {
        let src = r#"
return {
  postgres = {
    up = [[
      CREATE TABLE IF NOT EXISTS "x" ( "id" UUID PRIMARY KEY );
      -- a SQL comment { with braces
    ]],
  },
  cassandra = {
    up = [[ CREATE TABLE IF NOT EXISTS x (id uuid PRIMARY KEY); ]],
    teardown = function(connector)
      local coordinator = assert(connector:get_stored_connection())
      for rows, err in coordinator:iterate("SELECT * FROM x") do
        if err then
          return nil, err
        end
        repeat
          local y = { a = { b = "end" } }
        until true
        while false do end
      end
      return true
    end,
  },
}
"#;
        let s = sections(src);
        assert_eq!(s.postgres, p("up"));
        assert_eq!(s.cassandra, p("up teardown"));
    }

    #[test]
    fn empty_up_in_all_spellings() {
        for up in [
            r#""""#,
            "''",
            "[[ ]]",
            "[==[\n]==]",
            "[[\n\n   \t ]]",
            "\"  \\n \"",
        ] {
            let src = format!("return {{ postgres = {{ up = {up}, teardown = function() end }} }}");
            assert_eq!(sections(&src).postgres, p("up up_empty teardown"), "{up}");
        }
        // Absent `up` counts as empty; `up = nil` is absent.
        let s = sections(
            "return { postgres = { teardown = function() end }, cassandra = { up = nil } }",
        );
        assert_eq!(s.postgres, p("up_empty teardown"));
        assert_eq!(s.cassandra, p("up_empty"));
        // A non-blank string and computed SQL are not empty.
        let s = sections(
            "return { postgres = { up = ' x ' }, cassandra = { up = string.format([[%s]], 1) } }",
        );
        assert_eq!(s.postgres, p("up"));
        assert_eq!(s.cassandra, p("up"));
    }

    #[test]
    fn up_f_and_missing_sections() {
        let s = sections(
            "return { postgres = { up = '', up_f = function() end, teardown = function() end } }",
        );
        assert_eq!(s.postgres, p("up up_empty up_f teardown"));
        assert_eq!(s.cassandra, None);
    }

    #[test]
    fn long_strings_hide_keys_braces_and_end() {
        // Text in strings and comments must not be taken for code.
        let src = r#"
return {
  postgres = {
    up = [==[
      -- teardown = function() end }
      DO $$ BEGIN ... END $$; ]] still inside
    ]==],
    --[[ teardown = function() end, ]]
    -- teardown = function() end,
  },
  cassandra = { up = "teardown = \"}\" end" },
}
"#;
        let s = sections(src);
        assert_eq!(s.postgres, p("up"));
        assert_eq!(s.cassandra, p("up"));
    }

    #[test]
    fn sections_defined_separately_and_through_locals() {
        let src = r#"
local utils = require "kong.tools.utils"
local SQL = [[ ]]
local postgres = { up = SQL }
local cassandra = {}
cassandra.up = "CREATE TABLE t (id uuid PRIMARY KEY)"
function cassandra.teardown(connector) return true end
local m = { postgres = postgres }
m["cassandra"] = cassandra
return m
"#;
        let s = sections(src);
        assert_eq!(s.postgres, p("up up_empty"));
        assert_eq!(s.cassandra, p("up teardown"));
    }

    #[test]
    fn scopes_follow_lua() {
        // The inner `local postgres` inside a function must not replace the outer one, and a
        // later shadowing local is what `return` sees.
        let src = r#"
local postgres = { up = "" }
local function f()
  local postgres = { up = "x", teardown = 1 }
  return postgres
end
local postgres = { up = "y" }
return { postgres = postgres }
"#;
        assert_eq!(sections(src).postgres, p("up"));
    }

    #[test]
    fn tables_written_in_loops_are_refused() {
        let src = r#"
local postgres = { up = "" }
for _, k in ipairs({ "teardown" }) do
  postgres[k] = function() end
end
return { postgres = postgres }
"#;
        let e = migration_module(src).unwrap_err();
        assert!(e.to_string().contains("built by code"), "{e}");
        assert!(migration_module("return setmetatable({}, {})").is_err());
        assert!(migration_module("return { postgres = 'x' }").is_err());
    }

    #[test]
    fn delegations_are_reported() {
        let src = r#"
local operations = require "kong.db.migrations.operations.200_to_210"
local plugin_entities = { { name = "jwt_secrets", primary_key = "id" } }
return operations.ws_migrate_plugin(plugin_entities)
"#;
        assert_eq!(
            migration_module(src).unwrap(),
            ModuleShape::Delegates(Delegation {
                module: "kong.db.migrations.operations.200_to_210".to_string(),
                function: Some("ws_migrate_plugin".to_string()),
                call: true,
            })
        );
        let src = r#"return require("kong.plugins.pre-function.migrations._001_280_to_300")("post-function")"#;
        assert_eq!(
            migration_module(src).unwrap(),
            ModuleShape::Delegates(Delegation {
                module: "kong.plugins.pre-function.migrations._001_280_to_300".to_string(),
                function: None,
                call: true,
            })
        );
    }

    #[test]
    fn delegated_function_in_a_table() {
        let ops = r#"
local postgres = { up = {}, teardown = {} }
local cassandra = { up = {}, teardown = {} }
postgres.up.ws_adjust_fields = function() end
local function ws_migrate_plugin(plugin_entities)
  local function ws_migration_up(ops)
    return ops:ws_adjust_fields(plugin_entities)
  end
  local function ws_migration_teardown(ops)
    return function(connector)
      ops:ws_adjust_data(connector, plugin_entities)
    end
  end
  return {
    postgres = {
      up = ws_migration_up(postgres.up),
      teardown = ws_migration_teardown(postgres.teardown),
    },
    cassandra = {
      up = ws_migration_up(cassandra.up),
      teardown = ws_migration_teardown(cassandra.teardown),
    },
  }
end
return { postgres = postgres, cassandra = cassandra, ws_migrate_plugin = ws_migrate_plugin }
"#;
        assert_eq!(
            delegated_migration(ops, Some("ws_migrate_plugin"), true).unwrap(),
            ModuleShape::Sections(Sections {
                postgres: p("up teardown"),
                cassandra: p("up teardown")
            })
        );
        assert!(delegated_migration(ops, Some("nope"), true).is_err());
        assert!(delegated_migration(ops, None, true).is_err());
        // Without a call, the field is the migration itself.
        assert_eq!(
            delegated_migration(ops, Some("postgres"), false).unwrap(),
            ModuleShape::Sections(Sections::default())
        );
    }

    #[test]
    fn resolves_through_a_module_returning_a_function() {
        let shared = r#"
local operations = require "kong.db.migrations.operations.200_to_210"
return function(plugin_name)
  local function up_f(ops, name)
    return function(connector) return ops:fixup(connector, name) end
  end
  return {
    postgres = {
      up = "",
      up_f = up_f(operations.postgres.teardown, plugin_name),
      teardown = up_f(operations.postgres.teardown, plugin_name),
    },
  }
end
"#;
        let src = r#"return require("kong.plugins.pre-function.migrations._001")("post-function")"#;
        let r = resolve_migration(src, |m| {
            Ok((m == "kong.plugins.pre-function.migrations._001").then(|| shared.to_string()))
        })
        .unwrap();
        assert_eq!(r.sections.postgres, p("up up_empty up_f teardown"));
        assert_eq!(r.sections.cassandra, None);
        assert_eq!(r.via.len(), 1);

        let e = resolve_migration(src, |_| Ok(None)).unwrap_err();
        assert!(
            e.contains("kong.plugins.pre-function.migrations._001"),
            "{e}"
        );
        // A module delegating to itself is a loop, not a hang.
        let e = resolve_migration(src, |_| Ok(Some(src.to_string()))).unwrap_err();
        assert!(e.contains("not a function"), "{e}");
    }

    #[test]
    fn resolves_modules_returned_as_they_are() {
        // `return require "x"` re-exports another module's migration; fields work too.
        let common = "return { v1 = { postgres = { up = 'x', teardown = function() end } } }";
        let r = resolve_migration("return require('m.common').v1", |m| {
            Ok((m == "m.common").then(|| common.to_string()))
        })
        .unwrap();
        assert_eq!(r.sections.postgres, p("up teardown"));
        let r = resolve_migration("return require 'm.a'", |m| {
            Ok(match m {
                "m.a" => Some("return require 'm.b'".to_string()),
                "m.b" => Some("return { cassandra = { up = '' } }".to_string()),
                _ => None,
            })
        })
        .unwrap();
        assert_eq!(r.sections.cassandra, p("up up_empty"));
        assert_eq!(r.via.len(), 2);
        let e = resolve_migration("return require 'm.a'", |_| {
            Ok(Some("return require 'm.a'".to_string()))
        })
        .unwrap_err();
        assert!(e.contains("loop"), "{e}");
    }

    #[test]
    fn required_modules_are_the_literal_requires_outside_comments() {
        let src = r#"local ops = require "kong.db.migrations.operations.200_to_210"
-- require "in.a.comment"
local s = "require 'in.a.string'"
local x = require("resty.string")
local again = require 'kong.db.migrations.operations.200_to_210'
local computed = require(name)
return require("kong.plugins.p.migrations._shared")("p")"#;
        assert_eq!(
            required_modules(src),
            [
                "kong.db.migrations.operations.200_to_210",
                "resty.string",
                "kong.plugins.p.migrations._shared"
            ]
        );
        assert!(required_modules("return [[").is_empty());
    }

    #[test]
    fn module_paths_follow_require() {
        assert_eq!(
            module_paths("kong.db.migrations.operations.200_to_210"),
            [
                "kong/db/migrations/operations/200_to_210.lua".to_string(),
                "kong/db/migrations/operations/200_to_210/init.lua".to_string()
            ]
        );
    }

    #[test]
    fn bundled_plugins_from_the_loop_kong_uses() {
        let src = r#"
local plugins = {
  "jwt",
  "acl",
  -- external plugins
  "zipkin",
}

local plugin_map = {}
for i = 1, #plugins do
  plugin_map[plugins[i]] = true
end

local deprecated_plugins = {} -- no currently deprecated plugin

local deprecated_plugin_map = {}
for _, plugin in ipairs(deprecated_plugins) do
  deprecated_plugin_map[plugin] = true
end

return {
  BUNDLED_PLUGINS = plugin_map,
  DEPRECATED_PLUGINS = deprecated_plugin_map,
  HEADERS = { HOST_OVERRIDE = "X-Host-Override" },
}
"#;
        assert_eq!(bundled_plugins(src).unwrap(), vec!["jwt", "acl", "zipkin"]);
        let src = r#"
local list = { "a", "b" }
local set = {}
for _, p in ipairs(list) do set[p] = true end
return { BUNDLED_PLUGINS = set }
"#;
        assert_eq!(bundled_plugins(src).unwrap(), vec!["a", "b"]);
        assert_eq!(
            bundled_plugins("return { BUNDLED_PLUGINS = { 'x', 'y' } }").unwrap(),
            vec!["x", "y"]
        );
        assert!(bundled_plugins("return { BUNDLED_PLUGINS = load_them() }").is_err());
        assert!(bundled_plugins("local s = {}\nreturn { BUNDLED_PLUGINS = s }").is_err());
    }

    #[test]
    fn rockspec_dependencies_are_globals() {
        let src = r#"
package = "kong"
version = "1.3.0-0"
supported_platforms = {"linux", "macosx"}
source = { url = "git://github.com/Kong/kong", tag = "1.3.0" }
dependencies = {
  "inspect == 3.1.1",
  -- external Kong plugins
  "kong-plugin-session ~> 2.1",
}
build = { type = "builtin", modules = { ["kong"] = "kong/init.lua" } }
"#;
        assert_eq!(
            rockspec_dependencies(src).unwrap(),
            vec!["inspect == 3.1.1", "kong-plugin-session ~> 2.1"]
        );
        assert_eq!(
            rockspec_dependencies("package = 'x'").unwrap(),
            Vec::<String>::new()
        );
        assert!(rockspec_dependencies("dependencies = 'x'").is_err());
    }

    #[test]
    fn tables_handed_to_functions_are_refused() {
        let e = migration_index("local m = { 'a' }\ntable.insert(m, 'b')\nreturn m").unwrap_err();
        assert!(e.to_string().contains("built by code"), "{e}");
        let e = migration_module("local pg = {}\nfill(pg)\nreturn { postgres = pg }").unwrap_err();
        assert!(e.to_string().contains("built by code"), "{e}");
        let e = migration_module("local pg = {}\npg:init()\nreturn { postgres = pg }").unwrap_err();
        assert!(e.to_string().contains("built by code"), "{e}");
    }

    #[test]
    fn local_functions_are_followed() {
        let src = r#"
local function section(sql, two_phase)
  local s = { up = sql }
  if two_phase then s.teardown = function() end end
  return s
end
local function add_teardown(s)
  s.teardown = function() end
end
local pg = section("CREATE TABLE t ()")
add_teardown(pg)
return { postgres = pg, cassandra = section("") }
"#;
        // `section` writes `teardown` in a branch: its table is refused, not guessed.
        let e = migration_module(src).unwrap_err();
        assert!(e.to_string().contains("built by code"), "{e}");
        let src = r#"
local function section(sql) return { up = sql } end
local function add_teardown(s) s.teardown = function() end end
local pg = section("CREATE TABLE t ()")
add_teardown(pg)
return { postgres = pg, cassandra = section("") }
"#;
        let s = sections(src);
        assert_eq!(s.postgres, p("up teardown"));
        assert_eq!(s.cassandra, p("up up_empty"));
        // Recursion stops at the depth limit instead of running away.
        let src = "local function f(n) return f(n) end\nreturn { postgres = { up = f(1) } }";
        assert_eq!(sections(src).postgres, p("up"));
    }

    #[test]
    fn full_grammar_parses() {
        // Syntax a migration file may contain although it does not matter to us.
        let src = r#"#!/usr/bin/env luajit
local a, b = 1, 0x1F
local c <const> = 2.5e-3
local d = -a ^ 2 .. "x" // 3 & 1 | ~b << 1 >> 2
local t = { [1] = 1, [a + b] = 2; 3, f = function(...) return ... end }
local s = t.f(1):upper()["x"] "y" { 1 }
goto skip
::skip::
do local x = #t end
if a == 1 then elseif not b then else end
for i = 1, 10, 2 do break end
local n = 1ULL + 0x10p2 + 12i
return { postgres = { up = "x" .. a }, cassandra = nil }
"#;
        assert_eq!(sections(src).postgres, p("up"));
        assert_eq!(sections(src).cassandra, None);
    }

    /// Code nested deeper than Lua allows is an error, not a stack overflow of the parser.
    #[test]
    fn nesting_beyond_lua_s_limit_is_an_error() {
        let deep = format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000));
        let Err(e) = migration_module(&deep) else {
            panic!("read past the nesting limit");
        };
        assert!(e.message.contains("nests more than 100 levels"), "{e}");
        let deep = format!(
            "{}return 1{}",
            "do ".repeat(100_000),
            " end".repeat(100_000)
        );
        assert!(migration_module(&deep).is_err());
        // Kong's deepest shapes are far from it.
        let ok = format!(
            "return {{ postgres = {{ up = {}[[]]{} }} }}",
            "(".repeat(90),
            ")".repeat(90)
        );
        assert!(migration_module(&ok).is_ok());
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = migration_module(
            "return {\n  postgres = {\n    up = [[ x ]]\n    teardown = 1,\n  }\n}",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(migration_module("return { postgres = { up = \"a\\qb\" } }").is_err());
        assert!(migration_module("local function f() return 1").is_err());
    }
}
