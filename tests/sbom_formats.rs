//! CycloneDX and SPDX output for catalogs built by the real catalogers from the fixture
//! trees, checked with the official validators: cyclonedx-python-lib's strict JSON schema
//! validator for CycloneDX 1.6 and spdx-tools' `pyspdxtools -i` for SPDX 2.3.
//!
//! The validators come from `scripts/install-sbom-validators.sh`. When they are missing, the
//! validating tests fail under `CI=true` and are skipped with a message otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use inline_scan::catalog::registry::{default_catalogers, run, wants_any};
use inline_scan::catalog::{Catalog, License};
use inline_scan::dir_tree;
use inline_scan::image::Identity;
use inline_scan::image::identity::IdentityOptions;
use inline_scan::image::manifest::OCI_MANIFEST;
use inline_scan::sbom::format::{SbomFormat, render, render_at};
use inline_scan::sbom::syft_json::SbomInput;
use inline_scan::source::{Compression, LayerInfo, RawManifest, SourceImage};
use packageurl::PackageUrl;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Fixture trees rendered in every format: deb, rpm, apk, Python and npm packages, with and
/// without a distro, and licences as SPDX ids, compound expressions and free text.
const CASES: &[&str] = &[
    "dpkg/bookworm-minbase",
    "dpkg/distroless",
    "dpkg/image-dpkg",
    "rpm/sqlite-sbomtest",
    "rpm/ndb-sle15-bci",
    "rpm/sqlite-mariner2",
    "apk/multiple-2",
    "apk/trivy-apk",
    "apk/extra-file-attributes",
    "python/coverage",
    "python/dist-info-license",
    "python/egg-info-dir",
    "npm/installed-tree",
    "npm/license-objects",
    "npm/authors-objects",
];

const CREATED: i64 = 1_700_000_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog")
}

/// A catalog and the image it came from, with the tree loaded as a one-layer image.
struct Scanned {
    case: &'static str,
    image: SourceImage,
    identity: Identity,
    catalog: Catalog,
}

impl Scanned {
    fn input(&self) -> SbomInput<'_> {
        SbomInput {
            user_input: self.case,
            image: &self.image,
            identity: &self.identity,
            catalog: &self.catalog,
            configuration: json!({}),
        }
    }

    fn render(&self, format: SbomFormat) -> Value {
        let created = OffsetDateTime::from_unix_timestamp(CREATED).unwrap();
        serde_json::from_slice(&render_at(format, &self.input(), created)).unwrap()
    }
}

fn scan(case: &'static str) -> Scanned {
    let root = fixtures().join(case);
    let catalogers = default_catalogers();
    let tree = dir_tree::load(&root, |path| wants_any(&catalogers, path)).unwrap();
    let (catalog, _warnings) = run(&tree, &catalogers);

    let diff_id = tree.layers[0].clone();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": inline_scan::digest::Digest::of(&config).to_string(),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": diff_id.to_string(),
            "size": 1024,
        }],
    }))
    .unwrap();

    let image = SourceImage {
        description: format!("fixture tree {case}"),
        manifest: Some(RawManifest {
            bytes: manifest,
            media_type: OCI_MANIFEST.to_owned(),
        }),
        index: None,
        config,
        repo_tags: vec![format!(
            "registry.test/fixtures/{}:1",
            case.replace('/', "-")
        )],
        repo_digests: Vec::new(),
        layers: vec![LayerInfo {
            diff_id,
            blob_digest: None,
            blob_size: 1024,
            uncompressed_size: 1024,
            compression: Compression::None,
            media_type: Some("application/vnd.oci.image.layer.v1.tar".to_owned()),
        }],
        tree,
        deferred: Default::default(),
    };
    let identity = Identity::resolve(&image, &IdentityOptions::default()).unwrap();
    Scanned {
        case,
        image,
        identity,
        catalog,
    }
}

fn scan_all() -> Vec<Scanned> {
    let scanned: Vec<Scanned> = CASES.iter().map(|case| scan(case)).collect();
    for scan in &scanned {
        assert!(
            !scan.catalog.packages.is_empty(),
            "{}: the catalogers found no packages",
            scan.case
        );
    }
    scanned
}

// --- validators -------------------------------------------------------------------------

struct Validators {
    python: PathBuf,
    pyspdxtools: PathBuf,
}

const CYCLONEDX_CHECK: &str = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

validator = JsonStrictValidator(SchemaVersion.V1_6)
failed = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as handle:
        error = validator.validate_str(handle.read())
    if error is not None:
        failed += 1
        data = getattr(error, "data", None)
        message = getattr(data, "message", str(error))
        where = "/".join(str(part) for part in getattr(data, "absolute_path", []))
        print(f"{path}: at /{where}: {message}")
sys.exit(1 if failed else 0)
"#;

fn validators_venv() -> PathBuf {
    if let Some(venv) = std::env::var_os("INLINE_SCAN_VALIDATORS_VENV") {
        return PathBuf::from(venv);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache.join("inline-scan/sbom-validators")
}

/// Returns the validators, or `None` (after saying why) when they are missing outside CI.
/// Under `CI=true` a missing validator fails the test.
fn validators() -> Option<Validators> {
    let venv = validators_venv();
    let found = Validators {
        python: venv.join("bin/python"),
        pyspdxtools: venv.join("bin/pyspdxtools"),
    };
    let imports = found.python.is_file()
        && Command::new(&found.python)
            .args([
                "-c",
                "import cyclonedx.validation.json, jsonschema, spdx_tools",
            ])
            .status()
            .is_ok_and(|status| status.success());
    if imports && found.pyspdxtools.is_file() {
        return Some(found);
    }
    let message = format!(
        "the SBOM validators are not installed in {}: run scripts/install-sbom-validators.sh",
        venv.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

impl Validators {
    /// Validates CycloneDX files and returns the validator's findings, or `Ok` when all pass.
    fn cyclonedx(&self, files: &[PathBuf]) -> Result<(), String> {
        let output = Command::new(&self.python)
            .arg("-c")
            .arg(CYCLONEDX_CHECK)
            .args(files)
            .output()
            .unwrap();
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// Runs `pyspdxtools -i FILE`, which parses and validates the document.
    fn spdx(&self, file: &Path) -> Result<(), String> {
        let output = Command::new(&self.pyspdxtools)
            .arg("-i")
            .arg(file)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("{}: {text}", file.display()))
        }
    }
}

fn write_json(dir: &Path, name: &str, document: &Value) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, serde_json::to_vec_pretty(document).unwrap()).unwrap();
    path
}

fn file_name(case: &str, extension: &str) -> String {
    format!("{}.{extension}", case.replace('/', "-"))
}

// --- shared checks ----------------------------------------------------------------------

fn assert_purl_round_trips(case: &str, purl: &str) {
    let parsed = PackageUrl::from_str(purl)
        .unwrap_or_else(|error| panic!("{case}: purl {purl:?} does not parse: {error}"));
    assert_eq!(parsed.to_string(), purl, "{case}: purl does not round-trip");
}

fn strings<'a>(values: impl Iterator<Item = &'a Value>) -> Vec<&'a str> {
    values.map(|value| value.as_str().unwrap()).collect()
}

// --- CycloneDX ----------------------------------------------------------------------------

#[test]
fn cyclonedx_fixtures_pass_validator() {
    let Some(validators) = validators() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = scan_all()
        .iter()
        .map(|scan| {
            let bom = scan.render(SbomFormat::CycloneDxJson);
            write_json(dir.path(), &file_name(scan.case, "cdx.json"), &bom)
        })
        .collect();
    if let Err(findings) = validators.cyclonedx(&files) {
        panic!("CycloneDX validation failed:\n{findings}");
    }
}

#[test]
fn cyclonedx_components_match_catalog() {
    for scan in scan_all() {
        let case = scan.case;
        let bom = scan.render(SbomFormat::CycloneDxJson);
        assert_eq!(bom["specVersion"], "1.6", "{case}");
        assert_eq!(bom["bomFormat"], "CycloneDX", "{case}");

        let image = &bom["metadata"]["component"];
        assert_eq!(image["type"], "container", "{case}");
        assert_eq!(image["version"], scan.identity.digest.to_string(), "{case}");
        let image_purl = image["purl"].as_str().unwrap();
        assert_purl_round_trips(case, image_purl);
        let parsed = PackageUrl::from_str(image_purl).unwrap();
        assert_eq!(parsed.ty(), "oci", "{case}");
        assert_eq!(
            parsed.version(),
            Some(scan.identity.digest.to_string().as_str())
        );
        assert_eq!(
            parsed.qualifiers().get("arch").map(|v| v.as_ref()),
            Some("amd64"),
            "{case}"
        );
        let tool = &bom["metadata"]["tools"]["components"][0];
        assert_eq!(tool["name"], "inline-scan", "{case}");
        assert_eq!(tool["version"], env!("CARGO_PKG_VERSION"), "{case}");
        assert_eq!(
            bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z",
            "{case}"
        );

        let components = bom["components"].as_array().unwrap();
        let libraries: Vec<&Value> = components
            .iter()
            .filter(|c| c["type"] == "library")
            .collect();
        let systems = components
            .iter()
            .filter(|c| c["type"] == "operating-system")
            .count();
        assert_eq!(libraries.len(), scan.catalog.packages.len(), "{case}");
        assert_eq!(
            systems,
            usize::from(scan.catalog.distro.is_some()),
            "{case}"
        );
        assert_eq!(components.len(), libraries.len() + systems, "{case}");

        let mut bom_refs: BTreeSet<&str> = BTreeSet::new();
        bom_refs.insert(image["bom-ref"].as_str().unwrap());
        for component in components {
            let bom_ref = component["bom-ref"].as_str().unwrap();
            assert!(
                bom_refs.insert(bom_ref),
                "{case}: bom-ref {bom_ref} repeats"
            );
        }

        for (component, package) in libraries.iter().zip(&scan.catalog.packages) {
            assert_eq!(component["name"], package.name.as_str(), "{case}");
            assert_eq!(component["version"], package.version.as_str(), "{case}");
            if package.purl.is_empty() {
                assert!(component.get("purl").is_none(), "{case}: {}", package.name);
            } else {
                assert_eq!(component["purl"], package.purl.as_str(), "{case}");
                assert_purl_round_trips(case, component["purl"].as_str().unwrap());
            }
            match package.cpes.first() {
                Some(cpe) => assert_eq!(component["cpe"], cpe.cpe, "{case}"),
                None => assert!(component.get("cpe").is_none(), "{case}"),
            }
            let properties: BTreeMap<&str, &str> = component["properties"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["name"].as_str().unwrap(), p["value"].as_str().unwrap()))
                .collect();
            assert!(
                properties
                    .keys()
                    .all(|name| name.starts_with("inline-scan:")),
                "{case}: property outside the inline-scan namespace"
            );
            assert_eq!(
                properties.get("inline-scan:package:foundBy"),
                Some(&package.found_by),
                "{case}"
            );
            let layer = package.locations[0].layer_id.to_string();
            assert_eq!(
                properties.get("inline-scan:location:0:layerID"),
                Some(&layer.as_str()),
                "{case}"
            );
            assert_eq!(
                properties.get("inline-scan:location:0:path"),
                Some(&package.locations[0].path.as_str()),
                "{case}"
            );
        }
    }
}

/// Every licence shape appears: SPDX ids as `license.id`, free text as `license.name`,
/// and compound expressions alone as `expression`.
#[test]
fn cyclonedx_licence_shapes() {
    let mut ids = 0;
    let mut names = 0;
    let mut expressions = 0;
    for scan in scan_all() {
        let bom = scan.render(SbomFormat::CycloneDxJson);
        for component in bom["components"].as_array().unwrap() {
            let Some(licenses) = component["licenses"].as_array() else {
                continue;
            };
            let has_expression = licenses.iter().any(|l| l.get("expression").is_some());
            if has_expression {
                assert_eq!(licenses.len(), 1, "{}: expression not alone", scan.case);
                expressions += 1;
            }
            for license in licenses {
                let object = &license["license"];
                if object.get("id").is_some() {
                    let id = object["id"].as_str().unwrap();
                    assert!(spdx::license_id(id).is_some(), "{}: {id}", scan.case);
                    ids += 1;
                }
                if object.get("name").is_some() {
                    names += 1;
                }
            }
        }
        let libraries = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["type"] == "library");
        for (component, package) in libraries.zip(&scan.catalog.packages) {
            let compound: Vec<&str> = package
                .licenses
                .iter()
                .filter_map(|license| license.spdx_expression.as_deref())
                .filter(|expression| spdx::license_id(expression).is_none())
                .collect();
            if compound.is_empty() {
                continue;
            }
            let expression = component["licenses"][0]["expression"].as_str().unwrap();
            for part in compound {
                assert!(
                    expression.contains(part),
                    "{}: {expression:?} lacks {part:?}",
                    scan.case
                );
            }
        }
    }
    assert!(ids > 0, "no licence rendered as an SPDX id");
    assert!(names > 0, "no licence rendered as a name");
    assert!(expressions > 0, "no licence rendered as an expression");
}

#[test]
fn cyclonedx_broken_document_fails() {
    let Some(validators) = validators() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let valid = scan("rpm/sqlite-sbomtest").render(SbomFormat::CycloneDxJson);

    let good = write_json(dir.path(), "good.cdx.json", &valid);
    assert_eq!(validators.cyclonedx(&[good]), Ok(()));

    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("bomFormat");
    let file = write_json(dir.path(), "missing-bom-format.cdx.json", &missing);
    let findings = validators.cyclonedx(&[file]).unwrap_err();
    assert!(findings.contains("bomFormat"), "{findings}");

    let mut mixed = valid.clone();
    mixed["components"][0]["licenses"] = json!([
        {"license": {"id": "MIT"}},
        {"expression": "Apache-2.0 OR MIT"},
    ]);
    let file = write_json(dir.path(), "mixed-licenses.cdx.json", &mixed);
    assert!(validators.cyclonedx(&[file]).is_err());
}

// --- SPDX -------------------------------------------------------------------------------

#[test]
fn spdx_fixtures_pass_validator() {
    let Some(validators) = validators() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for scan in scan_all() {
        let document = scan.render(SbomFormat::SpdxJson);
        let file = write_json(dir.path(), &file_name(scan.case, "spdx.json"), &document);
        if let Err(findings) = validators.spdx(&file) {
            failures.push(findings);
        }
    }
    assert!(
        failures.is_empty(),
        "SPDX validation failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn spdx_packages_match_catalog() {
    for scan in scan_all() {
        let case = scan.case;
        let document = scan.render(SbomFormat::SpdxJson);
        assert_eq!(document["spdxVersion"], "SPDX-2.3", "{case}");
        assert_eq!(document["SPDXID"], "SPDXRef-DOCUMENT", "{case}");
        let namespace = document["documentNamespace"].as_str().unwrap();
        let prefix = format!(
            "https://inline-scan.invalid/spdx/sha256-{}/",
            scan.identity.digest.hex()
        );
        assert!(namespace.starts_with(&prefix), "{case}: {namespace}");
        assert_eq!(
            document["creationInfo"]["creators"],
            json!([format!("Tool: inline-scan-{}", env!("CARGO_PKG_VERSION"))]),
            "{case}"
        );
        assert_eq!(
            document["creationInfo"]["created"], "2023-11-14T22:13:20Z",
            "{case}"
        );

        let packages = document["packages"].as_array().unwrap();
        let distro = usize::from(scan.catalog.distro.is_some());
        assert_eq!(
            packages.len(),
            scan.catalog.packages.len() + 1 + distro,
            "{case}"
        );
        let image = &packages[0];
        assert_eq!(image["primaryPackagePurpose"], "CONTAINER", "{case}");
        assert_eq!(image["versionInfo"], scan.identity.digest.to_string());

        let ids: BTreeSet<&str> = strings(packages.iter().map(|p| &p["SPDXID"]))
            .into_iter()
            .collect();
        assert_eq!(ids.len(), packages.len(), "{case}: SPDXIDs repeat");

        for (spdx_package, package) in packages[1..].iter().zip(&scan.catalog.packages) {
            assert_eq!(spdx_package["name"], package.name.as_str(), "{case}");
            assert_eq!(spdx_package["downloadLocation"], "NOASSERTION", "{case}");
            assert_eq!(spdx_package["licenseConcluded"], "NOASSERTION", "{case}");
            let refs = spdx_package["externalRefs"].as_array().unwrap();
            let purls: Vec<&str> = strings(
                refs.iter()
                    .filter(|r| r["referenceType"] == "purl")
                    .map(|r| &r["referenceLocator"]),
            );
            let cpes: Vec<&str> = strings(
                refs.iter()
                    .filter(|r| r["referenceType"] == "cpe23Type")
                    .map(|r| &r["referenceLocator"]),
            );
            if package.purl.is_empty() {
                assert!(purls.is_empty(), "{case}");
            } else {
                assert_eq!(purls, [package.purl.as_str()], "{case}");
                assert_purl_round_trips(case, purls[0]);
            }
            let expected_cpes: Vec<&str> = package.cpes.iter().map(|c| c.cpe).collect();
            assert_eq!(cpes, expected_cpes, "{case}");
        }

        let relationships = document["relationships"].as_array().unwrap();
        let describes: Vec<&Value> = relationships
            .iter()
            .filter(|r| r["relationshipType"] == "DESCRIBES")
            .collect();
        assert_eq!(describes.len(), 1, "{case}");
        assert_eq!(describes[0]["spdxElementId"], "SPDXRef-DOCUMENT");
        assert_eq!(describes[0]["relatedSpdxElement"], image["SPDXID"]);
        let contained: BTreeSet<&str> = strings(
            relationships
                .iter()
                .filter(|r| r["relationshipType"] == "CONTAINS")
                .map(|r| &r["relatedSpdxElement"]),
        )
        .into_iter()
        .collect();
        let expected: BTreeSet<&str> = strings(packages[1..].iter().map(|p| &p["SPDXID"]))
            .into_iter()
            .collect();
        assert_eq!(contained, expected, "{case}");
    }
}

/// Free-text licences become `LicenseRef-` identifiers backed by extracted licensing info,
/// and SPDX ids and expressions pass through.
#[test]
fn spdx_licence_shapes() {
    let mut license_refs = 0;
    let mut compound = 0;
    for scan in scan_all() {
        let document = scan.render(SbomFormat::SpdxJson);
        let extracted: BTreeMap<&str, &str> = document["hasExtractedLicensingInfos"]
            .as_array()
            .map(|infos| {
                infos
                    .iter()
                    .map(|info| {
                        (
                            info["licenseId"].as_str().unwrap(),
                            info["extractedText"].as_str().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let packages = document["packages"].as_array().unwrap();
        for (spdx_package, package) in packages[1..].iter().zip(&scan.catalog.packages) {
            let declared = spdx_package["licenseDeclared"].as_str().unwrap();
            if package.licenses.is_empty() {
                assert_eq!(declared, "NOASSERTION", "{}", scan.case);
                continue;
            }
            for token in declared.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
                if token.starts_with("LicenseRef-") {
                    assert!(
                        extracted.contains_key(token),
                        "{}: {token} is not declared",
                        scan.case
                    );
                    license_refs += 1;
                }
            }
            if declared.contains(" OR ") || declared.contains(" AND ") {
                compound += 1;
            }
            for license in &package.licenses {
                if license.spdx_expression.is_none() {
                    assert!(
                        extracted.values().any(|text| *text == license.value),
                        "{}: free text {:?} has no extracted licensing info",
                        scan.case,
                        license.value
                    );
                }
            }
        }
        for (spdx_package, package) in packages[1..].iter().zip(&scan.catalog.packages) {
            if let [license] = package.licenses.as_slice() {
                if let Some(expression) = &license.spdx_expression {
                    assert_eq!(
                        spdx_package["licenseDeclared"],
                        expression.as_str(),
                        "{}",
                        scan.case
                    );
                }
            }
        }
    }
    assert!(license_refs > 0, "no free-text licence became a LicenseRef");
    assert!(compound > 0, "no compound expression rendered");
}

#[test]
fn spdx_broken_document_fails() {
    let Some(validators) = validators() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let valid = scan("python/coverage").render(SbomFormat::SpdxJson);

    let good = write_json(dir.path(), "good.spdx.json", &valid);
    assert_eq!(validators.spdx(&good), Ok(()));

    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("creationInfo");
    let file = write_json(dir.path(), "missing-creation-info.spdx.json", &missing);
    let findings = validators.spdx(&file).unwrap_err();
    assert!(findings.contains("CreationInfo"), "{findings}");

    let mut undeclared = valid.clone();
    undeclared
        .as_object_mut()
        .unwrap()
        .remove("hasExtractedLicensingInfos");
    let file = write_json(dir.path(), "undeclared-license-ref.spdx.json", &undeclared);
    let findings = validators.spdx(&file).unwrap_err();
    assert!(findings.contains("LicenseRef-"), "{findings}");
}

// --- edge cases ---------------------------------------------------------------------------

/// Licence values the fixtures lack but real databases can contain: `NOASSERTION`, an
/// identifier the `spdx` crate lists but the validators reject, a `LicenseRef-` inside an
/// expression, text that sanitizes to nothing, non-ASCII text, and two texts that clash once
/// sanitized.
#[test]
fn edge_licences_pass_validators() {
    let Some(validators) = validators() else {
        return;
    };
    let mut scanned = scan("rpm/sqlite-sbomtest");
    let template = scanned.catalog.packages[0].licenses[0].clone();
    let licence = |value: &str, expression: Option<&str>| License {
        value: value.to_owned(),
        spdx_expression: expression.map(str::to_owned),
        ..template.clone()
    };
    let shapes = vec![
        vec![licence("NOASSERTION", Some("NOASSERTION"))],
        vec![licence("GFDL", Some("GFDL-1.3-invariants"))],
        vec![
            licence("MIT", Some("MIT")),
            licence("custom or MIT", Some("LicenseRef-custom OR MIT")),
        ],
        vec![licence("+++", None), licence("Lizenz für Ärzte", None)],
        vec![licence("GPL 2", None), licence("GPL-2", None)],
    ];
    let first = scanned.catalog.packages[0].clone();
    scanned.catalog.packages = shapes
        .into_iter()
        .enumerate()
        .map(|(index, licenses)| {
            let mut package = first.clone();
            package.name = format!("edge-{index}");
            package.licenses = licenses;
            package
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let bom = write_json(
        dir.path(),
        "edge.cdx.json",
        &scanned.render(SbomFormat::CycloneDxJson),
    );
    if let Err(findings) = validators.cyclonedx(&[bom]) {
        panic!("CycloneDX validation failed:\n{findings}");
    }
    let document = scanned.render(SbomFormat::SpdxJson);
    let file = write_json(dir.path(), "edge.spdx.json", &document);
    if let Err(findings) = validators.spdx(&file) {
        panic!("SPDX validation failed:\n{findings}");
    }

    let extracted = document["hasExtractedLicensingInfos"].as_array().unwrap();
    let ids: BTreeSet<&str> = strings(extracted.iter().map(|info| &info["licenseId"]))
        .into_iter()
        .collect();
    assert_eq!(ids.len(), extracted.len(), "LicenseRef ids repeat");
    assert!(ids.contains("LicenseRef-custom"), "{ids:?}");
    assert!(ids.contains("LicenseRef-GPL-2"), "{ids:?}");
    assert!(ids.contains("LicenseRef-GFDL"), "{ids:?}");
    // custom, GFDL, "+++", the non-ASCII text, and both GPL texts.
    assert_eq!(ids.len(), 6, "{ids:?}");
}

// --- reproducibility --------------------------------------------------------------------

#[test]
fn rendering_is_reproducible() {
    let scan = scan("rpm/sqlite-sbomtest");
    let input = scan.input();
    let created = OffsetDateTime::from_unix_timestamp(CREATED).unwrap();
    let later = OffsetDateTime::from_unix_timestamp(CREATED + 60).unwrap();
    for format in SbomFormat::ALL {
        let first = render_at(format, &input, created);
        let second = render_at(format, &input, created);
        assert_eq!(first, second, "{format} output differs between runs");
        assert!(first.ends_with(b"\n"), "{format}");
    }

    let serial = |time| {
        let bom: Value =
            serde_json::from_slice(&render_at(SbomFormat::CycloneDxJson, &input, time)).unwrap();
        bom["serialNumber"].as_str().unwrap().to_owned()
    };
    let pinned = serial(created);
    assert_eq!(pinned.len(), "urn:uuid:".len() + 36, "{pinned}");
    assert_eq!(&pinned[23..24], "8", "{pinned} is not a version 8 UUID");
    assert_ne!(pinned, serial(later));

    let namespace = |time| {
        let document: Value =
            serde_json::from_slice(&render_at(SbomFormat::SpdxJson, &input, time)).unwrap();
        document["documentNamespace"].as_str().unwrap().to_owned()
    };
    assert_ne!(namespace(created), namespace(later));
}

/// `render` takes its time from `SOURCE_DATE_EPOCH`. The variable is set only in a child run
/// of this test binary, because changing the environment of the running tests is unsafe.
#[test]
fn render_honours_source_date_epoch() {
    const CHILD: &str = "INLINE_SCAN_SBOM_EPOCH_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let scan = scan("python/coverage");
        let bom: Value =
            serde_json::from_slice(&render(SbomFormat::CycloneDxJson, &scan.input())).unwrap();
        assert_eq!(bom["metadata"]["timestamp"], "2001-09-09T01:46:40Z");
        let document: Value =
            serde_json::from_slice(&render(SbomFormat::SpdxJson, &scan.input())).unwrap();
        assert_eq!(document["creationInfo"]["created"], "2001-09-09T01:46:40Z");
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "render_honours_source_date_epoch", "--nocapture"])
        .env(CHILD, "1")
        .env("SOURCE_DATE_EPOCH", "1000000000")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child run failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}
