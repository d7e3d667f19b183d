//! Parity with syft 1.18.1 beyond the package list: the `dependency-of` and `contains`
//! relationships of every fixture case and test image, compared with syft's stored output,
//! and the removal of binary packages that an OS package owns. scripts/parity.sh rebuilds the
//! stored outputs and docs/PARITY.md with a local syft; these tests need no syft.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use inline_scan::catalog::registry::{Scope, default_catalogers, run, wants_any};
use inline_scan::catalog::relationships::is_binary_evidence;
use inline_scan::catalog::{Catalog, Cpes, Evidence, Location, Package, PackageType};
use inline_scan::digest::Digest;
use inline_scan::dir_tree;
use inline_scan::filesystem::{FileEntry, FileKind, FileTree};
use inline_scan::image::{Identity as ImageIdentity, IdentityOptions};
use inline_scan::sbom::format::{SbomFormat, render_at};
use inline_scan::sbom::syft_json::SbomInput;
use inline_scan::source::Limits;
use inline_scan::source::archive::read_docker_archive_file;
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// Every catalog fixture case with a stored syft output: (label, case folder, syft JSON).
fn catalog_cases() -> Vec<(String, PathBuf, PathBuf)> {
    let catalog = root().join("catalog");
    let mut cases = Vec::new();
    for ecosystem in ["dpkg", "apk", "rpm", "python", "npm", "ruby"] {
        let dir = catalog.join(ecosystem);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name != "LICENSES" && name != "expected")
            .collect();
        names.sort();
        for name in names {
            let beside = dir.join(format!("{name}.syft-1.18.1.json"));
            let in_expected = dir.join("expected").join(format!("{name}.syft.json"));
            let reference = if beside.exists() { beside } else { in_expected };
            assert!(reference.exists(), "{ecosystem}/{name} has no syft output");
            cases.push((format!("{ecosystem}/{name}"), dir.join(&name), reference));
        }
    }
    assert!(cases.len() > 30, "only {} cases", cases.len());
    cases
}

fn scan_dir(dir: &Path) -> Catalog {
    let catalogers = default_catalogers();
    let tree = dir_tree::load(dir, |path| wants_any(&catalogers, path)).unwrap();
    run(&tree, &catalogers).0
}

fn found_by_us(catalog: &Catalog) -> BTreeSet<&'static str> {
    catalog.packages.iter().map(|p| p.found_by).collect()
}

fn label(name: &str, version: &str) -> String {
    format!("{name}@{version}")
}

/// Looks up the `name@version` of each syft artifact id.
fn artifact_labels(reference: &Value) -> std::collections::HashMap<String, (String, String)> {
    reference["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|artifact| {
            (
                artifact["id"].as_str().unwrap().to_owned(),
                (
                    label(
                        artifact["name"].as_str().unwrap(),
                        artifact["version"].as_str().unwrap(),
                    ),
                    artifact["foundBy"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// syft's `dependency-of` pairs as (dependency, dependent) labels, among the packages found
/// by catalogers in `ours`.
fn reference_dependencies(reference: &Value, ours: &BTreeSet<&str>) -> BTreeSet<(String, String)> {
    let labels = artifact_labels(reference);
    reference["artifactRelationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "dependency-of")
        .filter_map(|r| {
            let parent = labels.get(r["parent"].as_str()?)?;
            let child = labels.get(r["child"].as_str()?)?;
            (ours.contains(parent.1.as_str()) && ours.contains(child.1.as_str()))
                .then(|| (parent.0.clone(), child.0.clone()))
        })
        .collect()
}

fn our_dependencies(catalog: &Catalog) -> BTreeSet<(String, String)> {
    let name = |index: usize| {
        let package = &catalog.packages[index];
        label(&package.name, &package.version)
    };
    catalog
        .relationships
        .dependency_of
        .iter()
        .map(|(dependency, dependent)| (name(*dependency), name(*dependent)))
        .collect()
}

/// syft's package → file `contains` pairs as (package label, file path).
fn reference_contains(reference: &Value) -> BTreeSet<(String, String)> {
    let labels = artifact_labels(reference);
    let files: std::collections::HashMap<&str, &str> = reference["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap(),
                        f["location"]["path"].as_str().unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    reference["artifactRelationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "contains")
        .filter_map(|r| {
            let package = labels.get(r["parent"].as_str()?)?;
            let path = files.get(r["child"].as_str()?)?;
            Some((package.0.clone(), (*path).to_owned()))
        })
        .collect()
}

fn our_contains(catalog: &Catalog) -> BTreeSet<(String, String)> {
    catalog
        .relationships
        .contains
        .iter()
        .map(|(index, location)| {
            let package = &catalog.packages[*index];
            (
                label(&package.name, &package.version),
                location.path.clone(),
            )
        })
        .collect()
}

fn difference_report(
    what: &str,
    case: &str,
    theirs: &BTreeSet<(String, String)>,
    ours: &BTreeSet<(String, String)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for missing in theirs.difference(ours) {
        problems.push(format!("{case}: {what} missing {missing:?}"));
    }
    for extra in ours.difference(theirs) {
        problems.push(format!("{case}: {what} unexpected {extra:?}"));
    }
    problems
}

#[test]
fn fixture_dependencies_match_syft() {
    let mut problems = Vec::new();
    let mut compared = 0;
    for (case, dir, reference) in catalog_cases() {
        let catalog = scan_dir(&dir);
        let reference = read_json(&reference);
        let ours = our_dependencies(&catalog);
        let theirs = reference_dependencies(&reference, &found_by_us(&catalog));
        compared += theirs.len();
        problems.extend(difference_report("dependency-of", &case, &theirs, &ours));
    }
    // dpkg, apk and rpm cases hold more than 800 edges between them.
    assert!(compared > 800, "only {compared} edges compared");
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

#[test]
fn fixture_file_ownership_matches_syft() {
    let mut problems = Vec::new();
    for (case, dir, reference) in catalog_cases() {
        let catalog = scan_dir(&dir);
        let theirs = reference_contains(&read_json(&reference));
        problems.extend(difference_report(
            "contains",
            &case,
            &theirs,
            &our_contains(&catalog),
        ));
    }
    assert!(problems.is_empty(), "differences:\n{}", problems.join("\n"));
}

fn image_catalog(name: &str) -> (Catalog, FileTree) {
    let catalogers = default_catalogers();
    let wants = |path: &str| wants_any(&catalogers, path);
    let path = root().join("images").join(name);
    let image = read_docker_archive_file(&path, None, None, &wants, &Limits::default()).unwrap();
    let catalog = run(&image.tree, &catalogers).0;
    (catalog, image.tree)
}

/// (type, name, version, purl) of each package.
type Identity = (String, String, String, String);

fn reference_identities(reference: &Value, ours: &BTreeSet<&str>) -> BTreeSet<Identity> {
    reference["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| ours.contains(a["foundBy"].as_str().unwrap()))
        .map(|a| {
            let text = |key: &str| a[key].as_str().unwrap_or("").to_owned();
            (text("type"), text("name"), text("version"), text("purl"))
        })
        .collect()
}

fn our_identities(catalog: &Catalog) -> BTreeSet<Identity> {
    catalog
        .packages
        .iter()
        .map(|p| {
            (
                p.kind.as_str().to_owned(),
                p.name.clone(),
                p.version.clone(),
                p.purl.clone(),
            )
        })
        .collect()
}

/// Returns the names of the catalogers this crate implements, as syft names them.
fn our_cataloger_names() -> BTreeSet<&'static str> {
    default_catalogers().iter().map(|c| c.name()).collect()
}

fn check_image(tarball: &str, reference: &str) {
    let (catalog, _) = image_catalog(tarball);
    let reference = read_json(&root().join("images/syft").join(reference));
    let names = our_cataloger_names();
    let theirs = reference_identities(&reference, &names);
    let ours = our_identities(&catalog);
    assert!(
        !theirs.is_empty(),
        "{tarball}: syft found no packages of ours"
    );
    assert_eq!(ours, theirs, "{tarball}: packages");
    for artifact in reference["artifacts"].as_array().unwrap() {
        let name = artifact["name"].as_str().unwrap();
        let version = artifact["version"].as_str().unwrap();
        let Some(package) = catalog
            .packages
            .iter()
            .find(|p| p.name == name && p.version == version)
        else {
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
        assert_eq!(got, want, "{tarball}: CPEs of {name}");
    }
    assert_eq!(
        our_dependencies(&catalog),
        reference_dependencies(&reference, &names),
        "{tarball}: dependency-of"
    );
    assert_eq!(
        our_contains(&catalog),
        reference_contains(&reference),
        "{tarball}: contains"
    );
}

#[test]
fn rpm_image_matches_syft() {
    check_image(
        "rpm-sqlite.docker.tar",
        "rpm-sqlite.docker-archive.squashed.syft.json",
    );
}

#[test]
fn multilayer_image_matches_syft() {
    check_image(
        "multilayer-whiteout.docker.tar",
        "multilayer-whiteout.docker-archive.squashed.syft.json",
    );
}

#[test]
fn rpm_image_file_layers_match_syft() {
    let (catalog, _) = image_catalog("rpm-sqlite.docker.tar");
    let reference =
        read_json(&root().join("images/syft/rpm-sqlite.docker-archive.squashed.syft.json"));
    let theirs: BTreeSet<(String, String)> = reference["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["location"]["path"].as_str().unwrap().to_owned(),
                f["location"]["layerID"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (_, location) in &catalog.relationships.contains {
        let key = (location.path.clone(), location.layer_id.to_string());
        assert!(theirs.contains(&key), "{key:?} not among syft's files");
    }
    assert_eq!(catalog.relationships.contains.len(), 3);
}

fn entry(path: &str, kind: FileKind) -> FileEntry {
    FileEntry {
        path: path.to_owned(),
        kind,
        mode: 0o755,
        size: 0,
        uid: 0,
        gid: 0,
        layer: 0,
        hardlink_to: None,
    }
}

fn package(kind: PackageType, name: &str, found_by: &'static str, path: &str) -> Package {
    Package {
        name: name.to_owned(),
        version: "1.0".to_owned(),
        kind,
        found_by,
        purl: String::new(),
        cpes: Cpes::default(),
        licenses: Vec::new(),
        locations: vec![Location {
            path: path.to_owned(),
            access_path: None,
            layer_id: Digest::of(b"layer"),
            evidence: Evidence::Primary,
        }],
        metadata_type: "",
        files: None,
        metadata: json!({}),
    }
}

/// A cataloger that reports fixed packages, standing in for binary catalogers.
struct Fixed(Vec<Package>);

impl inline_scan::catalog::Cataloger for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn wants(&self, _: &str) -> bool {
        false
    }
    fn catalog(
        &self,
        _: &FileTree,
        _: &inline_scan::catalog::Environment,
        _: &mut Vec<inline_scan::catalog::CatalogWarning>,
    ) -> Vec<Package> {
        self.0.clone()
    }
}

#[test]
fn owned_binary_package_is_dropped() {
    let mut tree = FileTree {
        layers: vec![Digest::of(b"layer")],
        ..FileTree::default()
    };
    for dir in ["/usr", "/usr/bin"] {
        tree.entries.insert(entry(dir, FileKind::Directory));
    }
    for file in ["/usr/bin/tool", "/usr/bin/other"] {
        tree.entries.insert(entry(file, FileKind::Regular));
    }
    let mut owner = package(
        PackageType::Deb,
        "tool",
        "dpkg-db-cataloger",
        "/var/lib/dpkg/status",
    );
    owner.metadata = json!({"files": [{"path": "/usr/bin/tool"}]});
    let classified = package(
        PackageType::Binary,
        "tool",
        "binary-classifier-cataloger",
        "/usr/bin/tool",
    );
    let elsewhere = package(
        PackageType::Binary,
        "other",
        "binary-classifier-cataloger",
        "/usr/bin/other",
    );
    let go_module = package(
        PackageType::GoModule,
        "example.com/tool",
        "go-module-binary-cataloger",
        "/usr/bin/tool",
    );
    assert!(is_binary_evidence(&classified));
    assert!(!is_binary_evidence(&go_module));

    let catalogers: Vec<Box<dyn inline_scan::catalog::Cataloger>> = vec![Box::new(Fixed(vec![
        owner, classified, elsewhere, go_module,
    ]))];
    let (catalog, _) = run(&tree, &catalogers);
    let kept: Vec<(&str, &str)> = catalog
        .packages
        .iter()
        .map(|p| (p.kind.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("deb", "tool"),
            ("go-module", "example.com/tool"),
            ("binary", "other")
        ]
    );
    let overlaps = &catalog.relationships.overlaps;
    assert_eq!(overlaps.len(), 1, "{overlaps:?}");
    assert_eq!(catalog.packages[overlaps[0].owner].name, "tool");
    assert_eq!(
        catalog.packages[overlaps[0].owned].kind,
        PackageType::GoModule
    );
    assert_eq!(overlaps[0].files, ["/usr/bin/tool"]);
    assert_eq!(catalog.relationships.contains.len(), 1);
    assert_eq!(catalog.relationships.contains[0].1.path, "/usr/bin/tool");
}

/// (type, name, version, sorted `path@diffID` of every location) of each package.
type Placed = (String, String, String, Vec<String>);

fn reference_placed(reference: &Value, ours: &BTreeSet<&str>) -> BTreeSet<Placed> {
    reference["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| ours.contains(a["foundBy"].as_str().unwrap()))
        .map(|a| {
            let mut places: Vec<String> = a["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    format!(
                        "{}@{}",
                        l["path"].as_str().unwrap(),
                        l["layerID"].as_str().unwrap()
                    )
                })
                .collect();
            places.sort();
            let text = |key: &str| a[key].as_str().unwrap_or("").to_owned();
            (text("type"), text("name"), text("version"), places)
        })
        .collect()
}

fn our_placed(catalog: &Catalog) -> BTreeSet<Placed> {
    catalog
        .packages
        .iter()
        .map(|p| {
            let mut places: Vec<String> = p
                .locations
                .iter()
                .map(|l| format!("{}@{}", l.path, l.layer_id))
                .collect();
            places.sort();
            (
                p.kind.as_str().to_owned(),
                p.name.clone(),
                p.version.clone(),
                places,
            )
        })
        .collect()
}

fn check_all_layers(tarball: &str, reference: &str) -> Catalog {
    let catalogers = default_catalogers();
    let wants = |path: &str| wants_any(&catalogers, path);
    let path = root().join("images").join(tarball);
    let image = read_docker_archive_file(&path, None, None, &wants, &Limits::default()).unwrap();
    let (catalog, _) = Scope::AllLayers.run(&image.tree, &catalogers);
    let reference = read_json(&root().join("images/syft").join(reference));
    let names = our_cataloger_names();
    assert_eq!(
        our_placed(&catalog),
        reference_placed(&reference, &names),
        "{tarball}: all-layers packages and locations"
    );
    catalog
}

#[test]
fn all_layers_multilayer_matches_syft() {
    let catalog = check_all_layers(
        "multilayer-whiteout.docker.tar",
        "multilayer-whiteout.docker-archive.all-layers.syft.json",
    );
    // The squashed scope reports only the top versions of left-pad and ms.
    let versions: Vec<&str> = catalog
        .packages
        .iter()
        .filter(|p| p.name == "left-pad")
        .map(|p| p.version.as_str())
        .collect();
    assert_eq!(versions, ["1.2.0", "1.3.0", "1.3.0"]);
}

#[test]
fn all_layers_rpm_matches_syft() {
    let catalog = check_all_layers(
        "rpm-sqlite.docker.tar",
        "rpm-sqlite.docker-archive.all-layers.syft.json",
    );
    let hello = catalog
        .packages
        .iter()
        .find(|p| p.name == "sbom-hello")
        .unwrap();
    assert_eq!(hello.locations.len(), 2, "one database per layer");
}

#[test]
fn parity_page_explains_every_difference() {
    let page =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/PARITY.md")).unwrap();
    assert!(page.starts_with("# Parity with syft 1.18.1"));
    assert!(page.contains("## Differences"));
    assert!(
        !page.contains("not explained"),
        "docs/PARITY.md lists a difference without a reason; rerun scripts/parity.sh after fixing it"
    );
    // Every test a listed difference names exists in this crate's test files.
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let sources: String = ["catalogers.rs", "rpm.rs", "parity.rs", "binaries.rs"]
        .iter()
        .map(|name| fs::read_to_string(tests_dir.join(name)).unwrap())
        .collect();
    for cited in page.split("(test `").skip(1) {
        let name = cited.split('`').next().unwrap();
        assert!(
            sources.contains(&format!("fn {name}()")),
            "docs/PARITY.md cites a test {name} that does not exist"
        );
    }
}

/// Renders the rpm-sqlite image in `format` and parses the document.
fn render_rpm_image(format: SbomFormat) -> Value {
    let catalogers = default_catalogers();
    let wants = |path: &str| wants_any(&catalogers, path);
    let path = root().join("images/rpm-sqlite.docker.tar");
    let image = read_docker_archive_file(&path, None, None, &wants, &Limits::default()).unwrap();
    let (catalog, _) = run(&image.tree, &catalogers);
    let identity = ImageIdentity::resolve(&image, &IdentityOptions::default()).unwrap();
    let input = SbomInput {
        user_input: "rpm-sqlite.docker.tar",
        image: &image,
        identity: &identity,
        catalog: &catalog,
        configuration: json!({}),
    };
    let created = time::OffsetDateTime::UNIX_EPOCH;
    serde_json::from_slice(&render_at(format, &input, created)).unwrap()
}

/// (dependent, dependency) component names from a CycloneDX `dependencies` list.
fn cyclonedx_dependencies(bom: &Value) -> BTreeSet<(String, String)> {
    let names: std::collections::HashMap<&str, &str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["bom-ref"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    let mut pairs = BTreeSet::new();
    for dependency in bom["dependencies"].as_array().unwrap() {
        let dependent = names[dependency["ref"].as_str().unwrap()];
        for target in dependency["dependsOn"].as_array().unwrap() {
            pairs.insert((
                dependent.to_owned(),
                names[target.as_str().unwrap()].to_owned(),
            ));
        }
    }
    pairs
}

/// (element, related element) package names of SPDX `DEPENDENCY_OF` relationships.
fn spdx_dependencies(document: &Value) -> BTreeSet<(String, String)> {
    let names: std::collections::HashMap<&str, &str> = document["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["SPDXID"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    document["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDENCY_OF")
        .map(|r| {
            (
                names[r["spdxElementId"].as_str().unwrap()].to_owned(),
                names[r["relatedSpdxElement"].as_str().unwrap()].to_owned(),
            )
        })
        .collect()
}

#[test]
fn cyclonedx_dependencies_match_syft() {
    let ours = cyclonedx_dependencies(&render_rpm_image(SbomFormat::CycloneDxJson));
    let theirs = cyclonedx_dependencies(&read_json(
        &root().join("images/syft/rpm-sqlite.docker-archive.squashed.cdx.json"),
    ));
    assert_eq!(
        theirs,
        BTreeSet::from([("sbom-lib".to_owned(), "sbom-hello".to_owned())])
    );
    assert_eq!(ours, theirs);
}

#[test]
fn spdx_dependencies_match_syft() {
    let ours = spdx_dependencies(&render_rpm_image(SbomFormat::SpdxJson));
    let theirs = spdx_dependencies(&read_json(
        &root().join("images/syft/rpm-sqlite.docker-archive.squashed.spdx.json"),
    ));
    assert_eq!(
        theirs,
        BTreeSet::from([("sbom-hello".to_owned(), "sbom-lib".to_owned())])
    );
    assert_eq!(ours, theirs);
}

#[test]
fn syft_json_relationships_match_syft() {
    let ours = render_rpm_image(SbomFormat::SyftJson);
    let theirs =
        read_json(&root().join("images/syft/rpm-sqlite.docker-archive.squashed.syft.json"));
    // (type, parent, child), with packages by name, files by path and the image as `image`.
    let shape = |document: &Value| -> BTreeSet<(String, String, String)> {
        let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for artifact in document["artifacts"].as_array().unwrap() {
            names.insert(
                artifact["id"].as_str().unwrap().to_owned(),
                artifact["name"].as_str().unwrap().to_owned(),
            );
        }
        for file in document["files"].as_array().unwrap() {
            names.insert(
                file["id"].as_str().unwrap().to_owned(),
                file["location"]["path"].as_str().unwrap().to_owned(),
            );
        }
        names.insert(
            document["source"]["id"].as_str().unwrap().to_owned(),
            "image".to_owned(),
        );
        document["artifactRelationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let name = |key: &str| names[r[key].as_str().unwrap()].clone();
                (
                    r["type"].as_str().unwrap().to_owned(),
                    name("parent"),
                    name("child"),
                )
            })
            .collect()
    };
    let theirs = shape(&theirs);
    assert_eq!(theirs.len(), 8);
    assert_eq!(shape(&ours), theirs);
}
