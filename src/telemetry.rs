//! Logging set-up: human-readable lines to stderr (the journal adds its own timestamps).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level.
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes would litter the journal and log files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
