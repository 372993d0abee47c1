//! Tool arguments checked against the tool's advertised input schema before anything runs.
//!
//! The schemas are ours (see `tools.rs`) and use a small JSON Schema subset; [`KEYWORDS`] lists
//! it, and a test walks every listed schema so a keyword this validator does not enforce cannot
//! be advertised by accident. A refusal names the argument and the bound, and quotes at most
//! [`jiragate_engine::quote`]'s limit of the offending value.

use serde_json::{Map, Value};

use crate::backend::ToolError;

/// The JSON Schema keywords the tool schemas may use (all enforced, or pure annotations).
#[cfg(test)]
pub(crate) const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "description",
];

/// Check `args` against an object schema; the first violation as a `validation` tool error.
pub(crate) fn check(
    tool: &str,
    schema: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), ToolError> {
    let refuse = |field: &str, message: String| {
        let hint = if field == "connection" {
            " (an id, workspace/name or name; jira_list_connections lists them)"
        } else {
            ""
        };
        Err(ToolError::new(
            "validation",
            format!(
                "invalid argument '{field}' of {tool}: {message}{hint}. See the tool's input schema (tools/list)."
            ),
        ))
    };
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if args.get(name).is_none_or(Value::is_null) {
                return refuse(name, "is required".to_owned());
            }
        }
    }
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, value) in args {
        // Unknown arguments are left to the action (the catalog names them); null means absent.
        let Some(property) = properties.get(name).and_then(Value::as_object) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        if let Err((path, message)) = check_value(name.clone(), property, value) {
            return refuse(&path, message);
        }
    }
    Ok(())
}

fn check_value(
    path: String,
    schema: &Map<String, Value>,
    value: &Value,
) -> Result<(), (String, String)> {
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, expected)
    {
        return Err((
            path,
            format!("must be {}, got {}", article(expected), describe(value)),
        ));
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let listed: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err((
            path,
            format!("{} is not one of {}", describe(value), listed.join(", ")),
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && number > max
        {
            return Err((
                path,
                format!("{value} is above the maximum of {}", bound(max)),
            ));
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && number < min
        {
            return Err((
                path,
                format!("{value} is below the minimum of {}", bound(min)),
            ));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count();
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars as u64 > max
        {
            return Err((
                path,
                format!("is {chars} characters long; at most {max} are allowed"),
            ));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (chars as u64) < min
        {
            return Err((
                path,
                format!("is {chars} characters long; at least {min} are required"),
            ));
        }
    }
    if let (Some(items), Some(values)) = (
        schema.get("items").and_then(Value::as_object),
        value.as_array(),
    ) {
        for (i, item) in values.iter().enumerate() {
            check_value(format!("{path}[{i}]"), items, item)?;
        }
    }
    if let (Some(_), Some(object)) = (schema.get("properties"), value.as_object()) {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            if let Some(property) = properties
                .and_then(|p| p.get(key))
                .and_then(Value::as_object)
            {
                check_value(format!("{path}.{key}"), property, item)?;
            }
        }
    }
    Ok(())
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "number" => value.is_number(),
        // JSON Schema: an integer is any number with a zero fractional part (1.0 included).
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "null" => value.is_null(),
        _ => true,
    }
}

fn article(kind: &str) -> String {
    match kind {
        "integer" | "array" | "object" => format!("an {kind}"),
        other => format!("a {other}"),
    }
}

fn bound(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// A value as an error may show it: strings quoted and cut, others by type and size.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {}", jiragate_engine::quote(s)),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(map) => format!("an object with {} keys", map.len()),
        other => {
            let text = other.to_string();
            if text.chars().count() > 64 {
                jiragate_engine::quote(&text)
            } else {
                text
            }
        }
    }
}

/// Every keyword used anywhere in `schema` (for the test that keeps [`KEYWORDS`] honest).
#[cfg(test)]
fn keywords(schema: &Value, out: &mut Vec<String>) {
    if let Some(map) = schema.as_object() {
        for (key, value) in map {
            out.push(key.clone());
            match key.as_str() {
                "properties" => {
                    for property in value.as_object().into_iter().flat_map(|p| p.values()) {
                        keywords(property, out);
                    }
                }
                "items" => keywords(value, out),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::McpOptions;
    use crate::tools;

    fn schema_of(name: &str) -> Map<String, Value> {
        tools::build(
            &McpOptions::default(),
            &jiragate_engine::model::Catalog::new(),
        )
        .unwrap()
        .into_iter()
        .find(|t| t.tool.name == name)
        .map(|t| (*t.tool.input_schema).clone())
        .unwrap()
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn every_listed_schema_uses_only_enforced_keywords() {
        for opts in [
            McpOptions::default(),
            McpOptions {
                read_only: true,
                default_connection: Some("x".into()),
                ..McpOptions::default()
            },
        ] {
            for tool in tools::build(&opts, &jiragate_engine::model::Catalog::new()).unwrap() {
                let mut found = Vec::new();
                keywords(
                    &Value::Object((*tool.tool.input_schema).clone()),
                    &mut found,
                );
                for keyword in found {
                    assert!(
                        KEYWORDS.contains(&keyword.as_str()),
                        "{}: keyword {keyword} is not enforced",
                        tool.tool.name
                    );
                }
            }
        }
    }

    #[test]
    fn bounds_types_enums_and_required_are_enforced_with_the_field_named() {
        let search = schema_of("jira_search_issues");
        let err = check(
            "jira_search_issues",
            &search,
            &args(json!({"connection": "c", "jql": "x", "limit": 100000})),
        )
        .unwrap_err();
        assert_eq!(err.kind, "validation");
        assert!(
            err.message.contains("'limit'") && err.message.contains("maximum of 100"),
            "{}",
            err.message
        );
        let err = check(
            "jira_search_issues",
            &search,
            &args(json!({"connection": "c", "jql": "x", "limit": 0})),
        )
        .unwrap_err();
        assert!(err.message.contains("minimum of 1"), "{}", err.message);
        assert!(
            check(
                "jira_search_issues",
                &search,
                &args(json!({"connection": "c", "jql": "x", "limit": 100}))
            )
            .is_ok()
        );
        let err = check(
            "jira_search_issues",
            &search,
            &args(json!({"connection": "c", "jql": "x", "limit": 2.5})),
        )
        .unwrap_err();
        assert!(
            err.message.contains("must be an integer"),
            "{}",
            err.message
        );
        let err = check(
            "jira_search_issues",
            &search,
            &args(json!({"connection": "c"})),
        )
        .unwrap_err();
        assert!(
            err.message.contains("'jql'") && err.message.contains("required"),
            "{}",
            err.message
        );
        let err = check("jira_search_issues", &search, &args(json!({"jql": "x"}))).unwrap_err();
        assert!(
            err.message.contains("jira_list_connections"),
            "{}",
            err.message
        );

        let sprints = schema_of("jira_list_sprints");
        let err = check(
            "jira_list_sprints",
            &sprints,
            &args(json!({"connection": "c", "board": 1, "limit": 51})),
        )
        .unwrap_err();
        assert!(err.message.contains("maximum of 50"), "{}", err.message);
        let err = check(
            "jira_list_sprints",
            &sprints,
            &args(json!({"connection": "c", "board": 1, "state": ["open"]})),
        )
        .unwrap_err();
        assert!(
            err.message.contains("'state[0]'") && err.message.contains("\"active\""),
            "{}",
            err.message
        );
    }

    #[test]
    fn echoed_values_are_bounded() {
        let sprints = schema_of("jira_list_sprints");
        let huge = "x".repeat(200_000);
        let err = check(
            "jira_list_sprints",
            &sprints,
            &args(json!({"connection": "c", "board": huge})),
        )
        .unwrap_err();
        assert!(err.message.len() < 600, "{} bytes", err.message.len());
        assert!(
            err.message.contains("200000 characters"),
            "{}",
            &err.message[..300]
        );
    }
}
