//! One module per subcommand family; each works in local mode (engine on the data dir) and,
//! where it makes sense, in remote mode (`--server`).

mod admin;
mod connect;
mod connectors;
mod doctor;
mod records;
mod serve;
mod webhooks;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::error::CliError;

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let g = cli.global;
    match cli.command {
        Command::Serve(a) => serve::serve(&g, a).await,
        Command::Sandbox(a) => serve::sandbox(&g, a).await,
        Command::Mcp(a) => serve::mcp(&g, a).await,
        Command::Connectors(c) => connectors::run(&g, c).await,
        Command::Webhooks(c) => webhooks::run(&g, c).await,
        Command::OauthClients(c) => admin::oauth_clients(&g, c).await,
        Command::Connect(a) => connect::run(&g, a).await,
        Command::Audit(a) => records::audit(&g, a).await,
        Command::Scopes { action } => records::scopes(&g, action).await,
        Command::Keys(c) => admin::keys(&g, c).await,
        Command::McpGrants(c) => admin::mcp_grants(&g, c).await,
        Command::McpSettings(c) => admin::mcp_settings(&g, c).await,
        Command::MasterKey(c) => admin::master_key(&g, c).await,
        Command::Migrate => admin::migrate(&g).await,
        Command::Doctor => doctor::run(&g).await,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "jiragate", &mut std::io::stdout());
            Ok(())
        }
    }
}
