//! Page-numbered listing shared by the platforms whose lists take `page` = 1, 2, …

use super::SyncError;
use serde_json::Value;
use std::future::Future;

/// One page as a connector read it: the rows, and whether the vendor says more follow.
pub struct PageOf {
    /// The rows.
    pub rows: Vec<Value>,
    /// True when another page follows (from `has_next`, `total`, or a full page).
    pub more: bool,
}

/// Pages don't go on forever: a vendor that ignores `page` and repeats itself is caught here.
const MAX_PAGES: u64 = 100_000;

/// Reads pages 1, 2, … with `fetch` and hands each to `each` (with `true` on the last one),
/// refusing a page that repeats the previous one, which would otherwise loop forever.
pub async fn for_each_page<F, Fut>(
    path: &str,
    mut fetch: F,
    mut each: impl FnMut(Vec<Value>, bool) -> Result<(), SyncError>,
) -> Result<(), SyncError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<PageOf, SyncError>>,
{
    let mut previous: Option<(usize, String, String)> = None;
    for page in 1..=MAX_PAGES {
        let PageOf { rows, more } = fetch(page).await?;
        // A page is known by its size and its first and last rows: cheap, and enough to tell a
        // vendor that ignores `page` from one that pages.
        let signature = (
            rows.len(),
            rows.first().map(Value::to_string).unwrap_or_default(),
            rows.last().map(Value::to_string).unwrap_or_default(),
        );
        if more && previous.as_ref() == Some(&signature) {
            return Err(SyncError::Shape {
                path: path.to_string(),
                detail: format!("page {page} repeats page {}", page - 1),
            });
        }
        let last = !more || rows.is_empty();
        if last {
            return each(rows, true);
        }
        each(rows, false)?;
        previous = Some(signature);
    }
    Err(SyncError::Shape { path: path.to_string(), detail: format!("more than {MAX_PAGES} pages") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn stops_on_the_last_page_and_on_a_repeating_vendor() {
        let mut seen = Vec::new();
        for_each_page(
            "/x",
            |p| async move { Ok(PageOf { rows: vec![json!(p)], more: p < 3 }) },
            |rows, last| {
                seen.push((rows[0].clone(), last));
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(seen, vec![(json!(1), false), (json!(2), false), (json!(3), true)]);
        let stuck =
            for_each_page("/x", |_| async { Ok(PageOf { rows: vec![json!(1)], more: true }) }, |_, _| Ok(())).await;
        assert!(stuck.unwrap_err().to_string().contains("repeats"));
    }
}
