//! Small helpers shared by the action modules.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// `{"id": ..}` for a numeric id, `{"key": ..}` for a key (issues, projects).
pub(crate) fn key_or_id(s: &str) -> Value {
    if is_numeric(s) {
        json!({"id": s})
    } else {
        json!({"key": s})
    }
}

/// `{"id": ..}` for a numeric id, `{"name": ..}` otherwise (issue types, priorities).
pub(crate) fn name_or_id(s: &str) -> Value {
    if is_numeric(s) {
        json!({"id": s})
    } else {
        json!({"name": s})
    }
}

pub(crate) fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn adf(markdown: &str) -> Value {
    jiragate_jira::adf::markdown_to_adf(markdown)
}

/// Who may see a comment or worklog.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Visibility {
    /// `group` or `role`.
    #[serde(rename = "type")]
    pub kind: VisibilityKind,
    /// Group name or project role name.
    pub value: String,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VisibilityKind {
    Group,
    Role,
}

impl Visibility {
    pub fn to_json(&self) -> Value {
        let kind = match self.kind {
            VisibilityKind::Group => "group",
            VisibilityKind::Role => "role",
        };
        json!({"type": kind, "value": self.value})
    }
}

/// Inserts `key: value` into a JSON object when the value is present.
pub(crate) fn put<T: Into<Value>>(obj: &mut Value, key: &str, value: Option<T>) {
    if let (Some(v), Some(map)) = (value, obj.as_object_mut()) {
        map.insert(key.to_owned(), v.into());
    }
}
