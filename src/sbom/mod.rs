//! SBOM documents rendered from a catalog and the image identity.

pub mod syft_json;
