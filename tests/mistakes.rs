//! Tests of the binary on the mistakes a new user makes. Each one exits 1 with a message that
//! names the value and the next step, and prints nothing on standard output, because the digest
//! line means success.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig};

const PASSWORD: &str = "fake-password-4711";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn whiteout() -> String {
    format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    )
}

/// Runs the binary in `directory` with `args` and only PATH, HOME and `env` in its environment.
async fn run_in(directory: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"));
    command.args(args).env_clear().current_dir(directory);
    for name in ["PATH", "HOME"] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::null());
    command.output().await.expect("run inline-scan")
}

async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, env).await
}

/// Checks exit code 1, an empty standard output, and that stderr contains every `expected`.
fn assert_usage_failure(output: &Output, expected: &[&str]) -> String {
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        output.stdout.is_empty(),
        "a failed run printed {:?} on standard output",
        String::from_utf8_lossy(&output.stdout)
    );
    for text in expected {
        assert!(message.contains(text), "{text:?} missing from: {message}");
    }
    message
}

#[tokio::test]
async fn url_without_scheme_names_fix() {
    for url in ["127.0.0.1:1", "not-a-url"] {
        let output = run(
            &["analyze", "-r", url, "-u", "admin", "-p", "x", &whiteout()],
            &[],
        )
        .await;
        assert_usage_failure(&output, &[url, "write the scheme too", "https://"]);
    }
}

#[tokio::test]
async fn https_to_plain_server_suggests_http() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let url = fake.url.replace("http://", "https://");
    let output = run(
        &["analyze", "-r", &url, "-u", "admin", &whiteout()],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    let message = assert_usage_failure(&output, &["plain HTTP", "http://"]);
    assert!(
        !message.contains("retrying"),
        "a plain-HTTP server was retried: {message}"
    );
    assert!(fake.requests().is_empty(), "the fake got a request");
}

#[tokio::test]
async fn version_suffix_the_server_lacks() {
    for (mode, suffix, version) in [
        (ApiMode::V2Only, "/v1", "v1"),
        (ApiMode::V1Only, "/v2", "v2"),
    ] {
        let fake = FakeAnchore::start(FakeConfig::new(mode)).await;
        let url = format!("{}{suffix}", fake.url);
        let output = run(
            &["analyze", "-r", &url, "-u", "admin", &whiteout()],
            &[("ANCHORE_CLI_PASS", PASSWORD)],
        )
        .await;
        assert_usage_failure(
            &output,
            &[
                &format!("does not serve Anchore API {version}"),
                "remove the /v1 or /v2 suffix",
            ],
        );
        assert!(fake.operations().is_empty());
    }
}

#[tokio::test]
async fn tarball_path_without_scheme() {
    let tarball = fixture("multilayer-whiteout.docker.tar");
    let layout = fixture("multilayer-whiteout.oci");
    for (value, scheme) in [
        (tarball.display().to_string(), "docker-archive:"),
        (layout.display().to_string(), "oci-dir:"),
    ] {
        let output = run(&["analyze", "--no-import", &value], &[]).await;
        assert_usage_failure(
            &output,
            &[
                &format!("write {scheme}{value}"),
                "not a Docker daemon image",
            ],
        );
    }
    // A relative name ending in .tar counts too, run from the folder that contains it.
    let output = run_in(
        &fixture(""),
        &["analyze", "--no-import", "multilayer-whiteout.docker.tar"],
        &[],
    )
    .await;
    assert_usage_failure(
        &output,
        &["write docker-archive:multilayer-whiteout.docker.tar"],
    );
}

#[tokio::test]
async fn text_file_is_not_an_archive() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("notes.txt");
    std::fs::write(
        &file,
        "# secret-looking-line 12345\nmore text that is no tar header\n",
    )
    .unwrap();
    let output = run(
        &[
            "analyze",
            "--no-import",
            &format!("docker-archive:{}", file.display()),
        ],
        &[],
    )
    .await;
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("is not a docker save or OCI image archive"),
        "{message}"
    );
    assert!(message.contains("not a tar header"), "{message}");
    assert!(
        !message.contains("secret-looking-line"),
        "the file's contents are quoted in the message: {message}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn output_paths_checked_before_analysis() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("no/such/folder/sbom.json");
    let output = run(
        &[
            "analyze",
            "--no-import",
            "--sbom-out",
            missing.to_str().unwrap(),
            &whiteout(),
        ],
        &[],
    )
    .await;
    let message = assert_usage_failure(&output, &["does not exist", "create it first"]);
    assert!(
        !message.contains("packages"),
        "the image was analyzed before the path was checked: {message}"
    );

    let foreign = work.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("keep.txt"), "user file").unwrap();
    let output = run(
        &[
            "analyze",
            "--no-import",
            "--bundle-out",
            foreign.to_str().unwrap(),
            &whiteout(),
        ],
        &[],
    )
    .await;
    let message = assert_usage_failure(&output, &["non-empty folder without bundle.json"]);
    assert!(!message.contains("packages"), "analyzed first: {message}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("keep.txt")).unwrap(),
        "user file"
    );
}

#[tokio::test]
async fn failed_import_prints_no_digest() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let output = run(
        &["analyze", "-r", &fake.url, "-u", "admin", &whiteout()],
        &[("ANCHORE_CLI_PASS", "wrong-password-1")],
    )
    .await;
    assert_usage_failure(&output, &["authentication failed"]);
}

#[tokio::test]
async fn import_accepts_index_file_path() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    let output = run(
        &[
            "analyze",
            "--no-import",
            "--bundle-out",
            bundle.to_str().unwrap(),
            &whiteout(),
        ],
        &[],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let index = bundle.join("bundle.json");
    let output = run(
        &[
            "import",
            "-r",
            &fake.url,
            "-u",
            "admin",
            "-t",
            "60",
            index.to_str().unwrap(),
        ],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    std::fs::write(&index, "{\n").unwrap();
    let output = run(
        &[
            "import",
            "-r",
            &fake.url,
            "-u",
            "admin",
            bundle.to_str().unwrap(),
        ],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert_usage_failure(&output, &["invalid bundle index", "write the bundle again"]);
}

#[tokio::test]
async fn warnings_carry_no_colour_codes() {
    // A retried request logs a warning: with stderr a pipe it must be plain text.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = run(
        &["analyze", "-r", &url, "-u", "admin", &whiteout()],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    let message = assert_usage_failure(&output, &[&url]);
    assert!(
        message.contains("retrying"),
        "no warning was logged: {message}"
    );
    assert!(
        !message.contains('\x1b'),
        "colour codes in a pipe: {message:?}"
    );
}
