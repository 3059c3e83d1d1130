//! The `ordersync` binary: parse the command line, set up logging, hand over to `cli`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = ordersync::cli::Cli::parse();
    ordersync::telemetry::init(cli.log_level(), cli.json_logs());
    ordersync::cli::main(cli)
}
