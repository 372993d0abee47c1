//! The tool list: three generic tools that reach every catalog action, plus first-class tools
//! for the actions agents use most, each with a tight JSON Schema. What is listed depends on
//! [`McpOptions`]: read-only mode drops every write tool, `tools` keeps an allow-list, and a
//! default connection makes the `connection` argument optional.

use std::sync::Arc;

use jiragate_engine::model::Catalog;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use crate::McpOptions;

/// Named groups accepted in the `tools` allow-list, next to single tool names.
pub const TOOLSETS: &[(&str, &[&str])] = &[
    (
        "core",
        &["jira_list_connections", "jira_describe", "jira_execute"],
    ),
    (
        "issues",
        &[
            "jira_search_issues",
            "jira_get_issue",
            "jira_create_issue",
            "jira_update_issue",
            "jira_add_comment",
            "jira_transition_issue",
        ],
    ),
    ("agile", &["jira_list_sprints"]),
];

/// What a listed tool does when called.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ToolKind {
    ListConnections,
    Describe,
    Execute,
    /// A first-class tool bound to one catalog action.
    Action {
        spec: &'static ActionTool,
        entity: &'static str,
        action: &'static str,
    },
}

/// A first-class tool: its schema and the catalog action it runs.
#[derive(Debug)]
pub(crate) struct ActionTool {
    pub name: &'static str,
    pub description: &'static str,
    pub read_only: bool,
    /// `(entity, action)` in the catalog; the first that exists is used.
    pub candidates: &'static [(&'static str, &'static str)],
    /// JSON Schema properties (without `connection`).
    pub properties: fn() -> Value,
    pub required: &'static [&'static str],
    /// Tool argument name → catalog param name, where they differ.
    pub renames: &'static [(&'static str, &'static str)],
    /// Params the tool sets when the agent leaves them out (small pages, useful fields).
    pub defaults: fn() -> Value,
}

fn no_defaults() -> Value {
    json!({})
}

pub(crate) static ACTION_TOOLS: &[ActionTool] = &[
    ActionTool {
        name: "jira_search_issues",
        description: "Search issues by JQL. Returns a page of issues and next_page_token.",
        read_only: true,
        candidates: &[("issues", "search")],
        properties: || {
            json!({
                "jql": {"type": "string", "description": "e.g. project = ACME AND status = \"In Progress\" ORDER BY updated DESC"},
                "fields": {"type": "array", "items": {"type": "string"}, "description": "Default: summary,status,assignee,priority,issuetype,updated"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Default 20"},
                "page_token": {"type": "string", "description": "next_page_token of the previous page"}
            })
        },
        required: &["jql"],
        renames: &[],
        defaults: || json!({"limit": 20, "fields": ["summary", "status", "assignee", "priority", "issuetype", "updated"]}),
    },
    ActionTool {
        name: "jira_get_issue",
        description: "Get one issue; description and comments as Markdown.",
        read_only: true,
        candidates: &[("issues", "get")],
        properties: || {
            json!({
                "issue": {"type": "string", "description": "Key (ACME-1) or id"},
                "fields": {"type": "array", "items": {"type": "string"}, "description": "Default: all navigable fields"}
            })
        },
        required: &["issue"],
        renames: &[],
        defaults: no_defaults,
    },
    ActionTool {
        name: "jira_create_issue",
        description: "Create an issue. description is Markdown.",
        read_only: false,
        candidates: &[("issues", "create")],
        properties: || {
            json!({
                "project": {"type": "string", "description": "Project key"},
                "summary": {"type": "string"},
                "issue_type": {"type": "string", "description": "e.g. Task, Bug, Story"},
                "description": {"type": "string"},
                "assignee": {"type": "string", "description": "accountId"},
                "priority": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}},
                "parent": {"type": "string", "description": "Parent issue key"},
                "fields": {"type": "object", "description": "Other fields by name or customfield_N"}
            })
        },
        required: &["project", "summary", "issue_type"],
        renames: &[],
        defaults: no_defaults,
    },
    ActionTool {
        name: "jira_update_issue",
        description: "Update an issue's fields. description is Markdown.",
        read_only: false,
        candidates: &[("issues", "update")],
        properties: || {
            json!({
                "issue": {"type": "string", "description": "Key or id"},
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "assignee": {"type": "string", "description": "accountId"},
                "priority": {"type": "string"},
                "labels": {"type": "array", "items": {"type": "string"}},
                "fields": {"type": "object", "description": "Other fields by name or customfield_N"}
            })
        },
        required: &["issue"],
        renames: &[],
        defaults: no_defaults,
    },
    ActionTool {
        name: "jira_add_comment",
        description: "Add a comment (Markdown) to an issue.",
        read_only: false,
        candidates: &[("issue_comments", "create")],
        properties: || {
            json!({
                "issue": {"type": "string", "description": "Key or id"},
                "body": {"type": "string", "description": "Markdown"}
            })
        },
        required: &["issue", "body"],
        renames: &[],
        defaults: no_defaults,
    },
    ActionTool {
        name: "jira_transition_issue",
        description: "Move an issue to another status by transition name or id.",
        read_only: false,
        candidates: &[("issue_transitions", "transition")],
        properties: || {
            json!({
                "issue": {"type": "string", "description": "Key or id"},
                "transition": {"type": "string", "description": "Transition or target status name, or transition id"},
                "comment": {"type": "string", "description": "Optional Markdown comment"}
            })
        },
        required: &["issue", "transition"],
        renames: &[],
        defaults: no_defaults,
    },
    ActionTool {
        name: "jira_list_sprints",
        description: "List a board's sprints.",
        read_only: true,
        candidates: &[("sprints", "list")],
        properties: || {
            json!({
                "board": {"type": "integer", "minimum": 1, "description": "Board id"},
                "state": {"type": "array", "items": {"enum": ["future", "active", "closed"]}},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50}
            })
        },
        required: &["board"],
        renames: &[("board", "board_id")],
        defaults: no_defaults,
    },
];

impl ActionTool {
    /// Tool arguments (without `connection`) → catalog params: defaults, then renames.
    pub(crate) fn params(&self, mut args: Map<String, Value>) -> Value {
        if let Value::Object(defaults) = (self.defaults)() {
            for (key, value) in defaults {
                args.entry(key).or_insert(value);
            }
        }
        for (from, to) in self.renames {
            if let Some(value) = args.remove(*from) {
                args.insert((*to).to_owned(), value);
            }
        }
        Value::Object(args)
    }

    /// The first of the candidate actions that the catalog has.
    pub(crate) fn bind(&self, catalog: &Catalog) -> Option<(&'static str, &'static str)> {
        self.candidates
            .iter()
            .copied()
            .find(|(entity, action)| catalog.find(entity, action).is_some())
    }
}

/// A tool as listed, with what it does.
#[derive(Clone, Debug)]
pub(crate) struct ListedTool {
    pub tool: Tool,
    pub kind: ToolKind,
}

/// Why a set of options cannot start a server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown tool or toolset '{name}' in the allow-list; valid: {valid}")]
    UnknownTool { name: String, valid: String },
    #[error("the allow-list leaves no tool enabled")]
    NothingEnabled,
}

/// Whether a `tools/call` of tool `name` with `arguments` writes to Jira: a first-class write
/// tool, or `jira_execute` of a write action. Unknown tools and actions are not writes (the
/// call itself then says what is wrong). The HTTP front end uses it to challenge a read-only
/// authorization before the call runs.
pub fn tool_call_writes(name: &str, arguments: Option<&Value>) -> bool {
    if let Some(t) = ACTION_TOOLS.iter().find(|t| t.name == name) {
        return !t.read_only;
    }
    if name == "jira_execute" {
        let text = |k: &str| arguments.and_then(|a| a.get(k)).and_then(Value::as_str);
        if let (Some(entity), Some(action)) = (text("entity"), text("action")) {
            return Catalog::new()
                .find(entity, action)
                .is_some_and(|d| !d.read_only);
        }
    }
    false
}

/// Every tool name and toolset name the allow-list accepts.
pub fn known_tool_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> =
        vec!["jira_list_connections", "jira_describe", "jira_execute"];
    names.extend(ACTION_TOOLS.iter().map(|t| t.name));
    names
}

/// Expand the allow-list (tool names, with or without the `jira_` prefix, and toolsets).
fn allowed(opts: &McpOptions) -> Result<Option<Vec<&'static str>>, OptionsError> {
    let Some(entries) = &opts.tools else {
        return Ok(None);
    };
    let names = known_tool_names();
    let mut out = Vec::new();
    for entry in entries.iter().flat_map(|e| e.split(',')) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        if entry == "all" {
            return Ok(None);
        }
        if let Some((_, members)) = TOOLSETS.iter().find(|(set, _)| *set == entry) {
            out.extend_from_slice(members);
            continue;
        }
        let prefixed = format!("jira_{entry}");
        match names.iter().find(|n| **n == entry || **n == prefixed) {
            Some(name) => out.push(*name),
            None => {
                let mut valid: Vec<&str> = TOOLSETS.iter().map(|(s, _)| *s).collect();
                valid.push("all");
                valid.extend(names.iter().copied());
                return Err(OptionsError::UnknownTool {
                    name: entry.to_owned(),
                    valid: valid.join(", "),
                });
            }
        }
    }
    Ok(Some(out))
}

fn connection_property() -> Value {
    json!({"type": "string", "description": "Connection id, workspace/name or name"})
}

fn schema(mut properties: Map<String, Value>, required: &[&str], opts: &McpOptions) -> JsonObject {
    let mut required: Vec<Value> = required.iter().map(|r| json!(r)).collect();
    let mut all = Map::new();
    all.insert("connection".to_owned(), connection_property());
    all.append(&mut properties);
    if opts.default_connection.is_none() {
        required.insert(0, json!("connection"));
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(all));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    schema
}

fn annotations(read_only: bool) -> ToolAnnotations {
    let annotations = ToolAnnotations::new().read_only(read_only);
    if read_only {
        annotations
    } else {
        annotations.destructive(false)
    }
}

/// The tools to list for these options, in a stable order.
pub(crate) fn build(opts: &McpOptions, catalog: &Catalog) -> Result<Vec<ListedTool>, OptionsError> {
    let allow = allowed(opts)?;
    let enabled = |name: &str| allow.as_ref().is_none_or(|list| list.contains(&name));
    let mut tools = Vec::new();

    if enabled("jira_list_connections") {
        let tool = Tool::new(
            "jira_list_connections",
            "List Jira connections with status. Use one as the connection argument.",
            Arc::new(
                json!({"type": "object", "properties": {}})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .with_annotations(annotations(true));
        tools.push(ListedTool {
            tool,
            kind: ToolKind::ListConnections,
        });
    }
    if enabled("jira_describe") {
        let mut properties = Map::new();
        properties.insert(
            "entity".to_owned(),
            json!({"type": "string", "description": "e.g. issues, sprints"}),
        );
        properties.insert(
            "action".to_owned(),
            json!({"type": "string", "description": "With entity: full params schema"}),
        );
        properties.insert(
            "query".to_owned(),
            json!({"type": "string", "description": "Search text"}),
        );
        let mut input = schema(properties, &[], opts);
        // Describing needs no connection: the catalog is the same for every connection of a type.
        input.remove("required");
        let tool = Tool::new(
            "jira_describe",
            "Catalog of every Jira action. No args: entity -> actions index. entity: its actions. \
             entity+action: params schema. query: search.",
            Arc::new(input),
        )
        .with_annotations(annotations(true));
        tools.push(ListedTool {
            tool,
            kind: ToolKind::Describe,
        });
    }
    if enabled("jira_execute") {
        let mut properties = Map::new();
        properties.insert("entity".to_owned(), json!({"type": "string"}));
        properties.insert("action".to_owned(), json!({"type": "string"}));
        properties.insert(
            "params".to_owned(),
            json!({"type": "object", "description": "Per jira_describe schema"}),
        );
        let description = if opts.read_only {
            "Run any read-only catalog action (see jira_describe). Read-only mode: writes are refused."
        } else {
            "Run any catalog action (see jira_describe)."
        };
        let tool = Tool::new(
            "jira_execute",
            description,
            Arc::new(schema(properties, &["entity", "action"], opts)),
        )
        .with_annotations(annotations(opts.read_only));
        tools.push(ListedTool {
            tool,
            kind: ToolKind::Execute,
        });
    }
    for spec in ACTION_TOOLS {
        if !enabled(spec.name) || (opts.read_only && !spec.read_only) {
            continue;
        }
        let Some((entity, action)) = spec.bind(catalog) else {
            tracing::warn!(
                tool = spec.name,
                "no catalog action for this tool; not listed"
            );
            continue;
        };
        let properties = match (spec.properties)() {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let tool = Tool::new(
            spec.name,
            spec.description,
            Arc::new(schema(properties, spec.required, opts)),
        )
        .with_annotations(annotations(spec.read_only));
        tools.push(ListedTool {
            tool,
            kind: ToolKind::Action {
                spec,
                entity,
                action,
            },
        });
    }
    if tools.is_empty() {
        return Err(OptionsError::NothingEnabled);
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(opts: &McpOptions) -> Vec<String> {
        build(opts, &Catalog::new())
            .unwrap()
            .into_iter()
            .map(|t| t.tool.name.to_string())
            .collect()
    }

    #[test]
    fn allow_list_takes_names_prefixes_and_toolsets() {
        let opts = McpOptions {
            tools: Some(vec![
                "core".into(),
                "search_issues,jira_list_sprints".into(),
            ]),
            ..McpOptions::default()
        };
        let listed = names(&opts);
        assert!(listed.contains(&"jira_execute".to_owned()));
        assert!(listed.contains(&"jira_search_issues".to_owned()));
        assert!(listed.contains(&"jira_list_sprints".to_owned()));
        assert!(!listed.contains(&"jira_create_issue".to_owned()));
    }

    #[test]
    fn unknown_allow_list_entries_are_refused_with_the_valid_names() {
        let opts = McpOptions {
            tools: Some(vec!["jira_delete_everything".into()]),
            ..McpOptions::default()
        };
        let err = build(&opts, &Catalog::new()).unwrap_err();
        assert!(err.to_string().contains("jira_search_issues"));
    }

    #[test]
    fn read_only_lists_no_write_tool() {
        let opts = McpOptions {
            read_only: true,
            ..McpOptions::default()
        };
        for tool in build(&opts, &Catalog::new()).unwrap() {
            assert_eq!(
                tool.tool.annotations.and_then(|a| a.read_only_hint),
                Some(true),
                "{} is listed in read-only mode",
                tool.tool.name
            );
        }
    }

    #[test]
    fn every_first_class_tool_binds_to_a_catalog_action_with_matching_params() {
        let catalog = Catalog::new();
        for spec in ACTION_TOOLS {
            let (entity, action) = spec
                .bind(&catalog)
                .unwrap_or_else(|| panic!("{} has no catalog action", spec.name));
            let def = catalog.find(entity, action).expect("bound action exists");
            assert_eq!(def.read_only, spec.read_only, "{}", spec.name);
            let catalog_params = def.params_schema();
            let catalog_props = catalog_params["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let Value::Object(props) = (spec.properties)() else {
                panic!("{} properties are not an object", spec.name)
            };
            for arg in props.keys() {
                let param = spec
                    .renames
                    .iter()
                    .find(|(from, _)| from == arg)
                    .map_or(arg.as_str(), |(_, to)| to);
                assert!(
                    catalog_props.contains_key(param),
                    "{}: argument '{arg}' is not a param of {entity}.{action} (has {:?})",
                    spec.name,
                    catalog_props.keys().collect::<Vec<_>>()
                );
            }
            let Value::Object(defaults) = (spec.defaults)() else {
                panic!()
            };
            for key in defaults.keys() {
                assert!(
                    catalog_props.contains_key(key),
                    "{}: default {key}",
                    spec.name
                );
            }
        }
    }
}
