//! What an import is called: image references and tags, the manifest whose digest names the
//! image, and the identity rules that pick both.

pub mod identity;
pub mod manifest;
pub mod reference;

pub use identity::{Identity, IdentityError, IdentityOptions};
