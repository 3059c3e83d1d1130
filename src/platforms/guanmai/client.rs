//! Guanmai's calls: a short-lived access token per shop, passed as a query parameter.
//!
//! The token is cached and refreshed a minute before `expire_time`. A call answered with code 10
//! refreshes it once and is repeated; concurrent calls that hit the same expired token share one
//! refresh (the token is only replaced when it is still the one that failed).

use super::wire::{CODE_TOKEN_INVALID, TOKEN_PATH};
use crate::config::Secret;
use crate::platforms::envelope;
use crate::platforms::http::{HttpClient, Idempotency, Request};
use crate::platforms::SyncError;
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;

/// A cached access token.
struct Token {
    value: Secret,
    expires_at: DateTime<Utc>,
}

/// A Guanmai API client for one shop.
pub struct Client {
    http: HttpClient,
    access_id: Secret,
    secret: Secret,
    token: Mutex<Option<Token>>,
}

/// Refresh this long before the vendor's expiry, so no call carries a token about to lapse.
const EARLY_REFRESH: Duration = Duration::seconds(60);

impl Client {
    /// A client over `http` with the shop's access id and secret.
    pub fn new(http: HttpClient, access_id: Secret, secret: Secret) -> Self {
        Client { http, access_id, secret, token: Mutex::new(None) }
    }

    /// A GET with `query`, the access token added.
    pub async fn get(&self, path: &str, query: Vec<(String, String)>) -> Result<Value, SyncError> {
        self.call(Method::GET, path, query, Vec::new(), Idempotency::Read).await
    }

    /// A form POST; the access token goes in the URL, never in the body (vendor rule).
    pub async fn post(&self, path: &str, form: Vec<(String, String)>) -> Result<Value, SyncError> {
        self.call(Method::POST, path, Vec::new(), form, Idempotency::Write).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: Vec<(String, String)>,
        form: Vec<(String, String)>,
        idempotency: Idempotency,
    ) -> Result<Value, SyncError> {
        let mut token = self.current_token().await?;
        let mut refreshed = false;
        loop {
            let mut q = vec![("access_token".to_string(), token.expose().to_string())];
            q.extend(query.iter().cloned());
            let req = Request {
                method: method.clone(),
                path: path.to_string(),
                query: q,
                form: form.clone(),
                bearer: None,
                idempotency,
            };
            let answer = self.http.send(&req).await?;
            match envelope::ok_or_vendor(answer, path) {
                Err(SyncError::Vendor { code, .. }) if code == CODE_TOKEN_INVALID.to_string() && !refreshed => {
                    token = self.refresh(&token).await?;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    async fn current_token(&self) -> Result<Secret, SyncError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Utc::now() < t.expires_at - EARLY_REFRESH) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Replaces `stale` with a new token, unless another call already did.
    async fn refresh(&self, stale: &Secret) -> Result<Secret, SyncError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.value.expose() != stale.expose()) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token, SyncError> {
        let query = vec![
            ("access_id".to_string(), self.access_id.expose().to_string()),
            ("secret".to_string(), self.secret.expose().to_string()),
        ];
        let answer = self.http.send(&Request::get(TOKEN_PATH, query)).await?;
        let answer = match envelope::ok_or_vendor(answer, TOKEN_PATH) {
            Err(SyncError::Vendor { code, msg, .. }) => {
                return Err(SyncError::Auth(format!("`{TOKEN_PATH}` answered code {code}: {msg}")))
            }
            other => other?,
        };
        let token = super::map::access_token(&answer).map_err(|e| envelope::shape(TOKEN_PATH, e.to_string()))?;
        // Without a readable expiry, assume the documented hour minus a margin.
        let expires_at = token.expires_at.unwrap_or_else(|| Utc::now() + Duration::minutes(55));
        tracing::debug!(%expires_at, "Guanmai access token refreshed");
        Ok(Token { value: Secret::new(token.value), expires_at })
    }
}
