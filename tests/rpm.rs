//! The rpm cataloger against real rpm databases (BerkeleyDB, ndb, sqlite) and a Mariner
//! manifest, compared with what syft 1.18.1 reported for the same files, plus damaged copies.

#[path = "common/rpm_tree.rs"]
mod rpm_tree;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use inline_scan::catalog::rpm::RpmCataloger;
use inline_scan::catalog::{CatalogWarning, Cataloger, Distro, Environment, Package};
use inline_scan::digest::Digest;
use inline_scan::filesystem::FileTree;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog/rpm")
}

fn layer_digest() -> Digest {
    Digest::of(b"rpm fixture layer")
}

fn load_tree(case: &str) -> FileTree {
    rpm_tree::load(&fixtures().join(case), layer_digest(), &RpmCataloger)
}

fn catalog(tree: &FileTree, env: &Environment) -> (Vec<Package>, Vec<CatalogWarning>) {
    let mut warnings = Vec::new();
    let mut packages = RpmCataloger.catalog(tree, env, &mut warnings);
    packages.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    (packages, warnings)
}

/// Loads the artifacts syft 1.18.1 reported for the case, sorted like [`catalog`] sorts packages.
fn expected_artifacts(case: &str) -> Vec<Value> {
    let path = fixtures()
        .join("expected")
        .join(format!("{case}.syft.json"));
    let text = fs::read_to_string(&path).expect("expected syft output");
    let document: Value = serde_json::from_str(&text).expect("valid syft JSON");
    let mut artifacts = document["artifacts"].as_array().expect("artifacts").clone();
    artifacts.sort_by(|a, b| {
        let key = |v: &Value| {
            (
                v["name"].as_str().unwrap().to_owned(),
                v["version"].as_str().unwrap().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    artifacts
}

fn license_values(package: &Package) -> Vec<&str> {
    package
        .licenses
        .iter()
        .map(|license| license.value.as_str())
        .collect()
}

fn expected_license_values(artifact: &Value) -> Vec<&str> {
    artifact["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|license| license["value"].as_str().unwrap())
        .collect()
}

fn cpe_strings(package: &Package) -> Vec<&str> {
    package.cpes.iter().map(|cpe| cpe.cpe).collect()
}

fn expected_cpe_strings(artifact: &Value) -> Vec<&str> {
    artifact["cpes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cpe| cpe["cpe"].as_str().unwrap())
        .collect()
}

/// Checks every package field against syft's artifact with the same name and version.
fn assert_matches_syft(case: &str, packages: &[Package], artifacts: &[Value]) {
    let names: Vec<(&str, &str)> = packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    let expected_names: Vec<(&str, &str)> = artifacts
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["version"].as_str().unwrap()))
        .collect();
    assert_eq!(names, expected_names, "{case}: package names and versions");
    for (package, artifact) in packages.iter().zip(artifacts) {
        let id = format!("{case}: {} {}", package.name, package.version);
        assert_eq!(package.kind.as_str(), artifact["type"], "{id}: type");
        assert_eq!(package.found_by, artifact["foundBy"], "{id}: foundBy");
        assert_eq!(package.purl, artifact["purl"], "{id}: purl");
        assert_eq!(
            license_values(package),
            expected_license_values(artifact),
            "{id}: licences"
        );
        assert_eq!(
            cpe_strings(package),
            expected_cpe_strings(artifact),
            "{id}: CPEs"
        );
        assert_eq!(
            package.metadata_type, artifact["metadataType"],
            "{id}: metadataType"
        );
        assert_eq!(package.metadata, artifact["metadata"], "{id}: metadata");
        assert_eq!(package.locations.len(), 1, "{id}: one location");
        assert_eq!(
            package.locations[0].path, artifact["locations"][0]["path"],
            "{id}: location path"
        );
        assert_eq!(
            package.locations[0].layer_id,
            layer_digest(),
            "{id}: location layer"
        );
    }
}

#[test]
fn bdb_libuuid_matches_syft() {
    let (packages, warnings) = catalog(&load_tree("bdb-libuuid"), &Environment::default());
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 1);
    assert_matches_syft("bdb-libuuid", &packages, &expected_artifacts("bdb-libuuid"));
}

#[test]
fn ndb_sle15_matches_syft() {
    let (packages, warnings) = catalog(&load_tree("ndb-sle15-bci"), &Environment::default());
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 35);
    assert_matches_syft(
        "ndb-sle15-bci",
        &packages,
        &expected_artifacts("ndb-sle15-bci"),
    );
}

#[test]
fn sqlite_mariner2_matches_syft() {
    let (packages, warnings) = catalog(&load_tree("sqlite-mariner2"), &Environment::default());
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 129);
    assert_matches_syft(
        "sqlite-mariner2",
        &packages,
        &expected_artifacts("sqlite-mariner2"),
    );
}

#[test]
fn mariner_manifest_matches_syft_except_epoch() {
    let (packages, warnings) = catalog(&load_tree("mariner-manifest"), &Environment::default());
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 5);
    let artifacts = expected_artifacts("mariner-manifest");

    // syft 1.18.1 reads vim's epoch from the size column (45000); the epoch column stores 2.
    let (vim, others): (Vec<Package>, Vec<Package>) =
        packages.into_iter().partition(|p| p.name == "vim");
    let other_artifacts: Vec<Value> = artifacts
        .iter()
        .filter(|a| a["name"] != "vim")
        .cloned()
        .collect();
    assert_matches_syft("mariner-manifest", &others, &other_artifacts);

    let vim = &vim[0];
    assert_eq!(vim.version, "2:9.0-1.cm2");
    assert_eq!(
        vim.purl,
        "pkg:rpm/vim@9.0-1.cm2?arch=x86_64&epoch=2&upstream=vim-9.0-1.cm2.src.rpm"
    );
    assert_eq!(vim.metadata["epoch"], 2);
    assert_eq!(vim.metadata["size"], 45000);
    assert_eq!(
        cpe_strings(vim),
        [
            "cpe:2.3:a:microsoftcorporation:vim:2\\:9.0-1.cm2:*:*:*:*:*:*:*",
            "cpe:2.3:a:vim:vim:2\\:9.0-1.cm2:*:*:*:*:*:*:*",
        ]
    );
}

/// Reads the os-release fields the purl needs; the distro cataloger proper lives elsewhere.
fn distro_from_os_release(path: &Path) -> Distro {
    let text = fs::read_to_string(path).expect("os-release");
    let mut distro = Distro::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim_matches('"').to_owned();
        match key {
            "ID" => distro.id = value,
            "VERSION_ID" => distro.version_id = value,
            "NAME" => distro.name = value,
            "PRETTY_NAME" => distro.pretty_name = value,
            _ => {}
        }
    }
    distro
}

#[test]
fn sqlite_sbomtest_matches_syft() {
    let tree = load_tree("sqlite-sbomtest");
    let env = Environment {
        distro: Some(distro_from_os_release(
            &fixtures().join("sqlite-sbomtest/etc/os-release"),
        )),
    };
    let (packages, warnings) = catalog(&tree, &env);
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 2);
    assert_eq!(packages[0].name, "sbom-hello");
    assert_eq!(packages[0].version, "1.0-1");
    assert_eq!(
        packages[0].purl,
        "pkg:rpm/sbomtest/sbom-hello@1.0-1?arch=noarch&distro=sbomtest-1&upstream=sbom-hello-1.0-1.src.rpm"
    );
    assert_eq!(packages[1].name, "sbom-lib");
    assert_eq!(packages[1].version, "2:0.5-3.sbt");
    assert_eq!(
        packages[1].purl,
        "pkg:rpm/sbomtest/sbom-lib@0.5-3.sbt?arch=noarch&distro=sbomtest-1&epoch=2&upstream=sbom-lib-0.5-3.sbt.src.rpm"
    );
    assert_matches_syft(
        "sqlite-sbomtest",
        &packages,
        &expected_artifacts("sqlite-sbomtest"),
    );
}

/// Builds a one-file tree with `bytes` at `path`.
fn tree_with(path: &str, bytes: Vec<u8>) -> FileTree {
    let mut tree = FileTree {
        layers: vec![layer_digest()],
        ..FileTree::default()
    };
    tree.entries.insert(inline_scan::filesystem::FileEntry {
        path: path.to_owned(),
        kind: inline_scan::filesystem::FileKind::Regular,
        mode: 0o644,
        size: bytes.len() as u64,
        uid: 0,
        gid: 0,
        layer: 0,
        hardlink_to: None,
    });
    tree.contents.insert(path.to_owned(), Arc::from(bytes));
    tree
}

fn fixture_bytes(relative: &str) -> Vec<u8> {
    fs::read(fixtures().join(relative)).expect("fixture database")
}

#[test]
fn truncated_sqlite_warns() {
    let mut bytes = fixture_bytes("sqlite-mariner2/var/lib/rpm/rpmdb.sqlite");
    bytes.truncate(bytes.len() / 2);
    let tree = tree_with("/var/lib/rpm/rpmdb.sqlite", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    assert_eq!(warnings[0].path, "/var/lib/rpm/rpmdb.sqlite");
    assert!(packages.len() < 129, "read {} packages", packages.len());
}

#[test]
fn garbage_sqlite_warns() {
    let tree = tree_with(
        "/var/lib/rpm/rpmdb.sqlite",
        b"not a database at all".to_vec(),
    );
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert!(packages.is_empty());
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    assert!(
        warnings[0].reason.contains("sqlite"),
        "{}",
        warnings[0].reason
    );
}

#[test]
fn truncated_bdb_page_warns() {
    let bytes = fixture_bytes("bdb-libuuid/var/lib/rpm/Packages");
    // Cut inside the overflow chain that stores libuuid's header.
    let cut = 4096 * 10 + 100;
    let tree = tree_with("/var/lib/rpm/Packages", bytes[..cut].to_vec());
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert!(packages.is_empty());
    assert!(!warnings.is_empty());
    assert!(
        warnings[0].reason.contains("BerkeleyDB"),
        "{}",
        warnings[0].reason
    );
}

#[test]
fn looping_bdb_overflow_chain_warns() {
    let mut bytes = fixture_bytes("bdb-libuuid/var/lib/rpm/Packages");
    // Point overflow page 5's next-page link back at page 3.
    let next_at = 4096 * 5 + 16;
    bytes[next_at..next_at + 4].copy_from_slice(&3u32.to_le_bytes());
    let tree = tree_with("/var/lib/rpm/Packages", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    // The chain now repeats pages. It either ends at the declared length with a corrupt
    // header or is cut off, and both must surface as a warning.
    assert!(packages.is_empty());
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
}

/// Swaps every multi-byte number the reader uses from little- to big-endian, making the
/// big-endian twin of a little-endian hash database.
fn to_big_endian(mut bytes: Vec<u8>) -> Vec<u8> {
    let page_size = 4096;
    let swap4 = |b: &mut [u8], at: usize| b[at..at + 4].reverse();
    let swap2 = |b: &mut [u8], at: usize| b[at..at + 2].reverse();
    for at in [8, 12, 16, 20, 28, 32] {
        swap4(&mut bytes, at);
    }
    for page in 1..bytes.len() / page_size {
        let base = page * page_size;
        for at in [8, 12, 16] {
            swap4(&mut bytes, base + at);
        }
        let entries = u16::from_le_bytes([bytes[base + 20], bytes[base + 21]]) as usize;
        let kind = bytes[base + 25];
        swap2(&mut bytes, base + 20);
        swap2(&mut bytes, base + 22);
        if kind == 13 {
            for index in 0..entries {
                let slot = base + 26 + index * 2;
                let offset = u16::from_le_bytes([bytes[slot], bytes[slot + 1]]) as usize;
                swap2(&mut bytes, slot);
                if bytes[base + offset] == 3 {
                    swap4(&mut bytes, base + offset + 4);
                    swap4(&mut bytes, base + offset + 8);
                }
            }
        }
    }
    bytes
}

#[test]
fn big_endian_bdb_reads_same_package() {
    let bytes = to_big_endian(fixture_bytes("bdb-libuuid/var/lib/rpm/Packages"));
    let tree = tree_with("/var/lib/rpm/Packages", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].name, "libuuid");
    assert_eq!(packages[0].version, "2.32.1-42.el8_8");
}

/// Offset of the first package blob's header (after the 16-byte blob head) in the ndb fixture.
fn first_ndb_header(bytes: &[u8]) -> usize {
    let block = u32::from_le_bytes(bytes[40..44].try_into().unwrap()) as usize;
    block * 16 + 16
}

#[test]
fn ndb_out_of_range_offset_skipped() {
    let mut bytes = fixture_bytes("ndb-sle15-bci/usr/lib/sysimage/rpm/Packages.db");
    let header = first_ndb_header(&bytes);
    // Second index entry's offset field (the first is the region entry).
    let offset_at = header + 8 + 16 + 8;
    bytes[offset_at..offset_at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let tree = tree_with("/usr/lib/sysimage/rpm/Packages.db", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(packages.len(), 34);
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    assert!(
        warnings[0].reason.contains("outside"),
        "{}",
        warnings[0].reason
    );
}

#[test]
fn ndb_huge_count_skipped() {
    let mut bytes = fixture_bytes("ndb-sle15-bci/usr/lib/sysimage/rpm/Packages.db");
    let header = first_ndb_header(&bytes);
    let count_at = header + 8 + 16 + 12;
    bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let index_count_at = header;
    let tree = tree_with("/usr/lib/sysimage/rpm/Packages.db", bytes.clone());
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(packages.len(), 34);
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");

    // A header claiming u32::MAX index entries must be rejected before anything is allocated.
    bytes[index_count_at..index_count_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let tree = tree_with("/usr/lib/sysimage/rpm/Packages.db", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(packages.len(), 34);
    assert!(
        warnings[0].reason.contains("index entries"),
        "{}",
        warnings[0].reason
    );
}

#[test]
fn truncated_ndb_keeps_earlier_packages() {
    let bytes = fixture_bytes("ndb-sle15-bci/usr/lib/sysimage/rpm/Packages.db");
    let cut = bytes.len() / 2;
    let tree = tree_with("/usr/lib/sysimage/rpm/Packages.db", bytes[..cut].to_vec());
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert!(!packages.is_empty());
    assert!(packages.len() < 35);
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
}

#[test]
fn uncaptured_database_warns() {
    let mut tree = tree_with("/var/lib/rpm/rpmdb.sqlite", Vec::new());
    tree.contents.clear();
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert!(packages.is_empty());
    assert_eq!(warnings.len(), 1);
}

#[test]
fn ndb_slots_sharing_one_blob_are_bounded() {
    let mut bytes = fixture_bytes("ndb-sle15-bci/usr/lib/sysimage/rpm/Packages.db");
    let slot_pages = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let slot_at = |index: usize| 32 + index * 16;
    let used: Vec<usize> = (0..slot_pages * 256 - 2)
        .filter(|&index| bytes[slot_at(index) + 4..slot_at(index) + 8] != [0, 0, 0, 0])
        .collect();
    // Point every used slot at the package with the most blocks.
    let block_count = |index: usize| {
        u32::from_le_bytes(
            bytes[slot_at(index) + 12..slot_at(index) + 16]
                .try_into()
                .unwrap(),
        )
    };
    let largest = *used
        .iter()
        .max_by_key(|&&index| block_count(index))
        .unwrap();
    let slot: [u8; 16] = bytes[slot_at(largest)..slot_at(largest) + 16]
        .try_into()
        .unwrap();
    let blob_length = block_count(largest) as usize * 16;
    for &index in &used {
        bytes[slot_at(index)..slot_at(index) + 16].copy_from_slice(&slot);
    }
    let file_length = bytes.len();
    assert!(
        blob_length * used.len() > file_length,
        "the copies must exceed the file"
    );

    let tree = tree_with("/usr/lib/sysimage/rpm/Packages.db", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    assert!(
        warnings[0].reason.contains("overlaps"),
        "{}",
        warnings[0].reason
    );
    assert!(!packages.is_empty());
    assert!(packages.len() <= file_length / (blob_length / 2));
}

#[test]
fn bdb_items_sharing_one_chain_are_bounded() {
    let mut bytes = fixture_bytes("bdb-libuuid/var/lib/rpm/Packages");
    // Turn page 1's counter pair into a second pair whose value is the off-page item of page 2,
    // and repeat the pair until the page is full, so many values name the same chain.
    let page = 4096;
    let item: [u8; 12] = bytes[2 * page + 4079..2 * page + 4091].try_into().unwrap();
    let key: [u8; 5] = [1, 1, 0, 0, 0];
    let pair_length = key.len() + item.len();
    let mut page_one = vec![0u8; page];
    page_one[..26].copy_from_slice(&bytes[page..page + 26]);

    // Pack pairs down from the page end while the item index, growing up from offset 26,
    // still has room for the next two offsets.
    let mut offsets: Vec<u16> = Vec::new();
    let mut end = page;
    while end - pair_length > 26 + 2 * (offsets.len() + 2) {
        end -= key.len();
        page_one[end..end + key.len()].copy_from_slice(&key);
        offsets.push(end as u16);
        end -= item.len();
        page_one[end..end + item.len()].copy_from_slice(&item);
        offsets.push(end as u16);
    }
    for (index, offset) in offsets.iter().enumerate() {
        page_one[26 + index * 2..28 + index * 2].copy_from_slice(&offset.to_le_bytes());
    }
    page_one[20..22].copy_from_slice(&(offsets.len() as u16).to_le_bytes());
    bytes[page..2 * page].copy_from_slice(&page_one);

    let tree = tree_with("/var/lib/rpm/Packages", bytes);
    let (packages, warnings) = catalog(&tree, &Environment::default());
    assert_eq!(warnings.len(), 1, "warnings: {warnings:?}");
    assert!(
        warnings[0].reason.contains("share overflow pages"),
        "{}",
        warnings[0].reason
    );
    // The values read before the limit are still reported.
    assert!(!packages.is_empty());
}

/// A small deterministic pseudo-random sequence (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Corrupts `count` copies of a database at pseudo-random bytes, biased towards the structure
/// near the start, and checks that each copy gives packages or a warning instead of a panic.
fn assert_mutations_survive(relative: &str, image_path: &str, count: usize) {
    let original = fixture_bytes(relative);
    let mut random = Lcg(0x5eed ^ original.len() as u64);
    for round in 0..count {
        let mut bytes = original.clone();
        let span = if round % 2 == 0 {
            8192.min(bytes.len())
        } else {
            bytes.len()
        };
        for _ in 0..1 + random.next() % 8 {
            let at = (random.next() as usize) % span;
            bytes[at] = random.next() as u8;
        }
        let tree = tree_with(image_path, bytes);
        let (packages, warnings) = catalog(&tree, &Environment::default());
        assert!(
            !packages.is_empty() || !warnings.is_empty(),
            "{relative} round {round}: neither packages nor a warning"
        );
    }
}

#[test]
fn mutated_bdb_never_panics() {
    assert_mutations_survive(
        "bdb-libuuid/var/lib/rpm/Packages",
        "/var/lib/rpm/Packages",
        400,
    );
}

#[test]
fn mutated_ndb_never_panics() {
    assert_mutations_survive(
        "ndb-sle15-bci/usr/lib/sysimage/rpm/Packages.db",
        "/usr/lib/sysimage/rpm/Packages.db",
        200,
    );
}

#[test]
fn mutated_sqlite_never_panics() {
    assert_mutations_survive(
        "sqlite-sbomtest/var/lib/rpm/rpmdb.sqlite",
        "/var/lib/rpm/rpmdb.sqlite",
        100,
    );
}
