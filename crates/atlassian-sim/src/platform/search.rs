//! JQL search (`/search/jql` with `nextPageToken`), approximate counts, JQL parsing and
//! autocomplete data, and the removed `/search` answering 410.

use base64::Engine;
use http::StatusCode;
use serde_json::{Value, json};

use super::issues::{FieldSel, issue_json};
use crate::call::Call;
use crate::jql::{self, Env, Expr, Op, Operand};
use crate::reply::{HandlerResult, Reply};
use crate::seed::{hash, str_hash};

pub fn removed_search(_call: &Call) -> HandlerResult {
    Err(Reply::jira_error(
        StatusCode::GONE,
        &[
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
        ],
        &[],
    ))
}

fn env<'a>(call: &'a Call) -> Env<'a> {
    Env {
        now: call.now,
        current_user: call.caller.user,
        users: &call.state.users,
    }
}

/// Page tokens carry the offset and are bound to the query they came from.
fn encode_token(jql: &str, offset: usize) -> String {
    let check = hash(0x70c, &[str_hash(jql)]) & 0xffff_ffff;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}:{check:x}"))
}

fn decode_token(jql: &str, token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (offset, check) = s.split_once(':')?;
    let expected = hash(0x70c, &[str_hash(jql)]) & 0xffff_ffff;
    (u64::from_str_radix(check, 16).ok()? == expected).then_some(offset.parse().ok()?)
}

struct SearchInput {
    jql: String,
    token: Option<String>,
    max: usize,
    fields: Vec<String>,
    expand: Vec<String>,
}

fn input(call: &Call) -> Result<SearchInput, Reply> {
    if call.op.method == "POST" {
        let b = call.json_body()?;
        let list = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Some(Value::String(s)) => s
                    .split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect(),
                _ => Vec::new(),
            }
        };
        Ok(SearchInput {
            jql: b
                .get("jql")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            token: b
                .get("nextPageToken")
                .and_then(Value::as_str)
                .map(str::to_owned),
            max: b
                .get("maxResults")
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .unwrap_or(50),
            fields: list(b.get("fields")),
            expand: list(b.get("expand")),
        })
    } else {
        Ok(SearchInput {
            jql: call.q("jql").unwrap_or("").to_owned(),
            token: call.q("nextPageToken").map(str::to_owned),
            max: call.q_num("maxResults", 50)?,
            fields: call.q_list("fields"),
            expand: call.q_list("expand"),
        })
    }
}

fn bad_jql(messages: Vec<String>) -> Reply {
    let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
    Reply::jira_error(StatusCode::BAD_REQUEST, &refs, &[])
}

const UNBOUNDED: &str =
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.";

pub fn search_jql(call: &Call) -> HandlerResult {
    let inp = input(call)?;
    let parsed = jql::parse(&inp.jql).map_err(|m| bad_jql(vec![m]))?;
    if parsed.filter.is_none() {
        return Err(bad_jql(vec![UNBOUNDED.to_owned()]));
    }
    let sel = FieldSel::parse(&inp.fields, "id");
    let cap = if sel.ids_only() { 5000 } else { 100 };
    let max = inp.max.clamp(1, cap);
    let offset = match &inp.token {
        Some(t) if !t.is_empty() => decode_token(&inp.jql, t).ok_or_else(|| {
            Reply::bad_request("The provided next page token is invalid or expired.")
        })?,
        _ => 0,
    };
    let data = call.data();
    let compiled = jql::compile(&parsed, &env(call), &data).map_err(bad_jql)?;
    let ids = jql::run(&data, &compiled, offset + max);
    let page: Vec<u64> = ids.iter().skip(offset).take(max).copied().collect();
    let issues: Vec<Value> = page
        .iter()
        .map(|id| issue_json(call, &data, *id, &sel, &inp.expand))
        .collect();
    let is_last = offset + page.len() >= ids.len();
    let mut out = json!({"issues": issues, "isLast": is_last});
    if !is_last {
        out["nextPageToken"] = json!(encode_token(&inp.jql, offset + page.len()));
    }
    Ok(Reply::ok(out))
}

pub fn approximate_count(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let q = body.get("jql").and_then(Value::as_str).unwrap_or("");
    let parsed = jql::parse(q).map_err(|m| bad_jql(vec![m]))?;
    if parsed.filter.is_none() {
        return Err(bad_jql(vec![UNBOUNDED.to_owned()]));
    }
    let data = call.data();
    let compiled = jql::compile(&parsed, &env(call), &data).map_err(bad_jql)?;
    Ok(Reply::ok(
        json!({"count": jql::run(&data, &compiled, 1).len()}),
    ))
}

fn operand_json(o: &Operand) -> Value {
    match o {
        Operand::Value(v) => json!({"value": v}),
        Operand::Func(f, args) => json!({"function": f, "arguments": args}),
        Operand::List(items) => {
            json!({"values": items.iter().map(operand_json).collect::<Vec<_>>()})
        }
        Operand::Empty => json!({"keyword": "empty"}),
    }
}

fn op_name(op: Op) -> &'static str {
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

fn clause_json(e: &Expr) -> Value {
    match e {
        Expr::And(a, b) => json!({"operator": "and", "clauses": [clause_json(a), clause_json(b)]}),
        Expr::Or(a, b) => json!({"operator": "or", "clauses": [clause_json(a), clause_json(b)]}),
        Expr::Not(a) => json!({"operator": "not", "clauses": [clause_json(a)]}),
        Expr::Clause { field, op, value } => {
            json!({"field": {"name": field}, "operator": op_name(*op), "operand": operand_json(value)})
        }
    }
}

pub fn parse_queries(call: &Call) -> HandlerResult {
    let body = call.json_body()?;
    let queries = body
        .get("queries")
        .and_then(Value::as_array)
        .ok_or_else(|| Reply::field_error("queries", "The queries must be provided."))?;
    let strict = call.q("validation").unwrap_or("strict") != "none";
    let data = call.data();
    let mut out = Vec::new();
    for q in queries {
        let text = q.as_str().unwrap_or("");
        let mut j = json!({"query": text});
        match jql::parse(text) {
            Ok(parsed) => {
                let mut structure = json!({});
                if let Some(f) = &parsed.filter {
                    structure["where"] = clause_json(f);
                }
                if !parsed.order.is_empty() {
                    structure["orderBy"] = json!({"fields": parsed.order.iter().map(|(f, desc)| json!({"field": {"name": f}, "direction": if *desc { "desc" } else { "asc" }})).collect::<Vec<_>>()});
                }
                j["structure"] = structure;
                if strict && let Err(errs) = jql::compile(&parsed, &env(call), &data) {
                    j["errors"] = json!(errs);
                }
            }
            Err(e) => j["errors"] = json!([e]),
        }
        out.push(j);
    }
    Ok(Reply::ok(json!({"queries": out})))
}

pub fn autocomplete(_call: &Call) -> HandlerResult {
    let fields: Vec<Value> = jql::FIELD_NAMES
        .iter()
        .map(|(name, ops, orderable)| {
            json!({"value": name, "displayName": name, "orderable": if *orderable { "true" } else { "false" },
                   "searchable": "true", "operators": ops, "types": ["java.lang.String"]})
        })
        .collect();
    let functions: Vec<Value> = jql::FUNCTION_NAMES
        .iter()
        .map(|f| json!({"value": f, "displayName": f, "isList": if f.contains("Sprints") { "true" } else { "false" }, "types": ["java.lang.String"]}))
        .collect();
    Ok(Reply::ok(json!({
        "visibleFieldNames": fields,
        "visibleFunctionNames": functions,
        "jqlReservedWords": ["and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"],
    })))
}

/// Value suggestions for one JQL field, matched case-insensitively against `fieldValue`.
pub fn autocomplete_suggestions(call: &Call) -> HandlerResult {
    use crate::model::{ISSUE_TYPES, PRIORITIES, PROJECTS, STATUSES};
    let field = call.q("fieldName").unwrap_or("").to_lowercase();
    let typed = call.q("fieldValue").unwrap_or("").to_lowercase();
    let candidates: Vec<(String, String)> = match field.as_str() {
        "project" => PROJECTS
            .iter()
            .map(|p| (p.key.to_owned(), format!("{} ({})", p.name, p.key)))
            .collect(),
        "status" => STATUSES
            .iter()
            .map(|s| (s.name.to_owned(), s.name.to_owned()))
            .collect(),
        "priority" => PRIORITIES
            .iter()
            .map(|s| (s.name.to_owned(), s.name.to_owned()))
            .collect(),
        "issuetype" | "type" => ISSUE_TYPES
            .iter()
            .map(|s| (s.name.to_owned(), s.name.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    let results: Vec<Value> = candidates
        .into_iter()
        .filter_map(|(value, display)| {
            let lower = display.to_lowercase();
            let at = lower.find(typed.as_str())?;
            let shown = if typed.is_empty() {
                display.clone()
            } else {
                let end = at + typed.len();
                format!(
                    "{}<b>{}</b>{}",
                    &display[..at],
                    &display[at..end],
                    &display[end..]
                )
            };
            Some(json!({"value": value, "displayName": shown}))
        })
        .collect();
    Ok(Reply::ok(json!({ "results": results })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_bound_to_the_query() {
        let t = encode_token("project = ENG", 150);
        assert_eq!(decode_token("project = ENG", &t), Some(150));
        assert_eq!(decode_token("project = OPS", &t), None);
        assert_eq!(decode_token("project = ENG", "garbage"), None);
    }
}
