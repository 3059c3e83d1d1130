//! `ordersync push ship|status|remark`: validate against the platform, then enqueue.

use crate::model::OrderStatus;
use crate::platforms::PushPayload;
use crate::runtime::Runtime;
use crate::store::NewEntry;
use anyhow::{bail, ensure};
use chrono::Utc;
use std::process::ExitCode;

/// What to push.
#[derive(Debug, clap::Subcommand)]
pub enum PushCommand {
    /// Mark an order shipped with a carrier and tracking number.
    Ship {
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The order number.
        #[arg(long)]
        order: String,
        /// Carrier name.
        #[arg(long)]
        carrier: String,
        /// Tracking number.
        #[arg(long)]
        tracking: String,
    },
    /// Move an order to a unified status.
    Status {
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The order number.
        #[arg(long)]
        order: String,
        /// The target unified status (pending, awaiting_fulfillment, cancelled, completed, ...).
        #[arg(long)]
        status: OrderStatus,
    },
    /// Add a remark to an order.
    Remark {
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The order number.
        #[arg(long)]
        order: String,
        /// The remark.
        #[arg(long)]
        text: String,
    },
}

/// Enqueues the push, or refuses it at once naming why.
pub fn run(rt: &Runtime, cmd: PushCommand) -> anyhow::Result<ExitCode> {
    let (shop_id, order_no, payload) = match cmd {
        PushCommand::Ship { shop, order, carrier, tracking } => {
            ensure!(
                !carrier.trim().is_empty() && !tracking.trim().is_empty(),
                "--carrier and --tracking must not be empty"
            );
            (shop, order, PushPayload::Ship { carrier: carrier.trim().into(), tracking: tracking.trim().into() })
        }
        PushCommand::Status { shop, order, status } => (shop, order, PushPayload::Status { status }),
        PushCommand::Remark { shop, order, text } => {
            ensure!(!text.trim().is_empty(), "--text must not be empty");
            (shop, order, PushPayload::Remark { text })
        }
    };
    ensure!(!order_no.trim().is_empty(), "--order must not be empty");
    let Some(shop) = rt.shop(&shop_id) else { bail!("no shop `{shop_id}` in {}", rt.config.path.display()) };
    let mut store = rt.store()?;
    let current = store.order_status(&shop_id, &order_no)?;
    let checked =
        shop.connector.capabilities().check(&payload).and_then(|()| shop.connector.check_move(&payload, current));
    if let Err(why) = checked {
        eprintln!("refused: shop `{shop_id}` order `{order_no}`: {why}");
        return Ok(ExitCode::FAILURE);
    }
    let entry = NewEntry { shop_id, order_no, payload };
    let e = store.enqueue(&entry, Utc::now())?;
    if e.created {
        println!("enqueued as outbox #{}", e.id);
    } else {
        println!("already enqueued as outbox #{} (same shop, order and content)", e.id);
    }
    Ok(ExitCode::SUCCESS)
}
