//! The describe explorer and the playground: a form generated from an action's JSON Schema
//! (or JSON typed by hand), the result as a table or JSON, and the same call as curl, CLI and
//! MCP tool JSON.

use axum::http::StatusCode;
use axum::response::Response;
use jiragate_engine::model::{AuthKind, Connection};
use jiragate_engine::{ActionRequest, ConnRef, EngineError};
use minijinja::{Value as Ctx, context};
use serde_json::{Map, Value, json};

use super::Fields;
use super::connections::render_detail;
use crate::Console;
use crate::session::SignedIn;
use crate::table;

/// Longest JSON result shown on the page; a bigger one is cut (pages stay small).
const MAX_JSON_CHARS: usize = 40_000;

/// Entities and their actions, each with its scopes and — for OAuth connections — the scopes
/// the connection lacks.
pub(crate) fn explorer(conn: &Connection, describe: &Value) -> Ctx {
    let granted = (conn.auth_kind == AuthKind::OAuth2).then_some(&conn.scopes);
    let entities = describe["entities"].as_array().cloned().unwrap_or_default();
    let out: Vec<Ctx> = entities
        .iter()
        .map(|e| {
            let actions: Vec<Ctx> = e["actions"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    let classic = strings(&a["scopes"]["classic"]);
                    let granular = strings(&a["scopes"]["granular"]);
                    let missing = granted.map(|g| missing_scopes(g, &classic, &granular));
                    context! {
                        name => a["action"].as_str().unwrap_or_default(),
                        description => a["description"].as_str().unwrap_or_default(),
                        read_only => a["read_only"].as_bool().unwrap_or(false),
                        classic => classic,
                        granular => granular,
                        missing => missing.filter(|m| !m.is_empty()),
                    }
                })
                .collect();
            context! { entity => e["entity"].as_str().unwrap_or_default(), actions => actions }
        })
        .collect();
    Ctx::from(out)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// An action runs when either its classic or its granular scopes are all granted; otherwise
/// the classic scopes it lacks (the shorter list people usually grant) are reported.
fn missing_scopes(granted: &[String], classic: &[String], granular: &[String]) -> Vec<String> {
    let lacks = |set: &[String]| -> Vec<String> {
        set.iter()
            .filter(|s| !granted.iter().any(|g| g == *s))
            .cloned()
            .collect()
    };
    let (c, g) = (lacks(classic), lacks(granular));
    if (c.is_empty() && !classic.is_empty()) || (g.is_empty() && !granular.is_empty()) {
        return Vec::new();
    }
    if classic.is_empty() { g } else { c }
}

/// The schema of `entity.action` from describe.
fn action_def<'a>(describe: &'a Value, name: &str) -> Option<&'a Value> {
    let (entity, action) = name.split_once('.')?;
    describe["entities"]
        .as_array()?
        .iter()
        .find(|e| e["entity"] == entity)?["actions"]
        .as_array()?
        .iter()
        .find(|a| a["action"] == action)
}

/// One generated input.
struct FieldSpec {
    name: String,
    kind: &'static str,
    required: bool,
    description: String,
    choices: Vec<String>,
}

fn field_specs(schema: &Value) -> Vec<FieldSpec> {
    let required = strings(&schema["required"]);
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, p)| {
            let p = non_null_variant(p);
            let choices = strings(&p["enum"]);
            let kind = if !choices.is_empty() {
                "enum"
            } else {
                match type_of(p) {
                    Some("boolean") => "boolean",
                    Some("integer") => "integer",
                    Some("number") => "number",
                    Some("string") => "string",
                    _ => "json",
                }
            };
            FieldSpec {
                name: name.clone(),
                kind,
                required: required.contains(name),
                description: p["description"].as_str().unwrap_or_default().to_owned(),
                choices,
            }
        })
        .collect()
}

/// `Option<T>` appears as `anyOf: [T, null]` or `type: [T, "null"]`: the form shows T.
fn non_null_variant(p: &Value) -> &Value {
    if let Some(any) = p["anyOf"].as_array().or_else(|| p["oneOf"].as_array()) {
        let non_null: Vec<&Value> = any.iter().filter(|v| v["type"] != "null").collect();
        if non_null.len() == 1 {
            return non_null[0];
        }
    }
    p
}

fn type_of(p: &Value) -> Option<&str> {
    match &p["type"] {
        Value::String(s) => Some(s.as_str()),
        Value::Array(a) => a.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// The playground's form for the chosen action (`myself.get`, else the first, when none is
/// chosen), with what was entered last time.
pub(crate) fn form_for(
    st: &Console,
    conn: &Connection,
    describe: &Value,
    chosen: Option<&str>,
    entered: &Fields,
) -> Ctx {
    let mut names: Vec<String> = Vec::new();
    for e in describe["entities"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        for a in e["actions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            names.push(format!(
                "{}.{}",
                e["entity"].as_str().unwrap_or_default(),
                a["action"].as_str().unwrap_or_default()
            ));
        }
    }
    let chosen = chosen
        .filter(|c| names.iter().any(|n| n == c))
        .map(str::to_owned)
        .or_else(|| names.iter().find(|n| *n == "myself.get").cloned())
        .or_else(|| names.first().cloned())
        .unwrap_or_default();
    let def = action_def(describe, &chosen);
    let schema = def
        .map(|d| d["params_schema"].clone())
        .unwrap_or(Value::Null);
    let fields: Vec<Ctx> = field_specs(&schema)
        .into_iter()
        .map(|f| {
            let value = entered.get(&format!("p.{}", f.name)).map(str::to_owned);
            context! {
                name => f.name, kind => f.kind, required => f.required,
                description => f.description, choices => f.choices, value => value,
            }
        })
        .collect();
    let example = def
        .map(|d| d["example"].clone())
        .filter(|v| !v.is_null())
        .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default());
    context! {
        actions => names,
        chosen => chosen,
        description => def.and_then(|d| d["description"].as_str()).unwrap_or_default(),
        read_only => def.and_then(|d| d["read_only"].as_bool()).unwrap_or(false),
        fields => fields,
        example => example,
        params_json => entered.raw("params_json"),
        schema_json => serde_json::to_string(&schema).unwrap_or_default(),
        run_url => format!("/console/connections/{}/run", conn.id),
        public_url => st.public_url.clone(),
    }
}

/// Params from the form: the JSON box when filled, else the generated fields.
fn params_from(describe: &Value, chosen: &str, f: &Fields) -> Result<Value, EngineError> {
    if let Some(raw) = f.raw("params_json") {
        let v: Value = serde_json::from_str(raw).map_err(|e| {
            EngineError::validation("params_json", format!("is not valid JSON: {e}"))
        })?;
        if !v.is_object() {
            return Err(EngineError::validation(
                "params_json",
                "must be a JSON object such as {\"key\": \"ENG-1\"}",
            ));
        }
        return Ok(v);
    }
    let schema = action_def(describe, chosen)
        .map(|d| d["params_schema"].clone())
        .unwrap_or(Value::Null);
    let mut params = Map::new();
    for spec in field_specs(&schema) {
        let Some(text) = f.get(&format!("p.{}", spec.name)) else {
            continue;
        };
        let field = format!("params.{}", spec.name);
        let value = match spec.kind {
            "integer" => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| EngineError::validation(&field, "must be a whole number"))?,
            "number" => text
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                .ok_or_else(|| EngineError::validation(&field, "must be a number"))?,
            "boolean" => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(EngineError::validation(&field, "must be true or false")),
            },
            "json" => serde_json::from_str(text)
                .map_err(|e| EngineError::validation(&field, format!("is not valid JSON: {e}")))?,
            _ => Value::String(text.to_owned()),
        };
        params.insert(spec.name, value);
    }
    Ok(Value::Object(params))
}

pub(crate) async fn run(st: &Console, user: &SignedIn, id: &str, f: &Fields) -> Response {
    let conn = match st
        .engine
        .get_connection(user.actor(), user.org(), &ConnRef::parse(id))
        .await
    {
        Ok(c) => c,
        Err(e) => return crate::render::error_page(st, Some(user), &e),
    };
    let describe = st.engine.describe_connection(&conn, None);
    let chosen = f.get("action").unwrap_or_default().to_owned();
    let outcome = match params_from(&describe, &chosen, f) {
        Ok(params) => {
            let (entity, action) = chosen.split_once('.').unwrap_or((chosen.as_str(), ""));
            let call = ActionRequest {
                entity: entity.to_owned(),
                action: action.to_owned(),
                params: params.clone(),
                read_only: false,
            };
            let res = st
                .engine
                .execute(
                    user.actor(),
                    user.org(),
                    &ConnRef::Id(conn.id.clone()),
                    call,
                )
                .await;
            (params, res)
        }
        Err(e) => (Value::Null, Err(e)),
    };
    let (params, result) = outcome;
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(e) => StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_GATEWAY),
    };
    let snippets = (!params.is_null()).then(|| snippets(st, &conn, &chosen, &params));
    let run = match result {
        Ok(out) => {
            let mut json_text = serde_json::to_string_pretty(&out.data).unwrap_or_default();
            let truncated = json_text.len() > MAX_JSON_CHARS;
            if truncated {
                let mut cut = MAX_JSON_CHARS;
                while !json_text.is_char_boundary(cut) {
                    cut -= 1;
                }
                json_text.truncate(cut);
            }
            context! {
                ok => true,
                action => chosen.clone(),
                table => table::from_json(&out.data),
                json => json_text,
                truncated => truncated,
                next_page_token => out.next_page_token,
                snippets => snippets,
            }
        }
        Err(e) => context! {
            ok => false, action => chosen.clone(), error => e.to_string(), kind => e.kind(), snippets => snippets,
        },
    };
    // The page again, with the form as it was submitted.
    render_detail(st, user, id, Some(&chosen), None, Some(run), status, f).await
}

/// The same call as curl, CLI and MCP tool JSON.
fn snippets(st: &Console, conn: &Connection, chosen: &str, params: &Value) -> Ctx {
    let (entity, action) = chosen.split_once('.').unwrap_or((chosen, ""));
    let body = json!({"entity": entity, "action": action, "params": params});
    let body_text = serde_json::to_string(&body).unwrap_or_default();
    let curl = format!(
        "curl -sS -X POST '{}/api/v1/integrations/connectors/{}/execute' \\\n  -H \"Authorization: Bearer $JIRAGATE_API_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  -d '{}'",
        st.public_url,
        conn.id,
        body_text.replace('\'', "'\\''")
    );
    let mut cli = format!(
        "jiragate connectors execute -w {} -n {} --entity {} --action {}",
        shell_word(&conn.workspace),
        shell_word(&conn.name),
        shell_word(entity),
        shell_word(action)
    );
    if let Some(obj) = params.as_object() {
        for (k, v) in obj {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            cli.push_str(&format!(" \\\n  -p {}", shell_word(&format!("{k}={text}"))));
        }
    }
    let mcp = serde_json::to_string_pretty(&json!({
        "name": "jira_execute",
        "arguments": {
            "connection": format!("{}/{}", conn.workspace, conn.name),
            "entity": entity, "action": action, "params": params,
        }
    }))
    .unwrap_or_default();
    context! { curl => curl, cli => cli, mcp => mcp }
}

/// A word for a POSIX shell: bare when safe, else single-quoted.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_fields_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "required": ["key"],
            "properties": {
                "key": {"type": "string", "description": "Issue key"},
                "limit": {"type": ["integer", "null"]},
                "expand": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                "order": {"type": "string", "enum": ["asc", "desc"]},
                "notify": {"type": "boolean"}
            }
        });
        let specs = field_specs(&schema);
        let kinds: Vec<(&str, &str, bool)> = specs
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.required))
            .collect();
        assert_eq!(
            kinds,
            [
                ("key", "string", true),
                ("limit", "integer", false),
                ("expand", "json", false),
                ("order", "enum", false),
                ("notify", "boolean", false)
            ]
        );
    }

    #[test]
    fn missing_scopes_accept_either_family() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            missing_scopes(
                &g(&["read:jira-work"]),
                &g(&["read:jira-work"]),
                &g(&["read:issue:jira"])
            )
            .is_empty()
        );
        assert!(
            missing_scopes(
                &g(&["read:issue:jira"]),
                &g(&["read:jira-work"]),
                &g(&["read:issue:jira"])
            )
            .is_empty()
        );
        assert_eq!(
            missing_scopes(
                &g(&["read:me"]),
                &g(&["read:jira-work", "write:jira-work"]),
                &g(&["write:issue:jira"])
            ),
            g(&["read:jira-work", "write:jira-work"])
        );
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("ENG-1"), "ENG-1");
        assert_eq!(shell_word("project = ENG"), "'project = ENG'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
    }
}
