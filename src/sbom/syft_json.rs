//! syft's JSON format, schema 16.0.18 (the version syft 1.18.1 writes), which is what Anchore's
//! import API reads as the `packages` content.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
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

/// Renders the syft JSON document.
pub fn render(input: &SbomInput<'_>) -> Value {
    let artifacts: Vec<Value> = input.catalog.packages.iter().map(artifact).collect();
    let (relationships, files) = relationships_and_files(input);
    let distro = match &input.catalog.distro {
        Some(distro) => serde_json::to_value(distro).expect("distro fields are strings"),
        None => json!({}),
    };
    json!({
        "artifacts": artifacts,
        "artifactRelationships": relationships,
        "files": files,
        "source": source(input),
        "distro": distro,
        "descriptor": {
            "name": env!("CARGO_PKG_NAME"),
            "version": env!("CARGO_PKG_VERSION"),
            "configuration": input.configuration,
        },
        "schema": {"version": SCHEMA_VERSION, "url": SCHEMA_URL},
    })
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

fn artifact(package: &Package) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(artifact_id(package)));
    object.insert("name".into(), json!(package.name));
    object.insert("version".into(), json!(package.version));
    object.insert("type".into(), json!(package.kind.as_str()));
    object.insert("foundBy".into(), json!(package.found_by));
    object.insert(
        "locations".into(),
        Value::Array(package.locations.iter().map(location).collect()),
    );
    object.insert(
        "licenses".into(),
        Value::Array(package.licenses.iter().map(license).collect()),
    );
    object.insert("language".into(), json!(package.kind.language()));
    object.insert(
        "cpes".into(),
        Value::Array(
            package
                .cpes
                .iter()
                .map(|cpe| json!({"cpe": cpe.cpe, "source": cpe.source}))
                .collect(),
        ),
    );
    object.insert("purl".into(), json!(package.purl));
    object.insert("metadataType".into(), json!(package.metadata_type));
    object.insert("metadata".into(), package.metadata.clone());
    Value::Object(object)
}

fn location(location: &Location) -> Value {
    json!({
        "path": location.path,
        "layerID": location.layer_id.to_string(),
        "accessPath": location.access_path.as_deref().unwrap_or(&location.path),
        "annotations": {"evidence": location.evidence},
    })
}

fn license(license: &License) -> Value {
    json!({
        "value": license.value,
        "spdxExpression": license.spdx_expression.as_deref().unwrap_or_default(),
        "type": license.kind,
        "urls": [],
        "locations": license.locations.iter().map(location).collect::<Vec<_>>(),
    })
}

/// Renders `artifactRelationships` in syft's shapes, and the `files` entries the
/// relationships refer to. syft also records each file's metadata and digests there, but the
/// layer walk keeps the contents of database files only, so an entry has its id and location.
fn relationships_and_files(input: &SbomInput<'_>) -> (Vec<Value>, Vec<Value>) {
    let packages = &input.catalog.packages;
    let relations = &input.catalog.relationships;
    let ids: Vec<String> = packages.iter().map(artifact_id).collect();
    let source_id = input.identity.digest.hex();
    let mut files: BTreeMap<String, Value> = BTreeMap::new();
    let mut file_id = |location: &Location| {
        let id = file_id(location);
        files.entry(id.clone()).or_insert_with(|| {
            json!({
                "id": id,
                "location": {"path": location.path, "layerID": location.layer_id.to_string()},
            })
        });
        id
    };

    let mut out = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        out.push(json!({"parent": source_id, "child": ids[index], "type": "contains"}));
        for location in &package.locations {
            out.push(json!({
                "parent": ids[index],
                "child": file_id(location),
                "type": "evident-by",
                "metadata": {"kind": location.evidence},
            }));
        }
    }
    for (index, location) in &relations.contains {
        out.push(json!({"parent": ids[*index], "child": file_id(location), "type": "contains"}));
    }
    for (dependency, dependent) in &relations.dependency_of {
        out.push(json!({
            "parent": ids[*dependency],
            "child": ids[*dependent],
            "type": "dependency-of",
        }));
    }
    for overlap in &relations.overlaps {
        out.push(json!({
            "parent": ids[overlap.owner],
            "child": ids[overlap.owned],
            "type": "ownership-by-file-overlap",
            "metadata": {"files": overlap.files},
        }));
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
