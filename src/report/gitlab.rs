//! GitLab CI reports: the `artifacts:reports:annotations` JSON with a link to the image in
//! Anchore, an `artifacts:reports:dotenv` file with the run's outputs, and collapsible log
//! sections.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::RunResult;
use super::platform::{Evaluation, ReportContext, ReportError, Written, outputs, write_file};

/// File name of the annotations report inside `--report-dir`.
pub const ANNOTATIONS_FILE: &str = "gitlab-annotations.json";

/// File name of the CycloneDX report inside `--report-dir`: GitLab takes only files named
/// `gl-sbom-*.cdx.json` for `artifacts:reports:cyclonedx`. `analyze` writes it (the report
/// layer has no catalog); `import` of a bundle writes none.
pub const CYCLONEDX_FILE: &str = "gl-sbom-inline-scan.cdx.json";

/// File name of the dotenv report inside `--report-dir`.
pub const DOTENV_FILE: &str = "inline-scan.env";

/// GitLab rejects dotenv reports larger than 5 KB.
pub const MAX_DOTENV_BYTES: usize = 5 * 1024;

/// Prefix of every dotenv variable, so the outputs do not clash with other jobs' variables.
pub const DOTENV_PREFIX: &str = "INLINE_SCAN_";

/// Renders the annotations report: one section with an external link to the image in
/// Anchore, present only when the import reached Anchore over HTTP(S).
pub fn annotations(result: &RunResult) -> Value {
    let mut links = Vec::new();
    if let Some(import) = &result.import {
        if import.image_url.starts_with("https://") || import.image_url.starts_with("http://") {
            let digest = result
                .identity
                .as_ref()
                .map_or(result.image.as_str(), |i| i.digest.as_str());
            links.push(json!({
                "external_link": {
                    "label": format!("{digest} in Anchore (analysis {})", import.analysis_status),
                    "url": import.image_url,
                }
            }));
        }
    }
    json!({ "inline-scan": links })
}

/// Renders the dotenv report. Names are `INLINE_SCAN_` plus the output name in upper snake
/// case. Tags are joined by commas because dotenv values are single-line. When the file would
/// pass [`MAX_DOTENV_BYTES`], the tags are cut first and INLINE_SCAN_TAGS_TRUNCATED=true added.
pub fn dotenv(result: &RunResult, evaluation: Option<&Evaluation>) -> String {
    let mut lines: Vec<(String, String)> = outputs(result, evaluation)
        .into_iter()
        .map(|output| {
            let name = format!(
                "{DOTENV_PREFIX}{}",
                output.name.replace('-', "_").to_uppercase()
            );
            let value = if output.name == "tags" {
                output.value.lines().collect::<Vec<_>>().join(",")
            } else {
                single_line(&output.value)
            };
            (name, value)
        })
        .collect();
    let render = |lines: &[(String, String)]| {
        let mut text = String::new();
        for (name, value) in lines {
            let _ = writeln!(text, "{name}={value}");
        }
        text
    };
    let mut text = render(&lines);
    if text.len() > MAX_DOTENV_BYTES {
        let marker = (format!("{DOTENV_PREFIX}TAGS_TRUNCATED"), "true".to_owned());
        let overflow = text.len() - MAX_DOTENV_BYTES + marker.0.len() + marker.1.len() + 2;
        if let Some((_, tags)) = lines.iter_mut().find(|(name, _)| name.ends_with("_TAGS")) {
            let mut keep = tags.len().saturating_sub(overflow);
            while !tags.is_char_boundary(keep) {
                keep -= 1;
            }
            let cut = tags[..keep].rfind(',').unwrap_or(0);
            tags.truncate(cut);
        }
        lines.push(marker);
        text = render(&lines);
    }
    text
}

fn single_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ")
}

/// Keeps only the characters GitLab accepts in a section name (letters, digits, `_`, `.`,
/// `-`).
fn section_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Renders the line that opens a collapsible log section. `unix_seconds` is the start time
/// that GitLab uses to show the section's duration.
pub fn section_start(name: &str, header: &str, collapsed: bool, unix_seconds: u64) -> String {
    let options = if collapsed { "[collapsed=true]" } else { "" };
    format!(
        "\x1b[0Ksection_start:{unix_seconds}:{}{options}\r\x1b[0K{}\n",
        section_name(name),
        single_line(header)
    )
}

/// Renders the line that closes the section opened by [`section_start`] with the same name.
pub fn section_end(name: &str, unix_seconds: u64) -> String {
    format!(
        "\x1b[0Ksection_end:{unix_seconds}:{}\r\x1b[0K\n",
        section_name(name)
    )
}

/// Writes the annotations and dotenv reports into `--report-dir`.
pub(crate) fn write(context: &ReportContext<'_>) -> Result<Written, ReportError> {
    let annotations_path = context.report_dir.join(ANNOTATIONS_FILE);
    let dotenv_path = context.report_dir.join(DOTENV_FILE);
    let annotations_text = serde_json::to_vec_pretty(&annotations(context.result))
        .expect("a JSON value always serializes");
    write_file("annotations report", &annotations_path, &annotations_text)?;
    write_file(
        "dotenv report",
        &dotenv_path,
        dotenv(context.result, context.evaluation).as_bytes(),
    )?;
    Ok(Written {
        stdout: String::new(),
        files: vec![annotations_path, dotenv_path],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{IdentitySummary, ImportSummary};

    fn imported(tags: Vec<String>) -> RunResult {
        RunResult {
            image: "app:1".into(),
            status: "ok",
            identity: Some(IdentitySummary {
                digest: format!("sha256:{}", "a".repeat(64)),
                image_id: format!("sha256:{}", "b".repeat(64)),
                local_image_id: "b".repeat(64),
                manifest_origin: crate::image::identity::ManifestOrigin::Source,
                manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                parent_digest: None,
                tags,
            }),
            import: Some(ImportSummary {
                api_version: "v1".into(),
                url: "http://127.0.0.1:8228".into(),
                operation_id: "op".into(),
                analysis_status: "analyzed".into(),
                image_url: "http://127.0.0.1:8228/v1/images/sha256:aaa".into(),
            }),
            ..RunResult::default()
        }
    }

    #[test]
    fn annotations_link_to_anchore_image() {
        let value = annotations(&imported(vec![]));
        let link = &value["inline-scan"][0]["external_link"];
        assert_eq!(link["url"], "http://127.0.0.1:8228/v1/images/sha256:aaa");
        assert!(
            link["label"]
                .as_str()
                .unwrap()
                .contains("analysis analyzed")
        );
    }

    #[test]
    fn annotations_empty_without_import() {
        let result = RunResult::default();
        assert_eq!(annotations(&result), json!({ "inline-scan": [] }));
    }

    #[test]
    fn dotenv_lines_are_single_line() {
        let mut result = imported(vec!["a:1".into(), "a:2".into()]);
        result.error = None;
        result.sbom_path = Some("out\nfile".into());
        let text = dotenv(&result, None);
        assert!(text.contains("INLINE_SCAN_TAGS=a:1,a:2\n"));
        assert!(text.contains("INLINE_SCAN_IMAGE_ID=sha256:"));
        assert!(text.contains("INLINE_SCAN_SBOM_PATH=out file\n"));
        for line in text.lines() {
            let (name, _) = line.split_once('=').unwrap();
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn dotenv_truncates_tags_to_size_limit() {
        let tags = (0..400)
            .map(|i| format!("registry.local/app:tag-{i}"))
            .collect();
        let text = dotenv(&imported(tags), None);
        assert!(text.len() <= MAX_DOTENV_BYTES, "{}", text.len());
        assert!(text.contains("INLINE_SCAN_TAGS_TRUNCATED=true\n"));
        assert!(text.contains("INLINE_SCAN_DIGEST=sha256:"));
    }

    #[test]
    fn dotenv_has_policy_only_when_evaluated() {
        let result = imported(vec![]);
        assert!(!dotenv(&result, None).contains("POLICY"));
        let evaluation = Evaluation {
            policy_status: Some("pass".into()),
            vulnerabilities: None,
        };
        assert!(dotenv(&result, Some(&evaluation)).contains("INLINE_SCAN_POLICY_STATUS=pass\n"));
    }

    #[test]
    fn sections_use_gitlab_markers() {
        assert_eq!(
            section_start("import image", "Importing", true, 1700000000),
            "\x1b[0Ksection_start:1700000000:import_image[collapsed=true]\r\x1b[0KImporting\n"
        );
        assert_eq!(
            section_end("import image", 1700000005),
            "\x1b[0Ksection_end:1700000005:import_image\r\x1b[0K\n"
        );
    }
}
