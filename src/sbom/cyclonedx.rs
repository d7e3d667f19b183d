//! CycloneDX 1.6 JSON.
//!
//! The document is built from typed structs and serde_json. The `cyclonedx-bom` crate (0.8.1,
//! the latest release) models specification versions 1.3 to 1.5 only, so it cannot write 1.6.
//!
//! Each package becomes a `library` component and the distro an `operating-system`
//! component. The image is `metadata.component`. Facts CycloneDX has no field for (locations,
//! layers, the cataloger, further CPEs) are properties in the `inline-scan:` namespace.
//! Components keep the catalog's order, which the catalog registry sorts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::format::{
    Actor, content_uuid, image_name, image_purl, originator, rfc3339, supplier, usable_expression,
};
use super::syft_json::{SbomInput, artifact_id};
use crate::catalog::{Distro, License, Package};

/// The `$schema` URL of CycloneDX 1.6 JSON documents.
pub const SCHEMA_URL: &str = "http://cyclonedx.org/schema/bom-1.6.schema.json";
pub const SPEC_VERSION: &str = "1.6";

/// The property namespace for facts CycloneDX has no field for.
const NAMESPACE: &str = "inline-scan";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<Dependency>,
}

/// One component and the components it depends on, by `bom-ref`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize, Default)]
struct Component {
    #[serde(rename = "bom-ref", skip_serializing_if = "String::is_empty")]
    bom_ref: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<OrganizationalEntity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<OrganizationalContact>,
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "String::is_empty")]
    cpe: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    purl: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct OrganizationalEntity {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contact: Vec<OrganizationalContact>,
}

#[derive(Serialize)]
struct OrganizationalContact {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

impl From<Actor> for OrganizationalContact {
    fn from(actor: Actor) -> Self {
        Self {
            name: actor.name,
            email: actor.email,
        }
    }
}

/// One entry of a `licenses` array. CycloneDX allows either license objects or exactly one
/// expression in the array, never both.
#[derive(Serialize)]
#[serde(untagged)]
enum LicenseChoice {
    License {
        license: LicenseObject,
    },
    Expression {
        expression: String,
        acknowledgement: &'static str,
    },
}

#[derive(Serialize)]
struct LicenseObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    acknowledgement: &'static str,
}

#[derive(Serialize)]
struct Property {
    name: String,
    value: String,
}

fn property(name: impl std::fmt::Display, value: impl Into<String>) -> Property {
    Property {
        name: format!("{NAMESPACE}:{name}"),
        value: value.into(),
    }
}

/// Renders the CycloneDX document, stamped with `created`.
///
/// `serialNumber` is a UUID derived from the image digest and the rest of the document,
/// timestamp included. The same analysis rendered at the same time gets the same serial
/// number, and any change to the content gets a new one.
pub fn render(input: &SbomInput<'_>, created: OffsetDateTime) -> Value {
    let mut bom_refs = BomRefs::default();
    let mut components: Vec<Component> = input
        .catalog
        .packages
        .iter()
        .map(|package| package_component(package, &mut bom_refs))
        .collect();
    let dependencies = dependencies(input, &components);
    if let Some(distro) = &input.catalog.distro {
        components.push(distro_component(distro, &mut bom_refs));
    }
    let image = image_component(input, &mut bom_refs);
    let properties = input
        .identity
        .tags
        .iter()
        .map(|tag| property("image:tag", tag.as_str()))
        .collect();
    let mut bom = Bom {
        schema: SCHEMA_URL,
        bom_format: "CycloneDX",
        spec_version: SPEC_VERSION,
        serial_number: String::new(),
        version: 1,
        metadata: Metadata {
            timestamp: rfc3339(created),
            tools: Tools {
                components: vec![Component {
                    kind: "application",
                    name: env!("CARGO_PKG_NAME").to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Component::default()
                }],
            },
            component: image,
            properties,
        },
        components,
        dependencies,
    };
    let content = serde_json::to_vec(&bom).expect("the BOM serializes");
    bom.serial_number = format!(
        "urn:uuid:{}",
        content_uuid("cyclonedx", &input.identity.digest, &content)
    );
    serde_json::to_value(&bom).expect("the BOM serializes")
}

/// Lists, for each package that depends on others, the `bom-ref`s of its dependencies.
/// `components` contains the package components in catalog order.
fn dependencies(input: &SbomInput<'_>, components: &[Component]) -> Vec<Dependency> {
    let mut depends_on: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (dependency, dependent) in &input.catalog.relationships.dependency_of {
        depends_on
            .entry(*dependent)
            .or_default()
            .push(components[*dependency].bom_ref.clone());
    }
    depends_on
        .into_iter()
        .map(|(dependent, depends_on)| Dependency {
            reference: components[dependent].bom_ref.clone(),
            depends_on,
        })
        .collect()
}

/// Hands out unique `bom-ref` values. Package refs are the syft JSON artifact ids, so the
/// same package has the same id in every format. A repeat gets a numeric suffix.
#[derive(Default)]
struct BomRefs {
    used: BTreeSet<String>,
}

impl BomRefs {
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

fn image_component(input: &SbomInput<'_>, bom_refs: &mut BomRefs) -> Component {
    Component {
        bom_ref: bom_refs.claim(format!("image-{}", input.identity.digest.hex())),
        kind: "container",
        name: image_name(input),
        version: input.identity.digest.to_string(),
        purl: image_purl(input),
        ..Component::default()
    }
}

fn package_component(package: &Package, bom_refs: &mut BomRefs) -> Component {
    let mut properties = vec![
        property("package:type", package.kind.as_str()),
        property("package:foundBy", package.found_by),
    ];
    if !package.metadata_type.is_empty() {
        properties.push(property("package:metadataType", package.metadata_type));
    }
    for cpe in package.cpes.iter().skip(1) {
        properties.push(property("cpe23", cpe.cpe));
    }
    for (index, location) in package.locations.iter().enumerate() {
        properties.push(property(
            format_args!("location:{index}:path"),
            location.path.as_str(),
        ));
        if let Some(access_path) = &location.access_path {
            properties.push(property(
                format_args!("location:{index}:accessPath"),
                access_path.as_str(),
            ));
        }
        properties.push(property(
            format_args!("location:{index}:layerID"),
            location.layer_id.to_string(),
        ));
    }
    Component {
        bom_ref: bom_refs.claim(artifact_id(package)),
        kind: "library",
        supplier: supplier(package).map(|(_, actor)| supplier_entity(actor)),
        authors: originator(package)
            .map(|actor| vec![actor.into()])
            .unwrap_or_default(),
        name: package.name.clone(),
        version: package.version.clone(),
        licenses: licenses(&package.licenses),
        cpe: package
            .cpes
            .first()
            .map(|cpe| cpe.cpe.to_owned())
            .unwrap_or_default(),
        purl: package.purl.clone(),
        properties,
        ..Component::default()
    }
}

/// Builds the supplier entity. An email goes into the entity's contact, because
/// `organizationalEntity` itself has no email field.
fn supplier_entity(actor: Actor) -> OrganizationalEntity {
    let name = actor.name.clone();
    let contact = if actor.email.is_some() {
        vec![actor.into()]
    } else {
        Vec::new()
    };
    OrganizationalEntity { name, contact }
}

fn distro_component(distro: &Distro, bom_refs: &mut BomRefs) -> Component {
    let version = if distro.version_id.is_empty() {
        &distro.build_id
    } else {
        &distro.version_id
    };
    let mut properties = Vec::new();
    for (key, value) in [
        ("id", &distro.id),
        ("versionID", &distro.version_id),
        ("versionCodename", &distro.version_codename),
        ("buildID", &distro.build_id),
        ("prettyName", &distro.pretty_name),
        ("cpeName", &distro.cpe_name),
    ] {
        if !value.is_empty() {
            properties.push(property(format_args!("distro:{key}"), value.as_str()));
        }
    }
    for id_like in &distro.id_like {
        properties.push(property("distro:idLike", id_like.as_str()));
    }
    let name = if distro.id.is_empty() {
        distro.name.clone()
    } else {
        distro.id.clone()
    };
    Component {
        bom_ref: bom_refs.claim(format!("os:{name}@{version}")),
        kind: "operating-system",
        name,
        version: version.clone(),
        description: distro.pretty_name.clone(),
        properties,
        ..Component::default()
    }
}

/// Maps the package's licences to CycloneDX's licence choice. A licence whose SPDX expression
/// is a single SPDX licence identifier becomes `license.id`, and one without an expression
/// (or with `NOASSERTION`, or one [`usable_expression`] rejects) becomes `license.name`. Any other expression (`MIT OR Apache-2.0`, `GPL-2.0+`) can only
/// stand alone in the array, so when there is one, every licence that has an SPDX expression
/// is joined with AND into a single expression. Licences without one are then left out,
/// because the CycloneDX 1.6 schema cannot mix expressions and license objects.
fn licenses(licenses: &[License]) -> Vec<LicenseChoice> {
    let needs_expression = licenses.iter().any(|license| {
        usable_expression(license)
            .is_some_and(|expression| licence_shape(expression) == LicenceShape::Expression)
    });
    if needs_expression {
        return vec![joined_expression(licenses)];
    }
    licenses
        .iter()
        .map(|license| {
            let (id, name) = match usable_expression(license) {
                Some(id) if licence_shape(id) == LicenceShape::Id => (Some(id.to_owned()), None),
                _ => (None, Some(license.value.clone())),
            };
            LicenseChoice::License {
                license: LicenseObject {
                    id,
                    name,
                    acknowledgement: acknowledgement(license),
                },
            }
        })
        .collect()
}

fn joined_expression(licenses: &[License]) -> LicenseChoice {
    let expressions: Vec<&License> = licenses
        .iter()
        .filter(|license| {
            usable_expression(license)
                .is_some_and(|expression| licence_shape(expression) != LicenceShape::Name)
        })
        .collect();
    let mut parts: Vec<String> = Vec::new();
    for license in &expressions {
        let expression = usable_expression(license).unwrap_or_default();
        let part = if expression.contains(char::is_whitespace) && expressions.len() > 1 {
            format!("({expression})")
        } else {
            expression.to_owned()
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    let all_declared = expressions
        .iter()
        .all(|license| acknowledgement(license) == "declared");
    LicenseChoice::Expression {
        expression: parts.join(" AND "),
        acknowledgement: if all_declared {
            "declared"
        } else {
            "concluded"
        },
    }
}

/// The CycloneDX field that carries an SPDX expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LicenceShape {
    /// A single identifier from the schema's licence list: `license.id`.
    Id,
    /// Anything else SPDX accepts: `expression`.
    Expression,
    /// `NOASSERTION` or `NONE`, which are no licence at all: `license.name` keeps the text.
    Name,
}

fn licence_shape(expression: &str) -> LicenceShape {
    if matches!(expression, "NOASSERTION" | "NONE") {
        return LicenceShape::Name;
    }
    if spdx::license_id(expression).is_some() {
        LicenceShape::Id
    } else {
        LicenceShape::Expression
    }
}

fn acknowledgement(license: &License) -> &'static str {
    if license.kind == "concluded" {
        "concluded"
    } else {
        "declared"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(value: &str, expression: Option<&str>) -> License {
        License {
            value: value.to_owned(),
            spdx_expression: expression.map(str::to_owned),
            kind: "declared",
            locations: Vec::new(),
        }
    }

    #[test]
    fn licences_ids_and_names() {
        let rendered = serde_json::to_value(licenses(&[
            declared("MIT", Some("MIT")),
            declared("Public Domain", None),
            declared("NOASSERTION", Some("NOASSERTION")),
            declared("GFDL", Some("GFDL-1.3-invariants")),
        ]))
        .unwrap();
        assert_eq!(
            rendered,
            serde_json::json!([
                {"license": {"id": "MIT", "acknowledgement": "declared"}},
                {"license": {"name": "Public Domain", "acknowledgement": "declared"}},
                {"license": {"name": "NOASSERTION", "acknowledgement": "declared"}},
                {"license": {"name": "GFDL", "acknowledgement": "declared"}},
            ])
        );
    }

    #[test]
    fn licences_compound_joined() {
        let rendered = serde_json::to_value(licenses(&[
            declared("GPL2+", Some("GPL-2.0-or-later")),
            declared("MIT or Apache", Some("MIT OR Apache-2.0")),
            declared("custom", None),
        ]))
        .unwrap();
        assert_eq!(
            rendered,
            serde_json::json!([{
                "expression": "GPL-2.0-or-later AND (MIT OR Apache-2.0)",
                "acknowledgement": "declared",
            }])
        );
    }
}
