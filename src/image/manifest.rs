//! Synthesized Docker v2 schema 2 manifests for images that arrive without one.
//!
//! A classic `docker save` tarball, and an image exported from a daemon that keeps no registry
//! manifest, carry only a config and layer tars. Anchore names every image by a manifest
//! digest, so one is built here the way stereoscope (syft's image library) builds it: compact
//! JSON with the keys `schemaVersion`, `mediaType`, `config`, `layers` in that order; the config
//! descriptor holds the config's size and sha256; each layer descriptor holds the layer's
//! diffID and uncompressed size under the media type
//! `application/vnd.docker.image.rootfs.diff.tar.gzip`. Matching stereoscope byte for byte
//! means syft, anchorectl and inline-scan give one local image the same digest.

use serde::Serialize;

use crate::digest::Digest;
use crate::source::{LayerInfo, RawManifest};

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
}

/// Builds the Docker v2 schema 2 manifest for `config` and `layers` (bottom layer first).
pub fn synthesize(config: &[u8], layers: &[LayerInfo]) -> RawManifest {
    synthesize_for(config.len() as u64, &Digest::of(config), layers)
}

fn synthesize_for(config_size: u64, config_digest: &Digest, layers: &[LayerInfo]) -> RawManifest {
    let manifest = Manifest {
        schema_version: 2,
        media_type: DOCKER_MANIFEST_V2,
        config: Descriptor {
            media_type: DOCKER_CONFIG,
            size: config_size,
            digest: config_digest.to_string(),
        },
        layers: layers
            .iter()
            .map(|layer| Descriptor {
                media_type: DOCKER_LAYER_GZIP,
                size: layer.uncompressed_size,
                digest: layer.diff_id.to_string(),
            })
            .collect(),
    };
    let bytes =
        serde_json::to_vec(&manifest).expect("a manifest of strings and numbers serializes");
    RawManifest {
        bytes,
        media_type: DOCKER_MANIFEST_V2.to_owned(),
    }
}

/// Returns whether a media type names an index or manifest list rather than one image manifest.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Compression;

    fn layer(diff_id: &str, size: u64) -> LayerInfo {
        LayerInfo {
            diff_id: diff_id.parse().unwrap(),
            blob_digest: None,
            blob_size: size,
            uncompressed_size: size,
            compression: Compression::None,
            media_type: None,
        }
    }

    /// The manifest syft 1.18.1 synthesized for the multilayer test image (taken from its
    /// SBOM's `source.metadata.manifest`) must come out byte for byte.
    #[test]
    fn synthesize_matches_stereoscope_bytes() {
        let config_digest = "086496be89bdf227fe4fc079f4cf390a44fc21d955217a2397368f113986d375";
        let layers = [
            layer(
                "sha256:8c1e077cacfd63de11923f18da72f4feed2b94a1fa41dfebd7f07a4b75580d41",
                2399232,
            ),
            layer(
                "sha256:b7fb97b38d0cdf34d020505bbea8e26524a77471e918a9cf250b1313f22090b8",
                271360,
            ),
            layer(
                "sha256:99516fe9cd30094a2a08155a1e907d319fddecd6c936b83d2094eb8df9bffa6f",
                35840,
            ),
        ];
        let config_digest = Digest::from_hex(config_digest).unwrap();
        let manifest = synthesize_for(3033, &config_digest, &layers);
        assert_eq!(
            manifest.digest().hex(),
            "59d7d435b9c329a3641b69d8d9d48d893a427adb71e0c7e335e3f0f93f06db20"
        );
    }

    #[test]
    fn synthesize_describes_config_and_layers() {
        let config = br#"{"architecture":"amd64"}"#;
        let manifest = synthesize(config, &[layer(&Digest::of(b"x").to_string(), 10)]);
        let value: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap();
        assert_eq!(value["config"]["size"], config.len());
        assert_eq!(value["config"]["digest"], Digest::of(config).to_string());
        assert_eq!(value["layers"][0]["size"], 10);
        assert_eq!(manifest.media_type, DOCKER_MANIFEST_V2);
    }
}
