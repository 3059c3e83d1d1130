//! YMCart's calls: form POSTs to `/api-erp-<name>.html` with the token, and the `code` envelope.

use super::wire::CODE_BAD_TOKEN;
use crate::config::Secret;
use crate::platforms::envelope::{self, list_at};
use crate::platforms::http::{HttpClient, Idempotency, Request};
use crate::platforms::{values, SyncError};
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
    /// The rows.
    pub rows: Vec<Value>,
}

impl Client {
    /// A client over `http` with the shop's token.
    pub fn new(http: HttpClient, token: Secret) -> Self {
        Client { http, token }
    }

    /// Calls `name` with `fields`, returning the answer when `code` is 0.
    pub async fn call(
        &self,
        name: &str,
        fields: Vec<(String, String)>,
        idempotency: Idempotency,
    ) -> Result<Value, SyncError> {
        let path = format!("/api-erp-{name}.html");
        let mut form = vec![("token".to_string(), self.token.expose().to_string())];
        form.extend(fields);
        let answer = self.http.send(&Request::post_form(&path, form, idempotency)).await?;
        match envelope::ok_or_vendor(answer, &path) {
            Err(SyncError::Vendor { code, msg, .. }) if code == CODE_BAD_TOKEN.to_string() => {
                Err(SyncError::Auth(format!("`{path}` answered code {code}: {msg}")))
            }
            other => other,
        }
    }

    /// Calls a list endpoint and reads `count` and `data`.
    pub async fn list(&self, name: &str, fields: Vec<(String, String)>) -> Result<Page, SyncError> {
        let path = format!("/api-erp-{name}.html");
        let mut answer = self.call(name, fields, Idempotency::Read).await?;
        let count = values::int(&answer, "count").map_err(|e| envelope::shape(&path, e.to_string()))?.unwrap_or(0);
        let rows = list_at(&mut answer, "/data", &path)?;
        Ok(Page { count: count.max(0) as u64, rows })
    }
}
