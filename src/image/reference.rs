//! Docker image references and the fully qualified tags Anchore records.

use oci_spec::distribution::Reference;

/// A reference that cannot be used as an Anchore tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid image reference {value:?}: {reason}")]
    Invalid { value: String, reason: String },
    #[error(
        "image reference {value:?} contains characters Anchore rejects in tags: only letters, digits and @ : / _ . - are allowed"
    )]
    Charset { value: String },
}

/// Qualifies a reference the way Anchore stores tags: `nginx` becomes
/// `docker.io/library/nginx:latest`, `me/app:1` becomes `docker.io/me/app:1`, and
/// `registry:5000/app` becomes `registry:5000/app:latest`. A digest in the reference is
/// dropped, because a tag names a repository and tag only. Returns `None` for a pure digest or
/// image id, which names no tag.
pub fn qualify_tag(value: &str) -> Result<Option<String>, ReferenceError> {
    if looks_like_image_id(value) {
        return Ok(None);
    }
    let reference: Reference = value.parse().map_err(|error| ReferenceError::Invalid {
        value: value.to_owned(),
        reason: format!("{error}"),
    })?;
    if reference
        .repository()
        .chars()
        .any(|c| c.is_ascii_uppercase())
    {
        return Err(ReferenceError::Invalid {
            value: value.to_owned(),
            reason: "repository names must be lower case".into(),
        });
    }
    let has_explicit_tag = reference.tag().is_some() && !tag_is_implied(value);
    if reference.digest().is_some() && !has_explicit_tag {
        return Ok(None);
    }
    let tag = reference.tag().unwrap_or("latest");
    let qualified = format!(
        "{}/{}:{}",
        reference.registry(),
        reference.repository(),
        tag
    );
    check_charset(&qualified)?;
    Ok(Some(qualified))
}

/// Returns whether `value` is a bare image id (`sha256:HEX`, 64 hex, or an id prefix of 12+ hex that
/// the daemon would resolve), which names no repository.
pub fn looks_like_image_id(value: &str) -> bool {
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    // A 12+ character all-hex string could also be a repository name, but Docker resolves it
    // as an id first, so this follows Docker.
    (12..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Returns whether the tag is implied: the parser fills in `latest` when the reference has none.
fn tag_is_implied(value: &str) -> bool {
    let name = value.split('@').next().unwrap_or(value);
    let last = name.rsplit('/').next().unwrap_or(name);
    !last.contains(':')
}

fn check_charset(value: &str) -> Result<(), ReferenceError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "@:/_.-".contains(c);
    if value.chars().all(allowed) {
        Ok(())
    } else {
        Err(ReferenceError::Charset {
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualify_official_and_user_images() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("docker.io/nginx:1", "docker.io/library/nginx:1"),
            (
                "index.docker.io/library/nginx:1",
                "docker.io/library/nginx:1",
            ),
            ("me/app:2", "docker.io/me/app:2"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            (
                "registry.example.com/team/app:v1.2",
                "registry.example.com/team/app:v1.2",
            ),
            (
                "sbomtest/multilayer-whiteout:1",
                "docker.io/sbomtest/multilayer-whiteout:1",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                qualify_tag(input).unwrap().as_deref(),
                Some(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn digest_only_and_ids_name_no_tag() {
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(qualify_tag(&format!("nginx@{digest}")).unwrap(), None);
        assert_eq!(qualify_tag(digest).unwrap(), None);
        assert_eq!(qualify_tag("e3b0c44298fc").unwrap(), None);
        assert_eq!(
            qualify_tag(&format!("nginx:1@{digest}"))
                .unwrap()
                .as_deref(),
            Some("docker.io/library/nginx:1")
        );
    }

    #[test]
    fn invalid_references_are_rejected() {
        assert!(qualify_tag("UPPER/case").is_err());
        assert!(qualify_tag("bad name").is_err());
        assert!(qualify_tag("").is_err());
    }
}
