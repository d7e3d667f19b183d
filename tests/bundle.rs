//! Binary tests of import bundles: `analyze --bundle-out DIR` followed by `import DIR`, against
//! the bundled images and the strict fake Anchore.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig, RecordedRequest};
use serde_json::Value;

const PASSWORD: &str = "fake-password-4711";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

/// Runs the binary with `args` and only the environment in `env` (plus PATH and HOME), so no
/// developer variable leaks into a test.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_inline-scan"));
    command.args(args).env_clear();
    for name in ["PATH", "HOME"] {
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

fn credentials(fake: &FakeAnchore) -> Vec<(&str, &str)> {
    vec![
        ("ANCHORE_CLI_URL", fake.url.as_str()),
        ("ANCHORE_CLI_USER", "admin"),
        ("ANCHORE_CLI_PASS", PASSWORD),
    ]
}

/// The parts of a request that must not depend on whether it came from a bundle.
fn comparable(requests: &[RecordedRequest]) -> Vec<(String, String, Option<String>, Vec<u8>)> {
    requests
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                r.content_type.clone(),
                r.body.clone(),
            )
        })
        .collect()
}

fn read_index(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("bundle.json")).expect("read bundle.json"))
        .expect("bundle.json is JSON")
}

fn write_index(dir: &Path, index: &Value) {
    std::fs::write(
        dir.join("bundle.json"),
        serde_json::to_vec_pretty(index).unwrap(),
    )
    .expect("write bundle.json");
}

/// Copies every file of the bundle in `from` into a new folder under `parent`.
fn copy_bundle(from: &Path, parent: &Path, name: &str) -> PathBuf {
    let to = parent.join(name);
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    to
}

/// Returns the analyze arguments both runs of a comparison share: annotations and a Dockerfile, so
/// every optional upload is part of the comparison.
fn analyze_args<'a>(image: &'a str, api: &'a str, dockerfile: &'a str) -> Vec<&'a str> {
    vec![
        "analyze",
        image,
        "--api-version",
        api,
        "-a",
        "team=platform,build=42",
        "-f",
        dockerfile,
        "-t",
        "60",
    ]
}

/// Imports `image` directly (also writing a bundle), writes a second bundle with
/// --no-import, imports that one on a later run into a fresh fake, and checks that both fakes
/// saw the same requests.
async fn bundle_matches_direct_import(
    mode: ApiMode,
    api: &str,
    image: &str,
    extra: &[&str],
    parent: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\nCOPY . /\n").unwrap();
    let dockerfile = dockerfile.to_str().unwrap();
    let with_import = dir.path().join("with-import");
    let offline = dir.path().join("offline");

    let direct_fake = FakeAnchore::start(FakeConfig::new(mode)).await;
    let mut args = analyze_args(image, api, dockerfile);
    args.extend(extra);
    args.extend(["--bundle-out", with_import.to_str().unwrap()]);
    let direct = run(&args, &credentials(&direct_fake)).await;
    assert_eq!(code(&direct), 0, "stderr: {}", stderr(&direct));

    let mut args = analyze_args(image, api, dockerfile);
    args.extend(extra);
    args.extend(["--no-import", "--bundle-out", offline.to_str().unwrap()]);
    let written = run(&args, &[]).await;
    assert_eq!(code(&written), 0, "stderr: {}", stderr(&written));
    assert_eq!(stdout(&written), stdout(&direct));

    // Both runs write byte-identical bundles, whether or not they imported.
    let mut names: Vec<String> = std::fs::read_dir(&offline)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec!["Dockerfile", "bundle.json", "config.json", "manifest.json"];
    if parent {
        expected.push("parent-manifest.json");
    }
    expected.push("sbom.syft.json");
    assert_eq!(names, expected);
    for name in &names {
        assert_eq!(
            std::fs::read(offline.join(name)).unwrap(),
            std::fs::read(with_import.join(name)).unwrap(),
            "{name} differs between the two bundles"
        );
    }
    let index = read_index(&offline);
    assert_eq!(index["formatVersion"], 1);
    assert_eq!(index["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(index["annotations"]["team"], "platform");
    assert_eq!(index["force"], false);
    assert_eq!(
        index["digest"].as_str().unwrap(),
        stdout(&direct).trim(),
        "the bundle digest is the digest analyze printed"
    );

    let bundle_fake = FakeAnchore::start(FakeConfig::new(mode)).await;
    let result_path = dir.path().join("result.json");
    let imported = run(
        &[
            "import",
            offline.to_str().unwrap(),
            "--api-version",
            api,
            "-t",
            "60",
            "--result-json",
            result_path.to_str().unwrap(),
        ],
        &credentials(&bundle_fake),
    )
    .await;
    assert_eq!(code(&imported), 0, "stderr: {}", stderr(&imported));
    assert_eq!(stdout(&imported), stdout(&direct));
    assert!(!stderr(&imported).contains(PASSWORD));
    let digest = stdout(&direct).trim().to_owned();
    assert_eq!(
        bundle_fake.image_status(&digest).as_deref(),
        Some("analyzed")
    );
    let result: Value = serde_json::from_slice(&std::fs::read(&result_path).unwrap()).unwrap();
    assert_eq!(result["status"], "ok");
    assert_eq!(result["image"], image);
    assert_eq!(result["identity"]["digest"], digest.as_str());
    assert_eq!(result["import"]["analysisStatus"], "analyzed");

    let direct_requests = comparable(&direct_fake.requests());
    let bundle_requests = comparable(&bundle_fake.requests());
    assert!(
        direct_requests
            .iter()
            .any(|(method, path, _, _)| method == "POST" && path.ends_with("/dockerfile")),
        "the direct import uploaded no Dockerfile"
    );
    assert_eq!(
        direct_requests
            .iter()
            .any(|(method, path, _, _)| method == "POST"
                && (path.ends_with("/parent_manifest") || path.ends_with("/parent-manifest"))),
        parent,
        "parent manifest upload"
    );
    assert_eq!(direct_requests.len(), bundle_requests.len());
    for (index, (direct, bundled)) in direct_requests.iter().zip(&bundle_requests).enumerate() {
        assert_eq!(direct, bundled, "request {index} differs");
    }
}

#[tokio::test]
async fn bundle_import_v2_matches_direct() {
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    bundle_matches_direct_import(ApiMode::V2Only, "v2", &image, &[], false).await;
}

#[tokio::test]
async fn bundle_import_v1_matches_direct() {
    let image = format!("oci-dir:{}", fixture("multilayer-whiteout.oci").display());
    // The layout names no tag, so the test gives one.
    bundle_matches_direct_import(
        ApiMode::V1Only,
        "v1",
        &image,
        &["--tag", "docker.io/sbomtest/multilayer-whiteout:1"],
        oci_has_index(),
    )
    .await;
}

/// Returns whether the OCI layout selects its image through an index, which becomes the parent
/// manifest. Read from the layout, so the test follows the fixture.
fn oci_has_index() -> bool {
    let index: Value = serde_json::from_slice(
        &std::fs::read(fixture("multilayer-whiteout.oci").join("index.json")).unwrap(),
    )
    .unwrap();
    index["manifests"][0]["mediaType"]
        .as_str()
        .is_some_and(|media_type| media_type.contains("index") || media_type.contains("list"))
}

/// Writes one bundle with --no-import into `parent/original`.
async fn write_bundle(parent: &Path) -> PathBuf {
    let bundle = parent.join("original");
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            "--no-import",
            "-q",
            &image,
            "--bundle-out",
            bundle.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 0, "stderr: {}", stderr(&output));
    bundle
}

/// Flips the last byte of `path`, keeping its size.
fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn tampered_bundles_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let original = write_bundle(dir.path()).await;

    type Tamper = fn(&Path);
    let cases: [(&str, Tamper, &str); 6] = [
        (
            "sbom byte",
            |bundle| flip_last_byte(&bundle.join("sbom.syft.json")),
            "sbom.syft.json has sha256",
        ),
        (
            "manifest appended",
            |bundle| {
                let path = bundle.join("manifest.json");
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.push(b'\n');
                std::fs::write(path, bytes).unwrap();
            },
            "manifest.json is",
        ),
        (
            "config missing",
            |bundle| std::fs::remove_file(bundle.join("config.json")).unwrap(),
            "config.json is missing",
        ),
        (
            "index digest",
            |bundle| {
                let mut index = read_index(bundle);
                index["digest"] = Value::String(format!("sha256:{}", "0".repeat(64)));
                write_index(bundle, &index);
            },
            "does not match",
        ),
        (
            "index version",
            |bundle| {
                let mut index = read_index(bundle);
                index["formatVersion"] = Value::from(99);
                write_index(bundle, &index);
            },
            "format version 99",
        ),
        (
            "index missing",
            |bundle| std::fs::remove_file(bundle.join("bundle.json")).unwrap(),
            "bundle.json not found",
        ),
    ];
    for (name, tamper, message) in cases {
        let bundle = copy_bundle(&original, dir.path(), &name.replace(' ', "-"));
        tamper(&bundle);
        let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
        let output = run(
            &["import", bundle.to_str().unwrap(), "-t", "60"],
            &credentials(&fake),
        )
        .await;
        assert_eq!(code(&output), 1, "{name}: stderr: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{name}: expected {message:?} in stderr: {}",
            stderr(&output)
        );
        assert!(
            stdout(&output).is_empty(),
            "{name}: stdout: {}",
            stdout(&output)
        );
        assert!(fake.operations().is_empty(), "{name}: an operation exists");
        assert!(
            fake.requests().is_empty(),
            "{name}: Anchore was contacted before the bundle was verified"
        );
    }
}

#[tokio::test]
async fn manifest_edit_with_index_update_fails_digest() {
    // Someone who also fixes the manifest's hash and size in the index is still caught, because
    // the digest must be the sha256 of the manifest.
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(dir.path()).await;
    let path = bundle.join("manifest.json");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'\n');
    std::fs::write(&path, &bytes).unwrap();
    let mut index = read_index(&bundle);
    index["files"]["manifest"]["size"] = Value::from(bytes.len());
    index["files"]["manifest"]["sha256"] =
        Value::String(inline_scan::digest::Digest::of(&bytes).hex().to_owned());
    write_index(&bundle, &index);

    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let output = run(&["import", bundle.to_str().unwrap()], &credentials(&fake)).await;
    assert_eq!(code(&output), 1, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("the sha256 of manifest.json"),
        "{}",
        stderr(&output)
    );
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn bundle_out_rejects_foreign_folder() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("busy");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "keep me").unwrap();
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let output = run(
        &[
            "analyze",
            "--no-import",
            &image,
            "--bundle-out",
            folder.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&output), 1, "stderr: {}", stderr(&output));
    assert!(
        stderr(&output).contains("non-empty folder without bundle.json"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert!(!folder.join("bundle.json").exists());
}

#[tokio::test]
async fn bundle_out_overwrites_earlier_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let image = format!(
        "docker-archive:{}",
        fixture("multilayer-whiteout.docker.tar").display()
    );
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, "FROM scratch\n").unwrap();
    let bundle_arg = bundle.to_str().unwrap();
    let first = run(
        &[
            "analyze",
            "--no-import",
            &image,
            "--bundle-out",
            bundle_arg,
            "-f",
            dockerfile.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&first), 0, "stderr: {}", stderr(&first));
    assert!(bundle.join("Dockerfile").is_file());

    let second = run(
        &[
            "analyze",
            "--no-import",
            &image,
            "--bundle-out",
            bundle_arg,
            "--force",
        ],
        &[],
    )
    .await;
    assert_eq!(code(&second), 0, "stderr: {}", stderr(&second));
    assert!(
        !bundle.join("Dockerfile").exists(),
        "the earlier bundle's Dockerfile was left behind"
    );
    let index = read_index(&bundle);
    assert_eq!(index["force"], true);
    assert!(index["files"]["dockerfile"].is_null());
}

#[tokio::test]
async fn import_help_and_options_registry() {
    let help = run(&["import", "--help"], &[]).await;
    assert_eq!(code(&help), 0);
    for flag in [
        "-r, --url",
        "-u, --username",
        "--password-stdin",
        "-t, --timeout",
    ] {
        assert!(stdout(&help).contains(flag), "import --help lacks {flag}");
    }
    let analyze_help = run(&["analyze", "--help"], &[]).await;
    assert!(stdout(&analyze_help).contains("--bundle-out <DIR>"));

    let options = run(&["options", "--json"], &[]).await;
    assert_eq!(code(&options), 0);
    let options: Value = serde_json::from_slice(&options.stdout).unwrap();
    let longs: Vec<&str> = options
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|option| option["long"].as_str())
        .collect();
    assert!(longs.contains(&"bundle-out"));
    // The shared options keep their place in the analyze registry.
    let position = |long: &str| longs.iter().position(|l| *l == long).unwrap();
    assert!(position("url") < position("force"));
    assert!(position("no-wait") < position("no-import"));
    assert!(position("no-import") < position("timeout"));
    assert!(position("sbom-out") < position("result-json"));
}
