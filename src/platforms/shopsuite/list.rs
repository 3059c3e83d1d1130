//! ShopSuite's list answers — `data = {items, page, records (rows), size, total (pages)}` — read
//! one page at a time, and the completeness check of one query against its `records`.

use crate::platforms::values;
use crate::platforms::{envelope, Shortfall, SyncError};
use serde_json::Value;
use std::collections::HashSet;

/// One page of a list answer.
#[derive(Debug)]
pub struct ListPage {
    /// The rows (`data.items`).
    pub rows: Vec<Value>,
    /// `data.records`: the rows the whole query holds by the vendor's word; None when missing.
    pub records: Option<u64>,
    /// `data.total`: the query's pages at this page size; None when missing.
    pub pages: Option<u64>,
}

/// Reads one list answer whose envelope was already checked (`code` 0). An unreadable `records`
/// or `total` counts as missing: paging then goes on while pages come full.
pub fn list_page(mut answer: Value, path: &str) -> Result<ListPage, SyncError> {
    let rows = envelope::list_at(&mut answer, "/data/items", path)?;
    let data = answer.get("data").unwrap_or(&Value::Null);
    let count = |field| values::int(data, field).ok().flatten().and_then(|n| u64::try_from(n).ok());
    Ok(ListPage { rows, records: count("records"), pages: count("total") })
}

impl ListPage {
    /// Whether a page may follow this one (page `page`, 1-based), `received` rows of the query
    /// having come so far with this one, pages being asked `size` rows each. An empty page always
    /// ends the query; otherwise more follow while `total` says so, while fewer rows came than
    /// `records` (a server that serves short pages loses nothing), or, with neither given, while
    /// pages come full.
    pub fn more(&self, page: u64, received: u64, size: usize) -> bool {
        if self.rows.is_empty() {
            return false;
        }
        let by_pages = self.pages.is_some_and(|pages| page < pages);
        let by_records = self.records.is_some_and(|records| received < records);
        let unknown = self.pages.is_none() && self.records.is_none() && self.rows.len() >= size;
        by_pages || by_records || unknown
    }
}

/// One query's tally: the rows the vendor reported for it, and the distinct rows received.
#[derive(Debug, Default)]
pub struct Tally {
    reported: u64,
    keys: HashSet<String>,
}

impl Tally {
    /// Counts a page: its `records` (the largest one seen: rows added while paging raise it) and
    /// its rows, told apart by their `key` field (or their whole JSON when they have none).
    pub fn add(&mut self, page: &ListPage, key: &str) {
        self.reported = self.reported.max(page.records.unwrap_or(0));
        for row in &page.rows {
            self.keys.insert(values::non_empty(row, key).unwrap_or_else(|| row.to_string()));
        }
    }

    /// The distinct keys received.
    pub fn keys(&self) -> &HashSet<String> {
        &self.keys
    }

    /// The shortfall of `query` when fewer distinct rows came than were reported. A reported
    /// total at or below the rows received is no shortfall: the vendor page's own sample reports
    /// `records` 0 with one row, so such a total is taken as unknown, not as a promise.
    pub fn shortfall(&self, query: &str) -> Option<Shortfall> {
        let received = self.keys.len() as u64;
        (self.reported > received).then(|| Shortfall { query: query.to_string(), reported: self.reported, received })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(rows: usize, records: Option<u64>, pages: Option<u64>) -> ListPage {
        ListPage { rows: (0..rows).map(|i| json!({"order_id": format!("D{i}")})).collect(), records, pages }
    }

    #[test]
    fn paging_follows_total_records_or_full_pages() {
        assert!(page(100, Some(250), Some(3)).more(1, 100, 100));
        assert!(!page(50, Some(250), Some(3)).more(3, 250, 100));
        // Short pages while `records` says more: go on (`total` alone would stop).
        assert!(page(50, Some(250), Some(3)).more(3, 150, 100));
        // The page's own sample: records 0, total 0, one row.
        assert!(!page(1, Some(0), Some(0)).more(1, 1, 100));
        assert!(page(100, None, None).more(1, 100, 100));
        assert!(!page(99, None, None).more(1, 99, 100));
        assert!(!page(0, Some(10), Some(5)).more(1, 0, 100));
    }

    #[test]
    fn a_total_below_the_rows_received_is_unknown_not_short() {
        let mut tally = Tally::default();
        tally.add(&page(1, Some(0), Some(0)), "order_id");
        assert_eq!(tally.shortfall("q"), None);
        let mut tally = Tally::default();
        tally.add(&page(3, Some(5), Some(1)), "order_id");
        tally.add(&page(3, Some(5), Some(1)), "order_id");
        assert_eq!(tally.shortfall("q"), Some(Shortfall { query: "q".into(), reported: 5, received: 3 }));
    }
}
