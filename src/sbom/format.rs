//! The SBOM formats inline-scan writes, the `--sbom-out FORMAT=FILE` syntax, and the one
//! entry point that renders a document in any of them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use time::OffsetDateTime;

use super::syft_json::{self, SbomInput};
use super::{cyclonedx, spdx};
use crate::catalog::{License, Package, PackageType};

/// A document format for `--sbom-out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SbomFormat {
    /// syft's JSON, the format Anchore imports.
    SyftJson,
    /// CycloneDX 1.6 JSON.
    CycloneDxJson,
    /// SPDX 2.3 JSON.
    SpdxJson,
}

impl SbomFormat {
    /// Every format, in the order the help text lists them.
    pub const ALL: [SbomFormat; 3] = [Self::SyftJson, Self::CycloneDxJson, Self::SpdxJson];

    /// Returns the name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::SyftJson => "syft-json",
            Self::CycloneDxJson => "cyclonedx-json",
            Self::SpdxJson => "spdx-json",
        }
    }
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SbomFormat {
    type Err = SbomOutputError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == value)
            .ok_or_else(|| SbomOutputError::UnknownFormat {
                value: value.to_owned(),
            })
    }
}

/// The destination of one SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbomTarget {
    /// `-`: standard output.
    Stdout,
    File(PathBuf),
}

/// One `--sbom-out` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomOutput {
    pub format: SbomFormat,
    pub target: SbomTarget,
}

/// An invalid `--sbom-out` value or `SOURCE_DATE_EPOCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbomOutputError {
    #[error(
        "unknown SBOM format {value:?} in --sbom-out: expected syft-json, cyclonedx-json or spdx-json, as FORMAT=FILE; to write syft JSON to a file whose name contains '=', pass syft-json=FILE"
    )]
    UnknownFormat { value: String },
    #[error(
        "--sbom-out {value:?} names no file: pass FORMAT=FILE, or FORMAT=- for standard output"
    )]
    MissingFile { value: String },
    #[error(
        "--sbom-out sends both {first} and {second} to standard output: at most one SBOM can be written to -, so write the others to files"
    )]
    StdoutTwice {
        first: SbomFormat,
        second: SbomFormat,
    },
    #[error("--sbom-out writes both {first} and {second} to {path}: give each SBOM its own file")]
    SameFileTwice {
        first: SbomFormat,
        second: SbomFormat,
        path: PathBuf,
    },
    #[error(
        "--sbom-out {path}: the folder {folder} does not exist; create it first, or choose a path in an existing folder"
    )]
    MissingFolder { path: PathBuf, folder: PathBuf },
    #[error(
        "SOURCE_DATE_EPOCH {value:?} is invalid: expected a non-negative whole number of seconds since 1970-01-01T00:00:00Z, before year 10000; unset it to use the current time"
    )]
    InvalidSourceDateEpoch { value: String },
}

/// Parses one `--sbom-out` value: `FORMAT=FILE`, `FORMAT=-`, or a bare `FILE` (syft JSON, as
/// before formats could be chosen).
///
/// A prefix before `=` that is not a format name is an error when it looks like one (only
/// lower-case letters, digits and `-`), so a misspelt format is not silently taken for a
/// file name. Any other value containing `=` is a bare file name.
pub fn parse_output(value: &str) -> Result<SbomOutput, SbomOutputError> {
    let (format, file) = match value.split_once('=') {
        Some((prefix, file)) if looks_like_format_name(prefix) => (prefix.parse()?, file),
        _ => (SbomFormat::SyftJson, value),
    };
    if file.is_empty() {
        return Err(SbomOutputError::MissingFile {
            value: value.to_owned(),
        });
    }
    let target = if file == "-" {
        SbomTarget::Stdout
    } else {
        SbomTarget::File(PathBuf::from(file))
    };
    Ok(SbomOutput { format, target })
}

fn looks_like_format_name(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses every `--sbom-out` value, in order, and rejects two outputs on standard output or
/// two formats written to the same path. The same format may be written to several files.
pub fn parse_outputs(values: &[String]) -> Result<Vec<SbomOutput>, SbomOutputError> {
    let outputs: Vec<SbomOutput> = values
        .iter()
        .map(|value| parse_output(value))
        .collect::<Result<_, _>>()?;
    // Checked before the image is read, so a typo in the path does not cost a whole analysis.
    for output in &outputs {
        if let SbomTarget::File(path) = &output.target {
            let folder = path
                .parent()
                .filter(|folder| !folder.as_os_str().is_empty());
            if let Some(folder) = folder.filter(|folder| !folder.is_dir()) {
                return Err(SbomOutputError::MissingFolder {
                    path: path.clone(),
                    folder: folder.to_owned(),
                });
            }
        }
    }
    for (index, later) in outputs.iter().enumerate() {
        for earlier in &outputs[..index] {
            match (&earlier.target, &later.target) {
                (SbomTarget::Stdout, SbomTarget::Stdout) => {
                    return Err(SbomOutputError::StdoutTwice {
                        first: earlier.format,
                        second: later.format,
                    });
                }
                (SbomTarget::File(a), SbomTarget::File(b)) if a == b => {
                    return Err(SbomOutputError::SameFileTwice {
                        first: earlier.format,
                        second: later.format,
                        path: a.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(outputs)
}

/// Returns the document creation time: `SOURCE_DATE_EPOCH` when it is set (the
/// reproducible-builds convention), otherwise the current time. Either way it is
/// truncated to whole seconds, which is all both formats' timestamps carry.
pub fn creation_time() -> Result<OffsetDateTime, SbomOutputError> {
    creation_time_from(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())
}

/// Returns [`creation_time`] for a given `SOURCE_DATE_EPOCH` value (`None` when unset). An
/// empty value counts as unset.
pub fn creation_time_from(
    source_date_epoch: Option<&str>,
) -> Result<OffsetDateTime, SbomOutputError> {
    let invalid = |value: &str| SbomOutputError::InvalidSourceDateEpoch {
        value: value.to_owned(),
    };
    let now = OffsetDateTime::now_utc();
    let time = match source_date_epoch.map(str::trim) {
        None | Some("") => now,
        Some(value) => {
            let seconds: i64 = value.parse().map_err(|_| invalid(value))?;
            // A time before 1970 cannot come from a build, and both schemas want a
            // four-digit year.
            if seconds < 0 {
                return Err(invalid(value));
            }
            OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| invalid(value))?
        }
    };
    Ok(time
        .replace_nanosecond(0)
        .expect("zero is a valid nanosecond"))
}

/// Renders `input` as `format`, with the creation time from [`creation_time`]. An invalid
/// `SOURCE_DATE_EPOCH` is logged and the current time used, so callers that must reject it
/// should call [`creation_time`] first and then [`render_at`].
pub fn render(format: SbomFormat, input: &SbomInput<'_>) -> Vec<u8> {
    let created = creation_time().unwrap_or_else(|error| {
        tracing::warn!(%error, "using the current time as the SBOM creation time");
        OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("zero is a valid nanosecond")
    });
    render_at(format, input, created)
}

/// Renders `input` as `format`, stamped with `created` where the format records a creation
/// time (syft JSON records none). The bytes are pretty-printed JSON ending in a newline, and
/// the same input and time always give the same bytes.
pub fn render_at(format: SbomFormat, input: &SbomInput<'_>, created: OffsetDateTime) -> Vec<u8> {
    let mut bytes = match format {
        SbomFormat::SyftJson => serde_json::to_vec_pretty(&syft_json::Document(input)),
        SbomFormat::CycloneDxJson => serde_json::to_vec_pretty(&cyclonedx::render(input, created)),
        SbomFormat::SpdxJson => serde_json::to_vec_pretty(&spdx::render(input, created)),
    }
    .expect("an SBOM document always serializes");
    bytes.push(b'\n');
    bytes
}

// Facts that the CycloneDX and the SPDX writer both record.

/// Returns the image's name in documents: the IMAGE argument as the user typed it, or the digest
/// when that is empty, because both formats require a non-empty name.
pub(super) fn image_name(input: &SbomInput<'_>) -> String {
    if input.user_input.trim().is_empty() {
        input.identity.digest.to_string()
    } else {
        input.user_input.to_owned()
    }
}

/// Returns the image's `pkg:oci` purl: the repository's last path segment as name, the
/// manifest digest as version, and `arch`, `repository_url` and `tag` qualifiers from the
/// config and the first tag. Returns an empty string when no valid purl can be built.
pub(super) fn image_purl(input: &SbomInput<'_>) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&input.image.config).unwrap_or(serde_json::Value::Null);
    let arch = config["architecture"].as_str().unwrap_or_default();
    let digest = input.identity.digest.to_string();
    let reference = input
        .identity
        .tags
        .first()
        .and_then(|tag| crate::image::reference::Parsed::parse(tag).ok());
    match reference {
        Some(reference) => {
            let repository = &reference.repository;
            let name = repository.rsplit('/').next().unwrap_or(repository);
            let repository_url = format!("{}/{}", reference.registry, repository);
            let tag = reference.tag.unwrap_or_default();
            crate::catalog::purl::render(
                "oci",
                None,
                name,
                &digest,
                &[
                    ("arch", arch),
                    ("repository_url", &repository_url),
                    ("tag", tag),
                ],
            )
        }
        None => {
            let input_name = input
                .user_input
                .rsplit(['/', ':'])
                .next()
                .unwrap_or_default();
            let name = input_name.to_ascii_lowercase();
            crate::catalog::purl::render("oci", None, &name, &digest, &[("arch", arch)])
        }
    }
}

/// Returns a version 8 (vendor-specific, RFC 9562) UUID from the sha256 of `kind`, the image
/// digest and `content`, written in the usual 8-4-4-4-12 form. The same inputs always give
/// the same UUID.
pub(super) fn content_uuid(kind: &str, digest: &crate::digest::Digest, content: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};

    let mut hasher = Sha256::new();
    for part in [kind.as_bytes(), digest.to_string().as_bytes(), content] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Formats a time as RFC 3339 in UTC with whole seconds (`2024-05-01T12:00:00Z`).
pub(super) fn rfc3339(time: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .expect("a UTC time with a four-digit year formats")
}

/// Identifiers the `spdx` crate (0.10.9) lists that are not on the SPDX licence list that
/// spdx-tools 0.8.5 validates against, nor in the licence enum of the CycloneDX 1.6 schema
/// that cyclonedx-python-lib 11.12.0 bundles. The listed forms end in `-only` or `-or-later`.
const UNLISTED_IDENTIFIERS: &[&str] = &[
    "GFDL-1.1-invariants",
    "GFDL-1.1-no-invariants",
    "GFDL-1.2-invariants",
    "GFDL-1.2-no-invariants",
    "GFDL-1.3-invariants",
    "GFDL-1.3-no-invariants",
];

/// Returns the licence's SPDX expression unless it uses an identifier that validators
/// reject, in which case the licence is rendered as free text.
pub(super) fn usable_expression(license: &License) -> Option<&str> {
    let expression = license.spdx_expression.as_deref()?;
    let unlisted = expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .any(|token| UNLISTED_IDENTIFIERS.contains(&token));
    (!unlisted).then_some(expression)
}

/// A person or organization named by package metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Actor {
    pub name: String,
    pub email: Option<String>,
}

/// Whether an actor is a person or an organization, as SPDX distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ActorKind {
    Person,
    Organization,
}

/// Parses `Name <email> (url)`, `Name <email>`, `Name`, `<email>` or a bare address. The URL
/// is dropped, and so is an email without `@` or with spaces. A bare address is both the
/// name and the email.
pub(super) fn parse_actor(text: &str) -> Option<Actor> {
    let mut text = text.trim();
    if text.ends_with(')') {
        if let Some(open) = text.rfind('(') {
            text = text[..open].trim_end();
        }
    }
    let (name, email) = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => {
            (text[..open].trim(), Some(text[open + 1..close].trim()))
        }
        // A bare address such as Python's `Author-email: me@example.org`.
        _ if text.contains('@') && !text.contains(char::is_whitespace) => (text, Some(text)),
        _ => (text, None),
    };
    let email = email
        .filter(|email| email.contains('@') && !email.contains(char::is_whitespace))
        .map(str::to_owned);
    let name = if name.is_empty() {
        email.clone()?
    } else {
        name.to_owned()
    };
    Some(Actor { name, email })
}

fn metadata_text<'a>(package: &'a Package, key: &str) -> &'a str {
    package.metadata[key].as_str().unwrap_or_default().trim()
}

/// Returns who distributes the package, when its metadata names them: the maintainer of a
/// Debian or Alpine package, or the vendor of an RPM.
pub(super) fn supplier(package: &Package) -> Option<(ActorKind, Actor)> {
    match package.kind {
        PackageType::Deb | PackageType::Apk => {
            parse_actor(metadata_text(package, "maintainer")).map(|a| (ActorKind::Person, a))
        }
        PackageType::Rpm => {
            parse_actor(metadata_text(package, "vendor")).map(|a| (ActorKind::Organization, a))
        }
        _ => None,
    }
}

/// Returns who wrote the package, when its metadata names them: the author of a Python or
/// npm package.
pub(super) fn originator(package: &Package) -> Option<Actor> {
    match package.kind {
        PackageType::Python => {
            let author = metadata_text(package, "author");
            let email = metadata_text(package, "authorEmail");
            if author.is_empty() {
                return parse_actor(email);
            }
            let mut actor = parse_actor(author)?;
            if actor.email.is_none() {
                actor.email = parse_actor(email).and_then(|parsed| parsed.email);
            }
            Some(actor)
        }
        PackageType::Npm => parse_actor(metadata_text(package, "author")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(format: SbomFormat, file: &str) -> SbomOutput {
        SbomOutput {
            format,
            target: SbomTarget::File(PathBuf::from(file)),
        }
    }

    #[test]
    fn parse_output_forms() {
        assert_eq!(
            parse_output("cyclonedx-json=bom.cdx.json").unwrap(),
            output(SbomFormat::CycloneDxJson, "bom.cdx.json")
        );
        assert_eq!(
            parse_output("spdx-json=out/a=b.json").unwrap(),
            output(SbomFormat::SpdxJson, "out/a=b.json")
        );
        assert_eq!(
            parse_output("sbom.json").unwrap(),
            output(SbomFormat::SyftJson, "sbom.json")
        );
        assert_eq!(
            parse_output("./dir/a=b.json").unwrap(),
            output(SbomFormat::SyftJson, "./dir/a=b.json")
        );
        assert_eq!(
            parse_output("-").unwrap(),
            SbomOutput {
                format: SbomFormat::SyftJson,
                target: SbomTarget::Stdout
            }
        );
        assert_eq!(
            parse_output("spdx-json=-").unwrap(),
            SbomOutput {
                format: SbomFormat::SpdxJson,
                target: SbomTarget::Stdout
            }
        );
    }

    #[test]
    fn parse_output_rejects_bad_values() {
        assert_eq!(
            parse_output("cyclonedx=bom.json"),
            Err(SbomOutputError::UnknownFormat {
                value: "cyclonedx".into()
            })
        );
        assert_eq!(
            parse_output("spdx-json="),
            Err(SbomOutputError::MissingFile {
                value: "spdx-json=".into()
            })
        );
        assert_eq!(
            parse_output(""),
            Err(SbomOutputError::MissingFile { value: "".into() })
        );
    }

    #[test]
    fn parse_outputs_checks_targets() {
        let values = |list: &[&str]| list.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_outputs(&values(&["-", "spdx-json=-"])),
            Err(SbomOutputError::StdoutTwice {
                first: SbomFormat::SyftJson,
                second: SbomFormat::SpdxJson
            })
        );
        assert_eq!(
            parse_outputs(&values(&["a.json", "cyclonedx-json=a.json"])),
            Err(SbomOutputError::SameFileTwice {
                first: SbomFormat::SyftJson,
                second: SbomFormat::CycloneDxJson,
                path: PathBuf::from("a.json")
            })
        );
        let parsed =
            parse_outputs(&values(&["-", "cyclonedx-json=a.json", "spdx-json=b.json"])).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].target, SbomTarget::Stdout);
        assert_eq!(parsed[1], output(SbomFormat::CycloneDxJson, "a.json"));
        assert_eq!(parsed[2], output(SbomFormat::SpdxJson, "b.json"));
    }

    #[test]
    fn parse_actor_forms() {
        let actor = |name: &str, email: Option<&str>| Actor {
            name: name.to_owned(),
            email: email.map(str::to_owned),
        };
        assert_eq!(
            parse_actor("Jane Doe <jane@example.org> (https://example.org)"),
            Some(actor("Jane Doe", Some("jane@example.org")))
        );
        assert_eq!(
            parse_actor("Jane Doe <not an email>"),
            Some(actor("Jane Doe", None))
        );
        assert_eq!(
            parse_actor("<jane@example.org>"),
            Some(actor("jane@example.org", Some("jane@example.org")))
        );
        assert_eq!(
            parse_actor("jane@example.org"),
            Some(actor("jane@example.org", Some("jane@example.org")))
        );
        assert_eq!(
            parse_actor("Example Corp"),
            Some(actor("Example Corp", None))
        );
        assert_eq!(parse_actor("  "), None);
    }

    #[test]
    fn content_uuid_is_version_8() {
        let digest = crate::digest::Digest::of(b"manifest");
        let uuid = content_uuid("cyclonedx", &digest, b"content");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "8");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
        assert_eq!(uuid, content_uuid("cyclonedx", &digest, b"content"));
        assert_ne!(uuid, content_uuid("spdx", &digest, b"content"));
        assert_ne!(uuid, content_uuid("cyclonedx", &digest, b"other"));
    }

    #[test]
    fn source_date_epoch_pins_time() {
        let pinned = creation_time_from(Some("1700000000")).unwrap();
        assert_eq!(pinned.unix_timestamp(), 1_700_000_000);
        assert_eq!(pinned.nanosecond(), 0);
        assert!(creation_time_from(Some("")).is_ok());
        assert_eq!(
            creation_time_from(Some("yesterday")),
            Err(SbomOutputError::InvalidSourceDateEpoch {
                value: "yesterday".into()
            })
        );
        assert_eq!(
            creation_time_from(Some("-1")),
            Err(SbomOutputError::InvalidSourceDateEpoch { value: "-1".into() })
        );
        assert_eq!(
            creation_time_from(Some("253402300800")),
            Err(SbomOutputError::InvalidSourceDateEpoch {
                value: "253402300800".into()
            })
        );
        assert_eq!(
            creation_time_from(Some("1.5")),
            Err(SbomOutputError::InvalidSourceDateEpoch {
                value: "1.5".into()
            })
        );
    }
}
