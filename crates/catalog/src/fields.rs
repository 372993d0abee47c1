//! Field names → field ids (`Story Points` → `customfield_10016`), one `GET /rest/api/3/field`
//! per call at most.

use serde_json::{Map, Value};

use crate::error::CatalogError;

/// Jira system field ids: these keys never need a look-up.
const SYSTEM_FIELDS: &[&str] = &[
    "summary",
    "description",
    "issuetype",
    "project",
    "assignee",
    "reporter",
    "priority",
    "labels",
    "components",
    "fixVersions",
    "versions",
    "duedate",
    "parent",
    "environment",
    "timetracking",
    "security",
    "attachment",
    "issuelinks",
    "resolution",
    "status",
    "watches",
    "worklog",
    "comment",
    "timeoriginalestimate",
    "timeestimate",
    "votes",
    "creator",
    "created",
    "updated",
    "resolutiondate",
    "lastViewed",
    "subtasks",
    "statuscategorychangedate",
];

/// True when some key under `fields`/`update` is not a system field id.
pub(crate) fn needs_lookup(body: &Value) -> bool {
    field_maps(body)
        .iter()
        .any(|m| m.keys().any(|k| !SYSTEM_FIELDS.contains(&k.as_str())))
}

fn field_maps(body: &Value) -> Vec<&Map<String, Value>> {
    let mut holders: Vec<&Value> = vec![body];
    if let Some(updates) = body.get("issueUpdates").and_then(Value::as_array) {
        holders.extend(updates.iter());
    }
    holders
        .into_iter()
        .flat_map(|v| {
            ["fields", "update"]
                .into_iter()
                .filter_map(move |k| v.get(k)?.as_object())
        })
        .collect()
}

/// The site's fields (`GET /rest/api/3/field` answer).
pub(crate) struct FieldList(pub Vec<Value>);

impl FieldList {
    /// Id and "is rich text" of the field with this id, or else this name (case-insensitive).
    fn find(&self, key: &str) -> Result<Option<(String, bool)>, Vec<String>> {
        let by_id = self.0.iter().find(|f| f["id"].as_str() == Some(key));
        let found = match by_id {
            Some(f) => Some(f),
            None => {
                let named: Vec<&Value> = self
                    .0
                    .iter()
                    .filter(|f| {
                        f["name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(key))
                    })
                    .collect();
                if named.len() > 1 {
                    return Err(named
                        .iter()
                        .filter_map(|f| f["id"].as_str().map(str::to_owned))
                        .collect());
                }
                named.first().copied()
            }
        };
        Ok(found.and_then(|f| {
            let id = f["id"].as_str()?.to_owned();
            let rich = f["schema"]["custom"]
                .as_str()
                .is_some_and(|c| c.ends_with(":textarea"));
            Some((id, rich))
        }))
    }

    /// Public for `issue_fields.resolve`: matches by id or name.
    pub(crate) fn matching(&self, key: &str) -> Vec<&Value> {
        self.0
            .iter()
            .filter(|f| {
                f["id"].as_str() == Some(key)
                    || f["key"].as_str() == Some(key)
                    || f["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(key))
            })
            .collect()
    }
}

/// Rewrites every `fields`/`update` map of `body` to field ids.
pub(crate) fn rewrite(body: &mut Value, list: &FieldList) -> Result<(), CatalogError> {
    rewrite_one(body, list)?;
    if let Some(updates) = body.get_mut("issueUpdates").and_then(Value::as_array_mut) {
        for (i, u) in updates.iter_mut().enumerate() {
            rewrite_one(u, list).map_err(|e| match e {
                CatalogError::InvalidParams { field, message } => CatalogError::InvalidParams {
                    field: format!("issues[{i}].{field}"),
                    message,
                },
                other => other,
            })?;
        }
    }
    Ok(())
}

fn rewrite_one(v: &mut Value, list: &FieldList) -> Result<(), CatalogError> {
    for key in ["fields", "update"] {
        let Some(map) = v.get_mut(key).and_then(Value::as_object_mut) else {
            continue;
        };
        let old = std::mem::take(map);
        for (name, mut value) in old {
            if SYSTEM_FIELDS.contains(&name.as_str()) {
                map.insert(name, value);
                continue;
            }
            match list.find(&name) {
                Ok(Some((id, rich))) => {
                    if rich
                        && key == "fields"
                        && let Some(md) = value.as_str()
                    {
                        value = jiragate_jira::adf::markdown_to_adf(md);
                    }
                    map.insert(id, value);
                }
                Ok(None) => {
                    return Err(CatalogError::invalid(
                        format!("fields.{name}"),
                        "no field with this id or name on this site (issue_fields.list shows them)",
                    ));
                }
                Err(ids) => {
                    return Err(CatalogError::invalid(
                        format!("fields.{name}"),
                        format!(
                            "several fields have this name ({}); use the id",
                            ids.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> FieldList {
        FieldList(vec![
            json!({"id": "summary", "name": "Summary", "schema": {"type": "string"}}),
            json!({"id": "customfield_10016", "name": "Story Points", "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"}}),
            json!({"id": "customfield_10020", "name": "Notes", "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea"}}),
            json!({"id": "customfield_1", "name": "Dup"}),
            json!({"id": "customfield_2", "name": "dup"}),
        ])
    }

    #[test]
    fn names_become_ids_and_rich_text_becomes_adf() {
        let mut body = json!({"fields": {"summary": "s", "story points": 3, "Notes": "**hi**", "customfield_10016": 5}});
        assert!(needs_lookup(&body));
        rewrite(&mut body, &list()).unwrap();
        assert_eq!(body["fields"]["customfield_10016"], 5);
        assert_eq!(body["fields"]["customfield_10020"]["type"], "doc");
        assert_eq!(body["fields"]["summary"], "s");
    }

    #[test]
    fn unknown_and_ambiguous_names_are_errors_naming_the_field() {
        let mut body = json!({"fields": {"Nope": 1}});
        let err = rewrite(&mut body, &list()).unwrap_err();
        assert!(
            matches!(err, CatalogError::InvalidParams { ref field, .. } if field == "fields.Nope")
        );
        let mut body =
            json!({"issueUpdates": [{"fields": {"summary": "a"}}, {"fields": {"dup": 1}}]});
        let err = rewrite(&mut body, &list()).unwrap_err();
        assert!(
            matches!(err, CatalogError::InvalidParams { ref field, .. } if field == "issues[1].fields.dup")
        );
    }

    #[test]
    fn system_fields_need_no_lookup() {
        assert!(!needs_lookup(
            &json!({"fields": {"summary": "x", "labels": []}})
        ));
    }
}
