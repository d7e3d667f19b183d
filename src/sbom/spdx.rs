//! SPDX 2.3 JSON.
//!
//! The document is built from typed structs and serde_json. The `spdx-rs` crate (0.5.5)
//! models SPDX 2.2 and declares no minimum Rust version, so it is not used.
//!
//! The document DESCRIBES one package for the image, which CONTAINS one package per catalog
//! entry and, when a distro was detected, an OPERATING-SYSTEM package. No file lists are
//! recorded, so every package has `filesAnalyzed: false` and needs no verification code.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::format::{
    Actor, ActorKind, content_uuid, image_name, image_purl, originator, rfc3339, supplier,
    usable_expression,
};
use super::syft_json::{SbomInput, artifact_id};
use crate::catalog::{Distro, License, Package};

pub const SPDX_VERSION: &str = "SPDX-2.3";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
const NOASSERTION: &str = "NOASSERTION";

/// The base of every `documentNamespace`. SPDX 2.3 requires a unique absolute URI without
/// `#` for each document. The `.invalid` top-level domain is reserved by RFC 2606, so the
/// URI never resolves to anyone's server.
pub const NAMESPACE_BASE: &str = "https://inline-scan.invalid/spdx";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<SpdxPackage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    license_list_version: String,
    creators: Vec<String>,
    created: String,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version_info: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    originator: Option<String>,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "String::is_empty")]
    source_info: String,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    extracted_text: String,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    related_spdx_element: String,
    relationship_type: &'static str,
}

/// Renders the SPDX document, stamped with `created`.
///
/// `documentNamespace` is `NAMESPACE_BASE/sha256-<image digest>/<uuid>`. The UUID is derived
/// from the image digest and the rest of the document (timestamp included), so every distinct
/// document gets its own namespace while the same analysis at the same time reproduces it.
pub fn render(input: &SbomInput<'_>, created: OffsetDateTime) -> Value {
    let mut ids = SpdxIds::default();
    let mut licenses = LicenseRefs::default();

    let image = image_package(input, &mut ids);
    let mut packages = Vec::with_capacity(input.catalog.packages.len() + 2);
    let mut relationships = vec![Relationship {
        spdx_element_id: DOCUMENT_ID.to_owned(),
        related_spdx_element: image.spdx_id.clone(),
        relationship_type: "DESCRIBES",
    }];
    let image_id = image.spdx_id.clone();
    packages.push(image);

    let mut contained: Vec<SpdxPackage> = input
        .catalog
        .packages
        .iter()
        .map(|package| catalog_package(package, &mut ids, &mut licenses))
        .collect();
    if let Some(distro) = &input.catalog.distro {
        contained.push(distro_package(distro, &mut ids));
    }
    // The package ids are read before the packages move into the document.
    let package_ids: Vec<String> = contained
        .iter()
        .map(|package| package.spdx_id.clone())
        .collect();
    for package in contained {
        relationships.push(Relationship {
            spdx_element_id: image_id.clone(),
            related_spdx_element: package.spdx_id.clone(),
            relationship_type: "CONTAINS",
        });
        packages.push(package);
    }
    // As in syft's SPDX output, the dependency is the element and the dependent the related
    // element. File ownership is left out, because the document lists no files.
    for (dependency, dependent) in &input.catalog.relationships.dependency_of {
        relationships.push(Relationship {
            spdx_element_id: package_ids[*dependency].clone(),
            related_spdx_element: package_ids[*dependent].clone(),
            relationship_type: "DEPENDENCY_OF",
        });
    }

    let mut document = Document {
        spdx_version: SPDX_VERSION,
        data_license: "CC0-1.0",
        spdx_id: DOCUMENT_ID,
        name: image_name(input),
        document_namespace: String::new(),
        creation_info: CreationInfo {
            license_list_version: license_list_version(),
            creators: vec![format!(
                "Tool: {}-{}",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_PKG_VERSION")
            )],
            created: rfc3339(created),
        },
        packages,
        has_extracted_licensing_infos: licenses.into_extracted(),
        relationships,
    };

    let content = serde_json::to_vec(&document).expect("the document serializes");
    let digest = &input.identity.digest;
    document.document_namespace = format!(
        "{NAMESPACE_BASE}/sha256-{}/{}",
        digest.hex(),
        content_uuid("spdx", digest, &content)
    );
    serde_json::to_value(&document).expect("the document serializes")
}

/// The SPDX licence list version of the `spdx` crate's identifiers, as `MAJOR.MINOR`.
fn license_list_version() -> String {
    let mut parts = spdx::identifiers::VERSION.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => spdx::identifiers::VERSION.to_owned(),
    }
}

/// Replaces every character SPDX identifiers do not allow (anything but ASCII letters,
/// digits, `.` and `-`) with `-`, collapsing repeats.
fn id_part(text: &str) -> String {
    let mut part = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' {
            c
        } else {
            '-'
        };
        if !(c == '-' && part.ends_with('-')) {
            part.push(c);
        }
    }
    part.trim_matches('-').to_owned()
}

/// Hands out unique SPDXIDs. A repeat gets a numeric suffix.
#[derive(Default)]
struct SpdxIds {
    used: BTreeSet<String>,
}

impl SpdxIds {
    fn claim(&mut self, requested: String) -> String {
        let mut candidate = requested.clone();
        let mut suffix = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = format!("{requested}-{suffix}");
            suffix += 1;
        }
        candidate
    }
}

/// `LicenseRef-` identifiers for licence text that has no SPDX expression, shared across the
/// document so the same text always gets the same identifier, and the text behind every
/// `LicenseRef-` the document uses.
#[derive(Default)]
struct LicenseRefs {
    by_text: BTreeMap<String, String>,
    /// Identifier to the licence text it stands for.
    extracted: BTreeMap<String, String>,
}

impl LicenseRefs {
    fn for_text(&mut self, text: &str) -> String {
        if let Some(id) = self.by_text.get(text) {
            return id.clone();
        }
        let readable: String = id_part(text).chars().take(64).collect();
        let mut id = if readable.is_empty() {
            format!("LicenseRef-{}", short_hash(text))
        } else {
            format!("LicenseRef-{readable}")
        };
        if self.extracted.contains_key(&id) {
            id = format!("{id}-{}", short_hash(text));
        }
        self.extracted.insert(id.clone(), text.to_owned());
        self.by_text.insert(text.to_owned(), id.clone());
        id
    }

    /// Records a `LicenseRef-` that already appears in an SPDX expression, so the document
    /// declares it. `text` is the licence value the expression came from.
    fn declare(&mut self, id: &str, text: &str) {
        self.extracted
            .entry(id.to_owned())
            .or_insert_with(|| text.to_owned());
    }

    fn into_extracted(self) -> Vec<ExtractedLicense> {
        self.extracted
            .into_iter()
            .map(|(id, text)| ExtractedLicense {
                license_id: id,
                name: text.clone(),
                extracted_text: text,
            })
            .collect()
    }
}

fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..4])
}

fn image_package(input: &SbomInput<'_>, ids: &mut SpdxIds) -> SpdxPackage {
    let name = image_name(input);
    let purl = image_purl(input);
    let external_refs = if purl.is_empty() {
        Vec::new()
    } else {
        vec![ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl,
        }]
    };
    SpdxPackage {
        spdx_id: ids.claim(format!("SPDXRef-Image-{}", id_part(&name))),
        name,
        version_info: input.identity.digest.to_string(),
        download_location: NOASSERTION,
        files_analyzed: false,
        checksums: vec![Checksum {
            algorithm: "SHA256",
            checksum_value: input.identity.digest.hex().to_owned(),
        }],
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        external_refs,
        primary_package_purpose: Some("CONTAINER"),
        ..SpdxPackage::default()
    }
}

fn catalog_package(
    package: &Package,
    ids: &mut SpdxIds,
    licenses: &mut LicenseRefs,
) -> SpdxPackage {
    let mut external_refs: Vec<ExternalRef> = package
        .cpes
        .iter()
        .map(|cpe| ExternalRef {
            reference_category: "SECURITY",
            reference_type: "cpe23Type",
            reference_locator: cpe.cpe.to_owned(),
        })
        .collect();
    if !package.purl.is_empty() {
        external_refs.push(ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: package.purl.clone(),
        });
    }
    let requested_id = format!(
        "SPDXRef-Package-{}-{}-{}",
        package.kind.as_str(),
        id_part(&package.name),
        artifact_id(package)
    );
    SpdxPackage {
        name: package.name.clone(),
        spdx_id: ids.claim(requested_id),
        version_info: package.version.clone(),
        supplier: Some(
            supplier(package)
                .map(|(kind, actor)| actor_text(kind, &actor))
                .unwrap_or_else(|| NOASSERTION.to_owned()),
        ),
        originator: originator(package).map(|actor| actor_text(ActorKind::Person, &actor)),
        download_location: NOASSERTION,
        files_analyzed: false,
        source_info: source_info(package),
        license_concluded: NOASSERTION,
        license_declared: declared_expression(&package.licenses, licenses),
        copyright_text: NOASSERTION,
        external_refs,
        ..SpdxPackage::default()
    }
}

fn distro_package(distro: &Distro, ids: &mut SpdxIds) -> SpdxPackage {
    let version = if distro.version_id.is_empty() {
        &distro.build_id
    } else {
        &distro.version_id
    };
    let name = if distro.id.is_empty() {
        distro.name.clone()
    } else {
        distro.id.clone()
    };
    SpdxPackage {
        spdx_id: ids.claim(format!("SPDXRef-OperatingSystem-{}", id_part(&name))),
        name,
        version_info: version.clone(),
        download_location: NOASSERTION,
        files_analyzed: false,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        description: distro.pretty_name.clone(),
        primary_package_purpose: Some("OPERATING-SYSTEM"),
        ..SpdxPackage::default()
    }
}

/// Formats an actor as SPDX wants it: `Person: NAME (EMAIL)` or `Organization: NAME`.
/// Parentheses in the name are dropped, because SPDX parsers read them as the email.
fn actor_text(kind: ActorKind, actor: &Actor) -> String {
    let prefix = match kind {
        ActorKind::Person => "Person",
        ActorKind::Organization => "Organization",
    };
    let name: String = actor
        .name
        .chars()
        .filter(|c| !matches!(c, '(' | ')'))
        .collect();
    match &actor.email {
        Some(email) => format!("{prefix}: {} ({email})", name.trim()),
        None => format!("{prefix}: {}", name.trim()),
    }
}

fn source_info(package: &Package) -> String {
    match package.locations.first() {
        Some(location) => format!(
            "found by inline-scan's {} in {} (layer {})",
            package.found_by, location.path, location.layer_id
        ),
        None => format!("found by inline-scan's {}", package.found_by),
    }
}

/// Builds `licenseDeclared`: the licences' SPDX expressions joined with AND, with a
/// `LicenseRef-` for each licence that has none. `NOASSERTION` when the package declares no
/// licence, because no licence found is not the same as no licence (`NONE`).
fn declared_expression(declared: &[License], licenses: &mut LicenseRefs) -> String {
    let mut terms: Vec<String> = Vec::new();
    for license in declared {
        let term = match usable_expression(license) {
            Some(expression) => {
                for token in expression.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
                    if token.starts_with("LicenseRef-") {
                        licenses.declare(token, &license.value);
                    }
                }
                expression.to_owned()
            }
            None => licenses.for_text(&license.value),
        };
        if !terms.contains(&term) {
            terms.push(term);
        }
    }
    match terms.len() {
        0 => NOASSERTION.to_owned(),
        1 => terms.remove(0),
        _ => terms
            .iter()
            .map(|term| {
                if term.contains(char::is_whitespace) {
                    format!("({term})")
                } else {
                    term.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND "),
    }
}
