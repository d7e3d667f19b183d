//! inline-scan: analyze a container image on the machine where it was built and import the
//! analysis into Anchore.

pub mod anchore;
pub mod catalog;
pub mod digest;
pub mod exit;
pub mod filesystem;
pub mod layer;
pub mod secret;
pub mod source;
pub mod squash;
