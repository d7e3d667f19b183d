//! Polling the image record until Anchore finishes analyzing an import.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::client::Client;
use super::error::ImportError;
use super::{ApiVersion, WaitPolicy};
use crate::digest::Digest;

/// Consecutive 404s tolerated right after finalize, while the catalog has not yet stored the
/// image record.
const MAX_NOT_FOUND_POLLS: u32 = 3;

/// Returns the analysis status of a record: `not_analyzed`, `analyzing`, `analyzed` or
/// `analysis_failed`.
pub fn analysis_status(record: &Value) -> &str {
    record
        .get("analysis_status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// Takes the image record out of a response body: v1 returns a list of one record, v2 the
/// record itself.
pub(crate) fn image_record(
    version: ApiVersion,
    body: Value,
    method: &Method,
    path: &str,
) -> Result<Value, ImportError> {
    let record = match (version, body) {
        (ApiVersion::V1, Value::Array(mut records)) if !records.is_empty() => records.remove(0),
        (ApiVersion::V2, record @ Value::Object(_)) => record,
        (_, other) => {
            return Err(ImportError::InvalidResponse {
                method: method.to_string(),
                path: path.to_owned(),
                reason: format!("expected an image record, got {}", short_json(&other)),
            });
        }
    };
    Ok(record)
}

/// Polls `GET /v{n}/images/{digest}` with a doubling delay until the status is final or
/// `policy.timeout` has passed since `started`. Calls `on_status` after each poll.
pub async fn wait_for_analysis(
    client: &Client,
    version: ApiVersion,
    digest: &Digest,
    policy: &WaitPolicy,
    started: Instant,
    on_status: &(dyn Fn(&str) + Sync),
) -> Result<Value, ImportError> {
    let path = format!("{}/images/{}", version.prefix(), digest);
    let deadline = started + policy.timeout;
    let mut delay = policy.poll_interval;
    let mut not_found = 0;
    let mut last_status = "not_analyzed".to_owned();

    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ImportError::TimedOut {
                digest: digest.to_string(),
                timeout: policy.timeout,
                last_status,
            });
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        if Instant::now() >= deadline {
            continue;
        }
        delay = (delay * 2).min(policy.max_poll_interval);

        let response = client.send_idempotent(Method::GET, &path, None).await?;
        if response.status == StatusCode::NOT_FOUND && not_found < MAX_NOT_FOUND_POLLS {
            not_found += 1;
            tracing::debug!(%digest, not_found, "image record not found yet");
            continue;
        }
        not_found = 0;
        let response = client.check(&Method::GET, &path, response)?;
        let body = response.json(&Method::GET, &path)?;
        let record = image_record(version, body, &Method::GET, &path)?;
        let status = analysis_status(&record).to_owned();
        on_status(&status);

        match status.as_str() {
            "analyzed" => return Ok(record),
            "analysis_failed" => {
                return Err(ImportError::AnalysisFailed {
                    digest: digest.to_string(),
                    detail: failure_detail(&record),
                });
            }
            _ => last_status = status,
        }
    }
}

/// Formats the v2 `analysis_status_detail` list, if the record has one, as a message suffix.
fn failure_detail(record: &Value) -> String {
    match record.get("analysis_status_detail") {
        Some(Value::Array(items)) if !items.is_empty() => {
            format!(": {}", short_json(&Value::Array(items.clone())))
        }
        _ => "; the Anchore analyzer log has the cause".to_owned(),
    }
}

fn short_json(value: &Value) -> String {
    value.to_string().chars().take(300).collect()
}
