//! Docker image references and the fully qualified tags Anchore records.
//!
//! References are parsed by hand, following the grammar of the distribution project's
//! `reference` package and Docker's normalisation. oci-spec's parser compiles a large regular
//! expression on first use, which took about 40 ms: most of the run time on a small image.

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
    let reference = Parsed::parse(value).map_err(|reason| ReferenceError::Invalid {
        value: value.to_owned(),
        reason: reason.to_owned(),
    })?;
    if reference.digest.is_some() && reference.tag.is_none() {
        return Ok(None);
    }
    let tag = reference.tag.unwrap_or("latest");
    let qualified = format!("{}/{}:{}", reference.registry, reference.repository, tag);
    check_charset(&qualified)?;
    Ok(Some(qualified))
}

/// A reference split into its parts, with Docker's defaults applied to the name: no host
/// means `docker.io`, and a one-part name on Docker Hub is under `library/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub registry: &'a str,
    /// The repository path, with `library/` added where Docker adds it.
    pub repository: String,
    /// The tag as written; `None` when the reference has none.
    pub tag: Option<&'a str>,
    /// The digest as written (`algorithm:hex`); `None` when the reference has none.
    pub digest: Option<&'a str>,
}

/// The maximum length of a repository name, host included, in the distribution grammar.
const MAX_NAME_LEN: usize = 255;
/// The maximum length of a tag in the distribution grammar.
const MAX_TAG_LEN: usize = 128;
const DOCKER_HUB: &str = "docker.io";

impl<'a> Parsed<'a> {
    /// Parses `value` as `[host[:port]/]path[:tag][@digest]`. The error names the invalid
    /// part.
    pub fn parse(value: &'a str) -> Result<Self, &'static str> {
        if value.is_empty() {
            return Err("the reference is empty");
        }
        let (rest, digest) = match value.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest)?;
                (rest, Some(digest))
            }
            None => (value, None),
        };
        // A colon after the last slash starts the tag; one before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |index| index + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(index) => {
                let split = last_slash + index;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag)?;
        }
        if name.is_empty() {
            return Err("the repository name is empty");
        }
        if name.len() > MAX_NAME_LEN {
            return Err("the repository name is longer than 255 characters");
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_registry(first) => (first, path),
            _ => (DOCKER_HUB, name),
        };
        if registry != DOCKER_HUB {
            check_host(registry)?;
        }
        check_path(path)?;
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Docker's rule for the first part of a name: it is a registry host when it has a dot or a
/// colon or is `localhost`. (Docker also takes a part with an upper-case letter as a host; like
/// oci-spec, this parser rejects such a name as a repository path instead.)
fn is_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

/// `host[:port]`, where host is dot-separated labels of letters, digits and inner hyphens, or a
/// bracketed IPv6 address.
fn check_host(registry: &str) -> Result<(), &'static str> {
    let port = if let Some(bracketed) = registry.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or("the registry's IPv6 address has no closing bracket")?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("the registry's IPv6 address is invalid");
        }
        match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("the registry host is followed by something other than a port")?,
            ),
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err("the registry host is not a valid host name");
        }
        port
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("the registry port is not a number");
        }
    }
    Ok(())
}

/// Slash-separated components of lower-case letters and digits, joined inside a component by
/// one `.`, one or two `_`, or any number of `-`.
fn check_path(path: &str) -> Result<(), &'static str> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err("the repository path has an empty component");
        }
        if component.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("repository names must be lower case");
        }
        let bytes = component.as_bytes();
        let mut index = 0;
        let mut expect_alnum = true;
        while index < bytes.len() {
            let b = bytes[index];
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                expect_alnum = false;
                index += 1;
                continue;
            }
            if expect_alnum {
                return Err(
                    "each repository path component must start and end with a letter or digit",
                );
            }
            let run = bytes[index..].iter().take_while(|&&c| c == b).count();
            let separator_ok = match b {
                b'.' => run == 1,
                b'_' => run <= 2,
                b'-' => true,
                _ => return Err("the repository path has a character other than a-z 0-9 . _ -"),
            };
            if !separator_ok {
                return Err("the repository path has an invalid separator");
            }
            index += run;
            expect_alnum = true;
        }
        if expect_alnum {
            return Err("each repository path component must start and end with a letter or digit");
        }
    }
    Ok(())
}

/// Checks that `tag` is a word character, then up to 127 word characters, dots and hyphens.
fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.first() {
        None => Err("the tag is empty"),
        Some(&first) if !word(first) => Err("the tag must start with a letter, digit or _"),
        Some(_) if bytes.len() > MAX_TAG_LEN => Err("the tag is longer than 128 characters"),
        Some(_) if !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') => {
            Err("the tag has a character other than letters, digits and _ . -")
        }
        Some(_) => Ok(()),
    }
}

/// `algorithm:hex` for the algorithms an image digest can use: sha256, sha384 and sha512,
/// each with its exact length in hex digits.
fn check_digest(digest: &str) -> Result<(), &'static str> {
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or("the digest has no algorithm (expected algorithm:hex)")?;
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("the digest algorithm is not sha256, sha384 or sha512"),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the digest is not the hexadecimal form of its algorithm's hash");
    }
    Ok(())
}

/// Returns whether `value` is a bare image id (`sha256:HEX`, 64 hex, or an id prefix of 12+ hex that
/// the daemon would resolve), which names no repository.
pub fn looks_like_image_id(value: &str) -> bool {
    let hex = value.strip_prefix("sha256:").unwrap_or(value);
    // A 12+ character all-hex string could also be a repository name, but Docker resolves it
    // as an id first, so this follows Docker.
    (12..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit())
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

    /// The hand parser must split and accept exactly as oci-spec's regular expression did.
    #[test]
    fn parser_agrees_with_oci_spec() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let long_component = "a".repeat(250);
        let long_tag = "t".repeat(129);
        let cases = [
            "nginx".to_owned(),
            "nginx:1.25".into(),
            "nginx:latest".into(),
            "library/nginx".into(),
            "docker.io/nginx".into(),
            "index.docker.io/nginx:1".into(),
            "me/app:2".into(),
            "me/app/sub:2".into(),
            "localhost/app".into(),
            "localhost:5000/app".into(),
            "localhost:5000/app:v1".into(),
            "127.0.0.1:5000/team/app:v1".into(),
            "[::1]:5000/app:v1".into(),
            "[::1]/app".into(),
            "registry.example.com/team/app:v1.2".into(),
            "my-registry.example.com:443/a_b/c__d/e-f/g---h/i.j:tag_1.2-3".into(),
            format!("nginx@sha256:{hex}"),
            format!("nginx:1@sha256:{hex}"),
            format!("localhost:5000/app:1@sha256:{hex}"),
            format!("sha256:{hex}"),
            "app:".into(),
            ":tag".into(),
            "app::tag".into(),
            "app:-tag".into(),
            "app:.tag".into(),
            "app:_tag".into(),
            format!("app:{long_tag}"),
            format!("{long_component}/bbbbb"),
            "UPPER/case".into(),
            "Upper".into(),
            "app/UPPER".into(),
            "bad name".into(),
            "a//b".into(),
            "/app".into(),
            "app/".into(),
            "a..b".into(),
            "a.b".into(),
            "a___b".into(),
            "a__b".into(),
            "a-b".into(),
            "a--b".into(),
            "-a".into(),
            "a-".into(),
            "a_".into(),
            "host-.com/app".into(),
            "-host.com/app".into(),
            "host..com/app".into(),
            "host.com:/app".into(),
            "host.com:port/app".into(),
            "app@sha256:abc".into(),
            format!("app@sha512:{hex}"),
            format!("app@md5:{}", &hex[..32]),
            format!("app@sha384:{hex}{}", &hex[..32]),
            format!("app@sha512:{hex}{hex}"),
            format!("app@sha256:{hex}0"),
            format!("app@sha256:{}", hex.to_uppercase()),
            "app@".into(),
            format!("app@{hex}"),
            "app:tag@".into(),
            "".into(),
        ];
        // Bracketed IPv6 hosts: Docker's grammar has them and oci-spec 0.8 does not.
        let accepted_here_only = ["[::1]:5000/app:v1", "[::1]/app"];
        for case in &cases {
            let ours = Parsed::parse(case);
            // The code before this parser rejected upper-case repositories after oci-spec
            // accepted them, so those count as rejected.
            let theirs = case
                .parse::<oci_spec::distribution::Reference>()
                .map_err(|error| error.to_string())
                .and_then(|reference| {
                    if reference
                        .repository()
                        .chars()
                        .any(|c| c.is_ascii_uppercase())
                    {
                        Err("upper case".to_owned())
                    } else {
                        Ok(reference)
                    }
                });
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours.registry, theirs.registry(), "{case}");
                    assert_eq!(ours.repository, theirs.repository(), "{case}");
                    assert_eq!(ours.digest, theirs.digest(), "{case}");
                    // oci-spec fills in `latest` when a reference has neither tag nor digest.
                    let tag = match (ours.tag, ours.digest) {
                        (None, None) => Some("latest"),
                        (tag, _) => tag,
                    };
                    assert_eq!(tag, theirs.tag(), "{case}");
                }
                (Err(_), Err(_)) => {}
                (Ok(_), Err(_)) if accepted_here_only.contains(&case.as_str()) => {}
                _ => panic!("{case:?}: ours {ours:?}, oci-spec {theirs:?}"),
            }
        }
    }

    #[test]
    fn invalid_references_are_rejected() {
        assert!(qualify_tag("UPPER/case").is_err());
        assert!(qualify_tag("bad name").is_err());
        assert!(qualify_tag("").is_err());
    }
}
