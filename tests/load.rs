//! Load: twenty analyses with imports at once, as twenty processes of the real binary, of
//! three images in one Docker daemon into one fake Anchore. Every run must succeed and
//! import exactly its own image.

mod common;
#[path = "common/docker.rs"]
mod docker;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::binary::{self, PASSWORD, assert_no_open_operation, code, stderr};
use common::built_image::{Layer, Member, docker_archive, layer_tar};
use common::fake_anchore::{ApiMode, FakeAnchore, FakeConfig};
use serde_json::Value;

const RUNS: usize = 20;

const DPKG_STATUS: &[u8] =
    include_bytes!("fixtures/catalog/dpkg/bookworm-minbase/var/lib/dpkg/status");
const APK_INSTALLED: &[u8] = include_bytes!("fixtures/catalog/apk/multiple-1/lib/apk/db/installed");
const OS_RELEASE: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\n";

/// Returns the three images, a daemon tag and layers each. Their package sets differ, so a
/// run that imported another run's analysis shows up in the counts.
fn images() -> Vec<(&'static str, Vec<Layer>)> {
    let dpkg = Layer::gzip(&layer_tar(&[
        Member::File("etc/os-release", OS_RELEASE),
        Member::File("var/lib/dpkg/status", DPKG_STATUS),
    ]));
    let apk = Layer::gzip(&layer_tar(&[Member::File(
        "lib/apk/db/installed",
        APK_INSTALLED,
    )]));
    let small_status = &DPKG_STATUS[..nth_stanza_end(DPKG_STATUS, 10)];
    let small_dpkg = Layer::plain(layer_tar(&[Member::File(
        "var/lib/dpkg/status",
        small_status,
    )]));
    vec![
        ("inline-scan-load/dpkg:1", vec![dpkg.clone()]),
        ("inline-scan-load/apk:1", vec![apk.clone()]),
        ("inline-scan-load/mixed:1", vec![small_dpkg, apk]),
    ]
}

/// Returns the offset just past the blank line that ends the `count`th stanza.
fn nth_stanza_end(status: &[u8], count: usize) -> usize {
    status
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair == b"\n\n")
        .nth(count - 1)
        .map(|(offset, _)| offset + 2)
        .expect("enough stanzas")
}

/// Loads the three images into the daemon with `docker load`.
fn load_images(dir: &Path) {
    for (tag, layers) in images() {
        let path = dir.join(format!("{}.tar", tag.replace(['/', ':'], "-")));
        std::fs::write(&path, docker_archive(&layers, tag)).unwrap();
        docker::docker_cli(&["load", "-i", &path.display().to_string()])
            .unwrap_or_else(|error| panic!("docker load {tag}: {error}"));
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (manifest digest, package count) of one analysis, from its result file.
fn digest_and_count(result: &Value) -> (String, u64) {
    (
        result["identity"]["digest"].as_str().unwrap().to_owned(),
        result["packages"]["total"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_imports() {
    if docker::require_daemon().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    load_images(dir.path());
    let tags: Vec<&str> = images().iter().map(|(tag, _)| *tag).collect();

    // Each image analyzed alone first: what every concurrent run must reproduce.
    let mut expected = BTreeMap::new();
    for tag in &tags {
        let result_path = dir.path().join("alone.json");
        let result_arg = result_path.display().to_string();
        let output = binary::run(
            &["analyze", tag, "--no-import", "--result-json", &result_arg],
            &[],
        )
        .await;
        assert_eq!(code(&output), 0, "{tag}: {}", stderr(&output));
        expected.insert(*tag, digest_and_count(&read_json(&result_path)));
    }
    let distinct: BTreeSet<_> = expected.values().collect();
    assert_eq!(distinct.len(), 3, "the images must differ: {expected:?}");

    let fake = FakeAnchore::start(FakeConfig::new(ApiMode::V2Only)).await;
    let mut children = Vec::new();
    for run in 0..RUNS {
        let image = tags[run % tags.len()];
        let tag = format!("{}:run-{run}", image.split(':').next().unwrap());
        let result_path = dir.path().join(format!("run-{run}.json"));
        let result_arg = result_path.display().to_string();
        let args = [
            "analyze",
            image,
            "--tag",
            &tag,
            "--force",
            "-r",
            &fake.url,
            "-u",
            "admin",
            "--report",
            "none",
            "--result-json",
            &result_arg,
        ];
        let child = binary::command(&args, &[("ANCHORECTL_PASSWORD", PASSWORD)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start inline-scan");
        children.push((run, image, tag, result_path, child));
    }

    let mut imported = Vec::new();
    for (run, image, tag, result_path, child) in children {
        let output = child.wait_with_output().await.unwrap();
        assert_eq!(code(&output), 0, "run {run} ({tag}): {}", stderr(&output));
        let result = read_json(&result_path);
        assert_eq!(
            digest_and_count(&result),
            expected[image],
            "run {run} ({tag}) analyzed another image"
        );
        assert_eq!(result["import"]["analysisStatus"], "analyzed", "run {run}");
        imported.push((tag, expected[image].clone()));
    }

    // The fake's side: one finalized operation per run, each with its own image's SBOM.
    let operations = fake.operations();
    let finalized: Vec<&String> = operations
        .iter()
        .filter(|(_, status)| *status == "processing" || *status == "complete")
        .map(|(uuid, _)| uuid)
        .collect();
    assert_eq!(finalized.len(), RUNS, "operations: {operations:?}");
    assert_no_open_operation(&fake);
    let mut uploaded = BTreeMap::new();
    for request in fake.requests() {
        if request.method != "POST" || !request.path.ends_with("/packages") {
            continue;
        }
        assert_eq!(request.status, 200, "{}", request.path);
        let uuid = request.path.split('/').rev().nth(1).unwrap().to_owned();
        let sbom: Value = serde_json::from_slice(&request.body).unwrap();
        let digest = sbom["source"]["metadata"]["manifestDigest"]
            .as_str()
            .unwrap()
            .to_owned();
        let count = sbom["artifacts"].as_array().unwrap().len() as u64;
        assert!(
            uploaded.insert(uuid.clone(), (digest, count)).is_none(),
            "two SBOMs for operation {uuid}"
        );
    }
    assert_eq!(uploaded.len(), RUNS);
    for uuid in &finalized {
        let upload = &uploaded[*uuid];
        assert!(
            expected.values().any(|image| image == upload),
            "operation {uuid} uploaded {upload:?}, which matches no image"
        );
    }
    let mut per_image = BTreeMap::new();
    for upload in uploaded.values() {
        *per_image.entry(upload.clone()).or_insert(0) += 1;
    }
    for (run_tag, image) in &imported {
        assert!(per_image.contains_key(image), "{run_tag}");
    }
    let counts: Vec<usize> = tags.iter().map(|tag| per_image[&expected[tag]]).collect();
    assert_eq!(counts, [7, 7, 6]);
    for (tag, (digest, _)) in &expected {
        assert_eq!(
            fake.image_status(digest).as_deref(),
            Some("analyzed"),
            "{tag}"
        );
    }
}
