//! A JQL subset: parsing, compiling against a site's reference data, evaluation over the
//! compact issue rows, and ordering.
//!
//! Supported: `=`, `!=`, `~`, `!~`, `>`, `>=`, `<`, `<=`, `in`, `not in`, `is [not] EMPTY`,
//! `AND`, `OR`, `NOT`, parentheses, `ORDER BY f [ASC|DESC], …`, functions `currentUser()`,
//! `now()`, `startOfDay()`, `endOfDay()`, `startOfWeek()`, `startOfMonth()`, `startOfYear()`,
//! `openSprints()`, `closedSprints()`, `futureSprints()`, and relative dates like `-7d`.

use std::cmp::Ordering;

use crate::clock::parse_date;
use crate::model::{Category, ISSUE_TYPES, PRIORITIES, PROJECTS, STATUSES, project_id};
use crate::sitedata::{FIRST_ISSUE_ID, IssueCore, NO_USER, SiteData, SprintState};
use crate::state::User;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '"' | '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "Error in the JQL Query: The quoted string '{v}' has not been completed."
                            ));
                        }
                        Some('\\') => {
                            if let Some(n) = chars.get(i + 1) {
                                v.push(*n);
                            }
                            i += 2;
                        }
                        Some(q) if *q == c => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '!' | '=' | '<' | '>' | '~' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "!=" => "!=",
                    "!~" => "!~",
                    ">=" => ">=",
                    "<=" => "<=",
                    _ => match c {
                        '=' => "=",
                        '<' => "<",
                        '>' => ">",
                        '~' => "~",
                        _ => {
                            return Err(format!(
                                "Error in the JQL Query: The character '{c}' is a reserved JQL character."
                            ));
                        }
                    },
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !"()=,!<>~\"'".contains(chars[i])
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(String),
    Func(String, Vec<String>),
    List(Vec<Operand>),
    Empty,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Clause {
        field: String,
        op: Op,
        value: Operand,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    pub order: Vec<(String, bool)>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect_err(&self, what: &str) -> String {
        match self.peek() {
            Some(t) => format!(
                "Error in the JQL Query: Expecting {what} but got '{}'.",
                tok_text(t)
            ),
            None => format!(
                "Error in the JQL Query: Expecting {what} but reached the end of the query."
            ),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and_expr()?;
        while is_kw(self.peek(), "or") || matches!(self.peek(), Some(Tok::Word(w)) if w == "||") {
            self.next();
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.not_expr()?;
        while is_kw(self.peek(), "and") || matches!(self.peek(), Some(Tok::Word(w)) if w == "&&") {
            self.next();
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, String> {
        if is_kw(self.peek(), "not") {
            self.next();
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.next();
            let e = self.or_expr()?;
            if self.next() != Some(Tok::RParen) {
                return Err(
                    "Error in the JQL Query: Expecting ')' before the end of the query.".to_owned(),
                );
            }
            return Ok(e);
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, String> {
        let field = match self.next() {
            Some(Tok::Word(w)) if !is_reserved(&w) => w,
            Some(Tok::Quoted(q)) => q,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.expect_err("a field name"));
            }
        };
        let op = match self.next() {
            Some(Tok::Op(o)) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "~" => Op::Like,
                "!~" => Op::NotLike,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                _ => Op::Le,
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                if is_kw(self.peek(), "in") {
                    self.next();
                    Op::NotIn
                } else {
                    return Err(self.expect_err("'in'"));
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("is") => {
                if is_kw(self.peek(), "not") {
                    self.next();
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.expect_err(&format!("an operator after the field '{field}'")));
            }
        };
        let value =
            if matches!(op, Op::In | Op::NotIn) {
                if self.peek() == Some(&Tok::LParen) {
                    self.next();
                    let mut items = Vec::new();
                    loop {
                        items.push(self.operand()?);
                        match self.next() {
                            Some(Tok::Comma) => continue,
                            Some(Tok::RParen) => break,
                            _ => return Err(
                                "Error in the JQL Query: Expecting ',' or ')' in the value list."
                                    .to_owned(),
                            ),
                        }
                    }
                    Operand::List(items)
                } else {
                    self.operand()?
                }
            } else {
                self.operand()?
            };
        if matches!(op, Op::Is | Op::IsNot) && value != Operand::Empty {
            return Err(
                "Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'is'.".to_owned(),
            );
        }
        Ok(Expr::Clause { field, op, value })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Quoted(q)) => Ok(Operand::Value(q)),
            Some(Tok::Word(w)) => {
                if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") {
                    return Ok(Operand::Empty);
                }
                if self.peek() == Some(&Tok::LParen) {
                    self.next();
                    let mut args = Vec::new();
                    while self.peek() != Some(&Tok::RParen) {
                        match self.next() {
                            Some(Tok::Word(a)) | Some(Tok::Quoted(a)) => args.push(a),
                            Some(Tok::Comma) => {}
                            _ => {
                                return Err(format!(
                                    "Error in the JQL Query: Expecting ')' after the arguments of {w}."
                                ));
                            }
                        }
                    }
                    self.next();
                    return Ok(Operand::Func(w, args));
                }
                Ok(Operand::Value(w))
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.expect_err("either a value, list or function"))
            }
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Word(w) | Tok::Quoted(w) => w.clone(),
        Tok::Op(o) => (*o).to_owned(),
        Tok::LParen => "(".to_owned(),
        Tok::RParen => ")".to_owned(),
        Tok::Comma => ",".to_owned(),
    }
}

fn is_reserved(w: &str) -> bool {
    ["and", "or", "not", "in", "is", "order", "empty", "null"]
        .iter()
        .any(|r| w.eq_ignore_ascii_case(r))
}

pub fn parse(jql: &str) -> Result<Query, String> {
    let toks = lex(jql)?;
    let mut p = Parser { toks, pos: 0 };
    let mut q = Query::default();
    let starts_with_order = is_kw(p.peek(), "order") && is_kw(p.peek_at(1), "by");
    if p.peek().is_some() && !starts_with_order {
        q.filter = Some(p.or_expr()?);
    }
    if is_kw(p.peek(), "order") {
        p.next();
        if !is_kw(p.peek(), "by") {
            return Err(p.expect_err("'by'"));
        }
        p.next();
        loop {
            let field = match p.next() {
                Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => w,
                _ => {
                    return Err(
                        "Error in the JQL Query: Expecting a field name after 'order by'."
                            .to_owned(),
                    );
                }
            };
            let mut desc = false;
            if is_kw(p.peek(), "asc") {
                p.next();
            } else if is_kw(p.peek(), "desc") {
                p.next();
                desc = true;
            }
            q.order.push((field, desc));
            if p.peek() == Some(&Tok::Comma) {
                p.next();
                continue;
            }
            break;
        }
    }
    if let Some(t) = p.peek() {
        return Err(format!(
            "Error in the JQL Query: Expecting either 'OR' or 'AND' but got '{}'.",
            tok_text(t)
        ));
    }
    Ok(q)
}

// ---------------------------------------------------------------------------------------
// Compilation against reference data.

/// What a predicate needs besides the data.
pub struct Env<'a> {
    pub now: i64,
    pub current_user: usize,
    pub users: &'a [User],
}

#[derive(Debug, Clone)]
enum Pred {
    True,
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    Project(Vec<u8>),
    Issue(Vec<u64>),
    IdCmp(Op, u64),
    Status(Vec<u8>),
    Category(Vec<Category>),
    Priority(Vec<u8>),
    PriorityCmp(Op, u8),
    IssueType(Vec<u8>),
    Assignee(Vec<u8>),
    Reporter(Vec<u8>),
    Labels(Vec<String>),
    LabelsEmpty,
    Text(TextField, String),
    Date(DateField, Op, i64),
    DateDay(DateField, i64),
    DateEmpty(DateField),
    Unresolved,
    Sprint(Vec<u32>),
    Parent(Vec<u64>),
    Points(Op, f64),
    Component(Vec<u64>),
    FixVersion(Vec<u64>),
}

#[derive(Debug, Clone, Copy)]
enum TextField {
    Summary,
    Description,
    Any,
}

#[derive(Debug, Clone, Copy)]
enum DateField {
    Created,
    Updated,
    Resolved,
    Due,
}

pub struct Compiled {
    pred: Pred,
    order: Vec<(OrderField, bool)>,
}

#[derive(Debug, Clone, Copy)]
enum OrderField {
    Key,
    Id,
    Created,
    Updated,
    Priority,
    Status,
    Summary,
    Assignee,
    Resolved,
    Project,
    IssueType,
}

fn err_field(f: &str) -> String {
    format!("Field '{f}' does not exist or you do not have permission to view it.")
}

fn err_value(v: &str, f: &str) -> String {
    format!("The value '{v}' does not exist for the field '{f}'.")
}

fn flat_values(v: &Operand) -> Vec<Operand> {
    match v {
        Operand::List(items) => items.iter().flat_map(flat_values).collect(),
        other => vec![other.clone()],
    }
}

fn relative_date(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => (-1, b),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = 0i64;
    let mut num = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            _ => return None,
        };
    }
    if !num.is_empty() {
        // A bare number is minutes in JQL.
        total += num.parse::<i64>().ok()? * 60;
    }
    Some(now + sign * total)
}

fn date_function(name: &str, args: &[String], now: i64) -> Option<i64> {
    let day = 86_400;
    let offset = args.first().and_then(|a| relative_date(a, 0)).unwrap_or(0);
    let start_of_day = now - now.rem_euclid(day);
    let base = match name.to_ascii_lowercase().as_str() {
        "now" => now,
        "startofday" => start_of_day,
        "endofday" => start_of_day + day - 1,
        // 1970-01-01 was a Thursday; weeks start on Sunday as in Jira's default locale.
        "startofweek" => start_of_day - ((now.div_euclid(day) + 4).rem_euclid(7)) * day,
        "endofweek" => start_of_day - ((now.div_euclid(day) + 4).rem_euclid(7)) * day + 7 * day - 1,
        "startofmonth" | "startofyear" | "endofmonth" | "endofyear" => {
            let t = time::OffsetDateTime::from_unix_timestamp(now).ok()?;
            let (y, m) = (t.year(), t.month());
            let first = |y: i32, m: time::Month| {
                time::Date::from_calendar_date(y, m, 1)
                    .ok()
                    .map(|d| d.midnight().assume_utc().unix_timestamp())
            };
            match name.to_ascii_lowercase().as_str() {
                "startofmonth" => first(y, m)?,
                "endofmonth" => {
                    if m == time::Month::December {
                        first(y + 1, time::Month::January)? - 1
                    } else {
                        first(y, m.next())? - 1
                    }
                }
                "startofyear" => first(y, time::Month::January)?,
                _ => first(y + 1, time::Month::January)? - 1,
            }
        }
        _ => return None,
    };
    Some(base + offset)
}

fn date_value(v: &Operand, env: &Env, field: &str) -> Result<(i64, bool), String> {
    match v {
        Operand::Value(s) => {
            if let Some(t) = relative_date(s, env.now) {
                return Ok((t, false));
            }
            let date_only = !s.contains(':');
            parse_date(s).map(|t| (t, date_only)).ok_or_else(|| {
                format!("Date value '{s}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")
            })
        }
        Operand::Func(name, args) => date_function(name, args, env.now)
            .map(|t| (t, false))
            .ok_or_else(|| format!("Unable to find JQL function '{name}()'.")),
        _ => Err(format!(
            "The operator is not supported by the '{field}' field with this value."
        )),
    }
}

fn user_value(v: &Operand, env: &Env, field: &str) -> Result<Option<u8>, String> {
    match v {
        Operand::Empty => Ok(Some(NO_USER)),
        Operand::Func(f, _) if f.eq_ignore_ascii_case("currentUser") => {
            Ok(Some(env.current_user as u8))
        }
        Operand::Value(s) => {
            let found = env.users.iter().find(|u| {
                u.account_id == *s
                    || u.email.eq_ignore_ascii_case(s)
                    || u.display_name.eq_ignore_ascii_case(s)
            });
            match found {
                Some(u) => Ok(Some(u.index as u8)),
                None => Err(format!(
                    "The value '{s}' does not exist for the field '{field}'."
                )),
            }
        }
        Operand::Func(f, _) => Err(format!("Unable to find JQL function '{f}()'.")),
        Operand::List(_) => Ok(None),
    }
}

fn lookup<T: Copy>(v: &Operand, field: &str, f: impl Fn(&str) -> Option<T>) -> Result<T, String> {
    match v {
        Operand::Value(s) => f(s).ok_or_else(|| err_value(s, field)),
        Operand::Func(name, _) => Err(format!("Unable to find JQL function '{name}()'.")),
        _ => Err(format!(
            "The operator is not supported by the '{field}' field with this value."
        )),
    }
}

fn set_pred<T>(
    op: Op,
    field: &str,
    values: Vec<T>,
    make: impl Fn(Vec<T>) -> Pred,
) -> Result<Pred, String> {
    match op {
        Op::Eq | Op::In => Ok(make(values)),
        Op::Ne | Op::NotIn => Ok(Pred::Not(Box::new(make(values)))),
        _ => Err(format!(
            "The operator '{}' is not supported by the '{field}' field.",
            op_text(op)
        )),
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Like => "~",
        Op::NotLike => "!~",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::In => "in",
        Op::NotIn => "not in",
        Op::Is => "is",
        Op::IsNot => "is not",
    }
}

fn compile_clause(
    field: &str,
    op: Op,
    value: &Operand,
    env: &Env,
    data: &SiteData,
) -> Result<Pred, String> {
    let f = field.to_ascii_lowercase();
    let values = flat_values(value);
    let is_empty_test = matches!(op, Op::Is | Op::IsNot)
        || (matches!(op, Op::Eq | Op::Ne) && *value == Operand::Empty);
    let negate_empty = matches!(op, Op::IsNot | Op::Ne);
    let wrap = |p: Pred| {
        if negate_empty {
            Pred::Not(Box::new(p))
        } else {
            p
        }
    };
    match f.as_str() {
        "project" => {
            if is_empty_test {
                return Ok(wrap(Pred::Not(Box::new(Pred::True))));
            }
            let ps = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        PROJECTS
                            .iter()
                            .enumerate()
                            .position(|(i, d)| {
                                d.key.eq_ignore_ascii_case(s)
                                    || d.name.eq_ignore_ascii_case(s)
                                    || project_id(i).to_string() == s
                            })
                            .map(|p| p as u8)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ps, Pred::Project)
        }
        "key" | "issuekey" | "id" | "issue" => {
            if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
                let id = lookup(&values[0], field, |s| data.resolve(s))?;
                return Ok(Pred::IdCmp(op, id));
            }
            let ids = values
                .iter()
                .map(|v| match v {
                    Operand::Value(s) => Ok(data.resolve(s).unwrap_or(0)),
                    _ => Err(format!(
                        "The operator is not supported by the '{field}' field with this value."
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ids, Pred::Issue)
        }
        "status" => {
            let ss = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        STATUSES
                            .iter()
                            .position(|d| d.name.eq_ignore_ascii_case(s) || d.id == s)
                            .map(|x| x as u8)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ss, Pred::Status)
        }
        "statuscategory" => {
            let cs = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        [Category::New, Category::InProgress, Category::Done]
                            .into_iter()
                            .find(|c| {
                                c.name().eq_ignore_ascii_case(s)
                                    || c.key().eq_ignore_ascii_case(s)
                                    || c.id().to_string() == s
                            })
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, cs, Pred::Category)
        }
        "priority" => {
            let ps = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        PRIORITIES
                            .iter()
                            .position(|d| d.name.eq_ignore_ascii_case(s) || d.id == s)
                            .map(|x| x as u8)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
                return Ok(Pred::PriorityCmp(op, ps[0]));
            }
            set_pred(op, field, ps, Pred::Priority)
        }
        "issuetype" | "type" => {
            let ts = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        ISSUE_TYPES
                            .iter()
                            .position(|d| d.name.eq_ignore_ascii_case(s) || d.id == s)
                            .map(|x| x as u8)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ts, Pred::IssueType)
        }
        "assignee" | "reporter" => {
            let us = values
                .iter()
                .map(|v| user_value(v, env, field))
                .collect::<Result<Vec<_>, _>>()?;
            let us: Vec<u8> = us.into_iter().flatten().collect();
            let op = if is_empty_test {
                if negate_empty { Op::Ne } else { Op::Eq }
            } else {
                op
            };
            if f == "assignee" {
                set_pred(op, field, us, Pred::Assignee)
            } else {
                set_pred(op, field, us, Pred::Reporter)
            }
        }
        "labels" => {
            if is_empty_test {
                return Ok(wrap(Pred::LabelsEmpty));
            }
            let ls = values
                .iter()
                .map(|v| match v {
                    Operand::Value(s) => Ok(s.clone()),
                    _ => Err(
                        "The operator is not supported by the 'labels' field with this value."
                            .to_owned(),
                    ),
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ls, Pred::Labels)
        }
        "summary" | "description" | "text" | "comment" => {
            let tf = match f.as_str() {
                "summary" => TextField::Summary,
                "description" => TextField::Description,
                _ => TextField::Any,
            };
            let Some(Operand::Value(s)) = values.first() else {
                return Err(format!(
                    "The operator '{}' is not supported by the '{field}' field.",
                    op_text(op)
                ));
            };
            let needle = s.trim_matches('*').to_lowercase();
            match op {
                Op::Like => Ok(Pred::Text(tf, needle)),
                Op::NotLike => Ok(Pred::Not(Box::new(Pred::Text(tf, needle)))),
                _ => Err(format!(
                    "The operator '{}' is not supported by the '{field}' field.",
                    op_text(op)
                )),
            }
        }
        "created" | "createddate" | "updated" | "updateddate" | "resolved" | "resolutiondate"
        | "due" | "duedate" => {
            let df = match f.as_str() {
                "created" | "createddate" => DateField::Created,
                "updated" | "updateddate" => DateField::Updated,
                "resolved" | "resolutiondate" => DateField::Resolved,
                _ => DateField::Due,
            };
            if is_empty_test {
                return Ok(wrap(Pred::DateEmpty(df)));
            }
            match op {
                Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                    let (t, _) = date_value(&values[0], env, field)?;
                    Ok(Pred::Date(df, op, t))
                }
                Op::Eq | Op::Ne | Op::In | Op::NotIn => {
                    let mut p: Option<Pred> = None;
                    for v in &values {
                        let (t, date_only) = date_value(v, env, field)?;
                        let one = if date_only {
                            Pred::DateDay(df, t)
                        } else {
                            Pred::Date(df, Op::Eq, t)
                        };
                        p = Some(match p {
                            None => one,
                            Some(prev) => Pred::Or(Box::new(prev), Box::new(one)),
                        });
                    }
                    let p = p.unwrap_or(Pred::True);
                    Ok(if matches!(op, Op::Ne | Op::NotIn) {
                        Pred::Not(Box::new(p))
                    } else {
                        p
                    })
                }
                _ => Err(format!(
                    "The operator '{}' is not supported by the '{field}' field.",
                    op_text(op)
                )),
            }
        }
        "resolution" => {
            let unresolved = values.iter().all(|v| {
                matches!(v, Operand::Empty)
                    || matches!(v, Operand::Value(s) if s.eq_ignore_ascii_case("unresolved"))
            });
            let done = values.iter().all(|v| matches!(v, Operand::Value(s) if s.eq_ignore_ascii_case("done") || s == "10000"));
            let p = if unresolved {
                Pred::Unresolved
            } else if done {
                Pred::Not(Box::new(Pred::Unresolved))
            } else {
                let bad = values
                    .iter()
                    .find_map(|v| {
                        if let Operand::Value(s) = v {
                            Some(s.clone())
                        } else {
                            None
                        }
                    })
                    .unwrap_or_default();
                return Err(err_value(&bad, field));
            };
            Ok(if matches!(op, Op::Ne | Op::NotIn | Op::IsNot) {
                Pred::Not(Box::new(p))
            } else {
                p
            })
        }
        "sprint" | "cf[10020]" => {
            if is_empty_test {
                return Ok(wrap(Pred::Sprint(vec![0])));
            }
            let mut ids = Vec::new();
            for v in &values {
                match v {
                    Operand::Func(name, _) => {
                        let state = match name.to_ascii_lowercase().as_str() {
                            "opensprints" => SprintState::Active,
                            "closedsprints" => SprintState::Closed,
                            "futuresprints" => SprintState::Future,
                            _ => return Err(format!("Unable to find JQL function '{name}()'.")),
                        };
                        ids.extend(
                            data.sprints
                                .iter()
                                .filter(|s| s.state == state)
                                .map(|s| s.id),
                        );
                    }
                    Operand::Value(s) => {
                        let id = data
                            .sprints
                            .iter()
                            .find(|sp| sp.id.to_string() == *s || sp.name.eq_ignore_ascii_case(s))
                            .map(|sp| sp.id)
                            .ok_or_else(|| err_value(s, field))?;
                        ids.push(id);
                    }
                    _ => {}
                }
            }
            set_pred(op, field, ids, Pred::Sprint)
        }
        "parent" | "\"epic link\"" | "epic link" => {
            if is_empty_test {
                return Ok(wrap(Pred::Parent(vec![0])));
            }
            let ids = values
                .iter()
                .map(|v| lookup(v, field, |s| data.resolve(s)))
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ids, Pred::Parent)
        }
        "story point estimate" | "cf[10016]" | "story points" => {
            let Some(Operand::Value(s)) = values.first() else {
                return Err(err_field(field));
            };
            let n: f64 = s.parse().map_err(|_| err_value(s, field))?;
            Ok(Pred::Points(op, n))
        }
        "component" => {
            let ids = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        data.components
                            .iter()
                            .find(|c| c.name.eq_ignore_ascii_case(s) || c.id.to_string() == s)
                            .map(|c| c.id)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ids, Pred::Component)
        }
        "fixversion" => {
            let ids = values
                .iter()
                .map(|v| {
                    lookup(v, field, |s| {
                        data.versions
                            .iter()
                            .find(|x| x.name.eq_ignore_ascii_case(s) || x.id.to_string() == s)
                            .map(|x| x.id)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set_pred(op, field, ids, Pred::FixVersion)
        }
        _ => Err(err_field(field)),
    }
}

fn compile_expr(e: &Expr, env: &Env, data: &SiteData) -> Result<Pred, String> {
    Ok(match e {
        Expr::And(a, b) => Pred::And(
            Box::new(compile_expr(a, env, data)?),
            Box::new(compile_expr(b, env, data)?),
        ),
        Expr::Or(a, b) => Pred::Or(
            Box::new(compile_expr(a, env, data)?),
            Box::new(compile_expr(b, env, data)?),
        ),
        Expr::Not(a) => Pred::Not(Box::new(compile_expr(a, env, data)?)),
        Expr::Clause { field, op, value } => compile_clause(field, *op, value, env, data)?,
    })
}

pub fn compile(q: &Query, env: &Env, data: &SiteData) -> Result<Compiled, Vec<String>> {
    let pred = match &q.filter {
        Some(e) => compile_expr(e, env, data).map_err(|m| vec![m])?,
        None => Pred::True,
    };
    let mut order = Vec::new();
    for (f, desc) in &q.order {
        let of = match f.to_ascii_lowercase().as_str() {
            "key" | "issuekey" => OrderField::Key,
            "id" | "rank" => OrderField::Id,
            "created" => OrderField::Created,
            "updated" => OrderField::Updated,
            "priority" => OrderField::Priority,
            "status" => OrderField::Status,
            "summary" => OrderField::Summary,
            "assignee" => OrderField::Assignee,
            "resolved" | "resolutiondate" => OrderField::Resolved,
            "project" => OrderField::Project,
            "issuetype" | "type" => OrderField::IssueType,
            _ => return Err(vec![format!("Not able to sort using field '{f}'.")]),
        };
        order.push((of, *desc));
    }
    if order.is_empty() {
        order.push((OrderField::Id, true));
    }
    Ok(Compiled { pred, order })
}

/// Parses and compiles, mapping errors to Jira's message list.
pub fn prepare(jql: &str, env: &Env, data: &SiteData) -> Result<Compiled, Vec<String>> {
    let q = parse(jql).map_err(|m| vec![m])?;
    compile(&q, env, data)
}

fn cmp_op<T: PartialOrd>(op: Op, a: T, b: T) -> bool {
    match op {
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Ne => a != b,
        _ => a == b,
    }
}

fn date_of(data: &SiteData, id: u64, c: &IssueCore, f: DateField) -> Option<i64> {
    match f {
        DateField::Created => Some(c.created),
        DateField::Updated => Some(c.updated),
        DateField::Resolved => (c.resolved != 0).then_some(c.resolved),
        DateField::Due => data
            .extras
            .get(&id)
            .and_then(|x| x.duedate.as_deref())
            .and_then(parse_date),
    }
}

fn eval(p: &Pred, data: &SiteData, id: u64, c: &IssueCore) -> bool {
    match p {
        Pred::True => true,
        Pred::And(a, b) => eval(a, data, id, c) && eval(b, data, id, c),
        Pred::Or(a, b) => eval(a, data, id, c) || eval(b, data, id, c),
        Pred::Not(a) => !eval(a, data, id, c),
        Pred::Project(ps) => ps.contains(&c.project),
        Pred::Issue(ids) => ids.contains(&id),
        Pred::IdCmp(op, other) => {
            // Keys compare within a project by number.
            let Some(o) = data.core(*other) else {
                return false;
            };
            o.project == c.project && cmp_op(*op, c.number, o.number)
        }
        Pred::Status(ss) => ss.contains(&c.status),
        Pred::Category(cs) => cs.contains(&STATUSES[usize::from(c.status)].category),
        Pred::Priority(ps) => ps.contains(&c.priority),
        // Lower index = higher priority; "priority > High" means Highest.
        Pred::PriorityCmp(op, p) => cmp_op(*op, *p, c.priority),
        Pred::IssueType(ts) => ts.contains(&c.issue_type),
        Pred::Assignee(us) => us.contains(&c.assignee),
        Pred::Reporter(us) => us.contains(&c.reporter),
        Pred::Labels(ls) => {
            if c.has_extra {
                data.extras.get(&id).is_some_and(|x| {
                    x.labels
                        .iter()
                        .any(|l| ls.iter().any(|w| w.eq_ignore_ascii_case(l)))
                })
            } else {
                crate::model::LABELS.iter().enumerate().any(|(i, l)| {
                    c.labels & (1 << i) != 0 && ls.iter().any(|w| w.eq_ignore_ascii_case(l))
                })
            }
        }
        Pred::LabelsEmpty => {
            if c.has_extra {
                data.extras.get(&id).is_none_or(|x| x.labels.is_empty())
            } else {
                c.labels == 0
            }
        }
        Pred::Text(tf, needle) => {
            let hit = |s: &str| s.to_lowercase().contains(needle.as_str());
            match tf {
                TextField::Summary => hit(&data.summary(id)),
                TextField::Description => hit(&crate::seed::adf_text(&data.description(id))),
                TextField::Any => {
                    hit(&data.summary(id))
                        || hit(&crate::seed::adf_text(&data.description(id)))
                        || data
                            .comments(id)
                            .iter()
                            .any(|cm| hit(&crate::seed::adf_text(&cm.body)))
                }
            }
        }
        Pred::Date(f, op, t) => date_of(data, id, c, *f).is_some_and(|d| cmp_op(*op, d, *t)),
        Pred::DateDay(f, t) => date_of(data, id, c, *f).is_some_and(|d| d >= *t && d < *t + 86_400),
        Pred::DateEmpty(f) => date_of(data, id, c, *f).is_none(),
        Pred::Unresolved => c.resolved == 0,
        Pred::Sprint(ids) => ids.contains(&c.sprint),
        Pred::Parent(ids) => ids.contains(&c.parent),
        Pred::Points(op, n) => {
            let pts = data
                .custom_field(id, crate::model::STORY_POINTS_FIELD)
                .and_then(|v| v.as_f64())
                .or((c.story_points != 0).then_some(f64::from(c.story_points)));
            pts.is_some_and(|p| cmp_op(*op, p, *n))
        }
        Pred::Component(ids) => data
            .extras
            .get(&id)
            .is_some_and(|x| x.components.iter().any(|i| ids.contains(i))),
        Pred::FixVersion(ids) => data
            .extras
            .get(&id)
            .is_some_and(|x| x.fix_versions.iter().any(|i| ids.contains(i))),
    }
}

fn compare(data: &SiteData, order: &[(OrderField, bool)], a: u64, b: u64) -> Ordering {
    let (Some(ca), Some(cb)) = (data.core(a), data.core(b)) else {
        return a.cmp(&b);
    };
    for (f, desc) in order {
        let o = match f {
            OrderField::Key => PROJECTS[usize::from(ca.project)]
                .key
                .cmp(PROJECTS[usize::from(cb.project)].key)
                .then(ca.number.cmp(&cb.number)),
            OrderField::Id => a.cmp(&b),
            OrderField::Created => ca.created.cmp(&cb.created),
            OrderField::Updated => ca.updated.cmp(&cb.updated),
            OrderField::Priority => cb.priority.cmp(&ca.priority),
            OrderField::Status => STATUSES[usize::from(ca.status)]
                .name
                .cmp(STATUSES[usize::from(cb.status)].name),
            OrderField::Summary => data.summary(a).cmp(&data.summary(b)),
            OrderField::Assignee => ca.assignee.cmp(&cb.assignee),
            OrderField::Resolved => ca.resolved.cmp(&cb.resolved),
            OrderField::Project => PROJECTS[usize::from(ca.project)]
                .key
                .cmp(PROJECTS[usize::from(cb.project)].key),
            OrderField::IssueType => ca.issue_type.cmp(&cb.issue_type),
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.cmp(&b)
}

/// Matching issue ids, ordered; only the first `need` are guaranteed sorted (the rest follow
/// in unspecified order), which keeps deep pages over large sites cheap.
pub fn run(data: &SiteData, compiled: &Compiled, need: usize) -> Vec<u64> {
    let mut ids: Vec<u64> = data
        .issues
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.deleted)
        .map(|(i, c)| (FIRST_ISSUE_ID + i as u64, c))
        .filter(|(id, c)| eval(&compiled.pred, data, *id, c))
        .map(|(id, _)| id)
        .collect();
    let cmp = |a: &u64, b: &u64| compare(data, &compiled.order, *a, *b);
    if need > 0 && need < ids.len() {
        ids.select_nth_unstable_by(need - 1, cmp);
        ids[..need].sort_by(cmp);
    } else {
        ids.sort_by(cmp);
    }
    ids
}

/// True when the query matches the issue (used for board filters and queues).
pub fn matches(data: &SiteData, compiled: &Compiled, id: u64) -> bool {
    data.core(id)
        .is_some_and(|c| eval(&compiled.pred, data, id, c))
}

/// Field names offered by `GET /jql/autocompletedata`.
pub const FIELD_NAMES: &[(&str, &[&str], bool)] = &[
    (
        "project",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
    (
        "key",
        &["=", "!=", "in", "not in", ">", ">=", "<", "<="],
        true,
    ),
    ("status", &["=", "!=", "in", "not in"], true),
    ("statusCategory", &["=", "!=", "in", "not in"], false),
    (
        "priority",
        &["=", "!=", "in", "not in", ">", ">=", "<", "<="],
        true,
    ),
    ("issuetype", &["=", "!=", "in", "not in"], true),
    (
        "assignee",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
    (
        "reporter",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
    ("labels", &["=", "!=", "in", "not in", "is", "is not"], true),
    ("summary", &["~", "!~"], true),
    ("description", &["~", "!~", "is", "is not"], false),
    ("text", &["~"], false),
    (
        "created",
        &["=", "!=", ">", ">=", "<", "<=", "in", "not in"],
        true,
    ),
    (
        "updated",
        &["=", "!=", ">", ">=", "<", "<=", "in", "not in"],
        true,
    ),
    (
        "resolved",
        &["=", "!=", ">", ">=", "<", "<=", "is", "is not"],
        true,
    ),
    (
        "resolution",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
    (
        "due",
        &["=", "!=", ">", ">=", "<", "<=", "is", "is not"],
        true,
    ),
    ("sprint", &["=", "!=", "in", "not in", "is", "is not"], true),
    ("parent", &["=", "!=", "in", "not in"], false),
    (
        "component",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
    (
        "fixVersion",
        &["=", "!=", "in", "not in", "is", "is not"],
        true,
    ),
];

pub const FUNCTION_NAMES: &[&str] = &[
    "currentUser()",
    "now()",
    "startOfDay()",
    "endOfDay()",
    "startOfWeek()",
    "endOfWeek()",
    "startOfMonth()",
    "endOfMonth()",
    "startOfYear()",
    "endOfYear()",
    "openSprints()",
    "closedSprints()",
    "futureSprints()",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SimState;

    fn env_state() -> SimState {
        let cfg = crate::SimConfig {
            issues_per_site: 400,
            sites: vec!["acme".into()],
            ..Default::default()
        };
        SimState::new(cfg, "http://x".into())
    }

    fn count(s: &SimState, jql: &str) -> usize {
        let data = s.data[0].read();
        let env = Env {
            now: s.clock.now_secs(),
            current_user: 0,
            users: &s.users,
        };
        let c = prepare(jql, &env, &data).unwrap_or_else(|e| panic!("{jql}: {e:?}"));
        run(&data, &c, 0).len()
    }

    #[test]
    fn parses_and_filters() {
        let s = env_state();
        assert_eq!(count(&s, "project = ENG"), 100);
        assert_eq!(count(&s, "project in (ENG, OPS) ORDER BY key DESC"), 200);
        assert_eq!(count(&s, "project != ENG"), 300);
        let eng_done = count(&s, "project = ENG AND statusCategory = Done");
        let eng_not_done = count(&s, "project = ENG AND NOT statusCategory = Done");
        assert_eq!(eng_done + eng_not_done, 100);
        let mine = count(&s, "assignee = currentUser()");
        let unassigned = count(&s, "assignee is EMPTY");
        let others = count(&s, "assignee != currentUser() AND assignee is not EMPTY");
        assert_eq!(mine + unassigned + others, 400);
        assert_eq!(count(&s, "created >= -365d"), 400);
        assert_eq!(count(&s, "created > now()"), 0);
        assert_eq!(
            count(&s, "(project = ENG OR project = OPS) AND issuetype = Epic"),
            20
        );
        assert_eq!(count(&s, "key = ENG-1"), 1);
        assert_eq!(count(&s, "key >= ENG-91"), 10);
        assert!(count(&s, "summary ~ \"login\"") < 400);
    }

    #[test]
    fn errors_are_jira_messages() {
        let s = env_state();
        let data = s.data[0].read();
        let env = Env {
            now: 0,
            current_user: 0,
            users: &s.users,
        };
        let e = prepare("project = NOPE", &env, &data).err().unwrap();
        assert_eq!(
            e,
            vec!["The value 'NOPE' does not exist for the field 'project'."]
        );
        assert!(prepare("bogus = 1", &env, &data).is_err());
        assert!(prepare("project = ENG AND", &env, &data).is_err());
        assert!(prepare("project = \"ENG", &env, &data).is_err());
        assert!(prepare("ORDER BY created DESC", &env, &data).is_ok());
        assert!(prepare("", &env, &data).is_ok());
    }

    #[test]
    fn ordering_by_key_is_numeric_within_project() {
        let s = env_state();
        let data = s.data[0].read();
        let env = Env {
            now: 0,
            current_user: 0,
            users: &s.users,
        };
        let c = prepare("project = ENG ORDER BY key ASC", &env, &data).unwrap();
        let ids = run(&data, &c, 12);
        let keys: Vec<String> = ids.iter().take(12).map(|i| data.key(*i)).collect();
        assert_eq!(keys[0], "ENG-1");
        assert_eq!(keys[9], "ENG-10");
        assert_eq!(keys[11], "ENG-12");
    }
}
