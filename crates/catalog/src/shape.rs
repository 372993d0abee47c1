//! Turning Jira answers into `data`: ADF rendered back to Markdown where people read it.

use jiragate_jira::adf::adf_to_markdown;
use serde_json::{Value, json};

use crate::plan::Shape;

fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
}

/// Adds `<key>_markdown` next to an ADF value.
fn add_markdown(obj: &mut Value, adf_key: &str, md_key: &str) {
    let Some(doc) = obj.get(adf_key) else { return };
    if !is_adf(doc) {
        return;
    }
    let md = adf_to_markdown(doc);
    if let Some(map) = obj.as_object_mut() {
        map.insert(md_key.to_owned(), Value::String(md));
    }
}

/// Shapes one item (a page item, or the whole answer of an unpaged action).
pub(crate) fn item(shape: &Shape, mut v: Value) -> Value {
    match shape {
        Shape::Issue => {
            if let Some(doc) = v.pointer("/fields/description").filter(|d| is_adf(d)) {
                let md = adf_to_markdown(doc);
                if let Some(map) = v.as_object_mut() {
                    map.insert("description_markdown".into(), Value::String(md));
                }
            }
            v
        }
        Shape::Comment => {
            add_markdown(&mut v, "body", "body_markdown");
            add_markdown(&mut v, "comment", "comment_markdown");
            v
        }
        Shape::Pick(pointer) => v.pointer(pointer).cloned().unwrap_or(Value::Null),
        Shape::Ack => {
            if v.is_null() {
                json!({"ok": true})
            } else {
                v
            }
        }
        Shape::Raw | Shape::Binary | Shape::ResolveFields(_) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_get_description_markdown() {
        let adf = jiragate_jira::adf::markdown_to_adf("Some **bold** text");
        let v = item(
            &Shape::Issue,
            json!({"key": "A-1", "fields": {"description": adf}}),
        );
        assert!(
            v["description_markdown"]
                .as_str()
                .unwrap()
                .contains("**bold**")
        );
        let v = item(
            &Shape::Issue,
            json!({"key": "A-1", "fields": {"description": null}}),
        );
        assert!(v.get("description_markdown").is_none());
    }

    #[test]
    fn comments_and_worklogs_get_markdown() {
        let adf = jiragate_jira::adf::markdown_to_adf("hello");
        let v = item(
            &Shape::Comment,
            json!({"body": adf.clone(), "comment": adf}),
        );
        assert_eq!(v["body_markdown"].as_str().unwrap().trim(), "hello");
        assert_eq!(v["comment_markdown"].as_str().unwrap().trim(), "hello");
    }

    #[test]
    fn pick_and_ack() {
        assert_eq!(
            item(&Shape::Pick("/a/b"), json!({"a": {"b": [1]}})),
            json!([1])
        );
        assert_eq!(item(&Shape::Ack, Value::Null), json!({"ok": true}));
    }
}
