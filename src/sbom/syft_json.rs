//! syft's JSON format, schema 16.0.18 (the version syft 1.18.1 writes), which is what Anchore's
//! import API reads as the `packages` content.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::catalog::{Catalog, License, Location, Package};
use crate::image::Identity;
use crate::image::manifest::OCI_MANIFEST;
use crate::source::SourceImage;

/// The schema version written in `schema.version`.
pub const SCHEMA_VERSION: &str = "16.0.18";
const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.0.18.json";

/// The inputs of an SBOM: the image it describes and the settings it was made with.
pub struct SbomInput<'a> {
    /// The IMAGE argument as the user typed it.
    pub user_input: &'a str,
    pub image: &'a SourceImage,
    pub identity: &'a Identity,
    pub catalog: &'a Catalog,
    /// The effective analysis settings, recorded in `descriptor.configuration`.
    pub configuration: Value,
}

/// Renders the syft JSON document as compact JSON, the bytes the import uploads.
pub fn render(input: &SbomInput<'_>) -> Vec<u8> {
    serde_json::to_vec(&Document(input)).expect("a syft JSON document serializes")
}

/// The syft JSON document of an input, serialized as it is written: each artifact is
/// serialized from its package directly, so no copy of the package list is built in memory.
pub struct Document<'a, 'b>(pub &'a SbomInput<'b>);

impl Serialize for Document<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let input = self.0;
        let ids: Vec<String> = input.catalog.packages.iter().map(artifact_id).collect();
        let (relationships, files) = relationships_and_files(input, &ids);
        let distro = match &input.catalog.distro {
            Some(distro) => serde_json::to_value(distro).expect("distro fields are strings"),
            None => json!({}),
        };
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("artifacts", &Artifacts(&input.catalog.packages))?;
        map.serialize_entry("artifactRelationships", &relationships)?;
        map.serialize_entry("files", &files)?;
        map.serialize_entry("source", &source(input))?;
        map.serialize_entry("distro", &distro)?;
        map.serialize_entry(
            "descriptor",
            &json!({
                "name": env!("CARGO_PKG_NAME"),
                "version": env!("CARGO_PKG_VERSION"),
                "configuration": input.configuration,
            }),
        )?;
        map.serialize_entry(
            "schema",
            &json!({"version": SCHEMA_VERSION, "url": SCHEMA_URL}),
        )?;
        map.end()
    }
}

struct Artifacts<'a>(&'a [Package]);

impl Serialize for Artifacts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Artifact))
    }
}

fn source(input: &SbomInput<'_>) -> Value {
    let identity = input.identity;
    let config: Value = serde_json::from_slice(&input.image.config).unwrap_or(Value::Null);
    let oci = identity.manifest.media_type == OCI_MANIFEST;
    // Layers are listed by diffID with their uncompressed size, so the media type names the
    // uncompressed form whatever compression the stored blob used.
    let layer_media_type = if oci {
        "application/vnd.oci.image.layer.v1.tar"
    } else {
        "application/vnd.docker.image.rootfs.diff.tar"
    };
    let layers: Vec<Value> = input
        .image
        .layers
        .iter()
        .map(|layer| {
            json!({
                "mediaType": layer_media_type,
                "digest": layer.diff_id.to_string(),
                "size": layer.uncompressed_size,
            })
        })
        .collect();
    let image_size: u64 = input.image.layers.iter().map(|l| l.uncompressed_size).sum();
    let mut metadata = json!({
        "userInput": input.user_input,
        "imageID": identity.config_digest.to_string(),
        "manifestDigest": identity.digest.to_string(),
        "mediaType": identity.manifest.media_type,
        "tags": identity.tags,
        "imageSize": image_size,
        "layers": layers,
        "manifest": BASE64.encode(&identity.manifest.bytes),
        "config": BASE64.encode(&input.image.config),
        "repoDigests": input.image.repo_digests,
        "architecture": config["architecture"].as_str().unwrap_or_default(),
        "os": config["os"].as_str().unwrap_or_default(),
    });
    if let Some(variant) = config["variant"].as_str() {
        metadata["variant"] = json!(variant);
    }
    if let Some(labels) = config["config"]["Labels"].as_object() {
        if !labels.is_empty() {
            metadata["labels"] = Value::Object(labels.clone());
        }
    }
    json!({
        "id": identity.digest.hex(),
        "name": input.user_input,
        "version": identity.digest.to_string(),
        "type": "image",
        "metadata": metadata,
    })
}

/// One package as a syft artifact. The metadata is serialized from the package in place.
struct Artifact<'a>(&'a Package);

impl Serialize for Artifact<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let package = self.0;
        let mut map = serializer.serialize_map(Some(12))?;
        map.serialize_entry("id", &artifact_id(package))?;
        map.serialize_entry("name", &package.name)?;
        map.serialize_entry("version", &package.version)?;
        map.serialize_entry("type", package.kind.as_str())?;
        map.serialize_entry("foundBy", &package.found_by)?;
        map.serialize_entry("locations", &SyftLocations(&package.locations))?;
        map.serialize_entry(
            "licenses",
            &package.licenses.iter().map(SyftLicense).collect::<Vec<_>>(),
        )?;
        map.serialize_entry("language", &package.kind.language())?;
        map.serialize_entry("cpes", &package.cpes)?;
        map.serialize_entry("purl", &package.purl)?;
        map.serialize_entry("metadataType", &package.metadata_type)?;
        map.serialize_entry("metadata", &package.metadata_json())?;
        map.end()
    }
}

/// A location in syft's shape, serialized in place rather than built as a `Value`: an image
/// can list thousands of them.
struct SyftLocation<'a>(&'a Location);

impl Serialize for SyftLocation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let location = self.0;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("path", &location.path)?;
        map.serialize_entry("layerID", &location.layer_id.to_string())?;
        map.serialize_entry(
            "accessPath",
            location.access_path.as_deref().unwrap_or(&location.path),
        )?;
        map.serialize_entry("annotations", &Annotations(location.evidence))?;
        map.end()
    }
}

/// The `annotations` object of a location.
struct Annotations(crate::catalog::Evidence);

impl Serialize for Annotations {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("evidence", &self.0)?;
        map.end()
    }
}

/// A list of locations in syft's shape.
struct SyftLocations<'a>(&'a [Location]);

impl Serialize for SyftLocations<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(SyftLocation))
    }
}

/// A licence in syft's shape.
struct SyftLicense<'a>(&'a License);

impl Serialize for SyftLicense<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let license = self.0;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("value", &license.value)?;
        map.serialize_entry(
            "spdxExpression",
            license.spdx_expression.as_deref().unwrap_or_default(),
        )?;
        map.serialize_entry("type", license.kind)?;
        map.serialize_entry("urls", &[] as &[&str])?;
        map.serialize_entry("locations", &SyftLocations(&license.locations))?;
        map.end()
    }
}

/// One `artifactRelationships` entry, serialized in syft's key order.
#[derive(Serialize)]
struct Relationship<'a> {
    parent: &'a str,
    child: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
}

/// One `files` entry: its id and location.
#[derive(Serialize)]
struct FileRecord<'a> {
    id: String,
    location: FileLocation<'a>,
}

#[derive(Serialize)]
struct FileLocation<'a> {
    path: &'a str,
    #[serde(rename = "layerID")]
    layer_id: String,
}

/// Renders `artifactRelationships` in syft's shapes, and the `files` entries the
/// relationships refer to, in id order. syft also records each file's metadata and digests
/// there, but the layer walk keeps the contents of database files only, so an entry has its
/// id and location.
fn relationships_and_files<'a>(
    input: &'a SbomInput<'_>,
    ids: &'a [String],
) -> (Vec<Relationship<'a>>, Vec<FileRecord<'a>>) {
    let packages = &input.catalog.packages;
    let relations = &input.catalog.relationships;
    let source_id = input.identity.digest.hex();
    let mut files: BTreeMap<String, FileRecord<'a>> = BTreeMap::new();
    let mut file_id = |location: &'a Location| {
        let id = file_id(location);
        files.entry(id.clone()).or_insert_with(|| FileRecord {
            id: id.clone(),
            location: FileLocation {
                path: &location.path,
                layer_id: location.layer_id.to_string(),
            },
        });
        id
    };
    let relationship = |parent: &'a str, child: String, kind, metadata| Relationship {
        parent,
        child,
        kind,
        metadata,
    };

    let mut out = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        out.push(relationship(
            source_id,
            ids[index].clone(),
            "contains",
            None,
        ));
        for location in &package.locations {
            out.push(relationship(
                &ids[index],
                file_id(location),
                "evident-by",
                Some(json!({"kind": location.evidence})),
            ));
        }
    }
    for (index, location) in &relations.contains {
        out.push(relationship(
            &ids[*index],
            file_id(location),
            "contains",
            None,
        ));
    }
    for (dependency, dependent) in &relations.dependency_of {
        out.push(relationship(
            &ids[*dependency],
            ids[*dependent].clone(),
            "dependency-of",
            None,
        ));
    }
    for overlap in &relations.overlaps {
        out.push(relationship(
            &ids[overlap.owner],
            ids[overlap.owned].clone(),
            "ownership-by-file-overlap",
            Some(json!({"files": overlap.files})),
        ));
    }
    (out, files.into_values().collect())
}

/// Computes a stable 16-hex id for a file from its path and layer.
pub fn file_id(location: &Location) -> String {
    let mut hasher = Sha256::new();
    hasher.update(location.path.as_bytes());
    hasher.update([0]);
    hasher.update(location.layer_id.to_string().as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// Computes a stable 16-hex id from the fields that identify the package, so the same analysis always yields the
/// same ids and relationships can refer to them.
pub fn artifact_id(package: &Package) -> String {
    let mut hasher = Sha256::new();
    for part in [
        package.kind.as_str(),
        &package.name,
        &package.version,
        &package.purl,
        package.found_by,
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    for location in &package.locations {
        hasher.update(location.path.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..8])
}
