//! Choosing the CI platform to report to, the outputs every platform publishes, and writing the
//! platform's report files. The renderers are pure functions of [`RunResult`], and only
//! [`write_reports`] touches the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::RunResult;
use crate::secret::Secret;

/// Value of `--report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportPlatform {
    /// Detect the platform from its environment variables, and write no reports outside CI.
    Auto,
    Github,
    Gitlab,
    Circleci,
    None,
}

/// A CI platform with native reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Github,
    Gitlab,
    Circleci,
}

impl ReportPlatform {
    /// Resolves `auto` through the variables each platform sets to `true` in every job
    /// (GITHUB_ACTIONS, GITLAB_CI, CIRCLECI). Returns `None` for `none` or when no platform is
    /// detected.
    pub fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Option<Platform> {
        match self {
            Self::Github => Some(Platform::Github),
            Self::Gitlab => Some(Platform::Gitlab),
            Self::Circleci => Some(Platform::Circleci),
            Self::None => None,
            Self::Auto => {
                let is_true = |name: &str| env(name).is_some_and(|v| v == "true");
                if is_true("GITHUB_ACTIONS") {
                    Some(Platform::Github)
                } else if is_true("GITLAB_CI") {
                    Some(Platform::Gitlab)
                } else if is_true("CIRCLECI") {
                    Some(Platform::Circleci)
                } else {
                    None
                }
            }
        }
    }
}

/// Policy evaluation and vulnerability counts of the imported image.
///
/// NOTE: nothing computes these yet. Every report renders them only when present, so the
/// fields can be filled later without changing the report formats.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Anchore's policy evaluation status, e.g. `pass` or `fail`.
    pub policy_status: Option<String>,
    /// Vulnerability counts by severity, e.g. `critical` to 2.
    pub vulnerabilities: Option<BTreeMap<String, usize>>,
}

impl Evaluation {
    /// Returns true when the policy evaluation ran and failed.
    pub fn policy_failed(&self) -> bool {
        self.policy_status
            .as_deref()
            .is_some_and(|status| status.eq_ignore_ascii_case("fail"))
    }
}

/// One named output of a run, published as a GitHub step output and a GitLab dotenv variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Name in kebab case, e.g. `image-id`.
    pub name: &'static str,
    /// Value, which may span lines (tags are one per line).
    pub value: String,
}

/// Lists the outputs of a run. Values that the run did not reach are empty strings, so a later
/// step can always read every name. The evaluation outputs exist only when evaluated.
pub fn outputs(result: &RunResult, evaluation: Option<&Evaluation>) -> Vec<Output> {
    let identity = result.identity.as_ref();
    let mut list = vec![
        output("status", result.status),
        output("exit-code", result.exit_code.to_string()),
        output(
            "digest",
            identity.map(|i| i.digest.clone()).unwrap_or_default(),
        ),
        output(
            "image-id",
            identity.map(|i| i.image_id.clone()).unwrap_or_default(),
        ),
        output(
            "tags",
            identity.map(|i| i.tags.join("\n")).unwrap_or_default(),
        ),
        output(
            "package-count",
            result
                .packages
                .as_ref()
                .map(|p| p.total.to_string())
                .unwrap_or_default(),
        ),
        output(
            "packages-by-type",
            result
                .packages
                .as_ref()
                .map(|p| serde_json::to_string(&p.by_type).unwrap_or_default())
                .unwrap_or_default(),
        ),
        output("sbom-path", result.sbom_path.clone().unwrap_or_default()),
        output(
            "anchore-url",
            result
                .import
                .as_ref()
                .map(|i| i.image_url.clone())
                .unwrap_or_default(),
        ),
        output(
            "analysis-status",
            result
                .import
                .as_ref()
                .map(|i| i.analysis_status.clone())
                .unwrap_or_default(),
        ),
    ];
    if let Some(evaluation) = evaluation {
        if let Some(status) = &evaluation.policy_status {
            list.push(output("policy-status", status.clone()));
        }
        if let Some(counts) = &evaluation.vulnerabilities {
            list.push(output(
                "vulnerabilities",
                serde_json::to_string(counts).unwrap_or_default(),
            ));
        }
    }
    list
}

fn output(name: &'static str, value: impl Into<String>) -> Output {
    Output {
        name,
        value: value.into(),
    }
}

/// Failure to write a CI report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("could not write the {what} to {path}: {source}; check that the folder is writable")]
    Write {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{name} is not set, so the GitHub {what} cannot be written; run inside GitHub Actions or pass --report none"
    )]
    MissingVariable {
        name: &'static str,
        what: &'static str,
    },
    #[error("could not create the GitHub check run at {api_url}: {message}")]
    CheckRun { api_url: String, message: String },
}

/// Inputs of [`write_reports`].
pub struct ReportContext<'a> {
    pub result: &'a RunResult,
    pub evaluation: Option<&'a Evaluation>,
    /// Value of `--report-dir`.
    pub report_dir: &'a Path,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Writes the platform's report files and returns the lines to print on standard output
/// (GitHub workflow commands) together with the files written.
pub fn write_reports(
    platform: Platform,
    context: &ReportContext<'_>,
) -> Result<Written, ReportError> {
    match platform {
        Platform::Github => super::github::write(context),
        Platform::Gitlab => super::gitlab::write(context),
        Platform::Circleci => super::circleci::write(context),
    }
}

/// Writes the platform's reports and, on GitHub with a token, creates the check run.
///
/// Callers read the token from INLINE_SCAN_GITHUB_TOKEN, the variable the wrapper docs name,
/// and it needs `checks: write`. A failed check run does not fail the run, because the step
/// outputs and summary are written already. Its error is returned in [`Published::warnings`].
pub async fn publish(
    platform: Platform,
    context: &ReportContext<'_>,
    github_token: Option<&Secret>,
) -> Result<Published, ReportError> {
    let written = write_reports(platform, context)?;
    let mut published = Published {
        written,
        check_run_id: None,
        warnings: Vec::new(),
    };
    let Some(token) = github_token.filter(|t| !t.is_empty()) else {
        return Ok(published);
    };
    if platform != Platform::Github {
        return Ok(published);
    }
    let Some(target) = super::github::CheckRunTarget::from_env(context.env) else {
        published.warnings.push(
            "no check run created: GITHUB_API_URL, GITHUB_REPOSITORY or GITHUB_SHA is not set"
                .to_owned(),
        );
        return Ok(published);
    };
    match super::github::create_check_run(&target, token, context.result, context.evaluation).await
    {
        Ok(id) => published.check_run_id = Some(id),
        Err(error) => published.warnings.push(error.to_string()),
    }
    Ok(published)
}

/// Result of [`write_reports`].
#[derive(Debug, Default)]
pub struct Written {
    /// Text for standard output, where the platform reads commands from the log.
    pub stdout: String,
    pub files: Vec<PathBuf>,
}

/// Result of [`publish`].
#[derive(Debug, Default)]
pub struct Published {
    pub written: Written,
    /// Id of the GitHub check run, when one was created.
    pub check_run_id: Option<u64>,
    /// Problems that did not stop the reports, such as a rejected check run.
    pub warnings: Vec<String>,
}

/// Writes `contents` to `path`, creating its parent folders.
pub(crate) fn write_file(
    what: &'static str,
    path: &Path,
    contents: &[u8],
) -> Result<(), ReportError> {
    let error = |source| ReportError::Write {
        what,
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(error)?;
    }
    std::fs::write(path, contents).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Variables = &'static [(&'static str, &'static str)];

    fn env_of(pairs: Variables) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn auto_detects_each_platform() {
        let cases: [(Variables, Option<Platform>); 5] = [
            (&[("GITHUB_ACTIONS", "true")], Some(Platform::Github)),
            (&[("GITLAB_CI", "true")], Some(Platform::Gitlab)),
            (&[("CIRCLECI", "true")], Some(Platform::Circleci)),
            (&[("GITLAB_CI", "false")], None),
            (&[], None),
        ];
        for (pairs, expected) in cases {
            let env = env_of(pairs);
            assert_eq!(ReportPlatform::Auto.resolve(&env), expected, "{pairs:?}");
        }
    }

    #[test]
    fn explicit_platform_ignores_environment() {
        let env = env_of(&[("GITHUB_ACTIONS", "true")]);
        assert_eq!(ReportPlatform::Gitlab.resolve(&env), Some(Platform::Gitlab));
        assert_eq!(ReportPlatform::None.resolve(&env), None);
    }

    #[test]
    fn outputs_without_evaluation_omit_policy() {
        let result = RunResult {
            status: "ok",
            ..RunResult::default()
        };
        let names: Vec<&str> = outputs(&result, None).iter().map(|o| o.name).collect();
        assert!(names.contains(&"digest"));
        assert!(!names.contains(&"policy-status"));
        assert!(!names.contains(&"vulnerabilities"));
    }

    #[test]
    fn outputs_with_evaluation_add_policy() {
        let result = RunResult::default();
        let evaluation = Evaluation {
            policy_status: Some("fail".into()),
            vulnerabilities: Some(BTreeMap::from([("high".to_owned(), 3)])),
        };
        let list = outputs(&result, Some(&evaluation));
        let policy = list.iter().find(|o| o.name == "policy-status").unwrap();
        assert_eq!(policy.value, "fail");
        let counts = list.iter().find(|o| o.name == "vulnerabilities").unwrap();
        assert_eq!(counts.value, r#"{"high":3}"#);
        assert!(evaluation.policy_failed());
    }
}
