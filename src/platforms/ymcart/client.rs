//! YMCart's calls: form POSTs to `/api-erp-<name>.html` with the token, and the `code` envelope.

use super::wire::{self, CODE_BAD_TOKEN};
use crate::config::Secret;
use crate::platforms::http::{HttpClient, Idempotency, Request};
use crate::platforms::values;
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
        let answer = self
            .http
            .send(&Request::post_form(&path, form, idempotency))
            .await?;
        let code = values::int(&answer, "code").map_err(|e| SyncError::Shape {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        match code {
            Some(0) => Ok(answer),
            Some(CODE_BAD_TOKEN) => Err(SyncError::Auth(format!(
                "`{path}` answered code {CODE_BAD_TOKEN}: {}",
                msg(&answer)
            ))),
            Some(other) => Err(SyncError::Vendor {
                path,
                code: other.to_string(),
                msg: msg(&answer),
            }),
            None => Err(SyncError::Shape {
                path,
                detail: "no `code` in the answer".into(),
            }),
        }
    }

    /// Calls a list endpoint and reads `count` and `data`.
    pub async fn list(&self, name: &str, fields: Vec<(String, String)>) -> Result<Page, SyncError> {
        let answer = self.call(name, fields, Idempotency::Read).await?;
        let shape = |detail: String| SyncError::Shape {
            path: format!("/api-erp-{name}.html"),
            detail,
        };
        let count = values::int(&answer, "count")
            .map_err(|e| shape(e.to_string()))?
            .unwrap_or(0);
        let rows = match answer.get("data") {
            Some(Value::Array(rows)) => rows.clone(),
            // PHP encodes an empty array as `null` or `{}` depending on the code path.
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(o)) if o.is_empty() => Vec::new(),
            Some(other) => {
                return Err(shape(format!(
                    "`data` is not a list: {}",
                    truncate(&other.to_string())
                )))
            }
        };
        Ok(Page {
            count: count.max(0) as u64,
            rows,
        })
    }

    /// The page size every list call uses.
    pub fn page_size() -> String {
        wire::PAGE_SIZE.to_string()
    }
}

fn msg(answer: &Value) -> String {
    values::text(answer, "msg").unwrap_or_default()
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
