//! Shaping action results for a model's context: compact JSON, ADF as Markdown, no URLs to
//! avatars, no nulls, nested references (status, user, project, ...) reduced to what names them,
//! and a size cap that trims item lists rather than cutting JSON in half.

use serde_json::{Map, Value};

use crate::backend::ActionOutput;

/// Upper bound of one tool result's text (about 10k tokens).
pub const MAX_RESULT_CHARS: usize = 40_000;

/// Keys that carry nothing an agent can use (links back to the API, image URLs, expansion hints).
const DROP_KEYS: &[&str] = &[
    "self",
    "avatarUrls",
    "iconUrl",
    "expand",
    "_links",
    "_expands",
];

/// Keys under which Jira pages hold their items.
const ITEM_KEYS: &[&str] = &[
    "issues",
    "values",
    "comments",
    "worklogs",
    "transitions",
    "sprints",
    "results",
];

/// The text content of a successful tool call.
pub fn render_output(output: ActionOutput) -> String {
    let mut envelope = Map::new();
    envelope.insert("data".to_owned(), shape(output.data));
    if let Some(token) = output.next_page_token {
        envelope.insert("next_page_token".to_owned(), Value::String(token));
    }
    fit(Value::Object(envelope), MAX_RESULT_CHARS)
}

/// Shape a whole `data` value: records at the top (or in the page's item list) keep their own
/// identifiers; everything nested inside a record is compacted.
pub fn shape(data: Value) -> Value {
    match data {
        Value::Array(items) => Value::Array(items.into_iter().map(shape_record).collect()),
        Value::Object(map)
            if ITEM_KEYS
                .iter()
                .any(|k| map.get(*k).is_some_and(Value::is_array)) =>
        {
            let mut out = Map::new();
            for (key, value) in map {
                if DROP_KEYS.contains(&key.as_str()) || value.is_null() {
                    continue;
                }
                let value = match value {
                    Value::Array(items) if ITEM_KEYS.contains(&key.as_str()) => {
                        Value::Array(items.into_iter().map(shape_record).collect())
                    }
                    other => shape_nested(other),
                };
                out.insert(key, value);
            }
            Value::Object(out)
        }
        other => shape_record(other),
    }
}

fn shape_record(value: Value) -> Value {
    let Value::Object(mut map) = value else {
        return shape_nested(value);
    };
    if is_adf(&map) {
        return Value::String(jiragate_engine::model::adf::adf_to_markdown(
            &Value::Object(map),
        ));
    }
    // An issue: lift `fields` next to `key` so the agent reads `{key, summary, status, ...}`.
    if map.contains_key("key")
        && let Some(Value::Object(fields)) = map.remove("fields")
    {
        for (k, v) in fields {
            map.entry(k).or_insert(v);
        }
    }
    // After the lift, so an issue's `description` meets the catalog's `description_markdown`.
    reuse_markdown_twins(&mut map);
    let mut out = Map::new();
    for (key, value) in map {
        if DROP_KEYS.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        let value = shape_nested(value);
        if !is_empty(&value) {
            out.insert(key, value);
        }
    }
    drop_markdown_twins(&mut out);
    Value::Object(out)
}

/// The catalog adds `<field>_markdown` next to an ADF field (an issue's description once its
/// `fields` are lifted, a comment's body): that text stands in for the document, which is then
/// not rendered a second time. Same function, same document, so the same text; the twin itself
/// goes as before ([`drop_markdown_twins`]).
fn reuse_markdown_twins(map: &mut Map<String, Value>) {
    let rendered: Vec<(String, String)> = map
        .iter()
        .filter_map(|(key, value)| {
            let base = key.strip_suffix("_markdown")?;
            let md = value.as_str()?;
            map.get(base)?
                .as_object()
                .is_some_and(is_adf)
                .then(|| (base.to_owned(), md.to_owned()))
        })
        .collect();
    for (base, md) in rendered {
        map.insert(base, Value::String(md));
    }
}

/// The catalog adds `<field>_markdown` next to ADF fields; ADF is rendered in place here, so
/// the twin would only repeat it.
fn drop_markdown_twins(map: &mut Map<String, Value>) {
    let twins: Vec<String> = map
        .keys()
        .filter(|k| {
            k.strip_suffix("_markdown")
                .is_some_and(|base| map.get(base).is_some_and(Value::is_string))
        })
        .cloned()
        .collect();
    for twin in twins {
        map.remove(&twin);
    }
}

fn shape_nested(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if is_adf(&map) {
                return Value::String(jiragate_engine::model::adf::adf_to_markdown(
                    &Value::Object(map),
                ));
            }
            if let Some(reference) = as_reference(&map) {
                return reference;
            }
            let mut map = map;
            reuse_markdown_twins(&mut map);
            let mut out = Map::new();
            for (key, value) in map {
                if DROP_KEYS.contains(&key.as_str()) || value.is_null() {
                    continue;
                }
                let value = shape_nested(value);
                if !is_empty(&value) {
                    out.insert(key, value);
                }
            }
            drop_markdown_twins(&mut out);
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(shape_nested).collect()),
        other => other,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn is_adf(map: &Map<String, Value>) -> bool {
    map.get("type").and_then(Value::as_str) == Some("doc")
        && map.get("content").is_some_and(Value::is_array)
}

/// A nested object that only points at something else (it has `self`): keep what names it.
fn as_reference(map: &Map<String, Value>) -> Option<Value> {
    if !map.contains_key("self") {
        return None;
    }
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(account_id) = text("accountId") {
        let mut user = Map::new();
        user.insert("accountId".to_owned(), Value::String(account_id));
        if let Some(name) = text("displayName") {
            user.insert("displayName".to_owned(), Value::String(name));
        }
        return Some(Value::Object(user));
    }
    if let Some(key) = text("key") {
        let mut out = Map::new();
        out.insert("key".to_owned(), Value::String(key));
        if let Some(name) = text("name") {
            out.insert("name".to_owned(), Value::String(name));
        }
        // A linked issue or parent: its summary and status say what it is.
        if let Some(Value::Object(fields)) = map.get("fields") {
            if let Some(summary) = fields.get("summary").and_then(Value::as_str) {
                out.insert("summary".to_owned(), Value::String(summary.to_owned()));
            }
            if let Some(status) = fields
                .get("status")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
            {
                out.insert("status".to_owned(), Value::String(status.to_owned()));
            }
        }
        return Some(Value::Object(out));
    }
    ["name", "value", "displayName"]
        .into_iter()
        .find_map(text)
        .map(Value::String)
}

/// Serialise compactly; when too long, keep fewer items of the longest item list and say so.
pub fn fit(mut value: Value, max_chars: usize) -> String {
    let mut text = value.to_string();
    // Bounded: each round at least halves the kept items.
    for _ in 0..24 {
        if text.len() <= max_chars {
            return text;
        }
        let Some(items) = longest_item_list(&mut value) else {
            break;
        };
        let total = items.len();
        if total <= 1 {
            break;
        }
        let ratio = max_chars as f64 / text.len() as f64;
        let keep = ((total as f64 * ratio * 0.9) as usize).clamp(1, total / 2);
        items.truncate(keep);
        if let Value::Object(envelope) = &mut value {
            envelope.insert(
                "truncated".to_owned(),
                Value::String(format!(
                    "showing {keep} of {total} items to fit the context; ask for fewer fields or a smaller limit"
                )),
            );
        }
        text = value.to_string();
    }
    if text.len() <= max_chars {
        return text;
    }
    let mut cut = max_chars;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… [truncated at {max_chars} characters; ask for fewer fields]",
        &text[..cut]
    )
}

fn longest_item_list(value: &mut Value) -> Option<&mut Vec<Value>> {
    let data = value.get_mut("data")?;
    if data.is_array() {
        return data.as_array_mut();
    }
    let map = data.as_object_mut()?;
    map.iter_mut()
        .filter(|(_, v)| v.is_array())
        .max_by_key(|(_, v)| v.as_array().map_or(0, Vec::len))
        .and_then(|(_, v)| v.as_array_mut())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn issues_are_flattened_and_references_compacted() {
        let page = json!({
            "issues": [{
                "id": "10001", "key": "ACME-1", "self": "http://x/rest/api/3/issue/10001",
                "expand": "names",
                "fields": {
                    "summary": "Fix it",
                    "status": {"self": "http://x/status/1", "name": "To Do", "id": "1",
                               "statusCategory": {"self": "http://x", "key": "new"}},
                    "assignee": {"self": "http://x/user", "accountId": "abc", "displayName": "Ann",
                                 "avatarUrls": {"48x48": "http://x/a.png"}, "active": true},
                    "customfield_10010": null,
                    "labels": [],
                    "description": {"type": "doc", "version": 1, "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "Hello"}]}]}
                }
            }],
            "nextPageToken": "t1"
        });
        let shaped = shape(page);
        let issue = &shaped["issues"][0];
        assert_eq!(issue["key"], "ACME-1");
        assert_eq!(issue["summary"], "Fix it");
        assert_eq!(issue["status"], "To Do");
        assert_eq!(
            issue["assignee"],
            json!({"accountId": "abc", "displayName": "Ann"})
        );
        assert!(issue.get("customfield_10010").is_none());
        assert!(issue.get("labels").is_none());
        assert!(issue.get("self").is_none());
        assert!(issue["description"].as_str().unwrap().contains("Hello"));
        assert_eq!(shaped["nextPageToken"], "t1");
    }

    /// Reusing the catalog's Markdown gives, byte for byte, what rendering the ADF again gave.
    #[test]
    fn catalog_markdown_is_reused_as_rendered() {
        let adf = json!({"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Hello *world*"}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]}]}]});
        let md = jiragate_engine::model::adf::adf_to_markdown(&adf);
        let issue = issue_with(&adf, &md);
        let shaped = shape(issue.clone());
        assert_eq!(shaped["description"], Value::String(md.clone()));
        assert!(shaped.get("description_markdown").is_none());
        // The same answer without the twins renders the ADF itself: the same text.
        let mut bare = issue;
        bare.as_object_mut().unwrap().remove("description_markdown");
        bare["fields"]["comment"]["comments"][0]
            .as_object_mut()
            .unwrap()
            .remove("body_markdown");
        let rendered = shape(bare);
        assert_eq!(rendered["description"], shaped["description"]);
        assert_eq!(
            rendered["comment"]["comments"][0]["body"],
            shaped["comment"]["comments"][0]["body"]
        );
        assert_eq!(shaped["comment"]["comments"][0]["body"], Value::String(md));
        // And the catalog's text is what is used (the document is not rendered again): a
        // marker in its place comes out.
        let marked = shape(issue_with(&adf, "[catalog text]"));
        assert_eq!(marked["description"], "[catalog text]");
        assert_eq!(marked["comment"]["comments"][0]["body"], "[catalog text]");
    }

    /// An issue as the catalog answers it: an ADF description and comment body, each with the
    /// catalog's `_markdown` twin `md`.
    fn issue_with(adf: &Value, md: &str) -> Value {
        json!({
            "id": "1", "key": "ACME-1", "self": "http://x/1",
            "fields": {"summary": "s", "description": adf, "labels": ["a"],
                       "comment": {"comments": [{"id": "9", "body": adf, "body_markdown": md}]}},
            "description_markdown": md,
        })
    }

    #[test]
    fn top_level_records_keep_their_identifiers() {
        let projects = json!([{"self": "http://x/p/1", "id": "1", "key": "ACME", "name": "Acme",
                               "projectTypeKey": "software"}]);
        let shaped = shape(projects);
        assert_eq!(shaped[0]["id"], "1");
        assert_eq!(shaped[0]["projectTypeKey"], "software");
    }

    #[test]
    fn oversized_lists_are_trimmed_with_a_note() {
        let items: Vec<Value> = (0..2000)
            .map(|i| json!({"key": format!("ACME-{i}"), "summary": "x".repeat(50)}))
            .collect();
        let text = render_output(ActionOutput {
            data: json!({"issues": items}),
            next_page_token: Some("next".to_owned()),
        });
        assert!(text.len() <= MAX_RESULT_CHARS);
        let parsed: Value = serde_json::from_str(&text).expect("still valid JSON");
        assert!(
            parsed["truncated"]
                .as_str()
                .unwrap()
                .contains("of 2000 items")
        );
        assert_eq!(parsed["next_page_token"], "next");
    }
}
