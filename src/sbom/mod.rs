//! SBOM documents rendered from a catalog and the image identity.

pub mod cyclonedx;
pub mod format;
pub mod spdx;
pub mod syft_json;
