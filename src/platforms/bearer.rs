//! A client for vendors that take `Authorization: Bearer <token>` and answer in the
//! `{"code", "msg", "data"}` envelope (Liangben, ShopSuite). A refused token is HTTP 401.

use super::envelope;
use super::http::{HttpClient, Idempotency, Request};
use super::SyncError;
use crate::config::Secret;
use reqwest::Method;
use serde_json::Value;

/// One shop's bearer-token client.
pub struct BearerClient {
    http: HttpClient,
    token: Secret,
}

impl BearerClient {
    /// A client over `http` with the shop's token.
    pub fn new(http: HttpClient, token: Secret) -> Self {
        BearerClient { http, token }
    }

    /// Sends one call and returns the answer when its `code` is 0.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        form: Vec<(String, String)>,
        idempotency: Idempotency,
    ) -> Result<Value, SyncError> {
        let req =
            Request { method, path: path.to_string(), query, form, bearer: Some(self.token.clone()), idempotency };
        envelope::ok_or_vendor(self.http.send(&req).await?, path)
    }
}
