//! Tests of the binary reading images from a real registry (Debian's `docker-registry` on
//! 127.0.0.1) with no Docker daemon, and importing them into the strict fake Anchore.
//! The inputs are the bundled images and a two-platform index, whose bytes go up as the parent
//! manifest. `-P` falls back to the registry when no daemon responds.

mod common;
#[path = "common/registry.rs"]
mod test_registry;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig, RecordedRequest};
use inline_scan::digest::Digest;
use serde_json::Value;
use test_registry::{Mode, Registry, require_tools, write_multi_platform_layout};

const PASSWORD: &str = "fake-password-4711";

/// A `DOCKER_HOST` where no daemon listens, so any daemon call fails.
const NO_DAEMON: &str = "unix:///nonexistent/inline-scan-test/docker.sock";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

/// Runs the binary with `args`, no daemon, an empty Docker config and, when `fake` is given, the
/// fake's URL and credentials in the environment.
async fn run(args: &[String], fake: Option<&FakeAnchore>) -> Output {
    let config = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", NO_DAEMON)
        .env("DOCKER_CONFIG", config.path())
        .stdin(std::process::Stdio::null());
    if let Some(fake) = fake {
        command
            .env("ANCHORE_CLI_URL", &fake.url)
            .env("ANCHORE_CLI_USER", "admin")
            .env("ANCHORE_CLI_PASS", PASSWORD);
    }
    command.output().await.expect("run inline-scan")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|arg| (*arg).to_owned()).collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn find<'a>(requests: &'a [RecordedRequest], method: &str, suffix: &str) -> &'a RecordedRequest {
    let found: Vec<_> = requests
        .iter()
        .filter(|request| request.method == method && request.path.ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{method} *{suffix}: {found:?}");
    found[0]
}

/// Returns the uploaded finalize body (`POST /v2/images` or `POST /v1/images`).
fn finalize(requests: &[RecordedRequest]) -> Value {
    let request = requests
        .iter()
        .find(|request| {
            request.method == "POST"
                && (request.path.ends_with("/v2/images") || request.path.ends_with("/v1/images"))
        })
        .expect("a finalize request");
    serde_json::from_slice(&request.body).expect("finalize body is JSON")
}

/// (type, name, version, purl) of every artifact of a syft JSON document.
fn rows(sbom: &Value) -> Vec<(String, String, String, String)> {
    let mut rows: Vec<_> = sbom["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|artifact| {
            let field = |name: &str| artifact[name].as_str().unwrap_or_default().to_owned();
            (
                field("type"),
                field("name"),
                field("version"),
                field("purl"),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Returns the packages document uploaded in `requests`. Both API versions carry syft JSON
/// `artifacts` with the same fields, because v1's down-converted form keeps them.
fn uploaded_packages(requests: &[RecordedRequest]) -> Value {
    serde_json::from_slice(&find(requests, "POST", "/packages").body).expect("packages JSON")
}

/// Each bundled OCI layout pushed to the registry imports with no daemon, under the
/// registry's digest and tag, with the packages the same image gives from its layout on disk and
/// from its docker-save tarball.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_images_import_from_registry() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    for (name, expected_packages) in [("multilayer-whiteout", 6), ("rpm-sqlite", 2)] {
        let layout = fixture(&format!("{name}.oci"));
        let layout_ref = std::fs::read_to_string(layout.join("index.json")).unwrap();
        let layout_ref: Value = serde_json::from_str(&layout_ref).unwrap();
        let layout_ref =
            layout_ref["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .expect("the bundled layout names its image")
                .to_owned();
        let target = format!("test/{name}:1");
        registry.push(&layout, &layout_ref, &target, false);

        let work = tempfile::tempdir().unwrap();
        let from_disk = work.path().join("disk.json");
        let output = run(
            &args(&[
                "analyze",
                "--no-import",
                "--sbom-out",
                from_disk.to_str().unwrap(),
                &format!("oci-dir:{}:{layout_ref}", layout.display()),
            ]),
            None,
        )
        .await;
        assert!(output.status.success(), "{}", stderr(&output));
        let disk_digest = stdout(&output);
        let disk_sbom: Value = serde_json::from_slice(&std::fs::read(&from_disk).unwrap()).unwrap();

        // The docker-save tarball of the same image has other manifest bytes (so another
        // digest) but the same packages.
        let from_tarball = work.path().join("tarball.json");
        let output = run(
            &args(&[
                "analyze",
                "--no-import",
                "--sbom-out",
                from_tarball.to_str().unwrap(),
                &format!(
                    "docker-archive:{}",
                    fixture(&format!("{name}.docker.tar")).display()
                ),
            ]),
            None,
        )
        .await;
        assert!(output.status.success(), "{}", stderr(&output));
        let tarball_sbom: Value =
            serde_json::from_slice(&std::fs::read(&from_tarball).unwrap()).unwrap();
        assert_eq!(
            rows(&tarball_sbom),
            rows(&disk_sbom),
            "{name}: tarball and layout"
        );

        let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
        let reference = format!("{}/{target}", registry.host);
        let output = run(
            &args(&[
                "analyze",
                "--registry-insecure",
                "-t",
                "60",
                &format!("registry:{reference}"),
            ]),
            Some(&fake),
        )
        .await;
        let requests = fake.requests();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}\nrequests: {:?}",
            stderr(&output),
            requests
                .iter()
                .map(|r| (&r.method, &r.path, r.status))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            stdout(&output),
            disk_digest,
            "{name}: same digest as on disk"
        );
        let body = finalize(&requests);
        let import = &body["source"]["import"];
        assert_eq!(import["digest"], Value::from(disk_digest.clone()));
        assert_eq!(import["tags"], serde_json::json!([reference]));
        assert!(
            import.get("parent_digest").is_none_or(Value::is_null),
            "{name}: a plain manifest has no parent: {import}"
        );
        assert_eq!(
            rows(&uploaded_packages(&requests)),
            rows(&disk_sbom),
            "{name}"
        );
        assert_eq!(rows(&disk_sbom).len(), expected_packages, "{name}");
        assert_eq!(fake.image_status(&disk_digest).as_deref(), Some("analyzed"));
    }
}

/// A two-platform index imports the requested platform's manifest under its own digest, with
/// the index's exact bytes as the parent manifest and its digest as `parent_digest`, on both
/// API versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_imports_with_parent_digest() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = registry.scratch().join("multi.oci");
    let built = write_multi_platform_layout(&layout);
    registry.push(&layout, "multi", "test/multi:1", true);
    let reference = format!("{}/test/multi:1", registry.host);

    for (mode, finalize_suffix) in [
        (ApiMode::V2Only, "/v2/images"),
        (ApiMode::V1Only, "/v1/images"),
    ] {
        for (platform, expected, architecture) in [
            ("linux/arm64", &built.arm64, "arm64"),
            ("linux/amd64", &built.amd64, "amd64"),
        ] {
            let fake = FakeAnchore::start(FakeConfig::new(mode)).await;
            let output = run(
                &args(&[
                    "analyze",
                    "--registry-insecure",
                    "--platform",
                    platform,
                    "-t",
                    "60",
                    &format!("registry:{reference}"),
                ]),
                Some(&fake),
            )
            .await;
            assert_eq!(
                output.status.code(),
                Some(0),
                "{platform}: {}",
                stderr(&output)
            );
            assert_eq!(stdout(&output), expected.to_string(), "{platform}");

            let requests = fake.requests();
            let body: Value =
                serde_json::from_slice(&find(&requests, "POST", finalize_suffix).body).unwrap();
            let import = &body["source"]["import"];
            assert_eq!(import["digest"], Value::from(expected.to_string()));
            assert_eq!(
                import["parent_digest"],
                Value::from(built.index.to_string())
            );
            assert_eq!(
                import["contents"]["parent_manifest"],
                Value::from(built.index.hex()),
                "{platform}: the index goes up as the parent manifest"
            );
            let parent = requests
                .iter()
                .find(|request| {
                    request.path.ends_with("/parent_manifest")
                        || request.path.ends_with("/parent-manifest")
                })
                .expect("the parent manifest is uploaded");
            assert_eq!(Digest::of(&parent.body), built.index);
            let manifest = find(&requests, "POST", "/manifest");
            assert_eq!(&Digest::of(&manifest.body), expected);

            let packages = rows(&uploaded_packages(&requests));
            assert_eq!(
                packages,
                vec![(
                    "deb".to_owned(),
                    "platform-marker".to_owned(),
                    format!("1.0-{architecture}"),
                    // Like syft, no deb purl without a distro to name its namespace.
                    String::new(),
                )],
                "{platform}: the chosen platform's own layer is cataloged"
            );
            assert_eq!(
                fake.image_status(&expected.to_string()).as_deref(),
                Some("analyzed")
            );
        }
    }
}

/// `-P` on a runner with no daemon reads the image from its registry instead. Without `-P` the
/// same reference fails, and the message names the daemon's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_without_daemon_reads_registry() {
    if !require_tools() {
        return;
    }
    let registry = Registry::start(Mode::Plain);
    let layout = registry.scratch().join("multi.oci");
    let built = write_multi_platform_layout(&layout);
    registry.push(&layout, "multi", "test/multi:1", true);
    let reference = format!("{}/test/multi:1", registry.host);
    let work = tempfile::tempdir().unwrap();
    let sbom = work.path().join("sbom.json");

    let output = run(
        &args(&[
            "analyze",
            "--no-import",
            "-P",
            "--registry-insecure",
            "--platform",
            "linux/arm64",
            "--sbom-out",
            sbom.to_str().unwrap(),
            &reference,
        ]),
        None,
    )
    .await;
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{message}");
    assert_eq!(stdout(&output), built.arm64.to_string());
    assert!(
        message.contains(&format!("no Docker daemon at DOCKER_HOST={NO_DAEMON}"))
            && message.contains("straight from its registry"),
        "the fallback is announced: {message}"
    );
    let document: Value = serde_json::from_slice(&std::fs::read(&sbom).unwrap()).unwrap();
    assert_eq!(rows(&document)[0].2, "1.0-arm64");

    let output = run(&args(&["analyze", "--no-import", &reference]), None).await;
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains(NO_DAEMON) && message.contains("does not respond"),
        "{message}"
    );
}
