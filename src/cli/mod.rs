//! The command line of DESIGN.md: one file per command, each `run(..) -> anyhow::Result<ExitCode>`.
//!
//! Errors are reported here, at the edge, with their context; exit codes: 0 success, 1 a failed
//! check or pass, 2 a usage or configuration error.

mod capabilities;
mod check;
mod demo;
mod flush;
mod links;
mod outbox;
mod push;
mod resync;
mod status;
mod sync;

use crate::runtime::{self, Runtime};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// `ordersync`: keeps a SQLite database in step with many shops' orders and pushes updates back.
#[derive(Debug, Parser)]
#[command(name = "ordersync", version, about)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "ORDERSYNC_CONFIG", default_value = "/etc/ordersync/ordersync.toml")]
    pub config: PathBuf,
    /// Log more (debug level).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (systemd's ExecStart); SIGHUP reloads, SIGTERM drains and exits 0.
    Run,
    /// Run one pass now, then exit (0 = every pass succeeded).
    Sync(sync::Args),
    /// Enqueue a shipment or status change for the platform.
    #[command(subcommand)]
    Push(push::PushCommand),
    /// Deliver every outbox entry that is due now, then exit.
    Flush,
    /// Show each shop and stream: last run, lag, errors, outbox depth, dead letters.
    Status(status::Args),
    /// Inspect and manage the outbox.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// Re-read a period of a shop's streams on the next pass.
    Resync(resync::Args),
    /// Validate the configuration file; exit 1 naming each problem.
    Check,
    /// Linked supplier → storefront orders: matched, unmatched, forwarded.
    Links(links::Args),
    /// Record a link the order numbers cannot show.
    #[command(subcommand)]
    Link(links::LinkCommand),
    /// What each platform can sync and push.
    Capabilities,
    /// The built-in simulators plus the daemon: no credentials needed.
    Demo(demo::Args),
}

impl Cli {
    /// Whether the config file asks for JSON logs (a broken file is reported later, by the command).
    pub fn json_logs(&self) -> bool {
        matches!(self.command, Command::Run) && runtime::load_config(&self.config).is_ok_and(|c| c.daemon.json_logs)
    }

    /// The default log level for this invocation.
    pub fn log_level(&self) -> &'static str {
        if self.verbose {
            "debug"
        } else {
            "info"
        }
    }
}

/// Runs the parsed command line and maps the outcome to an exit code.
pub fn main(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ordersync: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ordersync: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli.config;
    match cli.command {
        Command::Run => {
            crate::daemon::run(&path, tokio_util::sync::CancellationToken::new()).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Sync(args) => holding("sync", &load(&path)?, |rt| sync::run(rt, args)).await,
        Command::Push(cmd) => push::run(&load(&path)?, cmd),
        Command::Flush => holding("flush", &load(&path)?, flush::run).await,
        Command::Status(args) => status::run(&load(&path)?, args),
        Command::Outbox(cmd) => outbox::run(&load(&path)?, cmd),
        Command::Resync(args) => resync::run(&load(&path)?, args),
        Command::Links(args) => links::run(&load(&path)?, args),
        Command::Link(cmd) => links::run_link(&load(&path)?, cmd),
        Command::Check => Ok(check::run(&path)),
        Command::Capabilities => Ok(capabilities::run()),
        Command::Demo(args) => demo::run(args).await,
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Runtime> {
    let config = runtime::load_config(path)?;
    Runtime::new(config, None).map_err(anyhow::Error::msg)
}

/// Runs a command that claims work (passes, pushes) as a holder named `kind`: first takes back
/// what dead processes on this host held, and at the end gives back what this one still holds.
async fn holding<'a, F, Fut>(kind: &str, rt: &'a Runtime, work: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(&'a Runtime) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    crate::holder::init(kind);
    let mut store = rt.store()?;
    crate::lease::reap_dead(&mut store)?;
    let result = work(rt).await;
    if let Err(e) = crate::lease::retire(&mut store) {
        tracing::warn!(error = %e, "cannot give back this command's claims; they end with their leases");
    }
    result
}
