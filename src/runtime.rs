//! The running configuration: each shop with its connector, built once per (re)load.
//!
//! Rate limiters are keyed by shop id and survive a reload, so a SIGHUP cannot reset a shop's
//! request budget mid-second.

use crate::config::{Config, ShopConfig};
use crate::links::LinkPlan;
use crate::platforms::{self, Connector};
use crate::ratelimit::{BudgetLink, RateLimiter, SharedBudget};
use crate::store::Store;
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
    /// The connection every shop's rate budget is spent through (kept across reloads to the same database).
    budget_link: BudgetLink,
    /// Connections kept for reuse (kept across reloads).
    pool: Pool,
}

/// Idle connections kept beyond one per pass running at once: for flushes and the CLI.
const POOL_SPARE: usize = 8;

/// Database connections kept for the next pass or flush. A PostgreSQL connection is a server
/// process (the scale-out bench opened two per pass, 88 a second); an SQLite one keeps its
/// prepared statements.
#[derive(Clone, Default)]
struct Pool {
    idle: Arc<std::sync::Mutex<Vec<Store>>>,
    /// Most idle connections kept.
    most: usize,
}

/// A connection from the pool; it goes back when dropped, if it still works.
pub struct Pooled {
    store: Option<Store>,
    pool: Pool,
}

impl std::ops::Deref for Pooled {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Store {
        self.store.as_mut().expect("present until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let (Some(store), Ok(mut idle)) = (self.store.take(), self.pool.idle.lock()) {
            if idle.len() < self.pool.most && store.is_usable() {
                idle.push(store);
            }
        }
    }
}

impl Runtime {
    /// Builds connectors for every shop of `config`, reusing `previous`'s rate limiters.
    pub fn new(config: Config, previous: Option<&Runtime>) -> Result<Runtime, String> {
        let old: HashMap<&str, &Arc<RateLimiter>> =
            previous.map(|p| p.shops.iter().map(|s| (s.config.id.as_str(), &s.limiter)).collect()).unwrap_or_default();
        let transport = platforms::http::Transport::new(&config.http).map_err(|e| e.to_string())?;
        let budget_link = previous
            .map(|p| p.budget_link.clone())
            .filter(|link| link.reaches(&config.daemon.database))
            .unwrap_or_else(|| BudgetLink::new(config.daemon.database.clone(), config.daemon.busy_timeout));
        // A reload may point at another database: only the same one keeps its connections.
        let most = config.daemon.parallel_passes + POOL_SPARE;
        let pool = previous
            .filter(|p| p.config.daemon.database == config.daemon.database)
            .map(|p| Pool { idle: Arc::clone(&p.pool.idle), most })
            .unwrap_or_else(|| Pool { idle: Arc::default(), most });
        let mut shops = Vec::new();
        for shop in &config.shops {
            let limiter = match old.get(shop.id.as_str()) {
                Some(l) => Arc::clone(l),
                None => {
                    Arc::new(RateLimiter::shared(shop.rate_limit_per_sec, SharedBudget::new(&shop.id, &budget_link)))
                }
            };
            let connector = platforms::connect(shop, &config.http, &transport, Arc::clone(&limiter))
                .map_err(|e| format!("shop `{}`: {e}", shop.id))?;
            shops.push(Arc::new(Shop { config: shop.clone(), connector, limiter }));
        }
        let links = Arc::new(crate::links::plans(&config));
        Ok(Runtime { config, shops, links, budget_link, pool })
    }

    /// A connection to the configured database (a kept one when there is one), with the
    /// configured busy timeout, applying this runtime's links.
    pub fn store(&self) -> Result<Pooled, crate::store::StoreError> {
        let kept = self.pool.idle.lock().ok().and_then(|mut idle| idle.pop());
        let store = match kept {
            Some(store) => store,
            None => Store::connect(&self.config.daemon.database, self.config.daemon.busy_timeout)?,
        };
        // A kept connection may come from before a reload: the links are this runtime's.
        Ok(Pooled { store: Some(store.with_links(Arc::clone(&self.links))), pool: self.pool.clone() })
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
