//! The command line: every flag also reads an environment variable (the contract table in
//! design.md), so `serve` in a container and a developer's shell use the same names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  jiragate sandbox                                  # try it without a Jira account
  jiragate serve                                    # HTTP API on 127.0.0.1:8080
  JIRA_BASE_URL=https://acme.atlassian.net JIRA_USER_EMAIL=me@acme.com JIRA_API_TOKEN=… \\
    jiragate connectors create --workspace w --name jira
  jiragate connectors execute --json '{\"workspace\": \"w\", \"name\": \"jira\", \"entity\": \"issues\", \"action\": \"search\", \"params\": {\"jql\": \"project = ACME\"}}'
  jiragate mcp                                      # MCP server on stdio for AI agents";

/// The API key scopes (`jiragate_engine::ApiScope`), for help and errors.
pub const API_SCOPES_HELP: &str = "admin, connectors:write, execute, proxy, credentials:read";

#[derive(Debug, Parser)]
#[command(name = "jiragate", version, about = "Self-hosted Jira Cloud connector and credential broker", after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where the embedded database and generated keys live.
    #[arg(
        long,
        env = "JIRAGATE_DATA_DIR",
        default_value = "./jiragate-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…` (default: sqlite://<data-dir>/jiragate.db).
    #[arg(
        long,
        env = "JIRAGATE_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Base of the OAuth redirect URI (`<public-url>/oauth/callback`); default http://<listen>.
    #[arg(long, env = "JIRAGATE_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Atlassian authorize and token endpoints.
    #[arg(
        long,
        env = "JIRAGATE_ATLASSIAN_AUTH_URL",
        default_value = "https://auth.atlassian.com",
        global = true,
        hide = true
    )]
    pub atlassian_auth_url: String,
    /// accessible-resources and `/ex/jira/{cloudId}`.
    #[arg(
        long,
        env = "JIRAGATE_ATLASSIAN_API_URL",
        default_value = "https://api.atlassian.com",
        global = true,
        hide = true
    )]
    pub atlassian_api_url: String,
    /// Site base URL template.
    #[arg(
        long,
        env = "JIRAGATE_JIRA_SITE_URL",
        default_value = "https://{subdomain}.atlassian.net",
        global = true,
        hide = true
    )]
    pub jira_site_url: String,
    /// Hosts besides *.atlassian.net that a connection's site URL may name (custom domains),
    /// comma-separated `host` or `host:port`. Credentials are sent nowhere else.
    #[arg(
        long,
        env = "JIRAGATE_ALLOWED_UPSTREAM_HOSTS",
        value_delimiter = ',',
        global = true,
        hide = true
    )]
    pub allowed_upstream_hosts: Vec<String>,
    /// A stable, unique name of this instance (e.g. a StatefulSet pod name): after a crash, a
    /// restart takes over the refresh leases its predecessor held instead of waiting.
    #[arg(long, env = "JIRAGATE_INSTANCE_ID", global = true, hide = true)]
    pub instance_id: Option<String>,
    /// Talk to a running jiragate server instead of the local data dir (uses JIRAGATE_API_KEY).
    #[arg(long, env = "JIRAGATE_SERVER", global = true)]
    pub server: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
    /// Log filter (tracing syntax), logs go to stderr.
    #[arg(long, env = "JIRAGATE_LOG", default_value = "warn", global = true)]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (and /mcp, /metrics, /docs).
    #[command(
        after_help = "Example:\n  JIRAGATE_LISTEN=0.0.0.0:8080 JIRAGATE_PUBLIC_URL=https://jiragate.example.com jiragate serve"
    )]
    Serve(ServeArgs),
    /// MCP server on stdio for AI agents.
    #[command(
        after_help = "Example (Claude Desktop):\n  {\"mcpServers\": {\"jira\": {\"command\": \"jiragate\", \"args\": [\"mcp\", \"--read-only\"]}}}"
    )]
    Mcp(McpArgs),
    /// `serve` plus an in-process Atlassian simulator and demo connections: try jiragate without a Jira account.
    #[command(
        after_help = "Example:\n  jiragate sandbox --listen 127.0.0.1:8080 --sim-listen 127.0.0.1:9090"
    )]
    Sandbox(SandboxArgs),
    /// Create, list, describe and use Jira connections.
    #[command(subcommand)]
    Connectors(ConnectorsCmd),
    /// Webhooks: subscribe URLs to a connection's Jira events; events and deliveries.
    #[command(subcommand)]
    Webhooks(WebhooksCmd),
    /// Register Atlassian OAuth 2.0 (3LO) apps.
    #[command(subcommand, name = "oauth-clients")]
    OauthClients(OauthClientsCmd),
    /// Connect a Jira site with OAuth in the browser (loopback callback).
    #[command(
        after_help = "Example:\n  jiragate connect --client <oauth-client-id> --workspace w --name jira --subdomain acme"
    )]
    Connect(ConnectArgs),
    /// Read the audit trail (admin): who changed what, newest first.
    #[command(
        after_help = "Examples:\n  jiragate audit --connection w/jira --since 2025-01-01T00:00:00Z\n  jiragate audit --kind oauth_client. -o ndjson"
    )]
    Audit(AuditArgs),
    /// Jira OAuth scopes: what each allows and which actions need it.
    #[command(
        after_help = "Examples:\n  jiragate scopes\n  jiragate scopes --action issues.search -o json"
    )]
    Scopes {
        /// Only the scopes of this action (`entity.action`).
        #[arg(long)]
        action: Option<String>,
    },
    /// Manage API keys for the HTTP API.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// MCP authorization grants: which MCP clients may use which connection.
    #[command(subcommand, name = "mcp-grants")]
    McpGrants(McpGrantsCmd),
    /// How the organization identifies people behind MCP authorizations (console or Atlassian sign-in).
    #[command(subcommand, name = "mcp-settings")]
    McpSettings(McpSettingsCmd),
    /// Master key operations.
    #[command(subcommand, name = "master-key")]
    MasterKey(MasterKeyCmd),
    /// Apply database migrations and exit.
    Migrate,
    /// Check configuration, database, master key, clock, Atlassian reachability and each connection.
    Doctor,
    /// Print shell completions.
    #[command(
        after_help = "Example:\n  jiragate completions bash > /etc/bash_completion.d/jiragate"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTP address.
    #[arg(long, env = "JIRAGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Threads that run requests: `auto` (one per CPU core) or 1–1024. Fewer leave cores to
    /// what shares the machine; on a 2-core host shared with its callers, 1 answers sooner for
    /// the same throughput (README "Benchmarks").
    #[arg(long, env = "JIRAGATE_WORKER_THREADS", default_value = "auto",
          value_name = "auto|N", value_parser = parse_worker_threads)]
    pub worker_threads: WorkerThreads,
    /// Do not apply migrations on start (fail if the schema is behind).
    #[arg(long)]
    pub no_migrate: bool,
    /// Allowed CORS origins (CORS is off unless set).
    #[arg(long, env = "JIRAGATE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Requests per second per API key (`off`, `N`, or `N:BURST`); over it: 429 with Retry-After.
    #[arg(
        long,
        env = "JIRAGATE_RATE_LIMIT_PER_KEY",
        default_value = jiragate_server::RateLimitConfig::DEFAULT_SPEC
    )]
    pub rate_limit_per_key: String,
    /// Seconds to keep serving after SIGTERM with /readyz at 503 (set to your load balancer's
    /// probe interval, e.g. 10 on Kubernetes), before no longer accepting connections.
    #[arg(long, env = "JIRAGATE_DRAIN_DELAY", default_value_t = 0)]
    pub drain_delay: u64,
    /// Requests that may wait for a busy Jira connection (8 in flight each); more are refused
    /// at once with 503 `overloaded` and `Retry-After`, without calling Jira.
    #[arg(long, env = "JIRAGATE_MAX_QUEUED_PER_CONNECTION", default_value_t = 64)]
    pub max_queued_per_connection: usize,
    /// Longest wait, in seconds, for a busy Jira connection before a request is refused the
    /// same way.
    #[arg(long, env = "JIRAGATE_MAX_QUEUE_WAIT", default_value_t = 5.0)]
    pub max_queue_wait: f64,
    /// Largest request body in bytes (attachments through the proxy included); larger ones
    /// get 413 and the connection is closed.
    #[arg(long, env = "JIRAGATE_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds in-flight requests may take to finish after that.
    #[arg(long, env = "JIRAGATE_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout: u64,
    /// Seconds a client connection may wait for its next request (idle keep-alive, or a
    /// request head arriving slowly) before it is closed. Keep it above the idle timeout of a
    /// load balancer in front (60 s on an AWS ALB) and of clients' connection pools.
    #[arg(long, env = "JIRAGATE_HTTP_IDLE_TIMEOUT", default_value_t = 75.0)]
    pub idle_timeout: f64,
    /// MCP over HTTP: streamable HTTP sessions one caller (one `Authorization` value) may hold
    /// open; opening one more closes its oldest. Each costs about 60 KB until it is closed or
    /// idle for 5 minutes.
    #[arg(long, env = "JIRAGATE_MCP_MAX_SESSIONS_PER_CALLER", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub mcp_max_sessions_per_caller: u32,
    /// MCP authorization: refuse dynamic client registration (RFC 7591) at /oauth/mcp/register.
    #[arg(long, env = "JIRAGATE_MCP_DISABLE_DCR")]
    pub mcp_disable_dcr: bool,
    /// MCP authorization: refuse client ID metadata documents (https client ids).
    #[arg(long, env = "JIRAGATE_MCP_DISABLE_CIMD")]
    pub mcp_disable_cimd: bool,
    /// MCP authorization: fetch client ID metadata documents from loopback and private
    /// addresses, over http too (closed networks, tests). Off: https to public addresses only.
    #[arg(long, env = "JIRAGATE_MCP_CIMD_ALLOW_PRIVATE")]
    pub mcp_cimd_allow_private: bool,
    /// Webhooks: accept subscriber URLs on loopback and private addresses, over http too
    /// (closed networks, tests). Off: https to public addresses only.
    #[arg(long, env = "JIRAGATE_WEBHOOKS_ALLOW_PRIVATE")]
    pub webhooks_allow_private: bool,
    /// Webhooks: how long delivered and dead-lettered deliveries and their events are kept
    /// before they are pruned (`7d`, `36h`, `90m`, `600s`; pending deliveries are never pruned).
    #[arg(long, env = "JIRAGATE_WEBHOOKS_RETENTION", default_value = "7d")]
    pub webhooks_retention: String,
    /// Webhooks: deliveries from Jira accepted per connection at /hooks/jira/{id}
    /// (per second : burst; `off` disables; over it a 429).
    #[arg(long, env = "JIRAGATE_WEBHOOKS_RATE_LIMIT", default_value = "100:1000")]
    pub webhooks_rate_limit: String,
}

#[derive(Debug, Clone, Args)]
pub struct McpArgs {
    /// Only read actions are listed and reachable.
    #[arg(long)]
    pub read_only: bool,
    /// Allow-list of tools (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub tools: Option<Vec<String>>,
    /// Connection used when a tool call names none (id, `workspace/name` or `name`).
    #[arg(long)]
    pub connection: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// HTTP address of the sandbox server. The sandbox keeps its data in a temporary directory:
    /// --data-dir, --database-url and --server do not apply to it.
    #[arg(long, env = "JIRAGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Address of the simulated Atlassian Cloud (port 0: any free port).
    #[arg(long, env = "JIRAGATE_SIM_LISTEN", default_value = "127.0.0.1:0")]
    pub sim_listen: String,
    /// Seeded issues per simulated site.
    #[arg(long, default_value_t = 200)]
    pub issues: usize,
}

/// Selects one connection: `--json '{"workspace": …, "name": …}'`, `--id`, or `--workspace`/`--name`.
#[derive(Debug, Clone, Args, Default)]
pub struct Selector {
    /// Seed-compatible JSON: {"workspace", "name", "entity", "action", "params", ...}.
    #[arg(long = "json", value_name = "JSON")]
    pub json: Option<String>,
    /// Connection id.
    #[arg(long)]
    pub id: Option<String>,
    /// Workspace name.
    #[arg(long, short = 'w')]
    pub workspace: Option<String>,
    /// Connection name.
    #[arg(long, short = 'n')]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConnectorsCmd {
    /// Create an API-token connection (token from a prompt, --token-stdin, or JIRA_API_TOKEN).
    #[command(
        after_help = "Examples:\n  JIRA_BASE_URL=https://acme.atlassian.net JIRA_USER_EMAIL=me@acme.com JIRA_API_TOKEN=… jiragate connectors create --json '{\"workspace\": \"w\", \"name\": \"jira\"}'\n  echo \"$TOKEN\" | jiragate connectors create -w w -n jira --site acme --email me@acme.com --token-stdin"
    )]
    Create(CreateArgs),
    /// List connections.
    #[command(after_help = "Example:\n  jiragate connectors list --workspace w --output json")]
    List {
        #[command(flatten)]
        sel: Selector,
    },
    /// Show one connection (never its secret).
    #[command(
        after_help = "Example:\n  jiragate connectors get --json '{\"workspace\": \"w\", \"name\": \"jira\"}'"
    )]
    Get {
        #[command(flatten)]
        sel: Selector,
    },
    /// Entities and actions of a connection, with parameter schemas.
    #[command(
        after_help = "Example:\n  jiragate connectors describe -w w -n jira --filter sprints"
    )]
    Describe {
        #[command(flatten)]
        sel: Selector,
        /// Only entities or actions matching this text.
        #[arg(long)]
        filter: Option<String>,
    },
    /// Run an action.
    #[command(
        after_help = "Examples:\n  jiragate connectors execute --json '{\"workspace\": \"w\", \"name\": \"jira\", \"entity\": \"issues\", \"action\": \"search\", \"params\": {\"jql\": \"project = ACME\"}}'\n  jiragate connectors execute -w w -n jira --entity issues --action get --param issue=ACME-1\n  jiragate connectors execute -w w -n jira --entity issues --action search --param 'jql=project = ACME' --all --output ndjson"
    )]
    Execute(ExecuteArgs),
    /// Health-check a connection now.
    #[command(after_help = "Example:\n  jiragate connectors check -w w -n jira")]
    Check {
        #[command(flatten)]
        sel: Selector,
    },
    /// Delete a connection and erase its secrets.
    #[command(after_help = "Example:\n  jiragate connectors delete -w w -n jira")]
    Delete {
        #[command(flatten)]
        sel: Selector,
    },
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub sel: Selector,
    /// Site: subdomain (`acme`) or base URL (default JIRA_BASE_URL).
    #[arg(long, env = "JIRA_BASE_URL")]
    pub site: Option<String>,
    /// Atlassian account email (default JIRA_USER_EMAIL).
    #[arg(long, env = "JIRA_USER_EMAIL")]
    pub email: Option<String>,
    /// Read the API token from standard input.
    #[arg(long)]
    pub token_stdin: bool,
    /// The token is a scoped API token (calls go through api.atlassian.com).
    #[arg(long)]
    pub scoped: bool,
    /// `platform` or `service_management`.
    #[arg(long, default_value = "platform")]
    pub api_type: String,
}

#[derive(Debug, Clone, Args)]
pub struct ExecuteArgs {
    #[command(flatten)]
    pub sel: Selector,
    /// What to act on, e.g. `issues`, `projects`, `sprints` (`connectors describe` lists them).
    #[arg(long)]
    pub entity: Option<String>,
    /// What to do with it, e.g. `search`, `get`, `create` (`connectors describe` lists them).
    #[arg(long)]
    pub action: Option<String>,
    /// A parameter `key=value` (value parsed as JSON when it is valid JSON).
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Parameters from a JSON file (`-` for stdin).
    #[arg(long)]
    pub params_file: Option<PathBuf>,
    /// Fetch every page; rows are streamed in every output format (json: one array).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum OauthClientsCmd {
    /// Register an OAuth app (secret from a prompt, --client-secret-stdin or JIRAGATE_OAUTH_CLIENT_SECRET).
    #[command(
        after_help = "Example:\n  echo \"$SECRET\" | jiragate oauth-clients add --client-id abc --client-secret-stdin --scopes read:jira-work,write:jira-work"
    )]
    Add {
        /// The app's Client ID from the Atlassian developer console (its secret is never a flag).
        #[arg(long)]
        client_id: String,
        /// Read the client secret from standard input.
        #[arg(long)]
        client_secret_stdin: bool,
        /// Atlassian OAuth scopes to request, comma-separated: classic (read:jira-work,
        /// write:jira-work, read:jira-user, manage:jira-project, manage:jira-configuration,
        /// read:servicedesk-request, write:servicedesk-request, manage:servicedesk-customer) or
        /// granular (e.g. read:issue:jira); `offline_access` is always added. `connectors
        /// describe` shows which scopes each action needs.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "read:jira-work,write:jira-work,read:jira-user"
        )]
        scopes: Vec<String>,
    },
    /// List OAuth apps.
    List,
    /// Rotate an OAuth app's secret and/or change its default scopes.
    #[command(
        after_help = "Examples:\n  echo \"$NEW_SECRET\" | jiragate oauth-clients update <id> --client-secret-stdin\n  jiragate oauth-clients update <id> --scopes read:jira-work,write:jira-work,read:jira-user"
    )]
    Update {
        /// The jiragate id of the OAuth app (`oauth-clients list`).
        id: String,
        /// Read the new client secret from standard input (it is never a flag).
        #[arg(long)]
        client_secret_stdin: bool,
        /// New default scopes, comma-separated (replace the list; see `jiragate scopes`).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
    },
    /// Delete an OAuth app.
    Delete { id: String },
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only events about this connection (id, `workspace/name` or `name`).
    #[arg(long)]
    pub connection: Option<String>,
    /// Only events whose action starts with this, e.g. `connector.` or `oauth_client.update`.
    #[arg(long)]
    pub kind: Option<String>,
    /// Events at or after this RFC 3339 time (e.g. 2025-01-31T00:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this RFC 3339 time.
    #[arg(long)]
    pub until: Option<String>,
    /// Events to show, 1 to 500.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Continue after a previous page (the token it printed).
    #[arg(long)]
    pub page_token: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// OAuth client (jiragate id or Atlassian client_id); default: the only registered one.
    #[arg(long)]
    pub client: Option<String>,
    /// Workspace of the new connection.
    #[arg(long, short = 'w', default_value = "default")]
    pub workspace: String,
    /// Name of the new connection (unique in its workspace).
    #[arg(long, short = 'n', required_unless_present = "session")]
    pub name: Option<String>,
    /// Connect this site without asking.
    #[arg(long)]
    pub subdomain: Option<String>,
    /// Finish a connect session that waits for a site choice (e.g. the one a refused
    /// bring-your-own-token create named) instead of starting a new one; needs --site.
    #[arg(long, requires = "site", conflicts_with_all = ["name", "subdomain", "scopes"])]
    pub session: Option<String>,
    /// With --session: the site to connect (subdomain, site URL or cloud id).
    #[arg(long, requires = "session")]
    pub site: Option<String>,
    /// Atlassian OAuth scopes to request, comma-separated (default: the OAuth client's scopes;
    /// see `oauth-clients add --help`).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// Print the URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Create an API key (printed once).
    #[command(after_help = "Example:\n  jiragate keys create --name ci --scopes execute,proxy")]
    Create {
        /// A name that says who uses the key (e.g. `ci`, `agent-platform`).
        #[arg(long)]
        name: String,
        /// Comma-separated, any of: admin (everything but credentials:read), connectors:write,
        /// execute, proxy, credentials:read (hands out raw OAuth access tokens).
        #[arg(long, value_delimiter = ',', default_value = "execute")]
        scopes: Vec<String>,
        /// A platform key (manages organizations). Locally, on the host that holds the data
        /// dir, this is how to recover when no platform key is left; remotely, only a platform
        /// key may create one.
        #[arg(long)]
        platform: bool,
    },
    /// List API keys (never the key).
    List,
    /// Revoke an API key.
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum McpGrantsCmd {
    /// List the MCP grants (client, connection, mode, when, revoked).
    #[command(after_help = "Example:\n  jiragate mcp-grants list --connection demo/jira")]
    List {
        /// Only the grants of this connection (id or workspace/name).
        #[arg(long)]
        connection: Option<String>,
    },
    /// Revoke a grant: its access and refresh tokens stop working at once.
    #[command(after_help = "Example:\n  jiragate mcp-grants revoke 0193c0de-…")]
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum McpSettingsCmd {
    /// Show the settings.
    Show,
    /// Set how people are identified: `console` (someone signed in to the console approves a
    /// shared connection) or `atlassian` (each person signs in with Atlassian and acts as
    /// themselves on their own user connection).
    #[command(
        after_help = "Example:\n  jiragate mcp-settings set --sign-in atlassian --subdomain acme"
    )]
    Set {
        #[arg(long, value_parser = ["console", "atlassian"])]
        sign_in: String,
        /// The OAuth client (jiragate id) sign-in goes through; default: the only one.
        #[arg(long)]
        oauth_client: Option<String>,
        /// The site sign-in connects to; without it, a person whose access covers several picks one.
        #[arg(long)]
        subdomain: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MasterKeyCmd {
    /// Rewrap every data key under a new master key (online); --reencrypt also reseals every secret.
    #[command(
        after_help = "Example:\n  head -c32 /dev/urandom | base64 > new.key && jiragate master-key rotate --new-key-file new.key"
    )]
    Rotate {
        /// File holding the new key (base64 of 32 bytes).
        #[arg(long)]
        new_key_file: PathBuf,
        /// Also move every secret to a fresh data key.
        #[arg(long)]
        reencrypt: bool,
    },
    /// Forget the master key the last rotation replaced, once no instance uses it (run with the new key); after this the old key may be destroyed.
    #[command(after_help = "Example:
  jiragate master-key retire")]
    Retire,
}

/// `jiragate webhooks …`. CONNECTION is an id, `workspace/name`, or a name in `default`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCmd {
    /// Subscribe a URL to some of a connection's Jira events; prints the signing secret once.
    #[command(
        after_help = "Example:\n  jiragate webhooks subscribe w/jira --event jira:issue_updated --jql 'project = ABC' --url https://hooks.example.com/jira"
    )]
    Subscribe {
        connection: String,
        /// A Jira event (repeatable), e.g. jira:issue_updated, comment_created.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// JQL choosing the issues (Jira's webhook subset).
        #[arg(long)]
        jql: String,
        /// Only changes of these fields (repeatable).
        #[arg(long = "field")]
        fields: Vec<String>,
        /// The subscriber's https URL.
        #[arg(long)]
        url: String,
    },
    /// List a connection's subscriptions.
    List { connection: String },
    /// Delete a subscription (and its webhook at Jira).
    Delete {
        connection: String,
        subscription: String,
    },
    /// Events received from Jira, newest first.
    Events {
        connection: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Deliveries to subscribers, newest first.
    Deliveries {
        connection: String,
        /// pending, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send a delivery again.
    Replay { connection: String, delivery: i64 },
}

/// `serve --worker-threads`: `None` is tokio's default, one worker per CPU core (as
/// `std::thread::available_parallelism` counts them, container CPU quotas included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerThreads(pub Option<u16>);

/// `auto` (or an empty variable, as `JIRAGATE_WORKER_THREADS=` leaves it) or 1–1024.
fn parse_worker_threads(text: &str) -> Result<WorkerThreads, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("auto") {
        return Ok(WorkerThreads(None));
    }
    match text.parse::<u16>() {
        Ok(n @ 1..=1024) => Ok(WorkerThreads(Some(n))),
        _ => Err("expected `auto` (one per CPU core) or a number of threads from 1 to 1024".into()),
    }
}

#[cfg(test)]
mod worker_threads_tests {
    use super::{WorkerThreads, parse_worker_threads};

    #[test]
    fn auto_empty_and_numbers_in_range() {
        for (text, expected) in [
            ("auto", Some(WorkerThreads(None))),
            ("AUTO", Some(WorkerThreads(None))),
            ("", Some(WorkerThreads(None))),
            (" 2 ", Some(WorkerThreads(Some(2)))),
            ("1", Some(WorkerThreads(Some(1)))),
            ("1024", Some(WorkerThreads(Some(1024)))),
            ("0", None),
            ("1025", None),
            ("-1", None),
            ("two", None),
        ] {
            assert_eq!(parse_worker_threads(text).ok(), expected, "{text:?}");
        }
    }
}
