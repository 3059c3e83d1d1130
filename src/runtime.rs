//! The running configuration: each shop with its connector, built once per (re)load.
//!
//! Rate limiters are keyed by shop id and survive a reload, so a SIGHUP cannot reset a shop's
//! request budget mid-second.

use crate::config::{Config, ShopConfig};
use crate::links::LinkPlan;
use crate::platforms::{self, Connector};
use crate::ratelimit::{BudgetLink, RateLimiter, SharedBudget};
use std::collections::HashMap;
use std::sync::Arc;

/// One configured shop and the connector that talks to it.
pub struct Shop {
    /// Its configuration.
    pub config: ShopConfig,
    /// Its platform's connector, under the shop's shared rate limiter.
    pub connector: Arc<dyn Connector>,
    limiter: Arc<RateLimiter>,
}

/// Everything a job needs: the configuration and the shops.
pub struct Runtime {
    /// The validated configuration.
    pub config: Config,
    /// Shops in file order.
    pub shops: Vec<Arc<Shop>>,
    /// The links, resolved against their platforms; every store this runtime opens applies them.
    pub links: Arc<Vec<LinkPlan>>,
    /// The connection every shop's rate budget is spent through (kept across reloads).
    budget_link: BudgetLink,
}

impl Runtime {
    /// Builds connectors for every shop of `config`, reusing `previous`'s rate limiters.
    pub fn new(config: Config, previous: Option<&Runtime>) -> Result<Runtime, String> {
        let old: HashMap<&str, &Arc<RateLimiter>> =
            previous.map(|p| p.shops.iter().map(|s| (s.config.id.as_str(), &s.limiter)).collect()).unwrap_or_default();
        let transport = platforms::http::Transport::new(&config.http).map_err(|e| e.to_string())?;
        let budget_link = previous.map(|p| p.budget_link.clone()).unwrap_or_default();
        let mut shops = Vec::new();
        for shop in &config.shops {
            let limiter = match old.get(shop.id.as_str()) {
                Some(l) => Arc::clone(l),
                None => Arc::new(RateLimiter::shared(
                    shop.rate_limit_per_sec,
                    SharedBudget::new(
                        config.daemon.database.clone(),
                        config.daemon.busy_timeout,
                        &shop.id,
                        &budget_link,
                    ),
                )),
            };
            let connector = platforms::connect(shop, &config.http, &transport, Arc::clone(&limiter))
                .map_err(|e| format!("shop `{}`: {e}", shop.id))?;
            shops.push(Arc::new(Shop { config: shop.clone(), connector, limiter }));
        }
        let links = Arc::new(crate::links::plans(&config));
        Ok(Runtime { config, shops, links, budget_link })
    }

    /// A connection to the configured database, with the configured busy timeout.
    pub fn store(&self) -> Result<crate::store::Store, crate::store::StoreError> {
        let store = crate::store::Store::connect(&self.config.daemon.database, self.config.daemon.busy_timeout)?;
        Ok(store.with_links(Arc::clone(&self.links)))
    }

    /// The shop with id `id`.
    pub fn shop(&self, id: &str) -> Option<&Arc<Shop>> {
        self.shops.iter().find(|s| s.config.id == id)
    }
}

/// Loads and validates the configuration file, platform rules included (shops and links).
pub fn load_config(path: &std::path::Path) -> Result<Config, crate::config::ConfigError> {
    crate::config::load_with_links(path, &platforms::shop_rules, &crate::links::rules)
}
