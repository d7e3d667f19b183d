//! The file sources on the real test images in tests/fixtures/images, and on archives and
//! layouts assembled here from them.
// `expect_err` would print the whole image when a read unexpectedly succeeds.
#![allow(clippy::err_expect)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use inline_scan::digest::Digest;
use inline_scan::filesystem::FileTree;
use inline_scan::source::archive::{
    read_docker_archive, read_docker_archive_file, read_oci_archive,
};
use inline_scan::source::error::SourceError;
use inline_scan::source::oci::{
    normalize_reference, parse_platform, platform_matches, read_oci_dir,
};
use inline_scan::source::{Compression, Limits, SourceImage};

const MULTILAYER_TAG: &str = "sbomtest/multilayer-whiteout:1";
const RPM_TAG: &str = "sbomtest/rpm-sqlite:1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn want_all(_: &str) -> bool {
    true
}

fn docker_archive(name: &str) -> SourceImage {
    read_docker_archive_file(&fixture(name), None, None, &want_all, &Limits::default()).unwrap()
}

fn oci_dir(name: &str) -> SourceImage {
    read_oci_dir(&fixture(name), None, None, &want_all, &Limits::default()).unwrap()
}

fn read_archive_bytes(bytes: &[u8], reference: Option<&str>) -> Result<SourceImage, SourceError> {
    read_docker_archive(
        bytes,
        "docker-archive:test.tar".into(),
        reference,
        None,
        &want_all,
        &Limits::default(),
    )
}

/// Squashed-scope evidence rows of EXPECTED.tsv for `image`: (path, diffID prefix).
fn expected_evidence(image: &str) -> Vec<(String, String)> {
    let table = fs::read_to_string(fixture("EXPECTED.tsv")).unwrap();
    let mut rows = Vec::new();
    for line in table.lines().skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        if columns[0] != image || columns[1] != "docker-archive" || columns[2] != "squashed" {
            continue;
        }
        for location in columns[10].split(';') {
            let (path, prefix) = location.rsplit_once('@').unwrap();
            rows.push((path.to_owned(), prefix.to_owned()));
        }
    }
    assert!(
        !rows.is_empty(),
        "EXPECTED.tsv has no squashed rows for {image}"
    );
    rows
}

fn visible_files(image: &str) -> Vec<String> {
    fs::read_to_string(fixture(&format!("{image}.visible.txt")))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn config_diff_ids(image: &SourceImage) -> Vec<Digest> {
    let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().parse().unwrap())
        .collect()
}

fn check_diff_ids(image: &SourceImage) {
    let expected = config_diff_ids(image);
    let layers: Vec<Digest> = image
        .layers
        .iter()
        .map(|layer| layer.diff_id.clone())
        .collect();
    assert_eq!(layers, expected);
    assert_eq!(image.tree.layers, expected);
}

fn check_multilayer(image: &SourceImage) {
    let visible = image.tree.entries.paths();
    assert_eq!(visible, visible_files("multilayer-whiteout"));

    for (path, prefix) in expected_evidence("multilayer-whiteout") {
        let layer = image
            .tree
            .layer_of(&path)
            .unwrap_or_else(|| panic!("{path} is not visible"));
        assert!(
            layer.hex().starts_with(&prefix),
            "{path} came from {layer}, expected {prefix}"
        );
    }

    for removed in [
        "/usr/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
        "/usr/lib/python3.11/site-packages/six.py",
        "/opt/app/config.old",
        "/opt/app/sub/file",
        "/data/to-delete.txt",
        "/bin/busybox",
    ] {
        assert!(image.tree.entry(removed).is_none(), "{removed} is visible");
        assert!(
            !image.tree.contents.contains_key(removed),
            "{removed} kept its contents"
        );
    }

    let hardlinked = &b"hardlinked content\n"[..];
    let original = image.tree.entry("/data/original").unwrap();
    assert_eq!(original.hardlink_to.as_deref(), Some("/data/hardlink2"));
    assert_eq!(original.layer, 2);
    assert_eq!(image.tree.read("/data/original"), Some(hardlinked));
    assert_eq!(image.tree.read("/data/hardlink2"), Some(hardlinked));
    assert_eq!(image.tree.read("/data/hardlink"), Some(hardlinked));
    assert_eq!(image.tree.entry("/data/hardlink").unwrap().layer, 0);

    // The staged left-pad 1.3.0 replaced 1.2.0 through an opaque directory.
    let package = String::from_utf8(
        image
            .tree
            .read("/usr/lib/node_modules/left-pad/package.json")
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(package.contains("\"version\": \"1.3.0\""), "{package}");
    assert!(image.tree.resolve("/loop/a").is_none());
    assert!(image.tree.resolve("/etc/dangling").is_none());
    assert_eq!(
        image
            .tree
            .resolve("/usr/local/lib/python3.11/dist-packages/idna-3.7.dist-info/METADATA")
            .unwrap()
            .real_path,
        "/usr/lib/python3.11/site-packages/idna-3.7.dist-info/METADATA"
    );
    check_diff_ids(image);
}

fn check_rpm_sqlite(image: &SourceImage) {
    for (path, prefix) in expected_evidence("rpm-sqlite") {
        let layer = image.tree.layer_of(&path).unwrap();
        assert!(
            layer.hex().starts_with(&prefix),
            "{path} came from {layer}, expected {prefix}"
        );
    }
    assert!(
        image
            .tree
            .layer_of("/var/lib/rpm/rpmdb.sqlite")
            .unwrap()
            .hex()
            .starts_with("891544657655")
    );
    let database = image.tree.read("/var/lib/rpm/rpmdb.sqlite").unwrap();
    assert!(database.starts_with(b"SQLite format 3\0"));
    assert_eq!(database.len(), 217_088);
    let visible = image.tree.entries.paths();
    assert_eq!(visible, visible_files("rpm-sqlite"));
    check_diff_ids(image);
}

/// Asserts two trees list the same entries with the same kinds, layers and contents.
fn assert_same_tree(left: &FileTree, right: &FileTree) {
    assert_eq!(left.layers, right.layers);
    assert_eq!(left.entries.paths(), right.entries.paths());
    for entry in left.entries.entries() {
        let path = &entry.path;
        let other = right.entries.get(path).expect("the same paths");
        assert_eq!(entry.kind, other.kind, "{path}");
        assert_eq!(entry.layer, other.layer, "{path}");
        assert_eq!(entry.size, other.size, "{path}");
        assert_eq!(entry.mode, other.mode, "{path}");
        assert_eq!(entry.hardlink_to, other.hardlink_to, "{path}");
    }
    let left_contents: BTreeSet<&String> = left.contents.keys().collect();
    let right_contents: BTreeSet<&String> = right.contents.keys().collect();
    assert_eq!(left_contents, right_contents);
    for (path, bytes) in &left.contents {
        assert_eq!(bytes, &right.contents[path], "{path}");
    }
}

#[test]
fn multilayer_docker_archive() {
    let image = docker_archive("multilayer-whiteout.docker.tar");
    check_multilayer(&image);
    assert!(image.manifest.is_none());
    assert!(image.index.is_none());
    assert_eq!(image.repo_tags, [MULTILAYER_TAG]);
    assert_eq!(
        Digest::of(&image.config).hex(),
        "086496be89bdf227fe4fc079f4cf390a44fc21d955217a2397368f113986d375"
    );
    for layer in &image.layers {
        assert_eq!(layer.compression, Compression::None);
        assert_eq!(layer.blob_digest, None);
        assert_eq!(layer.blob_size, layer.uncompressed_size);
        assert_eq!(layer.media_type, None);
    }
    assert!(
        image.description.starts_with("docker-archive:"),
        "{}",
        image.description
    );
}

#[test]
fn multilayer_oci_dir() {
    let image = oci_dir("multilayer-whiteout.oci");
    check_multilayer(&image);
    let manifest = image.manifest.as_ref().unwrap();
    let stored = fs::read(fixture("multilayer-whiteout.oci/blobs/sha256/2d8ebde1038410ddb66b3062c8dcb01c0a4ea427692cfb9ca4fb20e33c33e9a8")).unwrap();
    assert_eq!(manifest.bytes, stored);
    assert_eq!(
        manifest.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert!(image.index.is_none());
    assert_eq!(image.repo_tags, ["1"]);
    assert_eq!(
        Digest::of(&image.config).hex(),
        "07c233c7eb578946b08206b39e0abab0d9890e1bc3dd3c976b033dc42fa59506"
    );
    let manifest_json: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
    for (layer, declared) in image
        .layers
        .iter()
        .zip(manifest_json["layers"].as_array().unwrap())
    {
        assert_eq!(layer.compression, Compression::Gzip);
        assert_eq!(
            layer.blob_digest.as_ref().unwrap().to_string(),
            declared["digest"].as_str().unwrap()
        );
        assert_eq!(layer.blob_size, declared["size"].as_u64().unwrap());
        assert_eq!(layer.media_type.as_deref(), declared["mediaType"].as_str());
    }
}

/// A reader that returns at most 7 bytes per call, as a slow pipe might.
struct ShortReads<'a>(&'a [u8]);

impl std::io::Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let count = buf.len().min(7).min(self.0.len());
        buf[..count].copy_from_slice(&self.0[..count]);
        self.0 = &self.0[count..];
        Ok(count)
    }
}

#[test]
fn short_reads_give_same_image() {
    let bytes = fs::read(fixture("multilayer-whiteout.docker.tar")).unwrap();
    let image = read_docker_archive(
        ShortReads(&bytes),
        "docker-archive:stream".into(),
        None,
        None,
        &want_all,
        &Limits::default(),
    )
    .unwrap();
    let expected = docker_archive("multilayer-whiteout.docker.tar");
    assert_same_tree(&image.tree, &expected.tree);
    assert_eq!(image.layers, expected.layers);
    assert_eq!(image.config, expected.config);
}

#[test]
fn multilayer_forms_squash_alike() {
    let classic = docker_archive("multilayer-whiteout.docker.tar");
    let layout = oci_dir("multilayer-whiteout.oci");
    assert_same_tree(&classic.tree, &layout.tree);
}

#[test]
fn rpm_sqlite_docker_archive() {
    let image = docker_archive("rpm-sqlite.docker.tar");
    check_rpm_sqlite(&image);
    assert_eq!(image.repo_tags, [RPM_TAG]);
}

#[test]
fn rpm_sqlite_oci_dir() {
    let image = oci_dir("rpm-sqlite.oci");
    check_rpm_sqlite(&image);
    assert!(image.manifest.is_some());
}

#[test]
fn only_wanted_contents_are_kept() {
    let wants = |path: &str| path == "/var/lib/rpm/rpmdb.sqlite";
    let image = read_oci_dir(
        &fixture("rpm-sqlite.oci"),
        None,
        None,
        &wants,
        &Limits::default(),
    )
    .unwrap();
    let captured: Vec<&String> = image.tree.contents.keys().collect();
    assert_eq!(captured, ["/var/lib/rpm/rpmdb.sqlite"]);
}

/// Files of an OCI layout as (member name, bytes), blobs first.
fn layout_members(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut members = Vec::new();
    let mut blobs: Vec<PathBuf> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    blobs.sort();
    for blob in blobs {
        let name = format!(
            "blobs/sha256/{}",
            blob.file_name().unwrap().to_str().unwrap()
        );
        members.push((name, fs::read(&blob).unwrap()));
    }
    members.push((
        "oci-layout".into(),
        fs::read(layout.join("oci-layout")).unwrap(),
    ));
    members.push((
        "index.json".into(),
        fs::read(layout.join("index.json")).unwrap(),
    ));
    members
}

enum Member {
    File(String, Vec<u8>),
    Symlink(String, String),
}

fn tar_of(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        match member {
            Member::File(name, data) => {
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, name, &data[..]).unwrap();
            }
            Member::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// Builds the OCI-layout `docker save` tarball that Docker 25+ writes, from an OCI layout:
/// blobs, oci-layout, an index.json with the containerd image name, manifest.json, and a
/// legacy `<id>/layer.tar` symlink per layer. With `through_symlinks`, manifest.json names
/// the layers by those symlinks.
fn docker25_archive(layout: &Path, tag: &str, through_symlinks: bool) -> Vec<u8> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let manifest_hex = manifest_digest.strip_prefix("sha256:").unwrap();
    let manifest_bytes = fs::read(layout.join("blobs/sha256").join(manifest_hex)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let config_hex = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();

    let mut members: Vec<Member> = Vec::new();
    let mut layer_names = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let legacy = format!("{hex}/layer.tar");
        members.push(Member::Symlink(
            legacy.clone(),
            format!("../blobs/sha256/{hex}"),
        ));
        layer_names.push(if through_symlinks {
            legacy
        } else {
            format!("blobs/sha256/{hex}")
        });
    }
    for (name, bytes) in layout_members(layout) {
        if name == "index.json" {
            continue;
        }
        members.insert(0, Member::File(name, bytes));
    }
    let docker_index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": format!("docker.io/{tag}"),
                "org.opencontainers.image.ref.name": tag.rsplit(':').next().unwrap(),
            }
        }]
    });
    let saved = serde_json::json!([{
        "Config": format!("blobs/sha256/{config_hex}"),
        "RepoTags": [tag],
        "Layers": layer_names,
    }]);
    members.push(Member::File(
        "index.json".into(),
        serde_json::to_vec(&docker_index).unwrap(),
    ));
    members.push(Member::File(
        "manifest.json".into(),
        serde_json::to_vec(&saved).unwrap(),
    ));
    tar_of(&members)
}

#[test]
fn docker25_archive_reads_like_layout() {
    let layout = fixture("multilayer-whiteout.oci");
    let expected = oci_dir("multilayer-whiteout.oci");
    for through_symlinks in [false, true] {
        let archive = docker25_archive(&layout, MULTILAYER_TAG, through_symlinks);
        let image = read_archive_bytes(&archive, None).unwrap();
        assert_same_tree(&image.tree, &expected.tree);
        assert_eq!(
            image.manifest, expected.manifest,
            "symlinks: {through_symlinks}"
        );
        assert_eq!(image.config, expected.config);
        assert_eq!(image.layers, expected.layers);
        assert_eq!(image.repo_tags, [MULTILAYER_TAG]);
        check_multilayer(&image);
    }
}

#[test]
fn oci_archive_reads_like_layout() {
    let layout = fixture("rpm-sqlite.oci");
    let mut members: Vec<Member> = layout_members(&layout)
        .into_iter()
        .map(|(name, bytes)| Member::File(name, bytes))
        .collect();
    check_oci_archive(&tar_of(&members));
    // The same layout with index.json and oci-layout ahead of the blobs.
    members.rotate_right(2);
    check_oci_archive(&tar_of(&members));
}

fn check_oci_archive(archive: &[u8]) {
    let image = read_oci_archive(
        archive,
        "oci-archive:test.tar".into(),
        Some("1"),
        None,
        &want_all,
        &Limits::default(),
    )
    .unwrap();
    let expected = oci_dir("rpm-sqlite.oci");
    assert_same_tree(&image.tree, &expected.tree);
    assert_eq!(image.manifest, expected.manifest);
    assert_eq!(image.layers, expected.layers);
    check_rpm_sqlite(&image);
}

/// Both classic tarballs merged into one with a manifest.json that lists both images.
fn two_image_archive() -> Vec<u8> {
    let mut members = Vec::new();
    let mut manifest = Vec::new();
    for name in ["multilayer-whiteout.docker.tar", "rpm-sqlite.docker.tar"] {
        let bytes = fs::read(fixture(name)).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            if entry.header().entry_type().is_dir() || path == "repositories" {
                continue;
            }
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if path == "manifest.json" {
                let listed: Vec<serde_json::Value> = serde_json::from_slice(&data).unwrap();
                manifest.extend(listed);
            } else {
                members.push(Member::File(path, data));
            }
        }
    }
    members.push(Member::File(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tar_of(&members)
}

#[test]
fn two_images_without_reference_is_ambiguous() {
    let error = read_archive_bytes(&two_image_archive(), None)
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::AmbiguousReference { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(MULTILAYER_TAG), "{message}");
    assert!(message.contains(RPM_TAG), "{message}");
}

#[test]
fn two_images_select_by_tag() {
    let archive = two_image_archive();
    for reference in [
        RPM_TAG,
        "docker.io/sbomtest/rpm-sqlite:1",
        "4d2a497d88e5",
        "sha256:4d2a497d88e53f0e2d9daada5fda70ce4c956a7f9ace9c8e3c7d357cdbbe87dd",
    ] {
        let image = read_archive_bytes(&archive, Some(reference)).unwrap();
        assert_eq!(image.repo_tags, [RPM_TAG], "{reference}");
        check_rpm_sqlite(&image);
    }
    let image = read_archive_bytes(&archive, Some(MULTILAYER_TAG)).unwrap();
    check_multilayer(&image);
}

#[test]
fn unknown_reference_lists_choices() {
    // Without a tag the reference means :latest, which neither image has.
    let error = read_archive_bytes(&two_image_archive(), Some("sbomtest/rpm-sqlite"))
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::ReferenceNotFound { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(MULTILAYER_TAG), "{message}");
    assert!(message.contains(RPM_TAG), "{message}");
}

#[test]
fn platform_selects_or_lists_platforms() {
    let path = fixture("rpm-sqlite.docker.tar");
    let amd64 = parse_platform("linux/amd64").unwrap();
    let image =
        read_docker_archive_file(&path, None, Some(&amd64), &want_all, &Limits::default()).unwrap();
    check_rpm_sqlite(&image);

    let arm64 = parse_platform("linux/arm64").unwrap();
    let error = read_docker_archive_file(&path, None, Some(&arm64), &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::PlatformNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("linux/amd64"), "{error}");

    let error = read_oci_dir(
        &fixture("rpm-sqlite.oci"),
        None,
        Some(&arm64),
        &want_all,
        &Limits::default(),
    )
    .err()
    .expect("the read should fail");
    assert!(
        matches!(error, SourceError::PlatformNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("linux/amd64"), "{error}");
}

#[test]
fn parse_platform_forms() {
    let platform = parse_platform("linux/arm64/v8").unwrap();
    assert_eq!(platform.os, "linux");
    assert_eq!(platform.architecture, "arm64");
    assert_eq!(platform.variant.as_deref(), Some("v8"));
    for bad in ["linux", "linux/", "/amd64", "a/b/c/d", ""] {
        assert!(parse_platform(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn platform_matching_rules() {
    let cases = [
        ("linux/amd64", "linux/amd64", true),
        ("linux/x86_64", "linux/amd64", true),
        ("linux/arm64", "linux/arm64/v8", true),
        ("linux/arm64/v8", "linux/arm64", true),
        ("linux/aarch64", "linux/arm64", true),
        ("linux/arm/v7", "linux/arm/v6", false),
        ("linux/arm", "linux/arm/v6", true),
        ("linux/amd64", "linux/arm64", false),
        ("windows/amd64", "linux/amd64", false),
    ];
    for (requested, actual, expected) in cases {
        let requested_platform = parse_platform(requested).unwrap();
        let actual_platform = parse_platform(actual).unwrap();
        assert_eq!(
            platform_matches(&requested_platform, &actual_platform),
            expected,
            "{requested} for {actual}"
        );
    }
}

#[test]
fn reference_normalisation() {
    let cases = [
        ("alpine", "alpine:latest"),
        ("alpine:3.20", "alpine:3.20"),
        ("docker.io/library/alpine:3.20", "alpine:3.20"),
        ("docker.io/sbomtest/rpm-sqlite:1", "sbomtest/rpm-sqlite:1"),
        ("library/alpine", "alpine:latest"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        (
            "registry.example:443/app:2@sha256:abc",
            "registry.example:443/app:2",
        ),
    ];
    for (reference, expected) in cases {
        assert_eq!(normalize_reference(reference), expected, "{reference}");
    }
}

#[test]
fn config_diff_id_mismatch_names_layer() {
    let original = fs::read(fixture("rpm-sqlite.docker.tar")).unwrap();
    let mut members = Vec::new();
    let mut archive = tar::Archive::new(&original[..]);
    let mut new_config_name = String::new();
    let mut manifest = serde_json::Value::Null;
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path == "manifest.json" {
            manifest = serde_json::from_slice(&data).unwrap();
        } else if path.ends_with(".json") && !path.contains('/') {
            let mut config: serde_json::Value = serde_json::from_slice(&data).unwrap();
            config["rootfs"]["diff_ids"]
                .as_array_mut()
                .unwrap()
                .reverse();
            let bytes = serde_json::to_vec(&config).unwrap();
            new_config_name = format!("{}.json", Digest::of(&bytes).hex());
            members.push(Member::File(new_config_name.clone(), bytes));
        } else {
            members.push(Member::File(path, data));
        }
    }
    manifest[0]["Config"] = serde_json::Value::String(new_config_name);
    members.push(Member::File(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let error = read_archive_bytes(&tar_of(&members), None)
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::DiffIdMismatch { index: 0, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("62789903a316643942f115e8dff4306e2855abeaa30fcbc546877ab07e22d272/layer.tar"),
        "{error}"
    );
}

/// A writable copy of a fixture layout.
fn copy_layout(name: &str) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let source = fixture(name);
    fs::copy(
        source.join("index.json"),
        directory.path().join("index.json"),
    )
    .unwrap();
    fs::copy(
        source.join("oci-layout"),
        directory.path().join("oci-layout"),
    )
    .unwrap();
    fs::create_dir_all(directory.path().join("blobs/sha256")).unwrap();
    for entry in fs::read_dir(source.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let target = directory
            .path()
            .join("blobs/sha256")
            .join(entry.file_name());
        fs::copy(entry.path(), &target).unwrap();
        let mut permissions = fs::metadata(&target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        fs::set_permissions(&target, permissions).unwrap();
    }
    directory
}

const RPM_CONFIG: &str = "b920d8f8cbeb217baae8cac7b3105d19e745b8a87dcaf758ae5fd54e8f772a33";
const RPM_LAYER_2: &str = "66a98ded143eeecc1d6cb8e8731096d9901271d0395591baf3bc66f51559efbc";

#[test]
fn oci_dir_detects_changed_config_blob() {
    let layout = copy_layout("rpm-sqlite.oci");
    let config = layout.path().join("blobs/sha256").join(RPM_CONFIG);
    let mut bytes = fs::read(&config).unwrap();
    bytes.push(b' ');
    fs::write(&config, bytes).unwrap();
    let error = read_oci_dir(layout.path(), None, None, &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::BlobDigestMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(RPM_CONFIG), "{error}");
}

#[test]
fn oci_dir_detects_recompressed_layer_blob() {
    let layout = copy_layout("rpm-sqlite.oci");
    let blob = layout.path().join("blobs/sha256").join(RPM_LAYER_2);
    let compressed = fs::read(&blob).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&plain).unwrap();
    fs::write(&blob, encoder.finish().unwrap()).unwrap();
    let error = read_oci_dir(layout.path(), None, None, &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::BlobDigestMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(RPM_LAYER_2), "{error}");
}

#[test]
fn oci_dir_missing_blob_is_named() {
    let layout = copy_layout("rpm-sqlite.oci");
    fs::remove_file(layout.path().join("blobs/sha256").join(RPM_LAYER_2)).unwrap();
    let error = read_oci_dir(layout.path(), None, None, &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(matches!(error, SourceError::MissingBlob { .. }), "{error}");
    assert!(error.to_string().contains(RPM_LAYER_2), "{error}");
}

#[test]
fn oci_dir_reference_not_found_lists_refs() {
    let error = read_oci_dir(
        &fixture("rpm-sqlite.oci"),
        Some("2"),
        None,
        &want_all,
        &Limits::default(),
    )
    .err()
    .expect("the read should fail");
    assert!(
        matches!(error, SourceError::ReferenceNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("\"2\""), "{error}");
    let image = read_oci_dir(
        &fixture("rpm-sqlite.oci"),
        Some("1"),
        None,
        &want_all,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(image.repo_tags, ["1"]);
}

#[test]
fn oci_dir_one_image_under_two_names() {
    let layout = copy_layout("rpm-sqlite.oci");
    let index_path = layout.path().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    let mut second = index["manifests"][0].clone();
    second["annotations"]["org.opencontainers.image.ref.name"] = "latest".into();
    index["manifests"].as_array_mut().unwrap().push(second);
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let image = read_oci_dir(layout.path(), None, None, &want_all, &Limits::default()).unwrap();
    assert_eq!(image.repo_tags, ["1", "latest"]);
    let image = read_oci_dir(
        layout.path(),
        Some("latest"),
        None,
        &want_all,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(image.repo_tags, ["latest"]);
    check_rpm_sqlite(&image);
}

#[test]
fn oci_dir_nested_index_by_platform() {
    let layout = copy_layout("rpm-sqlite.oci");
    let top: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.path().join("index.json")).unwrap()).unwrap();
    let mut amd64 = top["manifests"][0].clone();
    amd64.as_object_mut().unwrap().remove("annotations");
    amd64["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let mut arm64 = amd64.clone();
    arm64["platform"] =
        serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let mut attestation = amd64.clone();
    attestation["platform"] = serde_json::json!({"os": "unknown", "architecture": "unknown"});
    let inner = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd64, arm64, attestation],
    });
    let inner_bytes = serde_json::to_vec(&inner).unwrap();
    let inner_digest = Digest::of(&inner_bytes);
    fs::write(
        layout.path().join("blobs/sha256").join(inner_digest.hex()),
        &inner_bytes,
    )
    .unwrap();
    let outer = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": inner_digest.to_string(),
            "size": inner_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    fs::write(
        layout.path().join("index.json"),
        serde_json::to_vec(&outer).unwrap(),
    )
    .unwrap();

    let error = read_oci_dir(
        layout.path(),
        Some("multi"),
        None,
        &want_all,
        &Limits::default(),
    )
    .err()
    .expect("the read should fail");
    assert!(
        matches!(error, SourceError::AmbiguousReference { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("linux/amd64"), "{message}");
    assert!(message.contains("linux/arm64/v8"), "{message}");
    assert!(!message.contains("unknown"), "{message}");

    let platform = parse_platform("linux/amd64").unwrap();
    let image = read_oci_dir(
        layout.path(),
        Some("multi"),
        Some(&platform),
        &want_all,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(image.index.as_ref().unwrap().bytes, inner_bytes);
    check_rpm_sqlite(&image);

    let platform = parse_platform("linux/s390x").unwrap();
    let error = read_oci_dir(
        layout.path(),
        None,
        Some(&platform),
        &want_all,
        &Limits::default(),
    )
    .err()
    .expect("the read should fail");
    assert!(
        matches!(error, SourceError::PlatformNotFound { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("linux/arm64/v8"), "{error}");
}

#[test]
fn json_larger_than_limit_is_rejected() {
    let limits = Limits {
        max_json: 400,
        ..Limits::default()
    };
    let error = read_oci_dir(&fixture("rpm-sqlite.oci"), None, None, &want_all, &limits)
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::JsonTooLarge { size: 558, .. }),
        "{error}"
    );
    let error = read_docker_archive_file(
        &fixture("rpm-sqlite.docker.tar"),
        None,
        None,
        &want_all,
        &limits,
    )
    .err()
    .expect("the read should fail");
    assert!(matches!(error, SourceError::JsonTooLarge { .. }), "{error}");
    assert!(error.to_string().contains("4d2a497d88e5"), "{error}");
}

#[test]
fn truncated_archive_is_an_error() {
    let bytes = fs::read(fixture("multilayer-whiteout.docker.tar")).unwrap();
    for cut in [bytes.len() / 3, bytes.len() - 3000] {
        let error = read_archive_bytes(&bytes[..cut], None)
            .err()
            .expect("the read should fail");
        assert!(
            matches!(
                error,
                SourceError::ArchiveCorrupt { .. } | SourceError::LayerCorrupt { .. }
            ),
            "cut at {cut}: {error}"
        );
        assert!(
            error.to_string().contains("docker-archive:test.tar"),
            "{error}"
        );
    }
}

#[test]
fn plain_tar_is_not_an_archive() {
    let archive = tar_of(&[Member::File("hello.txt".into(), b"hello".to_vec())]);
    let error = read_archive_bytes(&archive, None)
        .err()
        .expect("the read should fail");
    assert!(matches!(error, SourceError::NotAnArchive { .. }), "{error}");
    assert!(error.to_string().contains("hello.txt"), "{error}");
}

#[test]
fn missing_paths_are_not_found() {
    let missing = fixture("no-such-image.tar");
    let error = read_docker_archive_file(&missing, None, None, &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(matches!(error, SourceError::NotFound { .. }), "{error}");
    let error = read_oci_dir(
        &fixture("no-such-layout"),
        None,
        None,
        &want_all,
        &Limits::default(),
    )
    .err()
    .expect("the read should fail");
    assert!(matches!(error, SourceError::NotFound { .. }), "{error}");
    let empty = tempfile::tempdir().unwrap();
    let error = read_oci_dir(empty.path(), None, None, &want_all, &Limits::default())
        .err()
        .expect("the read should fail");
    assert!(
        matches!(error, SourceError::NotAnOciLayout { .. }),
        "{error}"
    );
}
