//! inline-scan: analyze a container image on the machine where it was built and import the
//! analysis into Anchore.

pub mod analyze;
pub mod anchore;
pub mod app;
pub mod bundle;
pub mod catalog;
pub mod cli;
pub mod digest;
pub mod dir_tree;
pub mod error;
pub mod exit;
pub mod filesystem;
pub mod image;
pub mod layer;
pub mod memory;
pub mod path_tree;
pub mod progress;
pub mod report;
pub mod sbom;
pub mod secret;
pub mod settings;
pub mod source;
pub mod squash;
