//! CircleCI reports: a JUnit XML file for `store_test_results`, with one test case per image,
//! and an artifacts folder for `store_artifacts` with the result JSON and the SBOM.

use std::fmt::Write as _;
use std::path::Path;

use quick_xml::escape::escape;

use super::RunResult;
use super::platform::{Evaluation, ReportContext, ReportError, Written, write_file};

/// Folder inside `--report-dir` for `store_test_results`.
pub const JUNIT_DIR: &str = "junit";

/// Folder inside `--report-dir` for `store_artifacts`.
pub const ARTIFACTS_DIR: &str = "artifacts";

/// File names inside [`JUNIT_DIR`] and [`ARTIFACTS_DIR`].
pub const JUNIT_FILE: &str = "inline-scan.xml";
pub const RESULT_FILE: &str = "result.json";
pub const SBOM_FILE: &str = "sbom.syft.json";

/// Renders a JUnit XML document with one test case per run. A test case fails when its run
/// did not end `ok` or, when evaluated, its policy evaluation failed.
pub fn junit(runs: &[(&RunResult, Option<&Evaluation>)]) -> String {
    let failures = runs
        .iter()
        .filter(|(result, evaluation)| failure_message(result, *evaluation).is_some())
        .count();
    let total_seconds: f64 = runs.iter().map(|(result, _)| result.elapsed_seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"inline-scan\" tests=\"{}\" failures=\"{failures}\" time=\"{total_seconds:.3}\">",
        runs.len()
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"inline-scan\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{total_seconds:.3}\">",
        runs.len()
    );
    for (result, evaluation) in runs {
        let _ = write!(
            xml,
            "    <testcase classname=\"inline-scan\" name=\"{}\" time=\"{:.3}\"",
            xml_text(&result.image),
            result.elapsed_seconds
        );
        match failure_message(result, *evaluation) {
            Some(message) => {
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    xml_text(&first_line(&message)),
                    xml_text(result.status),
                    xml_text(&message)
                );
            }
            None => {
                let _ = writeln!(
                    xml,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    xml_text(&describe(result, *evaluation))
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

fn failure_message(result: &RunResult, evaluation: Option<&Evaluation>) -> Option<String> {
    if result.status != "ok" {
        return Some(
            result
                .error
                .clone()
                .unwrap_or_else(|| format!("the run ended with status {}", result.status)),
        );
    }
    if evaluation.is_some_and(Evaluation::policy_failed) {
        return Some("Anchore policy evaluation: fail".to_owned());
    }
    None
}

fn describe(result: &RunResult, evaluation: Option<&Evaluation>) -> String {
    let mut text = String::new();
    if let Some(identity) = &result.identity {
        let _ = writeln!(text, "digest {}", identity.digest);
    }
    if let Some(packages) = &result.packages {
        let _ = writeln!(text, "packages {}", packages.total);
    }
    if let Some(import) = &result.import {
        let _ = writeln!(
            text,
            "anchore {} (analysis {})",
            import.image_url, import.analysis_status
        );
    }
    if let Some(status) = evaluation.and_then(|e| e.policy_status.as_deref()) {
        let _ = writeln!(text, "policy {status}");
    }
    text
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Escapes XML special characters and drops the control characters XML 1.0 forbids.
fn xml_text(text: &str) -> String {
    let allowed: String = text
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    escape(allowed.as_str()).into_owned()
}

/// Writes the JUnit file and the artifacts folder (result JSON, and a copy of the SBOM when
/// the run wrote one to a file).
pub(crate) fn write(context: &ReportContext<'_>) -> Result<Written, ReportError> {
    let junit_path = context.report_dir.join(JUNIT_DIR).join(JUNIT_FILE);
    let artifacts = context.report_dir.join(ARTIFACTS_DIR);
    let result_path = artifacts.join(RESULT_FILE);
    write_file(
        "JUnit report",
        &junit_path,
        junit(&[(context.result, context.evaluation)]).as_bytes(),
    )?;
    let document = serde_json::json!({
        "result": context.result,
        "evaluation": context.evaluation,
    });
    let bytes = serde_json::to_vec_pretty(&document).expect("a JSON value always serializes");
    write_file("result artifact", &result_path, &bytes)?;
    let mut files = vec![junit_path, result_path];
    if let Some(sbom) = context.result.sbom_path.as_deref().filter(|p| *p != "-") {
        let source = Path::new(sbom);
        let target = artifacts.join(SBOM_FILE);
        if source.is_file() && source != target {
            std::fs::copy(source, &target).map_err(|source| ReportError::Write {
                what: "SBOM artifact",
                path: target.clone(),
                source,
            })?;
            files.push(target);
        }
    }
    Ok(Written {
        stdout: String::new(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(image: &str, status: &'static str, error: Option<&str>) -> RunResult {
        RunResult {
            image: image.into(),
            status,
            error: error.map(str::to_owned),
            elapsed_seconds: 1.5,
            ..RunResult::default()
        }
    }

    #[test]
    fn junit_has_one_case_per_image() {
        let ok = run("app:1", "ok", None);
        let failed = run(
            "db:2",
            "error",
            Some("import failed: HTTP 500 <oops>\nbody"),
        );
        let xml = junit(&[(&ok, None), (&failed, None)]);
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"db:2\""));
        assert!(
            xml.contains(
                "<failure message=\"import failed: HTTP 500 &lt;oops&gt;\" type=\"error\">"
            )
        );
        assert!(xml.contains("time=\"3.000\""));
    }

    #[test]
    fn junit_policy_failure_fails_case() {
        let ok = run("app:1", "ok", None);
        let evaluation = Evaluation {
            policy_status: Some("fail".into()),
            vulnerabilities: None,
        };
        let xml = junit(&[(&ok, Some(&evaluation))]);
        assert!(xml.contains("failures=\"1\""));
        assert!(xml.contains("Anchore policy evaluation: fail"));
    }

    #[test]
    fn xml_text_drops_forbidden_controls() {
        assert_eq!(xml_text("a\u{1b}[0Kb & \"c\""), "a[0Kb &amp; &quot;c&quot;");
    }
}
