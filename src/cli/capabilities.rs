//! `ordersync capabilities`: what each platform can sync and push.

use crate::platforms::{Forward, Side, REGISTRY};
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
        println!("  side:           {}", c.side.as_str());
        if c.side == Side::Seller {
            println!("  as storefront:  {}", forward(c.forward));
        } else {
            let mut by = Vec::new();
            by.extend(c.external_ref.then_some("external_ref"));
            by.extend(c.message_field.map(|_| "message"));
            by.push("table");
            println!("  as supplier:    match = {}", by.join(" | "));
        }
        for (stream, why) in c.stream_gaps {
            println!("  no {stream}: {why}");
        }
        for note in c.notes {
            println!("  note: {note}");
        }
    }
    ExitCode::SUCCESS
}

/// What a linked supplier shipment becomes at a storefront of the platform.
fn forward(f: Forward) -> String {
    let list =
        |accepts: &[crate::model::OrderStatus]| accepts.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    match f {
        Forward::Nothing => "cannot take forwarded shipments (buyer side)".into(),
        Forward::Ship { several: true, accepts } => {
            format!("a ship push per tracking number (several parcels: each one), when the order is {}", list(accepts))
        }
        Forward::Ship { several: false, accepts } => {
            format!("a ship push of the first parcel's tracking number only, when the order is {}", list(accepts))
        }
        Forward::Status { to, accepts } => {
            format!("a status push to {to} (no tracking number), from {}", list(accepts))
        }
    }
}
