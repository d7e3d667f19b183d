//! Catalogers against real package databases: every distro, dpkg, apk, Python and npm fixture
//! case is loaded as a one-layer tree and compared with syft 1.18.1's output for the same
//! files. The differences we keep on purpose are listed in `KEPT_DIFFERENCES` and in
//! docs/CATALOGERS.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use inline_scan::catalog::registry::{default_catalogers, run, wants_any};
use inline_scan::catalog::{Catalog, CatalogWarning, Package};
use inline_scan::dir_tree;
use inline_scan::filesystem::FileTree;
use serde_json::Value;

const OUR_CATALOGERS: [&str; 5] = [
    "dpkg-db-cataloger",
    "apk-db-cataloger",
    "python-installed-package-cataloger",
    "javascript-package-cataloger",
    "ruby-installed-gemspec-cataloger",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog")
}

fn cases(ecosystem: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixtures().join(ecosystem))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no cases for {ecosystem}");
    names
}

fn load_dir(root: &Path) -> FileTree {
    let catalogers = default_catalogers();
    dir_tree::load(root, |path| wants_any(&catalogers, path)).unwrap()
}

fn scan_dir(root: &Path) -> (Catalog, Vec<CatalogWarning>) {
    let tree = load_dir(root);
    run(&tree, &default_catalogers())
}

fn scan(ecosystem: &str, case: &str) -> (Catalog, Vec<CatalogWarning>) {
    scan_dir(&fixtures().join(ecosystem).join(case))
}

fn reference(ecosystem: &str, case: &str) -> Value {
    let path = fixtures().join(format!("{ecosystem}/{case}.syft-1.18.1.json"));
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

fn reference_packages(ecosystem: &str, case: &str) -> Vec<Value> {
    reference(ecosystem, case)["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|artifact| OUR_CATALOGERS.contains(&artifact["foundBy"].as_str().unwrap()))
        .cloned()
        .collect()
}

/// name, version, type, purl, foundBy.
type Identity = (String, String, String, String, String);

fn identity_of(artifact: &Value) -> Identity {
    let text = |key: &str| artifact[key].as_str().unwrap_or("").to_owned();
    (
        text("name"),
        text("version"),
        text("type"),
        text("purl"),
        text("foundBy"),
    )
}

fn our_identity(package: &Package) -> Identity {
    (
        package.name.clone(),
        package.version.clone(),
        package.kind.as_str().to_owned(),
        package.purl.clone(),
        package.found_by.to_owned(),
    )
}

/// (value, SPDX expression, type) triples.
type Licences = Vec<(String, String, String)>;

fn reference_licences(artifact: &Value) -> Licences {
    let mut out: Licences = artifact["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["value"].as_str().unwrap().to_owned(),
                l["spdxExpression"].as_str().unwrap_or("").to_owned(),
                l["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn our_licences(package: &Package) -> Licences {
    let mut out: Licences = package
        .licenses
        .iter()
        .map(|l| {
            (
                l.value.clone(),
                l.spdx_expression.clone().unwrap_or_default(),
                l.kind.to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Where our output differs from syft 1.18.1 on purpose: (ecosystem/case, package name,
/// what we report instead). Each entry is explained in docs/CATALOGERS.md and asserted by
/// its own test below.
const KEPT_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "dpkg/opkg",
        "busybox",
        "licence GPL-2.0-only from the stanza's License field",
    ),
    (
        "dpkg/opkg",
        "dropbear",
        "licence MIT from the stanza's License field",
    ),
    (
        "dpkg/opkg",
        "kernel-modules",
        "licence GPL-2.0-only from the stanza's License field",
    ),
];

fn is_kept_difference(case: &str, name: &str) -> bool {
    KEPT_DIFFERENCES
        .iter()
        .any(|(kept_case, kept_name, _)| *kept_case == case && *kept_name == name)
}

fn compare_case(ecosystem: &str, case: &str) -> Vec<String> {
    let label = format!("{ecosystem}/{case}");
    let (catalog, _) = scan(ecosystem, case);
    let expected = reference_packages(ecosystem, case);
    let mut problems = Vec::new();

    let ours: BTreeSet<Identity> = catalog.packages.iter().map(our_identity).collect();
    let theirs: BTreeSet<Identity> = expected.iter().map(identity_of).collect();
    for missing in theirs.difference(&ours) {
        problems.push(format!("{label}: missing {missing:?}"));
    }
    for extra in ours.difference(&theirs) {
        problems.push(format!("{label}: unexpected {extra:?}"));
    }

    for artifact in &expected {
        let id = identity_of(artifact);
        let Some(package) = catalog.packages.iter().find(|p| our_identity(p) == id) else {
            continue;
        };
        if is_kept_difference(&label, &package.name) {
            continue;
        }
        let (want, got) = (reference_licences(artifact), our_licences(package));
        if want != got {
            problems.push(format!(
                "{label}: {} licences: syft {want:?}, ours {got:?}",
                package.name
            ));
        }
    }
    problems
}

fn compare_ecosystem(ecosystem: &str) {
    let mut problems = Vec::new();
    for case in cases(ecosystem) {
        problems.extend(compare_case(ecosystem, &case));
    }
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

#[test]
fn dpkg_cases_match_syft() {
    compare_ecosystem("dpkg");
}

#[test]
fn apk_cases_match_syft() {
    compare_ecosystem("apk");
}

#[test]
fn python_cases_match_syft() {
    compare_ecosystem("python");
}

#[test]
fn npm_cases_match_syft() {
    compare_ecosystem("npm");
}

#[test]
fn ruby_cases_match_syft() {
    compare_ecosystem("ruby");
}

#[test]
fn distro_cases_match_syft() {
    let mut problems = Vec::new();
    for case in cases("distro") {
        let (catalog, _) = scan("distro", &case);
        let expected = reference("distro", &case)["distro"].clone();
        let ours = match &catalog.distro {
            Some(distro) => serde_json::to_value(distro).unwrap(),
            None => serde_json::json!({}),
        };
        if ours != expected {
            problems.push(format!("distro/{case}: syft {expected}, ours {ours}"));
        }
    }
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

#[test]
fn bookworm_status_gives_dpkg_query_list() {
    let (catalog, warnings) = scan("dpkg", "bookworm-minbase");
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = fs::read_to_string(fixtures().join("dpkg/bookworm-minbase.dpkg-query.tsv")).unwrap();
    let expected: BTreeSet<(String, String, String)> = text
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].into(), fields[1].into(), fields[2].into())
        })
        .collect();
    assert_eq!(expected.len(), 88);
    let ours: BTreeSet<(String, String, String)> = catalog
        .packages
        .iter()
        .map(|p| {
            let arch = p.metadata["architecture"].as_str().unwrap().to_owned();
            (p.name.clone(), p.version.clone(), arch)
        })
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(catalog.packages.len(), 88);
}

#[test]
fn bookworm_distro_through_symlink() {
    let (catalog, _) = scan("dpkg", "bookworm-minbase");
    let distro = catalog.distro.expect("debian detected");
    assert_eq!(distro.id, "debian");
    assert_eq!(distro.version_id, "12");
    let bash = catalog.packages.iter().find(|p| p.name == "bash").unwrap();
    assert_eq!(
        bash.purl,
        "pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    );
}

/// CPE candidates equal syft's for every package except those whose candidates come from
/// syft's per-package tables we do not carry.
#[test]
fn cpes_match_syft_outside_tables() {
    const TABLE_DRIVEN: &[(&str, &str)] = &[("apk", "musl-utils")];
    let mut compared = 0;
    let mut problems = Vec::new();
    for ecosystem in ["dpkg", "apk", "python", "npm", "ruby"] {
        for case in cases(ecosystem) {
            let (catalog, _) = scan(ecosystem, &case);
            for artifact in reference_packages(ecosystem, &case) {
                let id = identity_of(&artifact);
                let Some(package) = catalog.packages.iter().find(|p| our_identity(p) == id) else {
                    continue;
                };
                let want: Vec<(&str, &str)> = artifact["cpes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c["cpe"].as_str().unwrap(), c["source"].as_str().unwrap()))
                    .collect();
                let got: Vec<(&str, &str)> = package
                    .cpes
                    .iter()
                    .map(|c| (c.cpe, c.source.as_str()))
                    .collect();
                if TABLE_DRIVEN.contains(&(id.2.as_str(), id.0.as_str())) {
                    // Without syft's tables we give a subset of its candidates, never others.
                    if !got.iter().all(|cpe| want.contains(cpe)) || got.is_empty() {
                        problems.push(format!(
                            "{ecosystem}/{case} {}: {got:?} not within {want:?}",
                            id.0
                        ));
                    }
                    continue;
                }
                compared += 1;
                if want != got {
                    problems.push(format!(
                        "{ecosystem}/{case} {}:\n syft {want:?}\n ours {got:?}",
                        id.0
                    ));
                }
            }
        }
    }
    assert!(compared > 150, "only {compared} packages compared");
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

#[test]
fn opkg_licence_comes_from_stanza() {
    let (catalog, _) = scan("dpkg", "opkg");
    let dropbear = catalog
        .packages
        .iter()
        .find(|p| p.name == "dropbear")
        .unwrap();
    assert_eq!(
        our_licences(dropbear),
        [("MIT".into(), "MIT".into(), "declared".into())]
    );
    assert_eq!(
        dropbear.licenses[0].locations[0].path,
        "/var/lib/opkg/status"
    );
}

#[test]
fn dpkg_supporting_files_and_layer() {
    let root = fixtures().join("dpkg/image-dpkg");
    let (catalog, warnings) = scan_dir(&root);
    let layer = dir_tree::layer_digest(&root);
    let pam = &catalog.packages[0];
    let paths: Vec<&str> = pam.locations.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/var/lib/dpkg/status",
            "/var/lib/dpkg/info/libpam-runtime.conffiles",
            "/var/lib/dpkg/info/libpam-runtime.md5sums",
            "/usr/share/doc/libpam-runtime/copyright",
        ]
    );
    assert!(pam.locations.iter().all(|l| l.layer_id == layer));
    let metadata = pam.metadata_json().to_value();
    let files = metadata["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    assert_eq!(files[0]["path"], "/etc/pam.conf");
    assert_eq!(files[0]["isConfigFile"], true);
    assert_eq!(files[2]["digest"]["algorithm"], "md5");
    // The stanza after libpam-runtime has an empty Package field.
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

/// Compares the metadata object of every reference package with ours, key by key.
#[test]
fn metadata_matches_syft_shape() {
    let mut problems = Vec::new();
    for ecosystem in ["dpkg", "apk", "python", "npm", "ruby"] {
        for case in cases(ecosystem) {
            let (catalog, _) = scan(ecosystem, &case);
            for artifact in reference_packages(ecosystem, &case) {
                let id = identity_of(&artifact);
                let Some(package) = catalog.packages.iter().find(|p| our_identity(p) == id) else {
                    continue;
                };
                if artifact["metadataType"] != package.metadata_type {
                    problems.push(format!("{ecosystem}/{case} {}: metadataType", id.0));
                }
                let metadata = package.metadata_json().to_value();
                if artifact["metadata"] != metadata {
                    problems.push(format!(
                        "{ecosystem}/{case} {}:\n syft {}\n ours {}",
                        id.0, artifact["metadata"], metadata
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, bytes).unwrap();
}

#[test]
fn truncated_status_keeps_earlier_packages() {
    let status = fs::read(fixtures().join("dpkg/bookworm-minbase/var/lib/dpkg/status")).unwrap();
    let text = String::from_utf8(status).unwrap();
    let cut = text.find("Package: coreutils").unwrap() + "Package: coreutils\nStat".len();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "var/lib/dpkg/status", &text.as_bytes()[..cut]);
    let (catalog, warnings) = scan_dir(dir.path());
    assert!(catalog.packages.iter().any(|p| p.name == "bash"));
    assert!(catalog.packages.len() < 88);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].reason.contains("expected"), "{}", warnings[0]);
}

#[test]
fn crlf_status_gives_same_packages() {
    let status = fs::read_to_string(fixtures().join("dpkg/single/var/lib/dpkg/status")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "var/lib/dpkg/status",
        status.replace('\n', "\r\n").as_bytes(),
    );
    let (crlf, warnings) = scan_dir(dir.path());
    let (plain, _) = scan("dpkg", "single");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(crlf.packages.len(), 1);
    assert_eq!(
        our_identity(&crlf.packages[0]),
        our_identity(&plain.packages[0])
    );
    assert_eq!(
        crlf.packages[0].metadata_json().to_value(),
        plain.packages[0].metadata_json().to_value()
    );
}

#[test]
fn missing_fields_and_empty_files_warn_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "var/lib/dpkg/status", b"");
    write(
        dir.path(),
        "lib/apk/db/installed",
        b"V:1.0-r0\nA:x86_64\n\nP:ok\nV:1-r0\nS:big\n",
    );
    write(
        dir.path(),
        "usr/lib/python3/site-packages/x-1.dist-info/METADATA",
        b"",
    );
    write(
        dir.path(),
        "usr/lib/python3/site-packages/y-1.dist-info/METADATA",
        b"Name: y\n",
    );
    write(
        dir.path(),
        "app/node_modules/z/package.json",
        b"{\"name\": \"z\", ",
    );
    write(dir.path(), "var/lib/dpkg/status.d/tzdata", b"\n\n");
    write(dir.path(), "etc/os-release", b"");

    let (catalog, warnings) = scan_dir(dir.path());

    let names: Vec<&str> = catalog.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ok"]);
    assert!(catalog.distro.is_none());
    let by = |cataloger: &str| warnings.iter().filter(|w| w.cataloger == cataloger).count();
    assert_eq!(by("apk-db-cataloger"), 2, "{warnings:?}");
    assert_eq!(by("python-installed-package-cataloger"), 2, "{warnings:?}");
    assert_eq!(by("javascript-package-cataloger"), 1, "{warnings:?}");
    assert_eq!(by("dpkg-db-cataloger"), 2, "{warnings:?}");
}

#[test]
fn duplicate_package_json_stays_two_packages() {
    let manifest =
        fs::read(fixtures().join("npm/installed-tree/node_modules/once/package.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a/node_modules/once/package.json", &manifest);
    write(dir.path(), "b/node_modules/once/package.json", &manifest);
    let (catalog, _) = scan_dir(dir.path());
    // syft 1.18.1 reports one package per install location, so each copy can be found.
    assert_eq!(catalog.packages.len(), 2);
    let paths: Vec<&str> = catalog
        .packages
        .iter()
        .flat_map(|p| p.locations.iter().map(|l| l.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            "/a/node_modules/once/package.json",
            "/b/node_modules/once/package.json"
        ]
    );
}

#[test]
fn python_classifier_licence_when_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "usr/lib/python3/site-packages/Some_Pkg-1.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: Some_Pkg\nVersion: 1.0\n\
          Classifier: License :: OSI Approved :: MIT License\n",
    );
    let (catalog, _) = scan_dir(dir.path());
    let package = &catalog.packages[0];
    assert_eq!(package.name, "some_pkg");
    assert_eq!(package.purl, "pkg:pypi/some-pkg@1.0");
    assert_eq!(
        our_licences(package),
        [("MIT".into(), "MIT".into(), "declared".into())]
    );
}

#[test]
fn wants_captures_only_evidence() {
    let tree = load_dir(&fixtures().join("python/dist-info-license"));
    assert_eq!(tree.contents.len(), 5);
    let tree = load_dir(&fixtures().join("npm/lock-v1"));
    assert!(tree.contents.is_empty(), "lock files are not evidence");
}

#[test]
fn removed_dpkg_entries_are_not_packages() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "var/lib/dpkg/status",
        b"Package: kept\nStatus: install ok installed\nVersion: 1.0\n\n\
          Package: purged-config\nStatus: deinstall ok config-files\nVersion: 2.0\n\n\
          Package: never\nStatus: purge ok not-installed\n",
    );
    let (catalog, warnings) = scan_dir(dir.path());
    let names: Vec<&str> = catalog.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["kept"]);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn debian_version_fills_missing_version_only() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/os-release",
        b"ID=debian\nVERSION_CODENAME=trixie\n",
    );
    write(dir.path(), "etc/debian_version", b"trixie/sid\n");
    let (catalog, _) = scan_dir(dir.path());
    assert_eq!(catalog.distro.unwrap().version_id, "");

    write(dir.path(), "etc/debian_version", b"13.5\n");
    let (catalog, _) = scan_dir(dir.path());
    assert_eq!(catalog.distro.unwrap().version_id, "13.5");

    // With VERSION_ID present, os-release wins, as in syft 1.18.1.
    let (catalog, _) = scan("distro", "debian-point");
    assert_eq!(catalog.distro.unwrap().version_id, "13");
}

#[test]
fn older_release_files_are_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "etc/redhat-release",
        b"CentOS Linux release 7.9.2009 (Core)\n",
    );
    write(
        dir.path(),
        "etc/lsb-release",
        b"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\n",
    );
    let (catalog, _) = scan_dir(dir.path());
    let distro = catalog.distro.unwrap();
    assert_eq!(distro.id, "centos");
    assert_eq!(distro.version_id, "7.9.2009");

    fs::remove_file(dir.path().join("etc/redhat-release")).unwrap();
    let (catalog, _) = scan_dir(dir.path());
    assert_eq!(catalog.distro.unwrap().id, "ubuntu");
}

#[test]
fn apk_purl_with_distro() {
    let dir = tempfile::tempdir().unwrap();
    let db = fs::read(fixtures().join("apk/multiple-2/lib/apk/db/installed")).unwrap();
    write(dir.path(), "lib/apk/db/installed", &db);
    write(dir.path(), "etc/alpine-release", b"3.16.2\n");
    let (catalog, _) = scan_dir(dir.path());
    let purl = |name: &str| {
        catalog
            .packages
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.purl.clone())
            .unwrap()
    };
    assert_eq!(
        purl("musl-utils"),
        "pkg:apk/alpine/musl-utils@1.2.3-r0?arch=x86_64&distro=alpine-3.16.2&upstream=musl"
    );
    assert_eq!(
        purl("musl"),
        "pkg:apk/alpine/musl@1.2.3-r0?arch=x86_64&distro=alpine-3.16.2"
    );
}

#[test]
fn locations_name_the_layer_of_each_file() {
    let mut tree = load_dir(&fixtures().join("dpkg/image-dpkg"));
    let base = inline_scan::digest::Digest::of(b"base layer");
    let top = inline_scan::digest::Digest::of(b"top layer");
    tree.layers = vec![base.clone(), top.clone()];
    // The status file comes from the top layer; everything else stays in the base layer.
    let mut status = tree.entries.get("/var/lib/dpkg/status").unwrap();
    status.layer = 1;
    tree.entries.insert(status);

    let (catalog, _) = run(&tree, &default_catalogers());
    let pam = &catalog.packages[0];
    let layer_of = |path: &str| {
        pam.locations
            .iter()
            .find(|l| l.path == path)
            .map(|l| l.layer_id.clone())
            .unwrap()
    };
    assert_eq!(layer_of("/var/lib/dpkg/status"), top);
    assert_eq!(layer_of("/var/lib/dpkg/info/libpam-runtime.md5sums"), base);
    assert_eq!(layer_of("/usr/share/doc/libpam-runtime/copyright"), base);
    assert_eq!(pam.licenses[0].locations[0].layer_id, base);
}

#[test]
fn dpkg_info_files_are_supporting_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let status = "Package: foo\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n\n\
                  Package: bar\nStatus: install ok installed\nVersion: 2.0\nArchitecture: amd64\nMulti-Arch: same\n";
    write(dir.path(), "var/lib/dpkg/status", status.as_bytes());
    for (file, text) in [
        (
            "foo.md5sums",
            "d41d8cd98f00b204e9800998ecf8427e  usr/bin/foo\n",
        ),
        ("foo.list", "/usr/bin/foo\n"),
        ("foo.postinst", "#!/bin/sh\n"),
        ("foobar.list", "/usr/bin/foobar\n"),
        (
            "bar:amd64.md5sums",
            "d41d8cd98f00b204e9800998ecf8427e  usr/lib/bar.so\n",
        ),
        ("bar:amd64.postinst", "#!/bin/sh\n"),
    ] {
        write(
            dir.path(),
            &format!("var/lib/dpkg/info/{file}"),
            text.as_bytes(),
        );
    }
    let (catalog, warnings) = scan_dir(dir.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    let paths = |name: &str| -> Vec<String> {
        let package = catalog.packages.iter().find(|p| p.name == name).unwrap();
        let mut paths: Vec<String> = package.locations.iter().map(|l| l.path.clone()).collect();
        paths.sort();
        paths
    };
    assert_eq!(
        paths("foo"),
        [
            "/var/lib/dpkg/info/foo.list",
            "/var/lib/dpkg/info/foo.md5sums",
            "/var/lib/dpkg/info/foo.postinst",
            "/var/lib/dpkg/status",
        ]
    );
    // syft 1.18.1 globs `info/<name>.*`, so an arch-qualified script is not evidence.
    assert_eq!(
        paths("bar"),
        [
            "/var/lib/dpkg/info/bar:amd64.md5sums",
            "/var/lib/dpkg/status"
        ]
    );
}
