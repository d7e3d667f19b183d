//! Selection of one platform's manifest from an image index or manifest list.

use oci_spec::image::ImageIndex;

use crate::digest::Digest;
use crate::source::{Platform, RawManifest};

use super::RegistryError;

/// Returns the digest of the index entry for `platform`. An entry without a variant matches
/// any requested variant only when it is the sole entry for that os and architecture.
pub(super) fn select_platform(
    index: &RawManifest,
    platform: &Platform,
    reference: &str,
    registry: &str,
) -> Result<Digest, RegistryError> {
    let invalid = |detail: String| RegistryError::InvalidManifest {
        registry: registry.to_owned(),
        reference: reference.to_owned(),
        what: "index",
        detail,
    };
    let parsed =
        ImageIndex::from_reader(&index.bytes[..]).map_err(|error| invalid(error.to_string()))?;

    let mut available = Vec::new();
    let mut exact = None;
    let mut loose = Vec::new();
    for entry in parsed.manifests() {
        let Some(entry_platform) = entry.platform() else {
            continue;
        };
        let os = entry_platform.os().to_string();
        let architecture = entry_platform.architecture().to_string();
        let variant = entry_platform.variant().clone();
        // BuildKit stores attestation manifests in the index as unknown/unknown.
        if os == "unknown" && architecture == "unknown" {
            continue;
        }
        available.push(format_platform(&os, &architecture, variant.as_deref()));
        if os != platform.os || architecture != platform.architecture {
            continue;
        }
        if variant == platform.variant {
            exact.get_or_insert(entry.digest().to_string());
        } else if platform.variant.is_none() || variant.is_none() {
            loose.push(entry.digest().to_string());
        }
    }
    let chosen = match (exact, loose.as_slice()) {
        (Some(digest), _) => digest,
        (None, [only]) => only.clone(),
        _ => {
            return Err(RegistryError::PlatformNotFound {
                reference: reference.to_owned(),
                requested: format_platform(
                    &platform.os,
                    &platform.architecture,
                    platform.variant.as_deref(),
                ),
                available: if available.is_empty() {
                    "none (no entry declares a platform)".to_owned()
                } else {
                    available.join(", ")
                },
            });
        }
    };
    chosen
        .parse()
        .map_err(|_| invalid(format!("entry digest {chosen} is not a sha256 digest")))
}

fn format_platform(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    }
}

/// Returns linux and this machine's architecture in the names OCI uses (Go's GOARCH).
pub fn runner_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "x86" => ("386", None),
        "arm" => ("arm", Some("v7")),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    };
    Platform {
        os: "linux".to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest::OCI_INDEX;

    fn index(json: &str) -> RawManifest {
        RawManifest {
            bytes: json.as_bytes().to_vec(),
            media_type: OCI_INDEX.to_owned(),
        }
    }

    const TWO_PLATFORMS: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","platform":{"os":"unknown","architecture":"unknown"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","platform":{"os":"linux","architecture":"amd64"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;

    fn platform(text: &str) -> Platform {
        let parts: Vec<&str> = text.split('/').collect();
        Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|part| (*part).to_owned()),
        }
    }

    #[test]
    fn select_platform_exact_and_loose() {
        let index = index(TWO_PLATFORMS);
        let amd64 = select_platform(&index, &platform("linux/amd64"), "r", "h").unwrap();
        assert!(amd64.hex().starts_with("aaaa"));
        let arm64 = select_platform(&index, &platform("linux/arm64"), "r", "h").unwrap();
        assert!(arm64.hex().starts_with("bbbb"));
        let arm64_v8 = select_platform(&index, &platform("linux/arm64/v8"), "r", "h").unwrap();
        assert_eq!(arm64, arm64_v8);
    }

    #[test]
    fn select_platform_lists_available() {
        let error =
            select_platform(&index(TWO_PLATFORMS), &platform("linux/s390x"), "r", "h").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("linux/s390x"), "{message}");
        assert!(message.contains("linux/amd64, linux/arm64/v8"), "{message}");
    }

    #[test]
    fn runner_platform_is_linux() {
        let platform = runner_platform();
        assert_eq!(platform.os, "linux");
        assert!(!platform.architecture.is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(platform.architecture, "amd64");
        }
    }
}
