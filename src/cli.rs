//! Command-line definitions. This is the single registry of options: the wrappers and the
//! `options` command read it, so every option is declared here once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::anchore::ApiVersionChoice;
use crate::catalog::registry::Scope;
use crate::report::platform::ReportPlatform;
use crate::secret::Secret;

/// Analyze a container image where it was built and import the analysis into Anchore.
#[derive(Debug, Parser)]
#[command(name = "inline-scan", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze IMAGE and import the analysis into Anchore.
    Analyze(AnalyzeArgs),
    /// Import a bundle written by `analyze --bundle-out` into Anchore.
    Import(ImportArgs),
    /// Print the option registry of `analyze` (names, environment variables, defaults).
    Options(OptionsArgs),
}

#[derive(Debug, Args)]
pub struct OptionsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The options of `inline-scan analyze`. Short letters match the old `inline_scan analyze`
/// script.
#[derive(Debug, Args)]
#[command(after_help = IMAGE_HELP)]
pub struct AnalyzeArgs {
    /// The image: a reference in the Docker daemon, `registry:REF`, `docker-archive:PATH[:REF]`,
    /// `oci-dir:PATH[:REF]` or `oci-archive:PATH[:REF]`.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    #[command(flatten)]
    pub anchore: AnchoreArgs,

    /// Analyze only; contact no Anchore server.
    #[arg(long, help_heading = "Anchore")]
    pub no_import: bool,

    #[command(flatten)]
    pub timeouts: TimeoutArgs,

    /// Annotations as KEY=VALUE, comma-separated or repeated.
    #[arg(
        short = 'a',
        long = "annotation",
        value_name = "KEY=VALUE[,KEY=VALUE]",
        help_heading = "Image identity"
    )]
    pub annotations: Vec<String>,

    /// The expected image digest (sha256:<64 hex>); it must equal the sha256 of the manifest
    /// uploaded.
    #[arg(
        short = 'd',
        long = "digest",
        value_name = "DIGEST",
        help_heading = "Image identity"
    )]
    pub digest: Option<String>,

    /// Dockerfile to upload with the analysis.
    #[arg(
        short = 'f',
        long = "dockerfile",
        value_name = "FILE",
        help_heading = "Image identity"
    )]
    pub dockerfile: Option<PathBuf>,

    /// Local image id to record (64 hex, no sha256: prefix); defaults to the config digest.
    #[arg(
        short = 'i',
        long = "image-id",
        value_name = "ID",
        help_heading = "Image identity"
    )]
    pub image_id: Option<String>,

    /// Image manifest file whose exact bytes are uploaded and name the image.
    #[arg(
        short = 'm',
        long = "manifest",
        value_name = "FILE",
        help_heading = "Image identity"
    )]
    pub manifest: Option<PathBuf>,

    /// Synthesize a Docker v2 manifest from the config and layers even when the source stores
    /// one.
    #[arg(
        short = 'g',
        long = "generate-manifest",
        help_heading = "Image identity"
    )]
    pub generate_manifest: bool,

    /// Tag to record, fully qualified or not (repeatable); replaces the IMAGE reference.
    #[arg(long = "tag", value_name = "REF", help_heading = "Image identity")]
    pub tags: Vec<String>,

    /// Record every tag the source has for the image, not only the one named.
    #[arg(long, help_heading = "Image identity")]
    pub all_tags: bool,

    /// Pull IMAGE before analyzing it: through the Docker daemon, or straight from its registry
    /// when no daemon responds.
    #[arg(short = 'P', long = "pull", help_heading = "Image source")]
    pub pull: bool,

    /// Platform to select from a multi-platform source, as os/arch[/variant].
    #[arg(long, value_name = "PLATFORM", help_heading = "Image source")]
    pub platform: Option<String>,

    /// Largest uncompressed size of one layer, in bytes. A layer that expands past it is
    /// rejected as a possible decompression bomb.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = crate::source::DEFAULT_MAX_LAYER_SIZE,
        help_heading = "Image source"
    )]
    pub max_layer_size: u64,

    /// Largest total size of the tar headers of one layer entry (GNU long names, PAX
    /// records), in bytes. A larger entry is rejected as hostile.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = crate::source::DEFAULT_MAX_TAR_HEADER,
        help_heading = "Image source"
    )]
    pub max_tar_header_size: u64,

    /// Speak plain HTTP to the registry of a `registry:REF` image instead of HTTPS.
    #[arg(long, help_heading = "Image source")]
    pub registry_insecure: bool,

    /// PEM file of CA certificates to trust for the registry, in addition to the built-in
    /// roots.
    #[arg(long, value_name = "FILE", help_heading = "Image source")]
    pub registry_cacert: Option<PathBuf>,

    /// Registry user name; without it, credentials come from the Docker CLI config.json.
    #[arg(
        long,
        value_name = "USER",
        requires = "registry_password_stdin",
        help_heading = "Image source"
    )]
    pub registry_username: Option<String>,

    /// Read the registry password from the first line of standard input.
    #[arg(
        long,
        requires = "registry_username",
        conflicts_with = "password_stdin",
        help_heading = "Image source"
    )]
    pub registry_password_stdin: bool,

    /// Which file system to catalog: squashed (the one a container runs on) or all-layers (also
    /// the files that upper layers replaced or deleted, each package with its layer).
    #[arg(
        long,
        value_enum,
        default_value = "squashed",
        value_name = "SCOPE",
        help_heading = "Output"
    )]
    pub scope: Scope,

    /// Write an SBOM as FORMAT=FILE, where FORMAT is syft-json, cyclonedx-json or spdx-json
    /// and FILE is `-` for standard output (at most one output may be `-`). A bare FILE
    /// writes syft JSON. Repeat the option to write several formats.
    #[arg(long, value_name = "FORMAT=FILE", help_heading = "Output")]
    pub sbom_out: Vec<String>,

    /// Also write an import bundle to DIR (created when missing): the SBOM, manifest, config
    /// and identity an import needs, for a later `inline-scan import DIR`. Works with and
    /// without --no-import.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub bundle_out: Option<PathBuf>,

    #[command(flatten)]
    pub output: RunOutputArgs,
}

/// The options of `inline-scan import DIR`: the bundle and the same Anchore and output
/// options as `analyze`.
#[derive(Debug, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// Bundle folder written by `inline-scan analyze --bundle-out DIR`.
    #[arg(value_name = "DIR")]
    pub bundle: PathBuf,

    #[command(flatten)]
    pub anchore: AnchoreArgs,

    #[command(flatten)]
    pub timeouts: TimeoutArgs,

    #[command(flatten)]
    pub output: RunOutputArgs,
}

/// How to reach Anchore and what to ask of it, shared by `analyze` and `import`.
#[derive(Debug, Args)]
pub struct AnchoreArgs {
    /// Anchore API URL, e.g. https://anchore.example.com:8228 (a trailing /v1 or /v2 selects
    /// that API). Also read from ANCHORECTL_URL.
    #[arg(
        short = 'r',
        long = "url",
        value_name = "URL",
        env = "ANCHORE_CLI_URL",
        help_heading = "Anchore"
    )]
    pub url: Option<String>,

    /// Anchore user name (`_api_key` for an API key). Also read from ANCHORECTL_USERNAME.
    #[arg(
        short = 'u',
        long = "username",
        value_name = "USER",
        env = "ANCHORE_CLI_USER",
        help_heading = "Anchore"
    )]
    pub username: Option<String>,

    /// Anchore password or API key. Prefer the environment variable or --password-stdin: a
    /// value on the command line is visible in the process list. Also read from
    /// ANCHORECTL_PASSWORD.
    #[arg(
        short = 'p',
        long = "password",
        value_name = "PASS",
        env = "ANCHORE_CLI_PASS",
        hide_env_values = true,
        help_heading = "Anchore"
    )]
    pub password: Option<Secret>,

    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password", help_heading = "Anchore")]
    pub password_stdin: bool,

    /// Act in this Anchore account (sent as x-anchore-account on every request).
    #[arg(
        long,
        value_name = "NAME",
        env = "ANCHORECTL_ACCOUNT",
        help_heading = "Anchore"
    )]
    pub account: Option<String>,

    /// Which Anchore API to use: auto probes v2 first, then v1.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "VERSION",
        help_heading = "Anchore"
    )]
    pub api_version: ApiVersionChoice,

    /// PEM file of CA certificates to trust for the Anchore URL, in addition to the system's.
    #[arg(long, value_name = "FILE", help_heading = "Anchore")]
    pub cacert: Option<PathBuf>,

    /// Accept any TLS certificate from Anchore. Only for testing.
    #[arg(long, help_heading = "Anchore")]
    pub insecure: bool,

    /// Re-analyze even if Anchore already has this digest.
    #[arg(long, help_heading = "Anchore")]
    pub force: bool,

    /// Return after the import is accepted instead of waiting for Anchore's analysis.
    #[arg(long, help_heading = "Anchore")]
    pub no_wait: bool,

    /// Exit with code 3 when Anchore's policy evaluation of the first tag fails, after every
    /// report is written. An evaluation that is not available does not fail the run.
    #[arg(long, help_heading = "Anchore")]
    pub fail_on_policy: bool,
}

/// Time limits of the import, shared by `analyze` and `import`.
#[derive(Debug, Args)]
pub struct TimeoutArgs {
    /// Seconds to wait for Anchore to finish analyzing the import.
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SECONDS",
        default_value_t = 300,
        help_heading = "Anchore"
    )]
    pub timeout: u64,

    /// Seconds allowed for one HTTP request to Anchore.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120,
        help_heading = "Anchore"
    )]
    pub request_timeout: u64,
}

/// Where the outcome of a run goes, shared by `analyze` and `import`.
#[derive(Debug, Args)]
pub struct RunOutputArgs {
    /// Write the result as JSON to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub result_json: Option<PathBuf>,

    /// Verbose diagnostics on standard error (secrets are never printed).
    #[arg(short = 'V', long = "verbose", help_heading = "Output")]
    pub verbose: bool,

    /// Print only errors on standard error.
    #[arg(
        short = 'q',
        long = "quiet",
        conflicts_with = "verbose",
        help_heading = "Output"
    )]
    pub quiet: bool,

    /// CI platform whose native reports to write: auto picks GitHub, GitLab or CircleCI from
    /// GITHUB_ACTIONS, GITLAB_CI or CIRCLECI and writes none outside CI.
    #[arg(
        long,
        value_enum,
        default_value = "auto",
        value_name = "PLATFORM",
        help_heading = "Output"
    )]
    pub report: ReportPlatform,

    /// Folder for CI report files (GitLab annotations and dotenv, CircleCI JUnit and
    /// artifacts), created when missing.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "inline-scan-report",
        help_heading = "Output"
    )]
    pub report_dir: PathBuf,
}

const IMAGE_HELP: &str = "\
Environment: ANCHORE_CLI_URL / ANCHORECTL_URL, ANCHORE_CLI_USER / ANCHORECTL_USERNAME,
ANCHORE_CLI_PASS / ANCHORECTL_PASSWORD, ANCHORECTL_ACCOUNT; the Docker daemon is reached through
DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads them; INLINE_SCAN_LOG
is a log filter such as debug or inline_scan=trace; NO_COLOR turns colour off.

Exit codes: 0 success, 1 usage, input, authentication or HTTP error, 2 analysis failed (locally
or in Anchore), 3 the policy evaluation failed with --fail-on-policy, 124 the wait timed out,
130 interrupted.";

const IMPORT_HELP: &str = "\
The bundle is checked before Anchore is contacted: every file must match the sha256 and size
recorded in bundle.json and the digest must equal the sha256 of the manifest. --force forces a
re-analysis also when the bundle was written without it.

Environment: ANCHORE_CLI_URL / ANCHORECTL_URL, ANCHORE_CLI_USER / ANCHORECTL_USERNAME,
ANCHORE_CLI_PASS / ANCHORECTL_PASSWORD, ANCHORECTL_ACCOUNT.

Exit codes: 0 success, 1 usage, invalid bundle, authentication or HTTP error, 2 analysis failed
in Anchore, 3 the policy evaluation failed with --fail-on-policy, 124 the wait timed out,
130 interrupted.";
