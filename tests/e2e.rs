//! End-to-end tests of the built `inline-scan` binary: exit codes, stdout, stderr, the SBOM and
//! the result file, against the bundled images, a real Docker daemon and the strict fake
//! Anchore.

mod common;
#[path = "common/docker.rs"]
mod docker;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const PASSWORD: &str = "fake-password-4711";
const WHITEOUT_ARCHIVE_DIGEST: &str =
    "sha256:59d7d435b9c329a3641b69d8d9d48d893a427adb71e0c7e335e3f0f93f06db20";
const WHITEOUT_OCI_DIGEST: &str =
    "sha256:2d8ebde1038410ddb66b3062c8dcb01c0a4ea427692cfb9ca4fb20e33c33e9a8";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

/// Runs the binary with `args` and only the environment given in `env` (plus PATH, HOME and
/// the Docker variables), so no developer variable leaks into a test.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"));
    command.args(args).env_clear();
    for name in [
        "PATH",
        "HOME",
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
    ] {
        if let Ok(value) = std::env::var(name) {
            command.env(name, value);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::null());
    command.output().await.expect("run inline-scan")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read JSON output")).expect("valid JSON")
}

/// (type, name, version, primary path, layer diffID prefix) of every package in a syft SBOM.
fn package_rows(sbom: &Value) -> BTreeSet<(String, String, String, String, String)> {
    sbom["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .map(|artifact| {
            let location = &artifact["locations"][0];
            (
                artifact["type"].as_str().unwrap().to_owned(),
                artifact["name"].as_str().unwrap().to_owned(),
                artifact["version"].as_str().unwrap().to_owned(),
                location["path"].as_str().unwrap().to_owned(),
                location["layerID"].as_str().unwrap()[7..19].to_owned(),
            )
        })
        .collect()
}

/// Returns the six packages visible in the multilayer whiteout image, with the layer of each primary
/// evidence file, as listed in `tests/fixtures/images/EXPECTED.tsv` (squashed rows).
fn whiteout_expected() -> BTreeSet<(String, String, String, String, String)> {
    let table = std::fs::read_to_string(fixture("EXPECTED.tsv")).expect("EXPECTED.tsv");
    table
        .lines()
        .skip(1)
        .map(|line| line.split('\t').collect::<Vec<_>>())
        .filter(|cells| {
            cells[0] == "multilayer-whiteout"
                && cells[1] == "docker-archive"
                && cells[2] == "squashed"
        })
        .map(|cells| {
            let (path, layer) = cells[10].rsplit_once('@').expect("path@layer");
            (
                cells[6].to_owned(),
                cells[7].to_owned(),
                cells[8].to_owned(),
                path.to_owned(),
                layer.to_owned(),
            )
        })
        .collect()
}

fn validate_syft_schema(sbom: &Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema/syft-json-schema-16.0.18.json");
    let schema: Value = read_json(&schema_path);
    assert_eq!(sbom["schema"]["version"], "16.0.18");
    let validator = jsonschema::validator_for(&schema).expect("the syft schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(sbom)
        .map(|error| format!("{error} at {}", error.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SBOM does not match the syft schema: {errors:#?}"
    );
}

#[tokio::test]
async fn whiteout_archive_no_import() {
    let dir = tempfile::tempdir().unwrap();
    let sbom_path = dir.path().join("sbom.json");
    let result_path = dir.path().join("result.json");
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            "--no-import",
            &image,
            "--sbom-out",
            sbom_path.to_str().unwrap(),
            "--result-json",
            result_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output).trim(), WHITEOUT_ARCHIVE_DIGEST);
    assert!(
        stderr(&output).contains("packages  6 (npm 3, python 3)"),
        "{}",
        stderr(&output)
    );

    let sbom = read_json(&sbom_path);
    validate_syft_schema(&sbom);
    assert_eq!(package_rows(&sbom), whiteout_expected());
    assert_eq!(sbom["source"]["version"], WHITEOUT_ARCHIVE_DIGEST);
    assert_eq!(
        sbom["source"]["metadata"]["tags"][0],
        "docker.io/sbomtest/multilayer-whiteout:1"
    );

    let result = read_json(&result_path);
    assert_eq!(result["status"], "ok");
    assert_eq!(result["exitCode"], 0);
    assert_eq!(result["identity"]["digest"], WHITEOUT_ARCHIVE_DIGEST);
    assert_eq!(result["packages"]["total"], 6);
    assert!(result["import"].is_null());
}

#[tokio::test]
async fn whiteout_oci_dir_no_import() {
    let dir = tempfile::tempdir().unwrap();
    let sbom_path = dir.path().join("sbom.json");
    let image = format!("oci-dir:{}", fixture("multilayer-whiteout.oci").display());
    let output = run(
        &[
            "analyze",
            "--no-import",
            &image,
            "--sbom-out",
            sbom_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output).trim(), WHITEOUT_OCI_DIGEST);
    let sbom = read_json(&sbom_path);
    validate_syft_schema(&sbom);
    assert_eq!(package_rows(&sbom), whiteout_expected());
    // The stored OCI manifest is uploaded as is, so the digest is the sha256 of its blob.
    let blob = fixture("multilayer-whiteout.oci/blobs/sha256").join(&WHITEOUT_OCI_DIGEST[7..]);
    let blob_hash = hex::encode(Sha256::digest(std::fs::read(blob).unwrap()));
    assert_eq!(format!("sha256:{blob_hash}"), WHITEOUT_OCI_DIGEST);
}

#[tokio::test]
async fn rpm_sqlite_both_forms() {
    for image in [
        format!(
            "docker-archive:{}",
            fixture("rpm-sqlite.docker.tar").display()
        ),
        format!("oci-dir:{}", fixture("rpm-sqlite.oci").display()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let sbom_path = dir.path().join("sbom.json");
        let output = run(
            &[
                "analyze",
                "--no-import",
                &image,
                "--sbom-out",
                sbom_path.to_str().unwrap(),
            ],
            &[],
        )
        .await;
        assert_eq!(code(&output), 0, "{image}: {}", stderr(&output));
        let sbom = read_json(&sbom_path);
        validate_syft_schema(&sbom);
        let purls: BTreeSet<&str> = sbom["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["purl"].as_str().unwrap())
            .collect();
        assert_eq!(
            purls,
            BTreeSet::from([
                "pkg:rpm/sbomtest/sbom-hello@1.0-1?arch=noarch&distro=sbomtest-1&upstream=sbom-hello-1.0-1.src.rpm",
                "pkg:rpm/sbomtest/sbom-lib@0.5-3.sbt?arch=noarch&distro=sbomtest-1&epoch=2&upstream=sbom-lib-0.5-3.sbt.src.rpm",
            ]),
            "{image}"
        );
        for artifact in sbom["artifacts"].as_array().unwrap() {
            assert_eq!(
                &artifact["locations"][0]["layerID"].as_str().unwrap()[7..19],
                "891544657655",
                "{image}"
            );
        }
    }
}

async fn import_whiteout(mode: ApiMode, api_flag: &str) {
    let fake = FakeAnchore::start(FakeConfig::new(mode)).await;
    let dir = tempfile::tempdir().unwrap();
    let result_path = dir.path().join("result.json");
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            &image,
            "--api-version",
            api_flag,
            "-a",
            "team=platform,build=42",
            "--result-json",
            result_path.to_str().unwrap(),
            "-t",
            "60",
        ],
        &[
            ("ANCHORE_CLI_URL", &fake.url),
            ("ANCHORE_CLI_USER", "admin"),
            ("ANCHORE_CLI_PASS", PASSWORD),
        ],
    )
    .await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output).trim(), WHITEOUT_ARCHIVE_DIGEST);
    assert_eq!(
        fake.image_status(WHITEOUT_ARCHIVE_DIGEST).as_deref(),
        Some("analyzed")
    );
    let result = read_json(&result_path);
    assert_eq!(result["status"], "ok");
    assert_eq!(result["import"]["analysisStatus"], "analyzed");

    // The digest is the sha256 of the exact manifest bytes uploaded.
    let requests = fake.requests();
    let manifest_upload = requests
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/manifest"))
        .expect("a manifest upload");
    let uploaded = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(&manifest_upload.body))
    );
    assert_eq!(uploaded, WHITEOUT_ARCHIVE_DIGEST);
    let finalize = requests
        .iter()
        .find(|r| r.method == "POST" && (r.path == "/v1/images" || r.path == "/v2/images"))
        .expect("a finalize request");
    let body: Value = serde_json::from_slice(&finalize.body).unwrap();
    assert_eq!(body["source"]["import"]["digest"], WHITEOUT_ARCHIVE_DIGEST);
    assert_eq!(
        body["source"]["import"]["tags"][0],
        "docker.io/sbomtest/multilayer-whiteout:1"
    );
    assert_eq!(body["annotations"]["team"], "platform");
    assert_eq!(body["annotations"]["build"], "42");
    let prefix = if mode == ApiMode::V1Only {
        "/v1/"
    } else {
        "/v2/"
    };
    assert!(
        requests
            .iter()
            .all(|r| r.path == "/v1/" || r.path == "/v2/" || r.path.starts_with(prefix)),
        "requests outside {prefix}: {:?}",
        requests.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert!(!stderr(&output).contains(PASSWORD));
}

#[tokio::test]
async fn import_v2_ends_analyzed() {
    import_whiteout(ApiMode::V2Only, "auto").await;
}

#[tokio::test]
async fn import_v1_ends_analyzed() {
    import_whiteout(ApiMode::V1Only, "auto").await;
}

#[tokio::test]
async fn import_forced_v1_on_dual_server() {
    import_whiteout(ApiMode::V1Only, "v1").await;
}

#[tokio::test]
async fn wrong_password_is_exit_1() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let wrong = "wrong-secret-8265";
    let output = run(
        &["analyze", &image, "-V"],
        &[
            ("ANCHORE_CLI_URL", &fake.url),
            ("ANCHORE_CLI_USER", "admin"),
            ("ANCHORE_CLI_PASS", wrong),
        ],
    )
    .await;
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("authentication failed"), "{text}");
    assert!(text.contains("admin"), "{text}");
    assert!(!text.contains(wrong), "the password leaked: {text}");
    assert!(!stdout(&output).contains(wrong));
    assert!(fake.operations().is_empty(), "an operation was created");
}

#[tokio::test]
async fn unreachable_server_is_exit_1() {
    // Bind and drop a listener to find a 127.0.0.1 port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            &image,
            "-r",
            &url,
            "-u",
            "admin",
            "--request-timeout",
            "5",
        ],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("cannot connect to Anchore"), "{text}");
    assert!(text.contains(&url), "{text}");
}

#[tokio::test]
async fn analysis_failed_is_exit_2() {
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.fail_analysis = true;
    let fake = FakeAnchore::start(config).await;
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let output = run(
        &["analyze", &image, "-r", &fake.url, "-u", "admin"],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("analysis_failed"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn wait_timeout_is_exit_124() {
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.polls_until_analyzed = u32::MAX;
    let fake = FakeAnchore::start(config).await;
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let output = run(
        &["analyze", &image, "-r", &fake.url, "-u", "admin", "-t", "3"],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert_eq!(code(&output), 124, "{}", stderr(&output));
}

#[tokio::test]
async fn no_wait_returns_after_finalize() {
    let mut config = FakeConfig::new(ApiMode::V2Only);
    config.polls_until_analyzed = u32::MAX;
    let fake = FakeAnchore::start(config).await;
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            &image,
            "-r",
            &fake.url,
            "-u",
            "admin",
            "--no-wait",
        ],
        &[("ANCHORE_CLI_PASS", PASSWORD)],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let polls = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/v2/images/"))
        .count();
    assert_eq!(polls, 0);
}

#[tokio::test]
async fn usage_errors_are_exit_1() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["analyze", "--no-import", "-g", "-d", &digest, &image],
            "-g",
        ),
        (
            vec!["analyze", "--no-import", "-a", "novalue", &image],
            "invalid annotation",
        ),
        (
            vec!["analyze", "--no-import", "-d", "sha256:XYZ", &image],
            "invalid digest",
        ),
        (
            vec!["analyze", "--no-import", "-i", "sha256:abc", &image],
            "64 lower-case hex",
        ),
        (
            vec![
                "analyze",
                "--no-import",
                "-f",
                "/nonexistent/Dockerfile",
                &image,
            ],
            "not found",
        ),
        (vec!["analyze", &image], "ANCHORE_CLI_URL"),
        (
            vec!["analyze", "--no-import", "docker-archive:/nonexistent.tar"],
            "not found",
        ),
        (vec!["analyze", "--no-import", "--bogus", &image], "--bogus"),
        (
            vec!["analyze", "--no-import", "-t", "x", &image],
            "invalid value",
        ),
    ];
    for (args, expected) in cases {
        let output = run(&args, &[]).await;
        assert_eq!(code(&output), 1, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: expected {expected:?} in {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{args:?} printed data");
    }
}

#[tokio::test]
async fn digest_option_is_checked() {
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let good = run(
        &[
            "analyze",
            "--no-import",
            "-d",
            WHITEOUT_ARCHIVE_DIGEST,
            &image,
        ],
        &[],
    )
    .await;
    assert_eq!(code(&good), 0, "{}", stderr(&good));
    let other = format!("sha256:{}", "0".repeat(64));
    let bad = run(&["analyze", "--no-import", "-d", &other, &image], &[]).await;
    assert_eq!(code(&bad), 1);
    assert!(stderr(&bad).contains("does not match"), "{}", stderr(&bad));
}

#[tokio::test]
async fn help_and_version_are_exit_0() {
    let help = run(&["analyze", "--help"], &[]).await;
    assert_eq!(code(&help), 0);
    assert!(stdout(&help).contains("--no-import"));
    let version = run(&["--version"], &[]).await;
    assert_eq!(code(&version), 0);
    assert!(stdout(&version).contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn options_registry_lists_old_flags() {
    let output = run(&["options", "--json"], &[]).await;
    assert_eq!(code(&output), 0);
    let options: Value = serde_json::from_slice(&output.stdout).unwrap();
    let shorts: BTreeSet<&str> = options
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["short"].as_str())
        .collect();
    for letter in ["r", "u", "p", "a", "d", "f", "i", "m", "t", "g", "P", "V"] {
        assert!(
            shorts.contains(letter),
            "-{letter} is missing from the registry"
        );
    }
}

#[tokio::test]
async fn daemon_missing_image_is_exit_1() {
    if docker::require_daemon().await.is_none() {
        return;
    }
    let output = run(
        &["analyze", "--no-import", "inline-scan-test/not-there:1"],
        &[],
    )
    .await;
    assert_eq!(code(&output), 1);
    let text = stderr(&output);
    assert!(text.contains("not found in the local daemon"), "{text}");
    assert!(text.contains("inline-scan-test/not-there:1"), "{text}");
}

#[tokio::test]
async fn daemon_whiteout_image_layers() {
    if docker::require_daemon().await.is_none() {
        return;
    }
    docker::ensure_image("sbomtest/multilayer-whiteout:1", "fixtures");
    let dir = tempfile::tempdir().unwrap();
    let sbom_path = dir.path().join("sbom.json");
    let output = run(
        &[
            "analyze",
            "--no-import",
            "sbomtest/multilayer-whiteout:1",
            "--sbom-out",
            sbom_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    // docker save of the loaded image has no stored manifest, so the synthesized one names it,
    // exactly as for the tarball it was loaded from.
    assert_eq!(stdout(&output).trim(), WHITEOUT_ARCHIVE_DIGEST);
    let sbom = read_json(&sbom_path);
    validate_syft_schema(&sbom);
    assert_eq!(package_rows(&sbom), whiteout_expected());
}

#[tokio::test]
async fn daemon_debian_minbase_matches_dpkg_query() {
    if docker::require_daemon().await.is_none() {
        return;
    }
    docker::ensure_image(docker::DEBIAN_MINBASE_IMAGE, "debian-bookworm-minbase");
    let cache = std::env::var("INLINE_SCAN_IMAGES_DIR")
        .unwrap_or_else(|_| "/tmp/inline-scan-images".to_owned());
    let expected_path = Path::new(&cache).join("debian-bookworm-minbase/dpkg-query.tsv");
    let expected: BTreeSet<(String, String, String)> = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()))
        .lines()
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
            )
        })
        .collect();
    assert_eq!(
        expected.len(),
        88,
        "dpkg-query listed {} packages",
        expected.len()
    );

    let dir = tempfile::tempdir().unwrap();
    let sbom_path = dir.path().join("sbom.json");
    let output = run(
        &[
            "analyze",
            "--no-import",
            docker::DEBIAN_MINBASE_IMAGE,
            "--sbom-out",
            sbom_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let sbom = read_json(&sbom_path);
    validate_syft_schema(&sbom);
    let found: BTreeSet<(String, String, String)> = sbom["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["version"].as_str().unwrap().to_owned(),
                a["metadata"]["architecture"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    assert_eq!(sbom["distro"]["id"], "debian");
    assert_eq!(sbom["distro"]["versionID"], "12");
}

#[tokio::test]
async fn daemon_import_into_fake() {
    if docker::require_daemon().await.is_none() {
        return;
    }
    docker::ensure_image("sbomtest/multilayer-whiteout:1", "fixtures");
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::Both)).await;
    let output = run(
        &[
            "analyze",
            "sbomtest/multilayer-whiteout:1",
            "-r",
            &fake.url,
            "-u",
            "admin",
        ],
        &[("ANCHORECTL_PASSWORD", PASSWORD)],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        fake.image_status(WHITEOUT_ARCHIVE_DIGEST).as_deref(),
        Some("analyzed")
    );
}

#[tokio::test]
async fn interrupt_during_upload_is_exit_130() {
    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    fake.inject(common::fake_anchore::Fault::Delay {
        method: axum::http::Method::POST,
        path_suffix: "/packages".to_owned(),
        delay: std::time::Duration::from_secs(30),
        times: 1,
    });
    let image = format!(
        "docker-archive:{}",
        fixture("rpm-sqlite.docker.tar").display()
    );
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"))
        .args(["analyze", &image, "-r", &fake.url, "-u", "admin"])
        .env_clear()
        .env("ANCHORE_CLI_PASS", PASSWORD)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start inline-scan");
    // Wait until the packages upload is in flight, then interrupt as Ctrl-C would.
    let mut waited = 0;
    while !fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with("/imports/images"))
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
        assert!(waited < 200, "the import never started");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().expect("child pid").to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().await.unwrap();
    assert_eq!(code(&output), 130, "{}", stderr(&output));
    let operations = fake.operations();
    assert_eq!(operations.len(), 1);
    assert!(
        operations.values().all(|status| status == "invalidated"),
        "operations left: {operations:?}"
    );
}

/// Imports the whiteout archive into a fake with `config` and returns the output and the
/// result JSON. `extra` is appended to the command line.
async fn import_with_evaluation(
    config: FakeConfig,
    extra: &[&str],
    report_dir: &Path,
) -> (Output, Value, FakeAnchore) {
    let fake = FakeAnchore::start(config).await;
    let result_path = report_dir.join("result.json");
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let mut args = vec![
        "analyze",
        &image,
        "--result-json",
        result_path.to_str().unwrap(),
        "-t",
        "60",
    ];
    args.extend_from_slice(extra);
    let output = run(
        &args,
        &[
            ("ANCHORE_CLI_URL", &fake.url),
            ("ANCHORE_CLI_USER", "admin"),
            ("ANCHORE_CLI_PASS", PASSWORD),
        ],
    )
    .await;
    assert!(
        result_path.is_file(),
        "no result JSON; exit {}, stderr: {}",
        code(&output),
        stderr(&output)
    );
    let result = read_json(&result_path);
    (output, result, fake)
}

fn vulnerable_config(mode: ApiMode, policy_status: &str) -> FakeConfig {
    let mut config = FakeConfig::new(mode);
    config.policy_status = Some(policy_status.to_owned());
    config.vulnerabilities = Some(vec![
        ("CVE-2026-0001".to_owned(), "Critical".to_owned()),
        ("CVE-2026-0002".to_owned(), "High".to_owned()),
        ("CVE-2026-0003".to_owned(), "High".to_owned()),
        ("CVE-2026-0004".to_owned(), "Negligible".to_owned()),
    ]);
    config
}

async fn evaluation_pass_counted(mode: ApiMode, prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (output, result, fake) = import_with_evaluation(
        vulnerable_config(mode, "pass"),
        &["--fail-on-policy"],
        dir.path(),
    )
    .await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(result["status"], "ok");
    let evaluation = &result["evaluation"];
    assert_eq!(evaluation["policyStatus"], "pass");
    assert_eq!(evaluation["policyId"], "fake-default-policy");
    assert_eq!(
        evaluation["tag"],
        "docker.io/sbomtest/multilayer-whiteout:1"
    );
    assert_eq!(evaluation["vulnerabilities"]["critical"], 1);
    assert_eq!(evaluation["vulnerabilities"]["high"], 2);
    assert_eq!(evaluation["vulnerabilities"]["negligible"], 1);
    assert_eq!(result["warnings"], Value::Array(Vec::new()));
    assert!(
        stderr(&output).contains("policy    pass"),
        "stderr: {}",
        stderr(&output)
    );

    let requests = fake.requests();
    let check = requests
        .iter()
        .find(|r| r.path.ends_with("/check"))
        .expect("a policy check request");
    assert_eq!(
        check.path,
        format!("{prefix}/images/{WHITEOUT_ARCHIVE_DIGEST}/check")
    );
    assert_eq!(check.status, 200);
    let query = check.query.as_deref().unwrap_or_default();
    assert!(
        query.contains("tag=docker.io%2Fsbomtest%2Fmultilayer-whiteout%3A1"),
        "{query}"
    );
    assert!(query.contains("detail=false"), "{query}");
    let vulnerabilities = requests
        .iter()
        .find(|r| r.path.ends_with("/vuln/all"))
        .expect("a vulnerability request");
    assert_eq!(vulnerabilities.status, 200);
}

#[tokio::test]
async fn evaluation_pass_v2_counted() {
    evaluation_pass_counted(ApiMode::V2Only, "/v2").await;
}

#[tokio::test]
async fn evaluation_pass_v1_counted() {
    evaluation_pass_counted(ApiMode::V1Only, "/v1").await;
}

async fn policy_fail_gated(mode: ApiMode) {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("reports");
    let (output, result, _fake) = import_with_evaluation(
        vulnerable_config(mode, "fail"),
        &[
            "--fail-on-policy",
            "--report",
            "gitlab",
            "--report-dir",
            report_dir.to_str().unwrap(),
        ],
        dir.path(),
    )
    .await;
    assert_eq!(code(&output), 3, "stderr: {}", stderr(&output));
    assert_eq!(result["status"], "policy_failed");
    assert_eq!(result["exitCode"], 3);
    let error = result["error"].as_str().unwrap_or_default();
    assert!(error.contains("--fail-on-policy"), "{error}");
    assert_eq!(result["evaluation"]["policyStatus"], "fail");
    assert!(
        stderr(&output)
            .contains("failed under policy fake-default-policy, and --fail-on-policy is set"),
        "stderr: {}",
        stderr(&output)
    );
    // The image was imported, so its digest is still printed.
    assert_eq!(stdout(&output).trim(), WHITEOUT_ARCHIVE_DIGEST);
    let dotenv = std::fs::read_to_string(report_dir.join("inline-scan.env"))
        .expect("the dotenv report is written before the exit");
    assert!(
        dotenv.contains("INLINE_SCAN_POLICY_STATUS=fail"),
        "{dotenv}"
    );
    assert!(dotenv.contains("INLINE_SCAN_EXIT_CODE=3"), "{dotenv}");
    assert!(report_dir.join("gitlab-annotations.json").is_file());
}

#[tokio::test]
async fn policy_fail_v2_exits_3() {
    policy_fail_gated(ApiMode::V2Only).await;
}

#[tokio::test]
async fn policy_fail_v1_exits_3() {
    policy_fail_gated(ApiMode::V1Only).await;
}

#[tokio::test]
async fn policy_fail_without_flag_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (output, result, _fake) =
        import_with_evaluation(vulnerable_config(ApiMode::V2Only, "fail"), &[], dir.path()).await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    assert_eq!(result["status"], "ok");
    assert_eq!(result["evaluation"]["policyStatus"], "fail");
    assert_eq!(result["evaluation"]["finalAction"], "stop");
}

#[tokio::test]
async fn evaluation_missing_warns_and_exits_0() {
    for mode in [ApiMode::V1Only, ApiMode::V2Only] {
        let mut config = FakeConfig::new(mode);
        config.policy_status = None;
        config.vulnerabilities = None;
        let dir = tempfile::tempdir().unwrap();
        let (output, result, fake) =
            import_with_evaluation(config, &["--fail-on-policy"], dir.path()).await;
        let text = stderr(&output);
        assert_eq!(code(&output), 0, "{mode:?} stderr: {text}");
        assert_eq!(result["status"], "ok", "{mode:?}");
        assert_eq!(
            result["evaluation"]["policyStatus"],
            Value::Null,
            "{mode:?}"
        );
        assert_eq!(
            result["evaluation"]["vulnerabilities"],
            Value::Null,
            "{mode:?}"
        );
        assert!(
            text.contains("policy evaluation not available"),
            "{mode:?} stderr: {text}"
        );
        assert!(
            text.contains("vulnerability counts not available"),
            "{mode:?} stderr: {text}"
        );
        let warnings = result["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 2, "{mode:?} {warnings:?}");
        let statuses: Vec<u16> = fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/check") || r.path.ends_with("/vuln/all"))
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, vec![404, 404], "{mode:?}");
    }
}

#[tokio::test]
async fn fail_on_policy_rejects_no_wait() {
    let output = run(
        &[
            "analyze",
            "--no-wait",
            "--fail-on-policy",
            "-r",
            "http://127.0.0.1:9",
            "-u",
            "admin",
            "-p",
            PASSWORD,
            "img:1",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("--fail-on-policy cannot be combined with --no-wait"),
        "{}",
        stderr(&output)
    );
}
