//! The `jiragate` binary: parse, dispatch, map failures to stable exit codes.

mod cli;
mod commands;
mod context;
mod error;
mod output;
mod remote;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    init_logging(&cli);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let cli::Command::Serve(args) = &cli.command
        && let cli::WorkerThreads(Some(n)) = args.worker_threads
    {
        builder.worker_threads(usize::from(n));
    }
    let rt = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(output::exit::FAILURE);
        }
    };
    let code = rt.block_on(async move {
        match commands::run(cli).await {
            Ok(()) => output::exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                e.code
            }
        }
    });
    // Background tasks (refreshers, listeners) must not keep a finished command alive.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(code);
}

fn init_logging(cli: &cli::Cli) {
    use tracing_subscriber::EnvFilter;
    let serving = matches!(
        cli.command,
        cli::Command::Serve(_) | cli::Command::Sandbox(_)
    );
    let default = if serving && cli.global.log == "warn" {
        "info"
    } else {
        cli.global.log.as_str()
    };
    let filter = EnvFilter::try_new(default).unwrap_or_else(|_| EnvFilter::new("warn"));
    let json = std::env::var("JIRAGATE_LOG_FORMAT")
        .map(|v| v == "json")
        .unwrap_or(false);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(output::color_enabled_stderr()).init();
    }
}
