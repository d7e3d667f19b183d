//! The identity rules: which manifest bytes name the image, and which digest, image id, parent
//! and tags the import carries.
//!
//! The image digest is always the sha256 of the exact manifest bytes uploaded. Those bytes are
//! the `-m FILE` bytes when given. Otherwise they are a manifest synthesized from the config and
//! layers, when `-g` is set or the source stored none, or else the manifest exactly as the source
//! stored it.

use std::path::PathBuf;

use crate::digest::Digest;
use crate::image::manifest::{self, is_index_media_type};
use crate::image::reference::{self, ReferenceError};
use crate::source::{RawManifest, SourceImage};

/// The identity options from the command line.
#[derive(Debug, Clone, Default)]
pub struct IdentityOptions {
    /// `-d`: the digest the user expects; it must match the manifest uploaded.
    pub digest: Option<Digest>,
    /// `-m`: a manifest file whose exact bytes are uploaded, with its path for messages.
    pub manifest_file: Option<(PathBuf, Vec<u8>)>,
    /// `-g`: always synthesize the manifest, even when the source stored one.
    pub synthesize: bool,
    /// `-i`: the local image id (64 hex), instead of the config digest.
    pub image_id: Option<String>,
    /// The reference the user named, when it names a tag.
    pub user_reference: Option<String>,
    /// `--tag`: explicit tags, replacing the user reference.
    pub tags: Vec<String>,
    /// `--all-tags`: every tag the source records for the image, after the user's reference.
    pub all_tags: bool,
}

/// The origin of the manifest bytes, shown in the summary and the result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestOrigin {
    /// The bytes the source stored (an OCI layout or a Docker 25+ `docker save`).
    Source,
    /// The `-m FILE` bytes.
    File,
    /// Built from the config and layers.
    Synthesized,
}

/// Everything that names the image in Anchore.
#[derive(Debug, Clone)]
pub struct Identity {
    pub digest: Digest,
    pub manifest: RawManifest,
    pub manifest_origin: ManifestOrigin,
    /// sha256 of the config bytes; the Docker image id.
    pub config_digest: Digest,
    /// Sent as `local_image_id`: 64 hex without a prefix.
    pub local_image_id: String,
    /// The index the image was selected through, uploaded as the parent manifest.
    pub parent: Option<RawManifest>,
    /// Fully qualified tags. Empty only when nothing names the image; [`Identity::require_tags`]
    /// turns that into an error before an import, because Anchore needs at least one.
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "digest {given} given with -d does not match {computed}, the sha256 of the manifest that would be uploaded ({origin}); pass that image's exact manifest with -m, or drop -d"
    )]
    DigestMismatch {
        given: Digest,
        computed: Digest,
        origin: &'static str,
    },
    #[error("manifest file {path} is not valid JSON: {reason}")]
    ManifestNotJson { path: PathBuf, reason: String },
    #[error(
        "manifest file {path} is a manifest list or index ({media_type}); pass the manifest of one platform with -m"
    )]
    ManifestIsIndex { path: PathBuf, media_type: String },
    #[error(
        "manifest file {path} describes config {described} but the image's config is {actual}; pass the manifest of this image"
    )]
    ManifestConfigMismatch {
        path: PathBuf,
        described: String,
        actual: Digest,
    },
    #[error(
        "image id {value:?} given with -i is invalid: expected 64 lower-case hex characters, without a sha256: prefix"
    )]
    InvalidImageId { value: String },
    #[error("invalid tag: {0}")]
    InvalidTag(#[from] ReferenceError),
    #[error(
        "no tag is known for {image}: name the image by a tag, or give one with --tag REGISTRY/REPOSITORY:TAG"
    )]
    NoTag { image: String },
}

/// Validates the `-i` value: 64 lower-case hex characters, no prefix (the old script's rule).
pub fn validate_image_id(value: &str) -> Result<String, IdentityError> {
    match Digest::from_hex(value) {
        Ok(_) => Ok(value.to_owned()),
        Err(_) => Err(IdentityError::InvalidImageId {
            value: value.to_owned(),
        }),
    }
}

impl Identity {
    /// Fails when no tag names the image: Anchore's finalize rejects an empty tag list.
    pub fn require_tags(&self, image: &str) -> Result<(), IdentityError> {
        if self.tags.is_empty() {
            return Err(IdentityError::NoTag {
                image: image.to_owned(),
            });
        }
        Ok(())
    }

    /// Applies the identity rules to what the source produced.
    pub fn resolve(image: &SourceImage, options: &IdentityOptions) -> Result<Self, IdentityError> {
        let config_digest = Digest::of(&image.config);
        let (manifest, manifest_origin) = choose_manifest(image, options, &config_digest)?;
        let digest = manifest.digest();
        if let Some(given) = &options.digest {
            if *given != digest {
                return Err(IdentityError::DigestMismatch {
                    given: given.clone(),
                    computed: digest,
                    origin: match manifest_origin {
                        ManifestOrigin::Source => "stored in the image source",
                        ManifestOrigin::File => "from -m",
                        ManifestOrigin::Synthesized => "synthesized from the config and layers",
                    },
                });
            }
        }
        let local_image_id = match &options.image_id {
            Some(id) => validate_image_id(id)?,
            None => config_digest.hex().to_owned(),
        };
        let tags = resolve_tags(image, options)?;
        Ok(Self {
            digest,
            manifest,
            manifest_origin,
            config_digest,
            local_image_id,
            parent: image.index.clone(),
            tags,
        })
    }
}

fn choose_manifest(
    image: &SourceImage,
    options: &IdentityOptions,
    config_digest: &Digest,
) -> Result<(RawManifest, ManifestOrigin), IdentityError> {
    if let Some((path, bytes)) = &options.manifest_file {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|error| IdentityError::ManifestNotJson {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        let media_type = value["mediaType"]
            .as_str()
            .unwrap_or(manifest::DOCKER_MANIFEST_V2)
            .to_owned();
        if is_index_media_type(&media_type) || value.get("manifests").is_some() {
            return Err(IdentityError::ManifestIsIndex {
                path: path.clone(),
                media_type,
            });
        }
        let described = value["config"]["digest"].as_str().unwrap_or_default();
        if described != config_digest.to_string() {
            return Err(IdentityError::ManifestConfigMismatch {
                path: path.clone(),
                described: described.to_owned(),
                actual: config_digest.clone(),
            });
        }
        let manifest = RawManifest {
            bytes: bytes.clone(),
            media_type,
        };
        return Ok((manifest, ManifestOrigin::File));
    }
    match &image.manifest {
        Some(stored) if !options.synthesize => Ok((stored.clone(), ManifestOrigin::Source)),
        _ => Ok((
            manifest::synthesize(&image.config, &image.layers),
            ManifestOrigin::Synthesized,
        )),
    }
}

fn resolve_tags(
    image: &SourceImage,
    options: &IdentityOptions,
) -> Result<Vec<String>, IdentityError> {
    let mut tags = Vec::new();
    let push = |tags: &mut Vec<String>, tag: String| {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    };
    if options.tags.is_empty() {
        if let Some(user) = &options.user_reference {
            if let Some(tag) = reference::qualify_tag(user)? {
                push(&mut tags, tag);
            }
        }
    } else {
        for explicit in &options.tags {
            match reference::qualify_tag(explicit)? {
                Some(tag) => push(&mut tags, tag),
                None => {
                    return Err(IdentityError::InvalidTag(ReferenceError::Invalid {
                        value: explicit.clone(),
                        reason: "a tag needs a repository name, not only a digest or id".into(),
                    }));
                }
            }
        }
    }
    // The source's own tags fill in when the user named no tag, or all of them on request.
    if tags.is_empty() || options.all_tags {
        let limit = if options.all_tags { usize::MAX } else { 1 };
        // An OCI `ref.name` may be a bare tag such as `1`, which names no repository.
        let named = image
            .repo_tags
            .iter()
            .filter(|tag| tag.contains('/') || tag.contains(':'));
        for repo_tag in named.take(limit) {
            if let Some(tag) = reference::qualify_tag(repo_tag)? {
                push(&mut tags, tag);
            }
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystem::FileTree;

    fn image(manifest: Option<RawManifest>, repo_tags: &[&str]) -> SourceImage {
        SourceImage {
            description: "docker-archive:test.tar".into(),
            manifest,
            index: None,
            config: br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
            repo_tags: repo_tags.iter().map(|t| (*t).to_owned()).collect(),
            repo_digests: Vec::new(),
            layers: Vec::new(),
            tree: FileTree::default(),
            deferred: Default::default(),
        }
    }

    #[test]
    fn stored_manifest_is_used_unless_synthesize() {
        let stored = RawManifest {
            bytes: br#"{"schemaVersion":2}"#.to_vec(),
            media_type: manifest::OCI_MANIFEST.into(),
        };
        let source = image(Some(stored.clone()), &["app:1"]);
        let identity = Identity::resolve(&source, &IdentityOptions::default()).unwrap();
        assert_eq!(identity.manifest, stored);
        assert_eq!(identity.digest, Digest::of(&stored.bytes));
        assert_eq!(identity.manifest_origin, ManifestOrigin::Source);

        let options = IdentityOptions {
            synthesize: true,
            ..IdentityOptions::default()
        };
        let identity = Identity::resolve(&source, &options).unwrap();
        assert_eq!(identity.manifest_origin, ManifestOrigin::Synthesized);
        assert_ne!(identity.manifest, stored);
        assert_eq!(identity.digest, Digest::of(&identity.manifest.bytes));
    }

    #[test]
    fn digest_override_must_match() {
        let source = image(None, &["app:1"]);
        let options = IdentityOptions {
            digest: Some(Digest::of(b"something else")),
            ..IdentityOptions::default()
        };
        let error = Identity::resolve(&source, &options).unwrap_err();
        assert!(
            matches!(error, IdentityError::DigestMismatch { .. }),
            "{error}"
        );

        let synthesized = manifest::synthesize(&source.config, &source.layers);
        let options = IdentityOptions {
            digest: Some(synthesized.digest()),
            ..IdentityOptions::default()
        };
        assert!(Identity::resolve(&source, &options).is_ok());
    }

    #[test]
    fn manifest_file_is_checked_against_config() {
        let source = image(None, &["app:1"]);
        let config_digest = Digest::of(&source.config);
        let good = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"digest":"{config_digest}"}},"layers":[]}}"#,
            manifest::DOCKER_MANIFEST_V2
        );
        let options = IdentityOptions {
            manifest_file: Some(("m.json".into(), good.clone().into_bytes())),
            ..IdentityOptions::default()
        };
        let identity = Identity::resolve(&source, &options).unwrap();
        assert_eq!(identity.digest, Digest::of(good.as_bytes()));
        assert_eq!(identity.manifest_origin, ManifestOrigin::File);

        let other = good.replace(config_digest.hex(), &"0".repeat(64));
        let options = IdentityOptions {
            manifest_file: Some(("m.json".into(), other.into_bytes())),
            ..IdentityOptions::default()
        };
        assert!(matches!(
            Identity::resolve(&source, &options),
            Err(IdentityError::ManifestConfigMismatch { .. })
        ));

        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        let options = IdentityOptions {
            manifest_file: Some(("list.json".into(), list.to_vec())),
            ..IdentityOptions::default()
        };
        assert!(matches!(
            Identity::resolve(&source, &options),
            Err(IdentityError::ManifestIsIndex { .. })
        ));
    }

    #[test]
    fn tags_prefer_user_reference() {
        let source = image(None, &["other:2", "app:1"]);
        let options = IdentityOptions {
            user_reference: Some("app:1".into()),
            ..IdentityOptions::default()
        };
        let identity = Identity::resolve(&source, &options).unwrap();
        assert_eq!(identity.tags, ["docker.io/library/app:1"]);

        let options = IdentityOptions {
            user_reference: Some("app:1".into()),
            all_tags: true,
            ..IdentityOptions::default()
        };
        let identity = Identity::resolve(&source, &options).unwrap();
        assert_eq!(
            identity.tags,
            ["docker.io/library/app:1", "docker.io/library/other:2"]
        );
    }

    #[test]
    fn tags_fall_back_to_source_then_fail() {
        let source = image(None, &["me/app:3"]);
        let identity = Identity::resolve(&source, &IdentityOptions::default()).unwrap();
        assert_eq!(identity.tags, ["docker.io/me/app:3"]);

        let untagged = image(None, &["1"]);
        let identity = Identity::resolve(&untagged, &IdentityOptions::default()).unwrap();
        assert!(identity.tags.is_empty());
        assert!(matches!(
            identity.require_tags("oci-dir:x"),
            Err(IdentityError::NoTag { .. })
        ));
    }

    #[test]
    fn image_id_override_is_validated() {
        let source = image(None, &["app:1"]);
        let options = IdentityOptions {
            image_id: Some(format!("sha256:{}", "a".repeat(64))),
            ..IdentityOptions::default()
        };
        assert!(matches!(
            Identity::resolve(&source, &options),
            Err(IdentityError::InvalidImageId { .. })
        ));
        let options = IdentityOptions {
            image_id: Some("a".repeat(64)),
            ..IdentityOptions::default()
        };
        assert_eq!(
            Identity::resolve(&source, &options).unwrap().local_image_id,
            "a".repeat(64)
        );
    }
}
