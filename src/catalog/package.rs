//! The package model: what every cataloger records, shaped after syft's JSON artifacts so the
//! SBOM writers can render it without guessing.

use serde::Serialize;

use crate::digest::Digest;

/// A package ecosystem, spelled as syft's `type` field spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PackageType {
    #[serde(rename = "deb")]
    Deb,
    #[serde(rename = "rpm")]
    Rpm,
    #[serde(rename = "apk")]
    Apk,
    #[serde(rename = "python")]
    Python,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "gem")]
    Gem,
    #[serde(rename = "java-archive")]
    JavaArchive,
    #[serde(rename = "jenkins-plugin")]
    JenkinsPlugin,
    #[serde(rename = "go-module")]
    GoModule,
    #[serde(rename = "rust-crate")]
    RustCrate,
    #[serde(rename = "binary")]
    Binary,
}

impl PackageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
            Self::Python => "python",
            Self::Npm => "npm",
            Self::Gem => "gem",
            Self::JavaArchive => "java-archive",
            Self::JenkinsPlugin => "jenkins-plugin",
            Self::GoModule => "go-module",
            Self::RustCrate => "rust-crate",
            Self::Binary => "binary",
        }
    }

    /// Returns the `language` value syft records for this type, empty for OS packages.
    pub fn language(self) -> &'static str {
        match self {
            Self::Deb | Self::Rpm | Self::Apk | Self::Binary => "",
            Self::Python => "python",
            Self::Npm => "javascript",
            Self::Gem => "ruby",
            Self::JavaArchive | Self::JenkinsPlugin => "java",
            Self::GoModule => "go",
            Self::RustCrate => "rust",
        }
    }
}

/// Whether a location is the package's main record or a file that supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    Primary,
    Supporting,
}

/// A file that is evidence for a package, and the layer the visible copy came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The real path, after symlinks.
    pub path: String,
    /// The path as the cataloger requested it, when it differs from `path`.
    pub access_path: Option<String>,
    /// The diffID of the layer that supplied the file.
    pub layer_id: Digest,
    pub evidence: Evidence,
}

/// A CPE 2.3 formatted string and where the guess came from (`syft-generated` style).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpe {
    pub cpe: String,
    pub source: &'static str,
}

/// A licence as the package declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct License {
    /// The text as found (`GPL-2+`, `MIT`, `BSD-3-clause`).
    pub value: String,
    /// The SPDX expression, when the mapping from `value` is known.
    pub spdx_expression: Option<String>,
    /// `declared` (the package metadata states it) or `concluded` (derived from a licence file).
    pub kind: &'static str,
    /// Files the licence was read from.
    pub locations: Vec<Location>,
}

/// The Linux distribution of an image, from os-release or an older release file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Distro {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(rename = "versionID", skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version_codename: String,
    #[serde(rename = "buildID", skip_serializing_if = "String::is_empty")]
    pub build_id: String,
    #[serde(rename = "imageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(rename = "variantID", skip_serializing_if = "String::is_empty")]
    pub variant_id: String,
    #[serde(rename = "homeURL", skip_serializing_if = "String::is_empty")]
    pub home_url: String,
    #[serde(rename = "supportURL", skip_serializing_if = "String::is_empty")]
    pub support_url: String,
    #[serde(rename = "bugReportURL", skip_serializing_if = "String::is_empty")]
    pub bug_report_url: String,
    #[serde(rename = "privacyPolicyURL", skip_serializing_if = "String::is_empty")]
    pub privacy_policy_url: String,
    #[serde(rename = "cpeName", skip_serializing_if = "String::is_empty")]
    pub cpe_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub support_end: String,
    #[serde(rename = "idLike", skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
}

/// One package found in the image.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub kind: PackageType,
    /// The cataloger that found it, by syft's name for the equivalent cataloger.
    pub found_by: &'static str,
    pub purl: String,
    pub cpes: Vec<Cpe>,
    pub licenses: Vec<License>,
    /// Evidence files; the first is the primary record.
    pub locations: Vec<Location>,
    /// syft's `metadataType` for `metadata`.
    pub metadata_type: &'static str,
    /// Ecosystem metadata in syft's JSON shape for `metadata_type`.
    pub metadata: serde_json::Value,
}
