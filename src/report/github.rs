//! GitHub Actions reports: workflow-command annotations, the step summary, step outputs, masks
//! for secrets, and an optional check run.
//!
//! Limits and escaping follow GitHub's workflow command rules. GitHub shows at most 10
//! annotations of each level per step, and a step summary may hold at most 1 MiB. Command values
//! escape `%`, CR and LF, and properties also escape `:` and `,`.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::BuildHasher as _;
use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;

use super::RunResult;
use super::platform::{Evaluation, ReportContext, ReportError, Written, outputs, write_file};
use crate::secret::Secret;

/// Maximum annotations of one level that GitHub shows per step. It drops further ones silently.
pub const MAX_ANNOTATIONS_PER_LEVEL: usize = 10;

/// Size limit of one step summary (GitHub rejects larger ones with an error annotation).
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024;

/// Name of the optional check run.
pub const CHECK_RUN_NAME: &str = "inline-scan";

/// Escapes the message part of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`title=...`) of a workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Annotation level of a workflow command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

/// One annotation before it is rendered as a workflow command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub level: Level,
    pub title: String,
    pub message: String,
}

impl Annotation {
    fn new(level: Level, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            level,
            title: title.into(),
            message: message.into(),
        }
    }

    /// Renders the annotation as one workflow command line, without the newline.
    pub fn to_command(&self) -> String {
        format!(
            "::{} title={}::{}",
            self.level.command(),
            escape_property(&self.title),
            escape_data(&self.message)
        )
    }
}

/// Lists the annotations of a run: an error when it failed, one warning per cataloging
/// warning, a notice with the digest when it succeeded, and the policy result when evaluated.
/// Each level is capped at [`MAX_ANNOTATIONS_PER_LEVEL`]. When more exist, the last one kept
/// states how many were left out.
pub fn annotations(result: &RunResult, evaluation: Option<&Evaluation>) -> Vec<Annotation> {
    let title = format!("inline-scan: {}", result.image);
    let mut list = Vec::new();
    if result.status != "ok" {
        let message = result
            .error
            .clone()
            .unwrap_or_else(|| format!("the run ended with status {}", result.status));
        list.push(Annotation::new(Level::Error, &title, message));
    }
    if let Some(evaluation) = evaluation {
        if let Some(status) = &evaluation.policy_status {
            let level = if evaluation.policy_failed() {
                Level::Error
            } else {
                Level::Notice
            };
            let message = format!("Anchore policy evaluation: {status}");
            list.push(Annotation::new(level, &title, message));
        }
    }
    for warning in &result.warnings {
        list.push(Annotation::new(Level::Warning, &title, warning.clone()));
    }
    if result.status == "ok" {
        if let Some(identity) = &result.identity {
            let packages = result.packages.as_ref().map_or(0, |p| p.total);
            let destination = match &result.import {
                Some(import) => format!(
                    "imported into Anchore (analysis {})",
                    import.analysis_status
                ),
                None => "not imported (--no-import)".to_owned(),
            };
            let message = format!(
                "{} with {packages} packages, {destination}",
                identity.digest
            );
            list.push(Annotation::new(Level::Notice, &title, message));
        }
    }
    cap_per_level(list)
}

fn cap_per_level(list: Vec<Annotation>) -> Vec<Annotation> {
    let mut capped = Vec::new();
    for level in [Level::Error, Level::Warning, Level::Notice] {
        let of_level: Vec<Annotation> = list.iter().filter(|a| a.level == level).cloned().collect();
        if of_level.len() <= MAX_ANNOTATIONS_PER_LEVEL {
            capped.extend(of_level);
            continue;
        }
        let kept = MAX_ANNOTATIONS_PER_LEVEL - 1;
        let left_out = of_level.len() - kept;
        let title = of_level[0].title.clone();
        capped.extend(of_level.into_iter().take(kept));
        capped.push(Annotation::new(
            level,
            title,
            format!(
                "{left_out} more {} annotations are listed in the step summary",
                level.command()
            ),
        ));
    }
    capped
}

/// Renders the step summary: a Markdown table of the run, the warnings and the error. Warnings
/// are cut, with a count of those left out, when the summary would exceed
/// [`MAX_SUMMARY_BYTES`].
pub fn step_summary(result: &RunResult, evaluation: Option<&Evaluation>) -> String {
    let head = summary_table(result, evaluation);
    let mut tail = String::new();
    if let Some(error) = &result.error {
        let _ = writeln!(tail, "\n### Error\n\n```text\n{}\n```", fence_safe(error));
    }
    let mut warnings = String::new();
    if !result.warnings.is_empty() {
        let _ = writeln!(warnings, "\n### Warnings\n");
    }
    // Room for the closing line that counts the warnings left out.
    let budget = MAX_SUMMARY_BYTES.saturating_sub(head.len() + tail.len() + 200);
    let mut shown = 0;
    for warning in &result.warnings {
        let line = format!("- {}\n", markdown_text(warning));
        if warnings.len() + line.len() > budget {
            break;
        }
        warnings.push_str(&line);
        shown += 1;
    }
    if shown < result.warnings.len() {
        let _ = writeln!(
            warnings,
            "- … {} more warnings left out to stay within the summary size limit",
            result.warnings.len() - shown
        );
    }
    format!("{head}{tail}{warnings}")
}

fn summary_table(result: &RunResult, evaluation: Option<&Evaluation>) -> String {
    let mut rows: Vec<(&str, String)> = vec![("Status", markdown_text(result.status))];
    if let Some(identity) = &result.identity {
        rows.push(("Digest", format!("`{}`", identity.digest)));
        rows.push(("Image ID", format!("`{}`", identity.image_id)));
        let tags: Vec<String> = identity.tags.iter().map(|t| markdown_text(t)).collect();
        rows.push(("Tags", tags.join("<br>")));
    }
    if let Some(distro) = &result.distro {
        let name = if distro.pretty_name.is_empty() {
            format!("{} {}", distro.id, distro.version_id)
        } else {
            distro.pretty_name.clone()
        };
        rows.push(("Distro", markdown_text(&name)));
    }
    if let Some(packages) = &result.packages {
        let by_type: Vec<String> = packages
            .by_type
            .iter()
            .map(|(kind, count)| format!("{} {count}", markdown_text(kind)))
            .collect();
        rows.push((
            "Packages",
            format!("{} ({})", packages.total, by_type.join(", ")),
        ));
    }
    if let Some(path) = &result.sbom_path {
        rows.push(("SBOM", markdown_text(path)));
    }
    if let Some(import) = &result.import {
        rows.push((
            "Anchore",
            format!(
                "[{}]({}) (API {}, analysis {})",
                markdown_text(&import.url),
                markdown_url(&import.image_url),
                markdown_text(&import.api_version),
                markdown_text(&import.analysis_status)
            ),
        ));
    }
    if let Some(evaluation) = evaluation {
        if let Some(status) = &evaluation.policy_status {
            rows.push(("Policy", markdown_text(status)));
        }
        if let Some(counts) = &evaluation.vulnerabilities {
            let text: Vec<String> = counts
                .iter()
                .map(|(severity, count)| format!("{} {count}", markdown_text(severity)))
                .collect();
            rows.push(("Vulnerabilities", text.join(", ")));
        }
    }
    let mut table = format!(
        "## inline-scan: {}\n\n| | |\n| --- | --- |\n",
        markdown_text(&result.image)
    );
    for (name, value) in rows {
        let _ = writeln!(table, "| {name} | {value} |");
    }
    table
}

/// Makes text safe inside a Markdown table cell: HTML special characters and pipes are
/// escaped, and line breaks become `<br>`.
fn markdown_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\n', '\r'], "<br>")
}

fn markdown_url(url: &str) -> String {
    url.replace('(', "%28")
        .replace(')', "%29")
        .replace(' ', "%20")
}

/// Keeps an error text from closing its code fence early.
fn fence_safe(text: &str) -> String {
    text.replace("```", "'''")
}

/// Renders step outputs for GITHUB_OUTPUT, each in the multiline `name<<DELIMITER` form so
/// that any value is safe. The delimiter is random and checked against every value.
pub fn step_outputs(result: &RunResult, evaluation: Option<&Evaluation>) -> String {
    let list = outputs(result, evaluation);
    let delimiter = loop {
        let candidate = format!(
            "ghadelimiter_{:016x}{:016x}",
            RandomState::new().hash_one(0u8),
            RandomState::new().hash_one(1u8)
        );
        if list.iter().all(|o| !o.value.contains(&candidate)) {
            break candidate;
        }
    };
    let mut text = String::new();
    for output in list {
        let _ = write!(
            text,
            "{}<<{delimiter}\n{}\n{delimiter}\n",
            output.name, output.value
        );
    }
    text
}

/// Renders `::add-mask::` commands for secrets so the runner hides them in every later log
/// line. Each line of a multi-line secret is masked on its own, and so is the base64 HTTP
/// basic-auth token built from `username` and the password, which a proxy or debug log
/// could show.
pub fn mask_commands(username: Option<&str>, password: Option<&Secret>) -> String {
    let mut values: Vec<String> = Vec::new();
    if let Some(password) = password.filter(|p| !p.is_empty()) {
        values.extend(password.expose().lines().map(str::to_owned));
        let user = username.unwrap_or_default();
        let credentials = format!("{user}:{}", password.expose());
        values.push(base64::engine::general_purpose::STANDARD.encode(credentials));
    }
    let mut text = String::new();
    for value in values.iter().filter(|v| !v.trim().is_empty()) {
        let _ = writeln!(text, "::add-mask::{}", escape_data(value));
    }
    text
}

/// Appends the step outputs to GITHUB_OUTPUT and the summary to GITHUB_STEP_SUMMARY, and
/// returns the annotation commands for standard output.
pub(crate) fn write(context: &ReportContext<'_>) -> Result<Written, ReportError> {
    let env = context.env;
    let output_path = env("GITHUB_OUTPUT").ok_or(ReportError::MissingVariable {
        name: "GITHUB_OUTPUT",
        what: "step outputs",
    })?;
    let summary_path = env("GITHUB_STEP_SUMMARY").ok_or(ReportError::MissingVariable {
        name: "GITHUB_STEP_SUMMARY",
        what: "step summary",
    })?;
    let output_path = PathBuf::from(output_path);
    let summary_path = PathBuf::from(summary_path);
    append_file(
        "step outputs",
        &output_path,
        &step_outputs(context.result, context.evaluation),
    )?;
    append_file(
        "step summary",
        &summary_path,
        &step_summary(context.result, context.evaluation),
    )?;
    let mut stdout = String::new();
    for annotation in annotations(context.result, context.evaluation) {
        let _ = writeln!(stdout, "{}", annotation.to_command());
    }
    Ok(Written {
        stdout,
        files: vec![output_path, summary_path],
    })
}

fn append_file(what: &'static str, path: &PathBuf, text: &str) -> Result<(), ReportError> {
    let error = |source| ReportError::Write {
        what,
        path: path.clone(),
        source,
    };
    if !path.exists() {
        return write_file(what, path, text.as_bytes());
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}

/// Target of a check run: the API and commit of the current workflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunTarget {
    /// REST API base, e.g. `https://api.github.com` or `https://HOST/api/v3` on GitHub
    /// Enterprise Server.
    pub api_url: String,
    pub owner: String,
    pub repository: String,
    pub head_sha: String,
}

impl CheckRunTarget {
    /// Reads the target from the variables the runner sets in every job (GITHUB_API_URL,
    /// GITHUB_REPOSITORY, GITHUB_SHA). Returns `None` when one is missing or malformed.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        let api_url = env("GITHUB_API_URL").filter(|v| !v.is_empty())?;
        let full_name = env("GITHUB_REPOSITORY")?;
        let (owner, repository) = full_name.split_once('/')?;
        let head_sha = env("GITHUB_SHA").filter(|v| !v.is_empty())?;
        if owner.is_empty() || repository.is_empty() {
            return None;
        }
        Some(Self {
            api_url,
            owner: owner.to_owned(),
            repository: repository.to_owned(),
            head_sha,
        })
    }
}

/// Check-run fields are capped at 65535 characters by the GitHub REST API.
const MAX_CHECK_RUN_TEXT: usize = 65_535;

/// Creates a completed check run that carries the step summary. It needs a token with
/// `checks: write`, and returns the check run's id.
pub async fn create_check_run(
    target: &CheckRunTarget,
    token: &Secret,
    result: &RunResult,
    evaluation: Option<&Evaluation>,
) -> Result<u64, ReportError> {
    use octocrab::params::checks::{CheckRunConclusion, CheckRunOutput, CheckRunStatus};

    let failed = |message: String| ReportError::CheckRun {
        api_url: target.api_url.clone(),
        message,
    };
    let client = octocrab::Octocrab::builder()
        .base_uri(target.api_url.as_str())
        .map_err(|error| failed(format!("invalid API URL: {error}")))?
        .personal_token(token.expose().to_owned())
        .build()
        .map_err(|error| failed(error.to_string()))?;
    let conclusion = if result.status != "ok" || evaluation.is_some_and(Evaluation::policy_failed) {
        CheckRunConclusion::Failure
    } else {
        CheckRunConclusion::Success
    };
    let summary = truncate_chars(&step_summary(result, evaluation), MAX_CHECK_RUN_TEXT);
    let output = CheckRunOutput {
        title: truncate_chars(&format!("inline-scan: {}", result.image), 255),
        summary,
        text: None,
        annotations: Vec::new(),
        images: Vec::new(),
    };
    let check_run = client
        .checks(&target.owner, &target.repository)
        .create_check_run(CHECK_RUN_NAME, &target.head_sha)
        .status(CheckRunStatus::Completed)
        .conclusion(conclusion)
        .output(output)
        .send()
        .await
        .map_err(|error| failed(describe_octocrab_error(&error)))?;
    Ok(check_run.id.into_inner())
}

fn describe_octocrab_error(error: &octocrab::Error) -> String {
    match error {
        octocrab::Error::GitHub { source, .. } => format!(
            "GitHub returned {} ({}); the token needs `checks: write`",
            source.status_code, source.message
        ),
        other => other.to_string(),
    }
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{IdentitySummary, ImportSummary, PackageCounts};
    use std::collections::BTreeMap;

    fn imported() -> RunResult {
        RunResult {
            image: "app:1".into(),
            status: "ok",
            identity: Some(IdentitySummary {
                digest: format!("sha256:{}", "a".repeat(64)),
                image_id: format!("sha256:{}", "b".repeat(64)),
                local_image_id: "b".repeat(64),
                manifest_origin: crate::image::identity::ManifestOrigin::Source,
                manifest_media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
                parent_digest: None,
                tags: vec![
                    "docker.io/library/app:1".into(),
                    "docker.io/library/app:latest".into(),
                ],
            }),
            packages: Some(PackageCounts {
                total: 3,
                by_type: BTreeMap::from([("deb".to_owned(), 2), ("python".to_owned(), 1)]),
            }),
            import: Some(ImportSummary {
                api_version: "v2".into(),
                url: "http://127.0.0.1:8228".into(),
                operation_id: "op-1".into(),
                analysis_status: "analyzed".into(),
                image_url: "http://127.0.0.1:8228/v2/images/sha256:aaa".into(),
            }),
            ..RunResult::default()
        }
    }

    #[test]
    fn data_escaping_covers_percent_and_newlines() {
        assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn property_escaping_covers_colon_and_comma() {
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn failure_gives_error_annotation() {
        let result = RunResult {
            image: "app:1".into(),
            status: "error",
            error: Some("login failed:\nHTTP 401".into()),
            ..RunResult::default()
        };
        let commands: Vec<String> = annotations(&result, None)
            .iter()
            .map(|a| a.to_command())
            .collect();
        assert_eq!(
            commands,
            ["::error title=inline-scan%3A app%3A1::login failed:%0AHTTP 401"]
        );
    }

    #[test]
    fn success_gives_notice_with_digest() {
        let list = annotations(&imported(), None);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].level, Level::Notice);
        assert!(list[0].message.contains(&"a".repeat(64)));
        assert!(list[0].message.contains("analysis analyzed"));
    }

    #[test]
    fn warnings_are_capped_per_level() {
        let mut result = imported();
        result.warnings = (0..25).map(|i| format!("warning {i}")).collect();
        let list = annotations(&result, None);
        let warnings: Vec<&Annotation> =
            list.iter().filter(|a| a.level == Level::Warning).collect();
        assert_eq!(warnings.len(), MAX_ANNOTATIONS_PER_LEVEL);
        assert_eq!(warnings[8].message, "warning 8");
        assert!(
            warnings[9]
                .message
                .starts_with("16 more warning annotations")
        );
        assert_eq!(list.iter().filter(|a| a.level == Level::Notice).count(), 1);
    }

    #[test]
    fn policy_failure_is_error_annotation() {
        let evaluation = Evaluation {
            policy_status: Some("fail".into()),
            vulnerabilities: None,
        };
        let list = annotations(&imported(), Some(&evaluation));
        let errors: Vec<&Annotation> = list.iter().filter(|a| a.level == Level::Error).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "Anchore policy evaluation: fail");
    }

    #[test]
    fn summary_renders_table_and_escapes_cells() {
        let mut result = imported();
        result.warnings = vec!["a | b <script>".into()];
        let summary = step_summary(&result, None);
        assert!(summary.starts_with("## inline-scan: app:1\n"));
        assert!(summary.contains("| Packages | 3 (deb 2, python 1) |"));
        assert!(summary.contains("docker.io/library/app:1<br>docker.io/library/app:latest"));
        assert!(summary.contains("- a \\| b &lt;script&gt;"));
        assert!(!summary.contains("Policy"));
    }

    #[test]
    fn summary_shows_evaluation_when_present() {
        let evaluation = Evaluation {
            policy_status: Some("pass".into()),
            vulnerabilities: Some(BTreeMap::from([("critical".to_owned(), 1)])),
        };
        let summary = step_summary(&imported(), Some(&evaluation));
        assert!(summary.contains("| Policy | pass |"));
        assert!(summary.contains("| Vulnerabilities | critical 1 |"));
    }

    #[test]
    fn summary_stays_under_size_limit() {
        let mut result = imported();
        result.warnings = (0..40_000)
            .map(|i| format!("warning {i} {}", "x".repeat(40)))
            .collect();
        let summary = step_summary(&result, None);
        assert!(summary.len() <= MAX_SUMMARY_BYTES);
        assert!(summary.contains("more warnings left out"));
    }

    #[test]
    fn outputs_use_delimiter_syntax() {
        let text = step_outputs(&imported(), None);
        let first = text.lines().next().unwrap();
        let (name, delimiter) = first.split_once("<<").unwrap();
        assert_eq!(name, "status");
        assert!(delimiter.starts_with("ghadelimiter_"));
        let tags = format!(
            "tags<<{delimiter}\ndocker.io/library/app:1\ndocker.io/library/app:latest\n{delimiter}\n"
        );
        assert!(text.contains(&tags), "{text}");
        assert!(text.contains(&format!("package-count<<{delimiter}\n3\n{delimiter}\n")));
    }

    #[test]
    fn masks_cover_lines_and_basic_auth() {
        let password = Secret::new("line1\nline2");
        let text = mask_commands(Some("admin"), Some(&password));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "::add-mask::line1");
        assert_eq!(lines[1], "::add-mask::line2");
        let token = base64::engine::general_purpose::STANDARD.encode("admin:line1\nline2");
        assert_eq!(lines[2], format!("::add-mask::{token}"));
        assert_eq!(mask_commands(Some("admin"), None), "");
    }

    #[test]
    fn check_target_reads_runner_variables() {
        let env = |name: &str| match name {
            "GITHUB_API_URL" => Some("http://127.0.0.1:9/api/v3".to_owned()),
            "GITHUB_REPOSITORY" => Some("octo/app".to_owned()),
            "GITHUB_SHA" => Some("c0ffee".to_owned()),
            _ => None,
        };
        let target = CheckRunTarget::from_env(&env).unwrap();
        assert_eq!(target.owner, "octo");
        assert_eq!(target.repository, "app");
        let no_repository = |name: &str| env(name).filter(|_| name != "GITHUB_REPOSITORY");
        assert_eq!(CheckRunTarget::from_env(&no_repository), None);
    }

    /// Starts a fake GitHub Enterprise API on 127.0.0.1 that records each check-run request
    /// and returns the status given.
    async fn fake_github(
        status: axum::http::StatusCode,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>,
    ) {
        use axum::extract::{Path as UrlPath, State};
        use axum::http::HeaderMap;
        type Requests = std::sync::Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

        let requests: Requests = Default::default();
        let handler = move |State(requests): State<Requests>,
                            UrlPath((owner, repository)): UrlPath<(String, String)>,
                            headers: HeaderMap,
                            axum::Json(body): axum::Json<serde_json::Value>| async move {
            let authorization = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            requests.lock().unwrap().push((
                format!("{owner}/{repository}"),
                authorization,
                body.clone(),
            ));
            let reply = serde_json::json!({
                "id": 4242,
                "node_id": "CR_1",
                "details_url": null,
                "head_sha": body["head_sha"],
                "url": "http://127.0.0.1/api/v3/repos/octo/app/check-runs/4242",
                "html_url": null,
                "conclusion": body["conclusion"],
                "output": {
                    "title": body["output"]["title"],
                    "summary": body["output"]["summary"],
                    "text": null,
                    "annotations_count": 0,
                    "annotations_url": "http://127.0.0.1/annotations"
                },
                "started_at": null,
                "completed_at": null,
                "name": body["name"],
                "pull_requests": []
            });
            if status.is_success() {
                (status, axum::Json(reply))
            } else {
                let message = serde_json::json!({
                    "message": "Resource not accessible by integration",
                    "documentation_url": "http://127.0.0.1/docs"
                });
                (status, axum::Json(message))
            }
        };
        let app = axum::Router::new()
            .route(
                "/api/v3/repos/{owner}/{repository}/check-runs",
                axum::routing::post(handler),
            )
            .with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://{address}/api/v3"), requests)
    }

    fn target(api_url: String) -> CheckRunTarget {
        CheckRunTarget {
            api_url,
            owner: "octo".into(),
            repository: "app".into(),
            head_sha: "0123456789abcdef0123456789abcdef01234567".into(),
        }
    }

    #[tokio::test]
    async fn check_run_posts_to_enterprise_api() {
        let (api_url, requests) = fake_github(axum::http::StatusCode::CREATED).await;
        let token = Secret::new("ghs_test_token");
        let id = create_check_run(&target(api_url), &token, &imported(), None)
            .await
            .unwrap();
        assert_eq!(id, 4242);
        let requests = requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        let (repository, authorization, body) = &requests[0];
        assert_eq!(repository, "octo/app");
        assert_eq!(authorization, "Bearer ghs_test_token");
        assert_eq!(body["name"], CHECK_RUN_NAME);
        assert_eq!(body["status"], "completed");
        assert_eq!(body["conclusion"], "success");
        assert_eq!(body["head_sha"], "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(body["output"]["title"], "inline-scan: app:1");
        let summary = body["output"]["summary"].as_str().unwrap();
        assert!(summary.contains("| Packages | 3 (deb 2, python 1) |"));
    }

    #[tokio::test]
    async fn check_run_failure_conclusion_on_error() {
        let (api_url, requests) = fake_github(axum::http::StatusCode::CREATED).await;
        let result = RunResult {
            image: "app:1".into(),
            status: "error",
            error: Some("import failed".into()),
            ..RunResult::default()
        };
        create_check_run(&target(api_url), &Secret::new("t"), &result, None)
            .await
            .unwrap();
        let requests = requests.lock().unwrap();
        assert_eq!(requests[0].2["conclusion"], "failure");
    }

    #[tokio::test]
    async fn check_run_forbidden_names_permission() {
        let (api_url, _requests) = fake_github(axum::http::StatusCode::FORBIDDEN).await;
        let error = create_check_run(
            &target(api_url.clone()),
            &Secret::new("t"),
            &imported(),
            None,
        )
        .await
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains(&api_url), "{message}");
        assert!(message.contains("403"), "{message}");
        assert!(message.contains("checks: write"), "{message}");
        assert!(!message.contains("ghs_"), "{message}");
    }

    #[tokio::test]
    async fn publish_keeps_reports_when_check_run_fails() {
        use crate::report::platform::{Platform, ReportContext, publish};

        let (api_url, requests) = fake_github(axum::http::StatusCode::FORBIDDEN).await;
        let folder = tempfile::tempdir().unwrap();
        let output_path = folder.path().join("output");
        let summary_path = folder.path().join("summary");
        let values = [
            ("GITHUB_OUTPUT", output_path.display().to_string()),
            ("GITHUB_STEP_SUMMARY", summary_path.display().to_string()),
            ("GITHUB_API_URL", api_url),
            ("GITHUB_REPOSITORY", "octo/app".to_owned()),
            ("GITHUB_SHA", "0".repeat(40)),
        ];
        let env = |name: &str| {
            values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        };
        let result = imported();
        let context = ReportContext {
            result: &result,
            evaluation: None,
            report_dir: folder.path(),
            env: &env,
        };
        let token = Secret::new("ghs_forbidden");
        let published = publish(Platform::Github, &context, Some(&token))
            .await
            .unwrap();
        assert_eq!(published.check_run_id, None);
        assert_eq!(published.warnings.len(), 1);
        assert!(
            published.warnings[0].contains("403"),
            "{:?}",
            published.warnings
        );
        assert_eq!(requests.lock().unwrap().len(), 1);
        assert!(
            std::fs::read_to_string(&output_path)
                .unwrap()
                .contains("digest<<")
        );
        assert!(
            std::fs::read_to_string(&summary_path)
                .unwrap()
                .contains("| Status | ok |")
        );

        let published = publish(Platform::Github, &context, None).await.unwrap();
        assert!(published.warnings.is_empty());
        assert_eq!(
            requests.lock().unwrap().len(),
            1,
            "a check run was sent without a token"
        );
    }
}
