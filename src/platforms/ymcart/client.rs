//! YMCart's calls: form POSTs to `/api-erp-<name>.html` with the token, and the `code` envelope.

use super::wire::{read_list, CODE_BAD_TOKEN};
use crate::config::Secret;
use crate::platforms::envelope::{self, RawRows};
use crate::platforms::http::{HttpClient, Idempotency, Request};
use crate::platforms::SyncError;
use serde_json::Value;

/// A YMCart API client for one shop.
pub struct Client {
    http: HttpClient,
    token: Secret,
}

/// One page of a list call.
pub struct Page {
    /// The vendor's total row count for the filter.
    pub count: u64,
    /// The rows, each as the text the vendor sent.
    pub rows: RawRows,
}

impl Client {
    /// A client over `http` with the shop's token.
    pub fn new(http: HttpClient, token: Secret) -> Self {
        Client { http, token }
    }

    fn request(&self, name: &str, fields: Vec<(String, String)>, idempotency: Idempotency) -> Request {
        let mut form = vec![("token".to_string(), self.token.expose().to_string())];
        form.extend(fields);
        Request::post_form(&path(name), form, idempotency)
    }

    /// Calls `name` with `fields`, returning the answer when `code` is 0.
    pub async fn call(
        &self,
        name: &str,
        fields: Vec<(String, String)>,
        idempotency: Idempotency,
    ) -> Result<Value, SyncError> {
        let answer = self.http.send(&self.request(name, fields, idempotency)).await?;
        token_refused(envelope::ok_or_vendor(answer, &path(name)))
    }

    /// Calls a list endpoint and reads `count`, leaving the rows as their text.
    pub async fn list(&self, name: &str, fields: Vec<(String, String)>) -> Result<Page, SyncError> {
        let path = path(name);
        let (head, rows) = self.http.send_with(&self.request(name, fields, Idempotency::Read), read_list).await?;
        token_refused(head.check(&path))?;
        let count = head.get("count").int("count").map_err(|e| envelope::shape(&path, e.to_string()))?.unwrap_or(0);
        Ok(Page { count: count.max(0) as u64, rows })
    }
}

fn path(name: &str) -> String {
    format!("/api-erp-{name}.html")
}

/// A refused token is an authentication failure (PLATFORMS.md §1: permanent, alert the admin).
fn token_refused<T>(result: Result<T, SyncError>) -> Result<T, SyncError> {
    match result {
        Err(SyncError::Vendor { code, msg, path }) if code == CODE_BAD_TOKEN.to_string() => {
            Err(SyncError::Auth(format!("`{path}` answered code {code}: {msg}")))
        }
        other => other,
    }
}
