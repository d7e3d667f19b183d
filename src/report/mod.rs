//! The result of one run: a short human summary on standard error and the `--result-json`
//! document for machines. CI platform reports build on [`RunResult`].

pub mod circleci;
pub mod github;
pub mod gitlab;
pub mod platform;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::image::Identity;
use crate::image::identity::ManifestOrigin;

/// Schema version of the `--result-json` document; bumped on incompatible changes.
pub const RESULT_FORMAT_VERSION: u32 = 1;

/// Everything known about a run when it ends, successful or not.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub format_version: u32,
    /// IMAGE as the user typed it.
    pub image: String,
    /// `ok`, `policy_failed`, `analysis_failed`, `timed_out`, `interrupted` or `error`.
    pub status: &'static str,
    pub exit_code: u8,
    /// The error message when the run failed.
    pub error: Option<String>,
    pub identity: Option<IdentitySummary>,
    pub distro: Option<DistroSummary>,
    pub packages: Option<PackageCounts>,
    pub warnings: Vec<String>,
    /// Path of the first SBOM file written.
    pub sbom_path: Option<String>,
    pub import: Option<ImportSummary>,
    /// Policy evaluation and vulnerability counts, fetched after a successful wait.
    pub evaluation: Option<EvaluationSummary>,
    pub elapsed_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySummary {
    pub digest: String,
    pub image_id: String,
    pub local_image_id: String,
    pub manifest_origin: ManifestOrigin,
    pub manifest_media_type: String,
    pub parent_digest: Option<String>,
    pub tags: Vec<String>,
}

impl From<&Identity> for IdentitySummary {
    fn from(identity: &Identity) -> Self {
        Self {
            digest: identity.digest.to_string(),
            image_id: identity.config_digest.to_string(),
            local_image_id: identity.local_image_id.clone(),
            manifest_origin: identity.manifest_origin,
            manifest_media_type: identity.manifest.media_type.clone(),
            parent_digest: identity.parent.as_ref().map(|p| p.digest().to_string()),
            tags: identity.tags.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DistroSummary {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageCounts {
    pub total: usize,
    pub by_type: BTreeMap<String, usize>,
}

impl From<&Catalog> for PackageCounts {
    fn from(catalog: &Catalog) -> Self {
        let mut by_type = BTreeMap::new();
        for package in &catalog.packages {
            *by_type.entry(package.kind.as_str().to_owned()).or_insert(0) += 1;
        }
        Self {
            total: catalog.packages.len(),
            by_type,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    /// `v1` or `v2`.
    pub api_version: String,
    /// The Anchore base URL, without credentials.
    pub url: String,
    pub operation_id: String,
    /// Anchore's last `analysis_status`, or `not_waited` with `--no-wait`.
    pub analysis_status: String,
    /// The image's URL in the Anchore API.
    pub image_url: String,
}

/// Policy evaluation and vulnerability counts of the imported image. A `None` field was not
/// available from the server, and a run warning gives the reason.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluationSummary {
    /// The tag the policy was evaluated for.
    pub tag: String,
    /// Anchore's policy `status`: `pass` or `fail`.
    pub policy_status: Option<String>,
    pub policy_id: Option<String>,
    /// `stop`, `go` or `warn`, when the server returns it.
    pub final_action: Option<String>,
    /// Vulnerability counts by lower-case severity.
    pub vulnerabilities: Option<BTreeMap<String, usize>>,
}

impl EvaluationSummary {
    /// Builds the summary of `report` for `tag`.
    pub fn new(tag: &str, report: &crate::anchore::evaluation::EvaluationReport) -> Self {
        let policy = report.policy.as_ref();
        Self {
            tag: tag.to_owned(),
            policy_status: policy.map(|p| p.status.clone()),
            policy_id: policy.and_then(|p| p.policy_id.clone()),
            final_action: policy.and_then(|p| p.final_action.clone()),
            vulnerabilities: report.vulnerabilities.clone(),
        }
    }

    /// Returns true when the policy was evaluated and failed: status `fail` or final action
    /// `stop`.
    pub fn policy_failed(&self) -> bool {
        let fail = |value: &Option<String>, word: &str| {
            value
                .as_deref()
                .is_some_and(|value| value.eq_ignore_ascii_case(word))
        };
        fail(&self.policy_status, "fail") || fail(&self.final_action, "stop")
    }

    /// Converts the summary to the form the CI reports render.
    pub fn to_report(&self) -> platform::Evaluation {
        let policy_status = if self.policy_failed() {
            Some("fail".to_owned())
        } else {
            self.policy_status.clone()
        };
        platform::Evaluation {
            policy_status,
            vulnerabilities: self.vulnerabilities.clone(),
        }
    }
}

impl RunResult {
    /// Renders the human summary printed on standard error.
    pub fn render_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "inline-scan: {}", self.image);
        if let Some(identity) = &self.identity {
            let origin = match identity.manifest_origin {
                ManifestOrigin::Source => "stored manifest",
                ManifestOrigin::File => "manifest from -m",
                ManifestOrigin::Synthesized => "synthesized manifest",
            };
            let _ = writeln!(text, "  digest    {} ({origin})", identity.digest);
            let _ = writeln!(text, "  image id  {}", identity.image_id);
            if let Some(parent) = &identity.parent_digest {
                let _ = writeln!(text, "  parent    {parent}");
            }
            let _ = writeln!(text, "  tags      {}", identity.tags.join(", "));
        }
        if let Some(distro) = &self.distro {
            let name = if distro.pretty_name.is_empty() {
                format!("{} {}", distro.id, distro.version_id)
            } else {
                distro.pretty_name.clone()
            };
            let _ = writeln!(text, "  distro    {name}");
        } else if self.packages.is_some() {
            let _ = writeln!(text, "  distro    none found");
        }
        if let Some(packages) = &self.packages {
            let by_type: Vec<String> = packages
                .by_type
                .iter()
                .map(|(kind, count)| format!("{kind} {count}"))
                .collect();
            let detail = if by_type.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_type.join(", "))
            };
            let _ = writeln!(text, "  packages  {}{detail}", packages.total);
        }
        for warning in &self.warnings {
            let _ = writeln!(text, "  warning   {warning}");
        }
        if let Some(path) = &self.sbom_path {
            let _ = writeln!(text, "  sbom      {path}");
        }
        match &self.import {
            Some(import) => {
                let _ = writeln!(
                    text,
                    "  import    {} (API {}, {}, operation {})",
                    import.analysis_status, import.api_version, import.url, import.operation_id
                );
            }
            None if self.error.is_none() => {
                let _ = writeln!(text, "  import    skipped (--no-import)");
            }
            None => {}
        }
        if let Some(evaluation) = &self.evaluation {
            render_evaluation(&mut text, evaluation);
        }
        let _ = writeln!(text, "  elapsed   {:.2} s", self.elapsed_seconds);
        text
    }
}

fn render_evaluation(text: &mut String, evaluation: &EvaluationSummary) {
    match &evaluation.policy_status {
        Some(status) => {
            let mut detail = vec![format!("tag {}", evaluation.tag)];
            if let Some(id) = &evaluation.policy_id {
                detail.push(format!("policy {id}"));
            }
            if let Some(action) = &evaluation.final_action {
                detail.push(format!("final action {action}"));
            }
            let _ = writeln!(text, "  policy    {status} ({})", detail.join(", "));
        }
        None => {
            let _ = writeln!(text, "  policy    not available");
        }
    }
    match &evaluation.vulnerabilities {
        Some(counts) if counts.is_empty() => {
            let _ = writeln!(text, "  vulns     none");
        }
        Some(counts) => {
            let by_severity: Vec<String> = counts
                .iter()
                .map(|(severity, count)| format!("{severity} {count}"))
                .collect();
            let _ = writeln!(text, "  vulns     {}", by_severity.join(", "));
        }
        None => {
            let _ = writeln!(text, "  vulns     not available");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_rendered_in_text() {
        let result = RunResult {
            evaluation: Some(EvaluationSummary {
                tag: "docker.io/library/app:1".to_owned(),
                policy_status: Some("fail".to_owned()),
                policy_id: Some("default".to_owned()),
                final_action: Some("stop".to_owned()),
                vulnerabilities: Some(BTreeMap::from([("high".to_owned(), 2)])),
            }),
            ..RunResult::default()
        };
        let text = result.render_text();
        assert!(
            text.contains(
                "policy    fail (tag docker.io/library/app:1, policy default, final action stop)"
            ),
            "{text}"
        );
        assert!(text.contains("vulns     high 2"), "{text}");
    }

    #[test]
    fn unavailable_evaluation_rendered() {
        let result = RunResult {
            evaluation: Some(EvaluationSummary::default()),
            ..RunResult::default()
        };
        let text = result.render_text();
        assert!(text.contains("policy    not available"), "{text}");
        assert!(text.contains("vulns     not available"), "{text}");
    }

    #[test]
    fn stop_action_counts_as_failed() {
        let summary = EvaluationSummary {
            policy_status: Some("pass".to_owned()),
            final_action: Some("stop".to_owned()),
            ..EvaluationSummary::default()
        };
        assert!(summary.policy_failed());
        assert_eq!(summary.to_report().policy_status.as_deref(), Some("fail"));
        let pass = EvaluationSummary {
            policy_status: Some("pass".to_owned()),
            final_action: Some("go".to_owned()),
            ..EvaluationSummary::default()
        };
        assert!(!pass.policy_failed());
    }
}
