//! The policy evaluation and vulnerability list of an analyzed image, summarized for reports.
//!
//! Both are optional extras of a run. A server without a policy, without synced vulnerability
//! feeds, or without the routes at all yields "not available" and a warning instead of an
//! error, because the import itself succeeded.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::Value;

use super::ApiVersion;
use super::client::Client;
use super::error::ImportError;
use crate::digest::Digest;

/// The outcome of one policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    /// Anchore's `status`: `pass` or `fail`.
    pub status: String,
    /// The id of the policy that was evaluated, when the server names it.
    pub policy_id: Option<String>,
    /// The v2 `final_action`: `stop`, `go` or `warn`. v1 returns it only with `detail=true`.
    pub final_action: Option<String>,
}

impl PolicyResult {
    /// Returns true when the evaluation failed: status `fail` or final action `stop`.
    pub fn failed(&self) -> bool {
        self.status.eq_ignore_ascii_case("fail")
            || self
                .final_action
                .as_deref()
                .is_some_and(|action| action.eq_ignore_ascii_case("stop"))
    }
}

/// What [`evaluate`] found. A `None` field was not available, and `warnings` gives the reason.
#[derive(Debug, Clone, Default)]
pub struct EvaluationReport {
    pub policy: Option<PolicyResult>,
    /// Vulnerability counts by lower-case severity, e.g. `high` to 3.
    pub vulnerabilities: Option<BTreeMap<String, usize>>,
    pub warnings: Vec<String>,
}

/// Fetches the policy evaluation of `digest` under `tag` and its vulnerability list
/// (`vuln/all`). Every failure, including 404 and authorization errors, becomes a warning in
/// the returned report.
pub async fn evaluate(
    client: &Client,
    version: ApiVersion,
    digest: &Digest,
    tag: &str,
) -> EvaluationReport {
    let mut report = EvaluationReport::default();

    let encoded_tag: String = url::form_urlencoded::byte_serialize(tag.as_bytes()).collect();
    let check_path = format!(
        "{}/images/{digest}/check?tag={encoded_tag}&detail=false",
        version.prefix()
    );
    match fetch_json(client, &check_path).await {
        Ok(body) => match parse_policy(version, &body, digest, tag) {
            Ok(policy) => report.policy = Some(policy),
            Err(reason) => report.warnings.push(format!(
                "policy evaluation not available: GET {check_path} returned an unexpected body: {reason}"
            )),
        },
        Err(error) => report.warnings.push(format!(
            "policy evaluation not available: {}",
            describe(&error)
        )),
    }

    let vuln_path = format!("{}/images/{digest}/vuln/all", version.prefix());
    match fetch_json(client, &vuln_path).await {
        Ok(body) => match count_vulnerabilities(&body) {
            Ok(counts) => report.vulnerabilities = Some(counts),
            Err(reason) => report.warnings.push(format!(
                "vulnerability counts not available: GET {vuln_path} returned an unexpected body: {reason}"
            )),
        },
        Err(error) => report.warnings.push(format!(
            "vulnerability counts not available: {}",
            describe(&error)
        )),
    }
    report
}

async fn fetch_json(client: &Client, path: &str) -> Result<Value, ImportError> {
    let response = client.send_idempotent(Method::GET, path, None).await?;
    let response = client.check(&Method::GET, path, response)?;
    response.json(&Method::GET, path)
}

/// Adds the usual cause of a 404 to the error message.
fn describe(error: &ImportError) -> String {
    match error {
        ImportError::Http { status: 404, .. } => format!(
            "{error} (the server has no evaluation for this image yet, no active policy, or \
             no synced vulnerability feeds)"
        ),
        _ => error.to_string(),
    }
}

/// Parses the `check` response.
///
/// v2 returns one `PolicyEvaluation` object: `{policy_id, image_digest, evaluated_tag,
/// evaluations: [{status, final_action, ...}]}`, newest evaluation first. The v1 swagger
/// documents only a list of untyped objects, which Engine fills as `[{digest: {tag: [{status,
/// policyId, detail, last_evaluation}]}}]`.
///
/// NOTE: the v1 shape comes from anchore-cli output and client code, not from a recorded
/// Engine response, so the v1 parser also accepts a lone digest or tag key it did not expect.
pub fn parse_policy(
    version: ApiVersion,
    body: &Value,
    digest: &Digest,
    tag: &str,
) -> Result<PolicyResult, String> {
    match version {
        ApiVersion::V2 => parse_policy_v2(body),
        ApiVersion::V1 => parse_policy_v1(body, digest, tag),
    }
}

fn parse_policy_v2(body: &Value) -> Result<PolicyResult, String> {
    let evaluation = body
        .get("evaluations")
        .and_then(Value::as_array)
        .and_then(|list| list.first())
        .ok_or("no `evaluations` entry")?;
    let status = string_field(evaluation, "status").ok_or("the evaluation has no `status`")?;
    Ok(PolicyResult {
        status,
        policy_id: string_field(body, "policy_id"),
        final_action: string_field(evaluation, "final_action"),
    })
}

fn parse_policy_v1(body: &Value, digest: &Digest, tag: &str) -> Result<PolicyResult, String> {
    let by_digest = body
        .as_array()
        .and_then(|list| list.first())
        .ok_or("expected a list of evaluations")?;
    let digest_key = digest.to_string();
    let by_tag = by_digest
        .get(&digest_key)
        .or_else(|| single_value(by_digest))
        .ok_or_else(|| format!("no entry for {digest_key}"))?;
    let results = by_tag
        .get(tag)
        .or_else(|| single_value(by_tag))
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no evaluation list for tag {tag}"))?;
    let result = results.first().ok_or("the evaluation list is empty")?;
    let status = string_field(result, "status").ok_or("the evaluation has no `status`")?;
    let final_action = result
        .pointer("/detail/result/final_action")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(PolicyResult {
        status,
        policy_id: string_field(result, "policyId").or_else(|| string_field(result, "policy_id")),
        final_action,
    })
}

/// Returns the only value of an object with exactly one key. The server may spell a digest or
/// tag key differently from the request (e.g. a normalized tag).
fn single_value(object: &Value) -> Option<&Value> {
    let map = object.as_object()?;
    if map.len() == 1 {
        map.values().next()
    } else {
        None
    }
}

fn string_field(object: &Value, key: &str) -> Option<String> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Counts the entries of a `vuln/{vtype}` response by severity. v1 (`VulnerabilityResponse`)
/// and v2 (`ImagePackageVulnerabilityResponse`) share the `vulnerabilities` list of objects
/// with a `severity` string. Each entry is one vulnerability in one package, so a CVE found in
/// two packages counts twice. An entry without a severity counts as `unknown`.
pub fn count_vulnerabilities(body: &Value) -> Result<BTreeMap<String, usize>, String> {
    let list = body
        .get("vulnerabilities")
        .and_then(Value::as_array)
        .ok_or("no `vulnerabilities` list")?;
    let mut counts = BTreeMap::new();
    for entry in list {
        if !entry.is_object() {
            return Err(format!("a vulnerability is not an object: {entry}"));
        }
        let severity = entry
            .get("severity")
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .unwrap_or("unknown")
            .to_ascii_lowercase();
        *counts.entry(severity).or_insert(0) += 1;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn digest() -> Digest {
        Digest::of(b"manifest")
    }

    #[test]
    fn v2_policy_fail_parsed() {
        let body = json!({
            "policy_id": "default-policy",
            "image_digest": digest().to_string(),
            "evaluated_tag": "docker.io/library/app:1",
            "evaluations": [{
                "status": "fail",
                "final_action": "stop",
                "final_action_reason": "policy_evaluation",
                "evaluation_problems": [],
                "evaluation_time": "2026-01-01T00:00:00Z",
                "image_allowlisted": false,
                "image_denylisted": false,
                "image_mapped_to_rule": true,
                "number_of_findings": 2
            }]
        });
        let policy = parse_policy(ApiVersion::V2, &body, &digest(), "x").unwrap();
        assert_eq!(policy.status, "fail");
        assert_eq!(policy.policy_id.as_deref(), Some("default-policy"));
        assert_eq!(policy.final_action.as_deref(), Some("stop"));
        assert!(policy.failed());
    }

    #[test]
    fn v2_policy_pass_with_warn() {
        let body = json!({
            "policy_id": "p",
            "evaluations": [{"status": "pass", "final_action": "warn"}]
        });
        let policy = parse_policy(ApiVersion::V2, &body, &digest(), "x").unwrap();
        assert_eq!(policy.status, "pass");
        assert!(!policy.failed());
    }

    #[test]
    fn v2_policy_without_evaluations_rejected() {
        let body = json!({"policy_id": "p", "evaluations": []});
        let error = parse_policy(ApiVersion::V2, &body, &digest(), "x").unwrap_err();
        assert!(error.contains("evaluations"), "{error}");
    }

    #[test]
    fn v1_policy_nested_shape_parsed() {
        let tag = "docker.io/library/app:1";
        let body = json!([{
            digest().to_string(): {
                tag: [{
                    "detail": {},
                    "last_evaluation": "2026-01-01T00:00:00Z",
                    "policyId": "2c53a13c-1765-11e8-82ef-23527761d060",
                    "status": "pass"
                }]
            }
        }]);
        let policy = parse_policy(ApiVersion::V1, &body, &digest(), tag).unwrap();
        assert_eq!(policy.status, "pass");
        assert_eq!(
            policy.policy_id.as_deref(),
            Some("2c53a13c-1765-11e8-82ef-23527761d060")
        );
        assert_eq!(policy.final_action, None);
        assert!(!policy.failed());
    }

    #[test]
    fn v1_policy_reads_detail_final_action() {
        let body = json!([{
            digest().to_string(): {
                "docker.io/other:tag": [{
                    "detail": {"result": {"final_action": "stop"}},
                    "policyId": "p",
                    "status": "fail"
                }]
            }
        }]);
        let policy = parse_policy(ApiVersion::V1, &body, &digest(), "docker.io/app:1").unwrap();
        assert_eq!(policy.final_action.as_deref(), Some("stop"));
        assert!(policy.failed());
    }

    #[test]
    fn v1_policy_wrong_shape_rejected() {
        let body = json!({"status": "pass"});
        assert!(parse_policy(ApiVersion::V1, &body, &digest(), "t").is_err());
        let empty = json!([{digest().to_string(): {"t": []}}]);
        let error = parse_policy(ApiVersion::V1, &empty, &digest(), "t").unwrap_err();
        assert!(error.contains("empty"), "{error}");
    }

    #[test]
    fn vulnerabilities_counted_by_severity() {
        let body = json!({
            "imageDigest": digest().to_string(),
            "vulnerability_type": "all",
            "vulnerabilities": [
                {"vuln": "CVE-2026-0001", "severity": "Critical", "package": "zlib-1.2"},
                {"vuln": "CVE-2026-0002", "severity": "High", "package": "zlib-1.2"},
                {"vuln": "CVE-2026-0002", "severity": "High", "package": "libc-2.36"},
                {"vuln": "CVE-2026-0003", "package": "six-1.16"}
            ]
        });
        let counts = count_vulnerabilities(&body).unwrap();
        assert_eq!(counts.get("critical"), Some(&1));
        assert_eq!(counts.get("high"), Some(&2));
        assert_eq!(counts.get("unknown"), Some(&1));
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn empty_vulnerability_list_counts_nothing() {
        let body = json!({"imageDigest": "x", "vulnerabilities": [], "vulnerability_type": "all"});
        assert!(count_vulnerabilities(&body).unwrap().is_empty());
    }

    #[test]
    fn vulnerability_body_without_list_rejected() {
        assert!(count_vulnerabilities(&json!({"image_digest": "x"})).is_err());
        assert!(count_vulnerabilities(&json!({"vulnerabilities": ["CVE-1"]})).is_err());
    }
}
