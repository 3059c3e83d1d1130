//! `ordersync check`: validate the file and list every problem with its key.

use crate::config::{ConfigError, Database};
use crate::runtime;
use crate::store::Store;
use std::path::Path;
use std::process::ExitCode;

/// Prints `ok` or each problem; exit 1 when there is any.
pub fn run(path: &Path) -> ExitCode {
    match runtime::load_config(path) {
        Ok(config) => {
            for warning in config.warnings() {
                eprintln!("{}: warning: {warning}", path.display());
            }
            let streams: usize = config.shops.iter().map(|s| s.schedule.len()).sum();
            // A PostgreSQL server is part of the set-up an admin is checking: connect (which also
            // creates or migrates the schema, as the daemon's start would) and say what is wrong.
            if let Database::Postgres { .. } = &config.daemon.database {
                if let Err(e) = Store::connect(&config.daemon.database, config.daemon.busy_timeout) {
                    eprintln!("{}: daemon.database: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("{}: daemon.database: connected to {}", path.display(), config.daemon.database);
            }
            println!("{}: ok ({} shops, {} scheduled streams)", path.display(), config.shops.len(), streams);
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            for p in &problems {
                eprintln!("{}: {}: {}", path.display(), p.key, p.message);
            }
            eprintln!("{}: {} problem(s)", path.display(), problems.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
