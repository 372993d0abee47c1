//! The MCP handler: tools, resources, and the rule that every failure of a tool is a tool
//! result with `isError: true` and a message the agent can act on.

use std::sync::Arc;
use std::time::Instant;

use jiragate_engine::model::{ActionDef, Catalog};
use jiragate_engine::quote;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, ErrorCode, Implementation, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Map, Value, json};

use crate::McpOptions;
use crate::backend::{ActionCall, Backend, ConnectionInfo, ToolError};
use crate::render;
use crate::schema;
use crate::tools::{self, ListedTool, OptionsError, ToolKind};

const CONNECTIONS_URI: &str = "jiragate://connections";
/// `jiragate://connections/{id}/events`: a connection's recent webhook events.
const EVENTS_SUFFIX: &str = "/events";
/// Events a read of the events resource returns (newest first).
const RECENT_EVENTS: u32 = 20;
const INSTRUCTIONS: &str = "Jira through jiragate. jira_list_connections shows connections; \
    jira_describe lists every entity and action; jira_execute runs any of them. Failures come \
    back as tool errors that say how to fix them.";

/// The backend chosen for one HTTP request by the auth hook (see [`crate::streamable_http_service`]).
/// Lives in the request's `http::Extensions`; the handler reads it per call.
#[derive(Clone)]
pub struct RequestBackend(pub Arc<dyn Backend>);

#[derive(Clone)]
enum BackendSource {
    /// stdio: one backend for the life of the process.
    Fixed(Arc<dyn Backend>),
    /// streamable HTTP: each request carries its own, from its API key's organization.
    PerRequest,
}

/// The jiragate MCP server (one per stdio process, one per HTTP session; cheap to clone).
#[derive(Clone)]
pub struct JiragateMcp {
    shared: Arc<Shared>,
}

struct Shared {
    source: BackendSource,
    opts: McpOptions,
    catalog: Catalog,
    tools: Vec<ListedTool>,
    /// `resources/subscribe` of clients on protocol revisions before 2026-07-28, by
    /// (session, uri): the task that forwards that resource's updates.
    legacy: std::sync::Mutex<std::collections::HashMap<(String, String), tokio::task::AbortHandle>>,
}

impl JiragateMcp {
    /// A server bound to one backend (stdio, tests, embedding).
    pub fn new(backend: Arc<dyn Backend>, opts: McpOptions) -> Result<Self, OptionsError> {
        Self::build(BackendSource::Fixed(backend), opts)
    }

    /// A server whose backend comes with each HTTP request ([`RequestBackend`]).
    pub(crate) fn per_request(opts: McpOptions) -> Result<Self, OptionsError> {
        Self::build(BackendSource::PerRequest, opts)
    }

    fn build(source: BackendSource, opts: McpOptions) -> Result<Self, OptionsError> {
        let catalog = Catalog::new();
        let tools = tools::build(&opts, &catalog)?;
        Ok(JiragateMcp {
            shared: Arc::new(Shared {
                source,
                opts,
                catalog,
                tools,
                legacy: Default::default(),
            }),
        })
    }

    /// The tools as listed by `tools/list`.
    pub fn tools(&self) -> Vec<Tool> {
        self.shared.tools.iter().map(|t| t.tool.clone()).collect()
    }

    /// Run one tool on a backend, the way `tools/call` does (no transport involved).
    pub async fn call(
        &self,
        backend: &dyn Backend,
        name: &str,
        args: Map<String, Value>,
    ) -> CallToolResult {
        let started = Instant::now();
        let outcome = self.dispatch(backend, name, args).await;
        tracing::debug!(
            tool = name,
            ok = outcome.is_ok(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tools/call"
        );
        match outcome {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.agent_text())]),
        }
    }

    fn backend_for(&self, ctx: &RequestContext<RoleServer>) -> Result<Arc<dyn Backend>, ToolError> {
        match &self.shared.source {
            BackendSource::Fixed(backend) => Ok(backend.clone()),
            BackendSource::PerRequest => ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<RequestBackend>())
                .map(|rb| rb.0.clone())
                .ok_or_else(|| {
                    ToolError::new(
                        "unauthorized",
                        "this request carries no authenticated organization; send Authorization: Bearer <api key>",
                    )
                }),
        }
    }

    /// [`Self::backend_for`] for requests other than `tools/call`: a missing backend is a
    /// protocol error.
    fn request_backend(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Arc<dyn Backend>, ErrorData> {
        self.backend_for(ctx)
            .map_err(|e| ErrorData::invalid_request(e.agent_text(), None))
    }

    async fn dispatch(
        &self,
        backend: &dyn Backend,
        name: &str,
        mut args: Map<String, Value>,
    ) -> Result<String, ToolError> {
        let Some(listed) = self.shared.tools.iter().find(|t| t.tool.name == name) else {
            let listed: Vec<&str> = self
                .shared
                .tools
                .iter()
                .map(|t| t.tool.name.as_ref())
                .collect();
            let why = if tools::known_tool_names().contains(&name) {
                if self.shared.opts.read_only {
                    "it writes and this server is read-only"
                } else {
                    "it is not in this server's tool allow-list"
                }
            } else {
                "no such tool"
            };
            return Err(ToolError::new(
                "unknown_tool",
                format!(
                    "tool {} is not available: {why}. Available: {}",
                    quote(name),
                    listed.join(", ")
                ),
            ));
        };
        if matches!(listed.kind, ToolKind::Execute) {
            coerce_params(&mut args);
        }
        // The advertised input schema is a contract: refuse what it excludes before any call.
        schema::check(name, &listed.tool.input_schema, &args)?;
        match listed.kind {
            ToolKind::ListConnections => {
                let connections = backend.list_connections().await?;
                Ok(json!({ "connections": connections }).to_string())
            }
            ToolKind::Describe => self.describe(backend, args).await,
            ToolKind::Execute => {
                let entity = take_string(&mut args, "entity")?;
                let action = take_string(&mut args, "action")?;
                let params = take_params(&mut args)?;
                let def = self.check_action(&entity, &action)?;
                let connection = self.connection(backend, &mut args).await?;
                self.run(backend, &connection, def, params).await
            }
            ToolKind::Action {
                spec,
                entity,
                action,
            } => {
                let def = self.check_action(entity, action)?;
                let connection = self.connection(backend, &mut args).await?;
                self.run(backend, &connection, def, spec.params(args)).await
            }
        }
    }

    async fn run(
        &self,
        backend: &dyn Backend,
        connection: &ConnectionInfo,
        def: &ActionDef,
        params: Value,
    ) -> Result<String, ToolError> {
        let call = ActionCall {
            entity: def.entity.to_owned(),
            action: def.action.to_owned(),
            params,
            read_only: self.shared.opts.read_only,
        };
        let output = backend.execute(connection, call).await?;
        Ok(render::render_output(output))
    }

    /// The action exists, and is allowed in this mode; otherwise say what is valid.
    fn check_action(&self, entity: &str, action: &str) -> Result<&'static ActionDef, ToolError> {
        let catalog = &self.shared.catalog;
        let read_only = self.shared.opts.read_only;
        let visible = |def: &&ActionDef| !read_only || def.read_only;
        if let Some(def) = catalog.find(entity, action) {
            if visible(&def) {
                return Ok(def);
            }
            let reads: Vec<&str> = catalog
                .actions()
                .iter()
                .filter(|d| d.entity == entity && d.read_only)
                .map(|d| d.action)
                .collect();
            return Err(ToolError::new(
                "read_only",
                format!(
                    "{entity}.{action} writes to Jira and this server is read-only (--read-only); read actions of {entity}: {}",
                    reads.join(", ")
                ),
            ));
        }
        let actions: Vec<&str> = catalog
            .actions()
            .iter()
            .filter(|d| d.entity == entity)
            .filter(visible)
            .map(|d| d.action)
            .collect();
        if actions.is_empty() {
            let mut entities: Vec<&str> = catalog
                .actions()
                .iter()
                .filter(visible)
                .map(|d| d.entity)
                .collect();
            let mut seen = std::collections::HashSet::new();
            entities.retain(|e| seen.insert(*e));
            return Err(ToolError::new(
                "unknown_action",
                format!(
                    "unknown entity {}; entities: {}",
                    quote(entity),
                    entities.join(", ")
                ),
            ));
        }
        Err(ToolError::new(
            "unknown_action",
            format!(
                "unknown action {} of {entity}; valid actions of {entity}: {}",
                quote(action),
                actions.join(", ")
            ),
        ))
    }

    async fn connection(
        &self,
        backend: &dyn Backend,
        args: &mut Map<String, Value>,
    ) -> Result<ConnectionInfo, ToolError> {
        let selector = match args.remove("connection") {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(Value::String(_)) | Some(Value::Null) | None => {
                match &self.shared.opts.default_connection {
                    Some(default) => default.clone(),
                    None => {
                        return Err(ToolError::new(
                            "validation",
                            "missing 'connection': pass an id, workspace/name or name (jira_list_connections lists them)",
                        ));
                    }
                }
            }
            Some(other) => {
                return Err(ToolError::new(
                    "validation",
                    format!(
                        "'connection' must be a string, got {}",
                        quote(&other.to_string())
                    ),
                ));
            }
        };
        backend.resolve(&selector).await
    }

    async fn describe(
        &self,
        backend: &dyn Backend,
        mut args: Map<String, Value>,
    ) -> Result<String, ToolError> {
        let entity = take_optional_string(&mut args, "entity")?;
        let action = take_optional_string(&mut args, "action")?;
        let query = take_optional_string(&mut args, "query")?;
        // With a connection, ask the backend (it knows the connection's api type); without,
        // the catalog is the same for everyone.
        let doc = match args.remove("connection") {
            Some(Value::String(selector)) if !selector.trim().is_empty() => {
                let connection = backend.resolve(&selector).await?;
                backend.describe(&connection).await?
            }
            _ => self.shared.catalog.describe(None, None),
        };
        let entries = describe_entries(&doc, self.shared.opts.read_only);
        describe_view(
            &entries,
            entity.as_deref(),
            action.as_deref(),
            query.as_deref(),
        )
    }

    async fn resources(&self, backend: &dyn Backend) -> Vec<Resource> {
        let mut resources = vec![
            Resource::new(CONNECTIONS_URI, "connections")
                .with_description("Jira connections and their status")
                .with_mime_type("application/json"),
        ];
        match backend.list_connections().await {
            Ok(connections) => resources.extend(connections.iter().flat_map(|c| {
                [
                    Resource::new(format!("{CONNECTIONS_URI}/{}", c.id), c.reference())
                        .with_description(format!(
                            "Connection {} ({}) with a live health check",
                            c.reference(),
                            c.status
                        ))
                        .with_mime_type("application/json"),
                    Resource::new(events_uri(&c.id), format!("{} events", c.reference()))
                        .with_description(format!(
                            "The {RECENT_EVENTS} most recent Jira webhook events of {}, newest first; subscribe for updates",
                            c.reference()
                        ))
                        .with_mime_type("application/json"),
                ]
            })),
            Err(err) => {
                tracing::warn!(error = %err, "listing connections for resources/list failed")
            }
        }
        resources
    }

    async fn read(&self, backend: &dyn Backend, uri: &str) -> Result<String, ErrorData> {
        let tool_error = |err: ToolError| {
            ErrorData::resource_not_found(err.agent_text(), Some(json!({ "uri": quote(uri) })))
        };
        if uri == CONNECTIONS_URI {
            let connections = backend.list_connections().await.map_err(tool_error)?;
            return Ok(json!({ "connections": connections }).to_string());
        }
        if let Some(id) = events_connection(uri) {
            let connection = backend.resolve(id).await.map_err(tool_error)?;
            let events = backend
                .recent_events(&connection, RECENT_EVENTS)
                .await
                .map_err(tool_error)?;
            let shaped: Vec<Value> = events
                .into_iter()
                .map(|mut e| {
                    if let Some(payload) = e.get_mut("payload") {
                        *payload = render::shape(payload.take());
                    }
                    e
                })
                .collect();
            return Ok(render::fit(
                json!({ "connection": {"id": connection.id, "reference": connection.reference()}, "data": shaped }),
                render::MAX_RESULT_CHARS,
            ));
        }
        let Some(selector) = uri
            .strip_prefix(CONNECTIONS_URI)
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "unknown resource {}; try {CONNECTIONS_URI} or {CONNECTIONS_URI}/{{id}}",
                    quote(uri)
                ),
                None,
            ));
        };
        let connection = backend.resolve(selector).await.map_err(tool_error)?;
        // The check's own failure is the interesting part of this resource, not an error.
        let health = match backend.check(&connection).await {
            Ok(health) => health,
            Err(err) => json!({ "status": "error", "kind": err.kind, "message": err.message }),
        };
        Ok(json!({ "connection": connection, "health": health }).to_string())
    }
}

impl JiragateMcp {
    /// The connection ids behind `uris` (events resources only), each checked with the
    /// backend: a connection this caller may not use ends the subscription.
    async fn watched(
        &self,
        backend: &dyn Backend,
        uris: &[String],
    ) -> Result<Vec<(String, String)>, ErrorData> {
        let mut out = Vec::new();
        for uri in uris {
            let Some(id) = events_connection(uri) else {
                continue;
            };
            let connection = backend.resolve(id).await.map_err(|err| {
                ErrorData::resource_not_found(err.agent_text(), Some(json!({ "uri": quote(uri) })))
            })?;
            out.push((connection.id, uri.clone()));
        }
        Ok(out)
    }
}

/// Waits for the next notice about one of `watched` (connection id, uri) and returns the URIs
/// to announce; a listener that lagged behind announces all of them. `None`: no more notices.
async fn next_updates(
    notices: &mut crate::backend::EventNotices,
    watched: &[(String, String)],
) -> Option<Vec<String>> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match notices.recv().await {
            Ok(notice) => {
                let hit: Vec<String> = watched
                    .iter()
                    .filter(|(id, _)| notice.connection_id.as_ref() == id.as_str())
                    .map(|(_, uri)| uri.clone())
                    .collect();
                if !hit.is_empty() {
                    return Some(hit);
                }
            }
            Err(RecvError::Lagged(_)) => {
                return Some(watched.iter().map(|(_, uri)| uri.clone()).collect());
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// `jiragate://connections/{id}/events`.
fn events_uri(id: &str) -> String {
    format!("{CONNECTIONS_URI}/{id}{EVENTS_SUFFIX}")
}

/// The connection id of an events resource URI. Only an id (a UUID) names a connection here,
/// so `jiragate://connections/{workspace}/{name}` keeps meaning a connection even when the
/// name is `events`.
fn events_connection(uri: &str) -> Option<&str> {
    let id = uri
        .strip_prefix(CONNECTIONS_URI)?
        .strip_prefix('/')?
        .strip_suffix(EVENTS_SUFFIX)?;
    uuid::Uuid::parse_str(id).ok().map(|_| id)
}

/// Which session a legacy subscription belongs to (HTTP: `Mcp-Session-Id`; stdio: one).
fn session_key(ctx: &RequestContext<RoleServer>) -> String {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// One action of a describe document, as the agent needs it.
struct DescribeEntry<'a> {
    entity: &'a str,
    action: &'a Map<String, Value>,
}

impl DescribeEntry<'_> {
    fn name(&self) -> &str {
        self.action
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    fn description(&self) -> &str {
        self.action
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
    fn read_only(&self) -> bool {
        self.action
            .get("read_only")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    /// `jql*, fields, limit`: required params starred.
    fn param_names(&self) -> String {
        let schema = self.action.get("params_schema");
        let required: Vec<&str> = schema
            .and_then(|s| s.get("required"))
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        schema
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .keys()
                    .map(|k| {
                        if required.contains(&k.as_str()) {
                            format!("{k}*")
                        } else {
                            k.clone()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    }
}

fn describe_entries(doc: &Value, read_only: bool) -> Vec<DescribeEntry<'_>> {
    let mut out = Vec::new();
    for entity in doc
        .get("entities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = entity.get("entity").and_then(Value::as_str) else {
            continue;
        };
        for action in entity
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(action) = action.as_object() {
                let entry = DescribeEntry {
                    entity: name,
                    action,
                };
                if !read_only || entry.read_only() {
                    out.push(entry);
                }
            }
        }
    }
    out
}

/// First sentence, at most 90 characters: enough to choose an action.
fn one_line(text: &str) -> String {
    let first = text
        .split(". ")
        .next()
        .unwrap_or(text)
        .trim_end_matches('.');
    if first.chars().count() <= 90 {
        first.to_owned()
    } else {
        let cut: String = first.chars().take(89).collect();
        format!("{cut}…")
    }
}

fn describe_view(
    entries: &[DescribeEntry<'_>],
    entity: Option<&str>,
    action: Option<&str>,
    query: Option<&str>,
) -> Result<String, ToolError> {
    let entities = || {
        let mut names: Vec<&str> = entries.iter().map(|e| e.entity).collect();
        let mut seen = std::collections::HashSet::new();
        names.retain(|e| seen.insert(*e));
        names.join(", ")
    };
    if let Some(entity) = entity {
        let of_entity: Vec<&DescribeEntry> =
            entries.iter().filter(|e| e.entity == entity).collect();
        if of_entity.is_empty() {
            return Err(ToolError::new(
                "unknown_action",
                format!("unknown entity {}; entities: {}", quote(entity), entities()),
            ));
        }
        if let Some(action) = action {
            let Some(entry) = of_entity.iter().find(|e| e.name() == action) else {
                let names: Vec<&str> = of_entity.iter().map(|e| e.name()).collect();
                return Err(ToolError::new(
                    "unknown_action",
                    format!(
                        "unknown action {} of {entity}; valid actions of {entity}: {}",
                        quote(action),
                        names.join(", ")
                    ),
                ));
            };
            let mut full = entry.action.clone();
            full.remove("operations");
            full.insert("entity".to_owned(), json!(entity));
            return Ok(Value::Object(full).to_string());
        }
        let actions: Vec<Value> = of_entity
            .iter()
            .map(|e| json!({ "action": e.name(), "description": one_line(e.description()), "read_only": e.read_only(), "params": e.param_names() }))
            .collect();
        return Ok(json!({ "entity": entity, "actions": actions, "next": "jira_describe with entity and action for the params schema" }).to_string());
    }
    if let Some(query) = query {
        let needle = query.to_lowercase();
        let hits: Map<String, Value> = entries
            .iter()
            .filter(|e| {
                e.entity.to_lowercase().contains(&needle)
                    || e.name().to_lowercase().contains(&needle)
                    || e.description().to_lowercase().contains(&needle)
            })
            .map(|e| {
                (
                    format!("{}.{}", e.entity, e.name()),
                    json!(one_line(e.description())),
                )
            })
            .collect();
        if hits.is_empty() {
            return Err(ToolError::new(
                "not_found",
                format!(
                    "no action matches {}; entities: {}",
                    quote(query),
                    entities()
                ),
            ));
        }
        return Ok(json!({ "matches": hits }).to_string());
    }
    // The index: entity -> {action: one line}. Schemas only on request, to keep context small.
    let mut index: Map<String, Value> = Map::new();
    for entry in entries {
        let slot = index
            .entry(entry.entity.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(actions) = slot {
            actions.insert(
                entry.name().to_owned(),
                json!(one_line(entry.description())),
            );
        }
    }
    Ok(
        json!({ "entities": index, "next": "jira_describe with entity (and action) for params" })
            .to_string(),
    )
}

fn take_string(args: &mut Map<String, Value>, key: &str) -> Result<String, ToolError> {
    take_optional_string(args, key)?
        .ok_or_else(|| ToolError::new("validation", format!("missing required argument '{key}'")))
}

fn take_optional_string(
    args: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ToolError> {
    match args.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(ToolError::new(
            "validation",
            format!(
                "argument '{key}' must be a string, got {}",
                quote(&other.to_string())
            ),
        )),
    }
}

/// `params` of `jira_execute` sent as JSON text (some agents do) becomes the object it holds,
/// before the arguments are checked against the schema (which says `object`).
fn coerce_params(args: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = args.get("params")
        && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text)
    {
        args.insert("params".to_owned(), Value::Object(map));
    }
}

/// Why params that rmcp could not read as `tools/call` / `resources/read` are invalid.
/// rmcp hands a request whose params do not fit the method's shape to `on_custom_request`
/// (which answers -32601); for the methods this server implements that is -32602 instead.
fn invalid_params_reason(method: &str, params: Option<&Value>) -> Option<String> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let object = match params {
        Some(Value::Object(map)) => Some(map),
        None | Some(Value::Null) => None,
        Some(other) => return Some(format!("params must be an object, got {}", kind(other))),
    };
    let field = |name: &str| object.and_then(|o| o.get(name)).filter(|v| !v.is_null());
    match method {
        "tools/call" => {
            match field("name") {
                None => {
                    return Some(
                        "missing 'name' (the tool to call; tools/list lists them)".to_owned(),
                    );
                }
                Some(Value::String(_)) => {}
                Some(other) => {
                    return Some(format!("'name' must be a string, got {}", kind(other)));
                }
            }
            match field("arguments") {
                None | Some(Value::Object(_)) => {}
                Some(other) => {
                    return Some(format!(
                        "'arguments' must be an object of named arguments, got {}",
                        kind(other)
                    ));
                }
            }
        }
        "resources/read" => match field("uri") {
            None => return Some(format!("missing 'uri' (e.g. {CONNECTIONS_URI})")),
            Some(Value::String(_)) => {}
            Some(other) => return Some(format!("'uri' must be a string, got {}", kind(other))),
        },
        "tools/list" | "resources/list" | "resources/templates/list" | "ping" | "initialize" => {}
        _ => return None,
    }
    // The method is ours and the named fields look right: something else in params is off.
    let typed: Result<(), serde_json::Error> = match method {
        "tools/call" => params
            .cloned()
            .map(serde_json::from_value::<CallToolRequestParams>)
            .transpose()
            .map(|_| ()),
        "resources/read" => params
            .cloned()
            .map(serde_json::from_value::<ReadResourceRequestParams>)
            .transpose()
            .map(|_| ()),
        "tools/list" | "resources/list" | "resources/templates/list" => params
            .cloned()
            .map(serde_json::from_value::<PaginatedRequestParams>)
            .transpose()
            .map(|_| ()),
        _ => Ok(()),
    };
    Some(match typed {
        Err(err) => format!("{method} params do not match its schema: {err}"),
        Ok(()) => format!("{method} params do not match its schema"),
    })
}

/// `params` is an object; some agents send it as JSON text, which is accepted too.
fn take_params(args: &mut Map<String, Value>) -> Result<Value, ToolError> {
    match args.remove("params") {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::Object(map)) => Ok(Value::Object(map)),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            _ => Err(ToolError::new(
                "validation",
                "'params' must be a JSON object",
            )),
        },
        Some(other) => Err(ToolError::new(
            "validation",
            format!(
                "'params' must be a JSON object, got {}",
                quote(&other.to_string())
            ),
        )),
    }
}

impl ServerHandler for JiragateMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("jiragate", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match self.backend_for(&context) {
            Ok(backend) => {
                self.call(
                    backend.as_ref(),
                    &request.name,
                    request.arguments.unwrap_or_default(),
                )
                .await
            }
            Err(err) => CallToolResult::error(vec![ContentBlock::text(err.agent_text())]),
        };
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let backend = self.request_backend(&context)?;
        Ok(ListResourcesResult::with_all_items(
            self.resources(backend.as_ref()).await,
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{CONNECTIONS_URI}/{{id}}"), "connection")
                .with_description(
                    "One connection (id, workspace/name or name) with a live health check",
                )
                .with_mime_type("application/json"),
            ResourceTemplate::new(events_uri("{id}"), "connection events")
                .with_description(format!(
                    "The {RECENT_EVENTS} most recent Jira webhook events of a connection (by id), newest first; subscribe for updates"
                ))
                .with_mime_type("application/json"),
        ]))
    }

    /// MCP 2026-07-28 `subscriptions/listen`: updates of events resources
    /// (`jiragate://connections/{id}/events`) are accepted; [`Self::listen`] checks them.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let uris: Vec<String> = requested
            .resource_subscriptions
            .iter()
            .flatten()
            .filter(|uri| events_connection(uri).is_some())
            .cloned()
            .collect();
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    /// Sends `notifications/resources/updated` on the listen stream whenever an event of a
    /// watched connection is stored, until the client cancels (or the server stops).
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let backend = self.request_backend(context.request_context())?;
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        let watched = self.watched(backend.as_ref(), &uris).await?;
        let Some(mut notices) = backend.event_notices().filter(|_| !watched.is_empty()) else {
            context.cancelled().await;
            return Ok(());
        };
        loop {
            let updates = tokio::select! {
                _ = context.cancelled() => return Ok(()),
                u = next_updates(&mut notices, &watched) => u,
            };
            let Some(updates) = updates else {
                context.cancelled().await;
                return Ok(());
            };
            for uri in updates {
                if context.sink().notify_resource_updated(uri).await.is_err() {
                    return Ok(());
                }
            }
        }
    }

    /// `resources/subscribe` of clients on earlier revisions: the same updates, sent on the
    /// session until it unsubscribes or ends.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let backend = self.request_backend(&context)?;
        let uri = request.uri;
        let watched = self
            .watched(backend.as_ref(), std::slice::from_ref(&uri))
            .await?;
        if watched.is_empty() {
            return Err(ErrorData::invalid_params(
                format!(
                    "only events resources can be subscribed to ({}), not {}",
                    events_uri("{id}"),
                    quote(&uri)
                ),
                None,
            ));
        }
        let Some(mut notices) = backend.event_notices() else {
            return Ok(());
        };
        let peer = context.peer.clone();
        let key = (session_key(&context), uri);
        let (shared, mine) = (self.shared.clone(), key.clone());
        let task = tokio::spawn(async move {
            'forward: while let Some(updates) = next_updates(&mut notices, &watched).await {
                for uri in updates {
                    let update = rmcp::model::ResourceUpdatedNotificationParam::new(uri);
                    if peer.notify_resource_updated(update).await.is_err() {
                        break 'forward;
                    }
                }
            }
            // The session is gone: forget the subscription.
            shared
                .legacy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&mine);
        });
        let previous = self
            .shared
            .legacy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, task.abort_handle());
        if let Some(previous) = previous {
            previous.abort();
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let task = self
            .shared
            .legacy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(session_key(&context), request.uri));
        if let Some(task) = task {
            task.abort();
        }
        Ok(())
    }

    /// rmcp routes a request of a known method whose params do not deserialize here, where
    /// its default answers -32601. JSON-RPC 2.0 (§5.1): that is -32602 Invalid params, with the
    /// reason; only unknown methods are -32601 (named, bounded).
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        match invalid_params_reason(&request.method, request.params.as_ref()) {
            Some(reason) => Err(ErrorData::invalid_params(
                format!("invalid params for {}: {reason}", request.method),
                None,
            )),
            None => Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("method not found: {}", quote(&request.method)),
                None,
            )),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let backend = self.request_backend(&context)?;
        let text = self.read(backend.as_ref(), &request.uri).await?;
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, request.uri).with_mime_type("application/json"),
        ])
        .into())
    }
}
