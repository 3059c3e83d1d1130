//! `ordersync capabilities`: what each platform can sync and push.

use crate::platforms::REGISTRY;
use std::process::ExitCode;

/// Prints one block per platform.
pub fn run() -> ExitCode {
    for p in REGISTRY {
        let c = p.capabilities;
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join(", ")
            }
        };
        println!("{}", c.platform);
        println!("  streams:        {}", list(c.streams.iter().map(|s| s.to_string()).collect()));
        println!("  pushes:         {}", list(c.pushes.iter().map(|k| k.to_string()).collect()));
        println!("  push statuses:  {}", list(c.push_statuses.iter().map(|s| s.to_string()).collect()));
        println!("  batch size:     {}", c.max_batch);
        println!(
            "  read-back:      {} (exactly-once resend after a crash)",
            list(c.read_back.iter().map(|k| k.to_string()).collect())
        );
        println!("  credentials:    {}", c.credentials.join(", "));
        for (stream, why) in c.stream_gaps {
            println!("  no {stream}: {why}");
        }
        for note in c.notes {
            println!("  note: {note}");
        }
    }
    ExitCode::SUCCESS
}
