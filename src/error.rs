//! The error of a whole run, one variant per phase, and the exit code each maps to.

use crate::exit::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error(transparent)]
    Daemon(#[from] crate::source::daemon::DaemonError),
    #[error(transparent)]
    Source(#[from] crate::source::error::SourceError),
    #[error(transparent)]
    Registry(#[from] crate::source::registry::RegistryError),
    #[error(transparent)]
    Identity(#[from] crate::image::IdentityError),
    #[error("could not write {what} to {path}: {reason}")]
    Output {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error(transparent)]
    Import(#[from] crate::anchore::ImportError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(
        "image {reference} in the daemon is for {found}, not the requested platform {requested}: pull the right platform with -P --platform {requested}"
    )]
    PlatformMismatch {
        reference: String,
        requested: String,
        found: String,
    },
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Settings(_)
            | Self::Daemon(_)
            | Self::Identity(_)
            | Self::Output { .. }
            | Self::Registry(_)
            | Self::Bundle(_)
            | Self::PlatformMismatch { .. } => ExitCode::Failure,
            // A source that cannot be read is an analysis failure, as in the old analyzer, except
            // when the input is missing or the selection is wrong.
            Self::Source(error) => error.exit_code(),
            Self::Import(error) => error.exit_code(),
            Self::Interrupted => ExitCode::Interrupted,
        }
    }
}
