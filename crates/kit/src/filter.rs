//! A parser for the subset of AIP-160 filters that p06 lists accept:
//! comparisons (`=`, `!=`, `<`, `<=`, `>`, `>=`, `:`) joined by `AND`, `OR`
//! (which binds tighter, as AIP-160 says), `NOT`/`-`, parentheses, and
//! whitespace as an implicit `AND`. Services map the fields to columns with
//! [`Filter::to_sql`].

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `:` (has)
    Has,
}

impl Op {
    /// The SQL operator (`:` is read as equality).
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq | Op::Has => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// All must hold.
    And(Vec<Filter>),
    /// Any must hold.
    Or(Vec<Filter>),
    /// Must not hold.
    Not(Box<Filter>),
    /// `field op value`.
    Cmp {
        /// Field path, e.g. `kind`.
        field: String,
        /// Operator.
        op: Op,
        /// Literal value, unquoted.
        value: String,
    },
}

/// A filter that does not parse, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// What is wrong.
    pub message: String,
    /// Where, in bytes from the start.
    pub position: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl From<FilterError> for tonic::Status {
    fn from(e: FilterError) -> Self {
        crate::errors::invalid_argument("filter", e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Op(Op),
    Minus,
    Word(String),
    Str(String),
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((Tok::LParen, start));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, start));
                i += 1;
            }
            b':' => {
                out.push((Tok::Op(Op::Has), start));
                i += 1;
            }
            b'=' => {
                out.push((Tok::Op(Op::Eq), start));
                i += 1;
            }
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Op(Op::Ne), start));
                i += 2;
            }
            b'<' | b'>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, eq) {
                    (b'<', true) => Op::Le,
                    (b'<', false) => Op::Lt,
                    (_, true) => Op::Ge,
                    _ => Op::Gt,
                };
                out.push((Tok::Op(op), start));
                i += if eq { 2 } else { 1 };
            }
            b'-' if out.last().is_none_or(|(t, _)| !matches!(t, Tok::Op(_))) => {
                out.push((Tok::Minus, start));
                i += 1;
            }
            b'"' | b'\'' => {
                let quote = c;
                let mut value = String::new();
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    if bytes[i] == b'\\' && i + 1 < bytes.len() {
                        value.push(input[i + 1..].chars().next().unwrap_or('\\'));
                        i += 1 + input[i + 1..].chars().next().map_or(1, char::len_utf8);
                    } else if bytes[i] == quote {
                        closed = true;
                        i += 1;
                        break;
                    } else {
                        let ch = input[i..].chars().next().unwrap_or(' ');
                        value.push(ch);
                        i += ch.len_utf8();
                    }
                }
                if !closed {
                    return Err(FilterError {
                        message: "unterminated string".into(),
                        position: start,
                    });
                }
                out.push((Tok::Str(value), start));
            }
            _ => {
                while i < bytes.len() && !b" \t\n\r()=<>!:\"'".contains(&bytes[i]) {
                    i += input[i..].chars().next().map_or(1, char::len_utf8);
                }
                if i == start {
                    return Err(FilterError {
                        message: format!("unexpected {:?}", c as char),
                        position: start,
                    });
                }
                out.push((Tok::Word(input[start..i].to_string()), start));
            }
        }
    }
    Ok(out)
}

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// Deepest nesting of parentheses and NOT accepted.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons accepted in one filter.
pub const MAX_COMPARISONS: usize = 64;

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
    comparisons: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, p)| *p)
    }
    fn err<T>(&self, message: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError {
            message: message.into(),
            position: self.at(),
        })
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn expr(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.sequence()?];
        loop {
            if self.is_word("AND") {
                self.pos += 1;
            } else if self.peek().is_none() || self.peek() == Some(&Tok::RParen) {
                break;
            }
            parts.push(self.sequence()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::And(parts)
        })
    }

    fn sequence(&mut self) -> Result<Filter, FilterError> {
        let mut parts = vec![self.factor()?];
        while self.is_word("OR") {
            self.pos += 1;
            parts.push(self.factor()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::Or(parts)
        })
    }

    fn nested<T>(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<T, FilterError>,
    ) -> Result<T, FilterError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!("nested more than {MAX_DEPTH} levels deep"));
        }
        self.depth += 1;
        let out = inner(self);
        self.depth -= 1;
        out
    }

    fn factor(&mut self) -> Result<Filter, FilterError> {
        if self.is_word("NOT") || self.peek() == Some(&Tok::Minus) {
            self.pos += 1;
            return self.nested(|p| Ok(Filter::Not(Box::new(p.factor()?))));
        }
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let inner = self.nested(Self::expr)?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected )");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Tok::Word(field)) if !matches!(field.as_str(), "AND" | "OR") => {
                self.pos += 1;
                let Some(Tok::Op(op)) = self.peek().cloned() else {
                    return self.err(format!("expected an operator after {field:?}"));
                };
                self.pos += 1;
                let value = match self.peek().cloned() {
                    Some(Tok::Word(v)) | Some(Tok::Str(v)) => v,
                    _ => return self.err(format!("expected a value after {field:?}")),
                };
                self.pos += 1;
                self.comparisons += 1;
                if self.comparisons > MAX_COMPARISONS {
                    return self.err(format!("more than {MAX_COMPARISONS} comparisons"));
                }
                Ok(Filter::Cmp { field, op, value })
            }
            Some(_) => self.err("expected a comparison such as kind = PROVINCE"),
            None => self.err("unexpected end of filter"),
        }
    }
}

/// Parses a filter; an empty string gives `None`.
pub fn parse(input: &str) -> Result<Option<Filter>, FilterError> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    if input.len() > MAX_LEN {
        return Err(FilterError {
            message: format!("longer than {MAX_LEN} bytes"),
            position: MAX_LEN,
        });
    }
    // A NUL would reach SQL in a text value, which PostgreSQL refuses.
    if let Some(position) = input.find('\0') {
        return Err(FilterError {
            message: "contains a NUL character".into(),
            position,
        });
    }
    let toks = lex(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: input.len(),
        depth: 0,
        comparisons: 0,
    };
    let f = p.expr()?;
    if p.peek().is_some() {
        return p.err("unexpected token");
    }
    Ok(Some(f))
}

/// A value bound into generated SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Calendar date.
    Date(chrono::NaiveDate),
}

/// A SQL condition with `$n` placeholders and the values to bind, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlCondition {
    /// The condition text.
    pub sql: String,
    /// Values for `$first..`.
    pub binds: Vec<SqlValue>,
}

impl Filter {
    /// Renders the filter as SQL. `column` maps `(field, op, value)` to a
    /// column expression and the value to compare with, or refuses the field.
    /// Placeholders start at `$first`.
    pub fn to_sql<F>(&self, first: usize, column: &F) -> Result<SqlCondition, tonic::Status>
    where
        F: Fn(&str, Op, &str) -> Result<(String, SqlValue), tonic::Status>,
    {
        let mut out = SqlCondition::default();
        self.render(first, column, &mut out)?;
        Ok(out)
    }

    fn render<F>(
        &self,
        first: usize,
        column: &F,
        out: &mut SqlCondition,
    ) -> Result<(), tonic::Status>
    where
        F: Fn(&str, Op, &str) -> Result<(String, SqlValue), tonic::Status>,
    {
        match self {
            Filter::And(parts) | Filter::Or(parts) => {
                let join = if matches!(self, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.sql.push('(');
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.sql.push_str(join);
                    }
                    part.render(first, column, out)?;
                }
                out.sql.push(')');
            }
            Filter::Not(inner) => {
                out.sql.push_str("NOT (");
                inner.render(first, column, out)?;
                out.sql.push(')');
            }
            Filter::Cmp { field, op, value } => {
                let (col, bound) = column(field, *op, value)?;
                out.binds.push(bound);
                out.sql.push_str(&format!(
                    "{col} {} ${}",
                    op.sql(),
                    first + out.binds.len() - 1
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: Op, value: &str) -> Filter {
        Filter::Cmp {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn or_binds_tighter_than_and() {
        let f =
            parse("kind = PROVINCE OR kind = CENTRALLY_RUN_CITY AND level != \"CENTRAL\"").unwrap();
        assert_eq!(
            f,
            Some(Filter::And(vec![
                Filter::Or(vec![
                    cmp("kind", Op::Eq, "PROVINCE"),
                    cmp("kind", Op::Eq, "CENTRALLY_RUN_CITY")
                ]),
                cmp("level", Op::Ne, "CENTRAL"),
            ]))
        );
    }

    #[test]
    fn implicit_and_not_and_parentheses() {
        let f = parse("-(a=1) b>=2 NOT c:'x y'").unwrap().unwrap();
        assert_eq!(
            f,
            Filter::And(vec![
                Filter::Not(Box::new(cmp("a", Op::Eq, "1"))),
                cmp("b", Op::Ge, "2"),
                Filter::Not(Box::new(cmp("c", Op::Has, "x y"))),
            ])
        );
    }

    #[test]
    fn errors_carry_positions() {
        assert_eq!(parse("kind =").unwrap_err().position, 6);
        assert_eq!(parse("(kind = A").unwrap_err().message, "expected )");
        assert!(parse("kind = \"open").is_err());
        assert!(parse("= x").is_err());
        assert_eq!(parse("   ").unwrap(), None);
    }

    #[test]
    fn hostile_filters_are_refused_not_overflowed() {
        let deep = format!("{}a = 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().message.contains("longer"));
        assert!(parse(&deep[..MAX_LEN]).is_err());
        let nested = format!(
            "{}a = 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&nested).unwrap_err().message.contains("nested"));
        let nots = format!("{}a = 1", "NOT ".repeat(MAX_DEPTH + 1));
        assert!(parse(&nots).is_err());
        let wide = vec!["a = 1"; MAX_COMPARISONS + 1].join(" OR ");
        assert!(parse(&wide).unwrap_err().message.contains("comparisons"));
        let ok = format!(
            "{}a = 1{}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(&ok).is_ok());
        assert_eq!(parse("code = \"a\0\"").unwrap_err().position, 9);
    }

    #[test]
    fn renders_numbered_placeholders() {
        let f = parse("(a = 1 OR b = 2) AND NOT c = 3").unwrap().unwrap();
        let sql = f
            .to_sql(3, &|field, _op, value| {
                Ok((format!("t.{field}"), SqlValue::Text(value.into())))
            })
            .unwrap();
        assert_eq!(sql.sql, "((t.a = $3 OR t.b = $4) AND NOT (t.c = $5))");
        assert_eq!(sql.binds.len(), 3);
    }
}
