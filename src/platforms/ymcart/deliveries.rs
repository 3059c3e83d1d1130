//! How deliveryList is walked from a saved high-water mark, whichever way a shop reads `max_id`.
//!
//! The vendor page names the parameter `max_id` ("start from max_id") and its only sample lists
//! ids newest-first. Two readings are plausible (PLATFORMS.md §1): ids above `max_id`, oldest
//! first (our default), or newest first with `max_id` as an upper bound. [`Walk`] tells them apart
//! from the ids a shop answers with, reads either one to the highest id, and refuses a shop that
//! fits neither — a wrong guess would skip deliveries for good. The cursor records the reading
//! found (`asc:55`, `desc:55`; a bare `55` means "not known yet"), so later passes start right.

use std::cmp::Ordering;

/// The two orders a shop may list deliveries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Ids above `max_id`, ascending.
    Ascending,
    /// Newest first; `max_id` bounds the page from above.
    NewestFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The reading is not known yet.
    Probe,
    /// Paging up: `top` is the highest id read.
    Up { top: i64 },
    /// Paging down from the newest: `top` is the highest id seen, `lowest` the lowest so far
    /// (None until the newest page has been read).
    Down { top: i64, lowest: Option<i64> },
    /// Nothing more to read.
    Done,
}

/// One pass over deliveryList: which request comes next, and what each answer means.
#[derive(Debug)]
pub struct Walk {
    /// The high-water mark saved by the last pass (0 on the first).
    mark: i64,
    state: State,
    /// `max_id` of the next request (None: omit it); meaningless once `Done`.
    next: Option<i64>,
}

impl Walk {
    /// A walk starting from a saved cursor (`asc:N`, `desc:N`, a bare `N`, or none).
    pub fn new(cursor: Option<&str>) -> Walk {
        let (reading, mark) = parse(cursor);
        match reading {
            Some(Reading::Ascending) => Walk { mark, state: State::Up { top: mark }, next: Some(mark) },
            Some(Reading::NewestFirst) => Walk { mark, state: State::Down { top: mark, lowest: None }, next: None },
            None => Walk { mark, state: State::Probe, next: (mark > 0).then_some(mark) },
        }
    }

    /// The `max_id` of the next request (`Some(None)`: send none), or None when the walk is over.
    pub fn next_request(&self) -> Option<Option<i64>> {
        (self.state != State::Done).then_some(self.next)
    }

    /// Takes the ids of the answer to the last request (in the order served); returns the
    /// cursor to commit with these rows, or an error when the shop fits neither reading.
    pub fn take(&mut self, ids: &[i64]) -> Result<Option<String>, String> {
        let sent = self.next;
        let order = order_of(ids)?;
        let (lo, hi) = match (ids.iter().min(), ids.iter().max()) {
            (Some(lo), Some(hi)) => (*lo, *hi),
            _ => return Ok(self.finish()),
        };
        let above = sent.is_none_or(|m| lo > m);
        let below = sent.is_some_and(|m| hi <= m);
        match self.state {
            State::Probe => match (order, above, below) {
                (Some(Ordering::Less) | None, true, _) if sent.is_some() || ids.len() > 1 => {
                    self.up(hi);
                    Ok(Some(cursor(Some(Reading::Ascending), hi)))
                }
                // One row and no `max_id` sent: the whole list, read either way; ask above it.
                (None, true, _) => {
                    self.next = Some(hi);
                    Ok(Some(cursor(None, hi)))
                }
                (Some(Ordering::Greater), true, _) => {
                    // Newest first from the top: walk down from here.
                    self.state = State::Down { top: hi.max(self.mark), lowest: None };
                    self.down(lo)
                }
                // Rows at or below `max_id`: an upper bound, so the newest are above the mark.
                // Start again from the top, without `max_id`.
                (Some(Ordering::Greater) | None, _, true) => {
                    self.mark = self.mark.max(sent.unwrap_or(0));
                    self.state = State::Down { top: self.mark, lowest: None };
                    self.next = None;
                    Ok(None)
                }
                _ => Err(neither(sent, ids)),
            },
            State::Up { .. } if above && order != Some(Ordering::Greater) => {
                self.up(hi);
                Ok(Some(cursor(Some(Reading::Ascending), hi)))
            }
            State::Up { .. } => Err(neither(sent, ids)),
            State::Down { top, lowest } => {
                if order == Some(Ordering::Less) || (sent.is_some() && !below) {
                    return Err(neither(sent, ids));
                }
                if lowest.is_none() {
                    self.state = State::Down { top: top.max(hi), lowest: None };
                }
                // Nothing below what we already have: the bottom of the list.
                if lowest.is_some_and(|l| lo >= l) {
                    return Ok(self.finish());
                }
                self.down(lo)
            }
            State::Done => Ok(None),
        }
    }

    fn up(&mut self, hi: i64) {
        self.state = State::Up { top: hi };
        self.next = Some(hi);
    }

    /// Continues down below `lo`, or finishes once the saved mark is reached.
    fn down(&mut self, lo: i64) -> Result<Option<String>, String> {
        let State::Down { top, .. } = self.state else { return Ok(None) };
        self.state = State::Down { top, lowest: Some(lo) };
        if lo <= self.mark {
            return Ok(self.finish());
        }
        // Inclusive or exclusive bound alike: asking "≤ lowest" repeats at most one row.
        self.next = Some(lo);
        Ok(None)
    }

    /// Ends the walk; the cursor to save, if the walk learnt anything worth saving.
    fn finish(&mut self) -> Option<String> {
        let saved = match self.state {
            State::Up { top } => Some(cursor(Some(Reading::Ascending), top)),
            State::Down { top, .. } => Some(cursor(Some(Reading::NewestFirst), top)),
            State::Probe | State::Done => None,
        };
        self.state = State::Done;
        saved
    }
}

/// The order of `ids`: Less (ascending), Greater (descending), None when fewer than two.
fn order_of(ids: &[i64]) -> Result<Option<Ordering>, String> {
    let mut order = None;
    for pair in ids.windows(2) {
        let step = pair[0].cmp(&pair[1]);
        if step == Ordering::Equal || order.is_some_and(|o| o != step) {
            return Err(format!("delivery ids are neither ascending nor descending: {}", show(ids)));
        }
        order = Some(step);
    }
    Ok(order)
}

fn neither(sent: Option<i64>, ids: &[i64]) -> String {
    let asked = sent.map_or("no max_id".to_string(), |m| format!("max_id={m}"));
    format!(
        "asked with {asked}, the shop answered ids {}: neither ids above max_id in ascending order nor \
         newest first with max_id as an upper bound; refusing to guess (the cursor stays)",
        show(ids)
    )
}

fn show(ids: &[i64]) -> String {
    let shown: Vec<String> = ids.iter().take(6).map(i64::to_string).collect();
    let more = if ids.len() > 6 { ", …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

fn parse(cursor: Option<&str>) -> (Option<Reading>, i64) {
    let Some(c) = cursor else { return (None, 0) };
    let (reading, mark) = match c.split_once(':') {
        Some(("asc", m)) => (Some(Reading::Ascending), m),
        Some(("desc", m)) => (Some(Reading::NewestFirst), m),
        _ => (None, c),
    };
    match mark.trim().parse() {
        Ok(m) => (reading, m),
        Err(_) => {
            tracing::warn!(cursor = c, "unreadable deliveryList cursor; reading all deliveries again");
            (None, 0)
        }
    }
}

fn cursor(reading: Option<Reading>, mark: i64) -> String {
    match reading {
        Some(Reading::Ascending) => format!("asc:{mark}"),
        Some(Reading::NewestFirst) => format!("desc:{mark}"),
        None => mark.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shop of deliveries 1..=n served one way, pages of `size`; returns every id the walk was
    /// given, the cursor it left, and the requests it made.
    fn run(
        cursor: Option<&str>,
        serve: impl Fn(Option<i64>) -> Vec<i64>,
    ) -> Result<(Vec<i64>, Option<String>, usize), String> {
        let mut walk = Walk::new(cursor);
        let (mut got, mut saved, mut requests) = (Vec::new(), cursor.map(String::from), 0);
        while let Some(max_id) = walk.next_request() {
            requests += 1;
            assert!(requests < 100, "the walk does not end");
            let ids = serve(max_id);
            if let Some(c) = walk.take(&ids)? {
                saved = Some(c);
            }
            got.extend(ids);
        }
        got.sort_unstable();
        got.dedup();
        Ok((got, saved, requests))
    }

    fn ascending(n: i64, size: usize) -> impl Fn(Option<i64>) -> Vec<i64> {
        move |m| (m.unwrap_or(0) + 1..=n).take(size).collect()
    }

    fn newest_first(n: i64, size: usize) -> impl Fn(Option<i64>) -> Vec<i64> {
        move |m| (1..=m.unwrap_or(n).min(n)).rev().take(size).collect()
    }

    #[test]
    fn reads_an_ascending_shop_and_continues_from_its_mark() {
        let (got, saved, _) = run(None, ascending(250, 100)).unwrap();
        assert_eq!(got, (1..=250).collect::<Vec<_>>());
        assert_eq!(saved.as_deref(), Some("asc:250"));
        let (got, saved, _) = run(Some("asc:250"), ascending(260, 100)).unwrap();
        assert_eq!(got, (251..=260).collect::<Vec<_>>());
        assert_eq!(saved.as_deref(), Some("asc:260"));
    }

    #[test]
    fn reads_a_newest_first_shop_down_to_its_mark() {
        let (got, saved, _) = run(None, newest_first(250, 100)).unwrap();
        assert_eq!(got, (1..=250).collect::<Vec<_>>());
        assert_eq!(saved.as_deref(), Some("desc:250"));
        let (got, saved, requests) = run(Some("desc:250"), newest_first(420, 100)).unwrap();
        assert!(got.contains(&251) && got.contains(&420) && !got.contains(&100));
        assert_eq!(saved.as_deref(), Some("desc:420"));
        assert_eq!(requests, 2, "170 new ids in pages of 100");
    }

    /// A bare mark (written before readings were told apart) works with either shop.
    #[test]
    fn a_bare_mark_is_probed() {
        let (got, saved, _) = run(Some("200"), ascending(230, 100)).unwrap();
        assert_eq!((got.first(), got.last(), saved.as_deref()), (Some(&201), Some(&230), Some("asc:230")));
        let (got, saved, _) = run(Some("200"), newest_first(230, 100)).unwrap();
        assert!((201..=230).all(|id| got.contains(&id)));
        assert_eq!(saved.as_deref(), Some("desc:230"));
    }

    #[test]
    fn a_single_delivery_is_read_either_way() {
        let (got, saved, _) = run(None, ascending(1, 100)).unwrap();
        assert_eq!(got, vec![1]);
        let (got, _, _) = run(saved.as_deref(), ascending(2, 100)).unwrap();
        assert_eq!(got, vec![2]);
        let (got, saved, _) = run(None, newest_first(1, 100)).unwrap();
        assert_eq!(got, vec![1]);
        // Read once more from that mark: nothing new, nothing lost.
        let (got, _, _) = run(saved.as_deref(), newest_first(3, 100)).unwrap();
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[test]
    fn a_shop_that_fits_neither_reading_fails_loudly() {
        // Newest first, but max_id as a lower bound: page 2 repeats the newest page.
        let lower_bound = |m: Option<i64>| (m.unwrap_or(0) + 1..=250).rev().take(100).collect::<Vec<i64>>();
        let err = run(None, lower_bound).unwrap_err();
        assert!(err.contains("neither") && err.contains("max_id="), "{err}");
        // Ascending, but ignoring max_id.
        let ignores = |_: Option<i64>| (1..=100).collect::<Vec<i64>>();
        assert!(run(Some("asc:100"), ignores).unwrap_err().contains("neither"));
        // Shuffled ids.
        assert!(run(None, |_| vec![3, 1, 2]).unwrap_err().contains("neither ascending nor descending"));
    }
}
