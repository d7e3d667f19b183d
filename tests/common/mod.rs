//! Shared test support: the fake Anchore server and a small, internally consistent sample
//! image (layer, config, manifest) with its syft JSON SBOM.
#![allow(dead_code)]

pub mod binary;
pub mod built_image;
pub mod cutting_proxy;
pub mod fake_anchore;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use base64::Engine as _;
use inline_scan::anchore::{ApiVersionChoice, Connection, ImportRequest};
use inline_scan::digest::Digest;
use inline_scan::secret::Secret;
use inline_scan::source::RawManifest;
use serde_json::{Value, json};

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const SAMPLE_TAG: &str = "docker.io/local/sample:1.0";

/// A one-layer image whose layer contains the `etc/os-release` of Debian 12.
pub struct SampleImage {
    pub layer_tar: Vec<u8>,
    pub layer_gzip: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: RawManifest,
}

impl SampleImage {
    pub fn build() -> SampleImage {
        let os_release = b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n";
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(os_release.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder
            .append_data(&mut header, "etc/os-release", &os_release[..])
            .expect("append to tar");
        let layer_tar = builder.into_inner().expect("finish tar");

        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&layer_tar).expect("gzip layer");
        let layer_gzip = encoder.finish().expect("finish gzip");

        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(&layer_tar).to_string()]},
            "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "ADD rootfs.tar /"}]
        }))
        .expect("serialize config");

        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": Digest::of(&config).to_string()
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": layer_gzip.len(),
                "digest": Digest::of(&layer_gzip).to_string()
            }]
        }))
        .expect("serialize manifest");

        SampleImage {
            layer_tar,
            layer_gzip,
            config,
            manifest: RawManifest {
                bytes: manifest,
                media_type: DOCKER_MANIFEST_V2.to_owned(),
            },
        }
    }

    pub fn digest(&self) -> Digest {
        self.manifest.digest()
    }

    /// Builds a syft 1.18 JSON document (schema 16.0.18) with one dpkg artifact whose licences and
    /// CPEs are objects, as current syft writes them.
    pub fn sbom(&self) -> Value {
        let base64 = base64::engine::general_purpose::STANDARD;
        let layer_id = Digest::of(&self.layer_tar).to_string();
        json!({
            "artifacts": [{
                "id": "6c1b2f7a90d3e584",
                "name": "base-files",
                "version": "12.4+deb12u5",
                "type": "deb",
                "foundBy": "dpkg-db-cataloger",
                "locations": [{
                    "path": "/var/lib/dpkg/status",
                    "layerID": layer_id,
                    "accessPath": "/var/lib/dpkg/status",
                    "annotations": {"evidence": "primary"}
                }],
                "licenses": [{
                    "value": "GPL-2.0-or-later",
                    "spdxExpression": "GPL-2.0-or-later",
                    "type": "declared",
                    "urls": [],
                    "locations": [{
                        "path": "/usr/share/doc/base-files/copyright",
                        "layerID": layer_id,
                        "accessPath": "/usr/share/doc/base-files/copyright",
                        "annotations": {"evidence": "supporting"}
                    }]
                }],
                "language": "",
                "cpes": [{
                    "cpe": "cpe:2.3:a:base-files:base-files:12.4\\+deb12u5:*:*:*:*:*:*:*",
                    "source": "syft-generated"
                }],
                "purl": "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12",
                "metadataType": "dpkg-db-entry",
                "metadata": {
                    "package": "base-files",
                    "source": "",
                    "version": "12.4+deb12u5",
                    "sourceVersion": "",
                    "architecture": "amd64",
                    "maintainer": "Santiago Vila <sanvila@debian.org>",
                    "installedSize": 395,
                    "files": []
                }
            }],
            "artifactRelationships": [],
            "source": {
                "id": self.digest().to_string(),
                "name": "local/sample",
                "version": "1.0",
                "type": "image",
                "metadata": {
                    "userInput": "local/sample:1.0",
                    "imageID": Digest::of(&self.config).to_string(),
                    "manifestDigest": self.digest().to_string(),
                    "mediaType": DOCKER_MANIFEST_V2,
                    "tags": ["local/sample:1.0"],
                    "imageSize": self.layer_tar.len(),
                    "layers": [{
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "digest": layer_id,
                        "size": self.layer_tar.len()
                    }],
                    "manifest": base64.encode(&self.manifest.bytes),
                    "config": base64.encode(&self.config),
                    "repoDigests": [],
                    "architecture": "amd64",
                    "os": "linux"
                }
            },
            "distro": {
                "prettyName": "Debian GNU/Linux 12 (bookworm)",
                "name": "Debian GNU/Linux",
                "id": "debian",
                "version": "12 (bookworm)",
                "versionCodename": "bookworm",
                "versionID": "12",
                "homeURL": "https://www.debian.org/"
            },
            "descriptor": {"name": "syft", "version": "1.18.1", "configuration": {}},
            "schema": {
                "version": "16.0.18",
                "url": "https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.0.18.json"
            }
        })
    }

    pub fn request(&self) -> ImportRequest {
        ImportRequest {
            digest: self.digest(),
            manifest: self.manifest.clone(),
            config: self.config.clone(),
            parent: None,
            local_image_id: Digest::of(&self.config).hex().to_owned(),
            tags: vec![SAMPLE_TAG.to_owned()],
            annotations: BTreeMap::from([("ci.job".to_owned(), "42".to_owned())]),
            dockerfile: Some(b"FROM scratch\nADD rootfs.tar /\n".to_vec()),
            sbom: serde_json::to_vec(&self.sbom()).unwrap(),
            force: false,
        }
    }
}

/// Builds an OCI image index that lists the sample manifest, for parent-manifest uploads.
pub fn sample_index(image: &SampleImage) -> RawManifest {
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": DOCKER_MANIFEST_V2,
            "size": image.manifest.bytes.len(),
            "digest": image.digest().to_string(),
            "platform": {"architecture": "amd64", "os": "linux"}
        }]
    }))
    .expect("serialize index");
    RawManifest {
        bytes,
        media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
    }
}

pub fn connection(url: &str, username: &str, password: &str) -> Connection {
    Connection {
        url: url.to_owned(),
        username: username.to_owned(),
        password: Secret::new(password),
        account: None,
        api_version: ApiVersionChoice::Auto,
        cacert: None,
        insecure: false,
        request_timeout: Duration::from_secs(10),
    }
}
