//! Validated settings for one `analyze` run, built from the command line and the environment.
//! Every rule the old script enforced is checked here, before any image is read.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::anchore::{Connection, WaitPolicy};
use crate::catalog::registry::Scope;
use crate::cli::{AnalyzeArgs, AnchoreArgs, TimeoutArgs};
use crate::digest::Digest;
use crate::image::IdentityOptions;
use crate::image::identity::validate_image_id;
use crate::report::platform::ReportPlatform;
use crate::sbom::format::{SbomOutput, creation_time_from, parse_outputs};
use crate::secret::Secret;
use crate::source::registry::RegistryOptions;
use crate::source::{Limits, Platform, SourceRef};

/// An invalid option or combination of options. Each message names the option and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "-g (--generate-manifest) cannot be combined with {other}: -g builds the manifest itself"
    )]
    GenerateConflict { other: &'static str },
    #[error("{0}")]
    InvalidDigest(String),
    #[error(transparent)]
    Identity(#[from] crate::image::IdentityError),
    #[error("{what} {path} not found: check the path")]
    FileNotFound { what: &'static str, path: PathBuf },
    #[error("could not read {what} {path}: {reason}")]
    FileUnreadable {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "invalid annotation {value:?}: expected KEY=VALUE with a non-empty key and value, several separated by commas"
    )]
    InvalidAnnotation { value: String },
    #[error("missing {what}: pass {flag} or set {env}")]
    Missing {
        what: &'static str,
        flag: &'static str,
        env: &'static str,
    },
    #[error("invalid Anchore URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "--fail-on-policy cannot be combined with {other}: the policy is evaluated only after Anchore's analysis; drop one of the two"
    )]
    FailOnPolicyConflict { other: &'static str },
    #[error("--timeout must be at least 1 second")]
    ZeroTimeout,
    #[error("{option} must be at least {minimum} bytes")]
    LimitTooSmall { option: &'static str, minimum: u64 },
    #[error("--password-stdin: could not read a password from standard input: {0}")]
    PasswordStdin(String),
    #[error("invalid platform {value:?}: expected os/arch or os/arch/variant, e.g. linux/arm64/v8")]
    InvalidPlatform { value: String },
    #[error("invalid image {value:?}: {reason}")]
    InvalidImage { value: String, reason: String },
    #[error(transparent)]
    Sbom(#[from] crate::sbom::format::SbomOutputError),
    #[error("--registry-password-stdin: could not read a password from standard input: {0}")]
    RegistryPasswordStdin(String),
}

/// Settings of one analysis.
#[derive(Debug, Clone)]
pub struct Settings {
    /// IMAGE as typed.
    pub image_input: String,
    pub source: SourceRef,
    pub pull: bool,
    pub platform: Option<Platform>,
    pub identity: IdentityOptions,
    pub annotations: BTreeMap<String, String>,
    pub dockerfile: Option<Vec<u8>>,
    /// `None` with `--no-import`.
    pub connection: Option<Connection>,
    pub force: bool,
    pub wait: WaitPolicy,
    /// `--fail-on-policy`: exit 3 when the policy evaluation fails.
    pub fail_on_policy: bool,
    /// `--scope`: the file systems the catalogers read.
    pub scope: Scope,
    /// `--sbom-out` targets, each with its format.
    pub sbom_outputs: Vec<SbomOutput>,
    /// The creation time written into every SBOM (`SOURCE_DATE_EPOCH` when set).
    pub sbom_created: time::OffsetDateTime,
    pub report: ReportPlatform,
    pub report_dir: PathBuf,
    /// How to reach the registry of a `registry:REF` image.
    pub registry: RegistryOptions,
    /// Bounds on what any source may read, `--max-layer-size` among them.
    pub limits: Limits,
    /// `--bundle-out`: the folder that receives an import bundle.
    pub bundle_out: Option<PathBuf>,
    pub result_json: Option<PathBuf>,
    pub verbose: bool,
    pub quiet: bool,
}

impl Settings {
    /// Validates `args`. `env` looks up environment variables (the process environment in the
    /// binary, a map in tests); `stdin` supplies the password for `--password-stdin`.
    pub fn from_args(
        args: &AnalyzeArgs,
        env: &dyn Fn(&str) -> Option<String>,
        stdin: &mut dyn BufRead,
    ) -> Result<Self, SettingsError> {
        if args.generate_manifest {
            if args.digest.is_some() {
                return Err(SettingsError::GenerateConflict {
                    other: "-d (--digest)",
                });
            }
            if args.manifest.is_some() {
                return Err(SettingsError::GenerateConflict {
                    other: "-m (--manifest)",
                });
            }
        }
        let digest = match &args.digest {
            Some(value) => Some(
                value
                    .parse::<Digest>()
                    .map_err(|error| SettingsError::InvalidDigest(format!("-d: {error}")))?,
            ),
            None => None,
        };
        if let Some(id) = &args.image_id {
            validate_image_id(id)?;
        }
        let manifest_file = match &args.manifest {
            Some(path) => Some((path.clone(), read_file("manifest file (-m)", path)?)),
            None => None,
        };
        let dockerfile = match &args.dockerfile {
            Some(path) => Some(read_file("Dockerfile (-f)", path)?),
            None => None,
        };
        let annotations = parse_annotations(&args.annotations)?;
        validate_timeouts(&args.timeouts)?;
        let platform = args.platform.as_deref().map(parse_platform).transpose()?;
        let source = parse_source(&args.image)?;
        let user_reference = match &source {
            SourceRef::Daemon(reference) | SourceRef::Registry(reference) => {
                Some(reference.clone())
            }
            SourceRef::DockerArchive { reference, .. }
            | SourceRef::OciDir { reference, .. }
            | SourceRef::OciArchive { reference, .. } => reference.clone(),
        };
        if args.max_layer_size == 0 {
            return Err(SettingsError::LimitTooSmall {
                option: "--max-layer-size",
                minimum: 1,
            });
        }
        // One tar header block is the smallest entry there is.
        if args.max_tar_header_size < 512 {
            return Err(SettingsError::LimitTooSmall {
                option: "--max-tar-header-size",
                minimum: 512,
            });
        }
        let limits = Limits {
            max_layer_size: args.max_layer_size,
            max_tar_header: args.max_tar_header_size,
            ..Limits::default()
        };
        let sbom_outputs = parse_outputs(&args.sbom_out)?;
        let sbom_created = creation_time_from(env("SOURCE_DATE_EPOCH").as_deref())?;
        let registry = RegistryOptions {
            insecure_http: args.registry_insecure,
            cacert: args.registry_cacert.clone(),
            username: args.registry_username.clone(),
            password: if args.registry_password_stdin {
                Some(read_password_line(stdin).map_err(SettingsError::RegistryPasswordStdin)?)
            } else {
                None
            },
            platform: platform.clone(),
            docker_config_dir: None,
            limits: limits.clone(),
        };
        if args.anchore.fail_on_policy {
            if args.no_import {
                return Err(SettingsError::FailOnPolicyConflict {
                    other: "--no-import",
                });
            }
            if args.anchore.no_wait {
                return Err(SettingsError::FailOnPolicyConflict { other: "--no-wait" });
            }
        }
        let connection = if args.no_import {
            None
        } else {
            Some(connection(&args.anchore, &args.timeouts, env, stdin)?)
        };
        Ok(Self {
            image_input: args.image.clone(),
            source,
            pull: args.pull,
            platform,
            identity: IdentityOptions {
                digest,
                manifest_file,
                synthesize: args.generate_manifest,
                image_id: args.image_id.clone(),
                user_reference,
                tags: args.tags.clone(),
                all_tags: args.all_tags,
            },
            annotations,
            dockerfile,
            connection,
            force: args.anchore.force,
            wait: wait_policy(&args.anchore, &args.timeouts),
            fail_on_policy: args.anchore.fail_on_policy,
            scope: args.scope,
            sbom_outputs,
            sbom_created,
            report: args.output.report,
            report_dir: args.output.report_dir.clone(),
            registry,
            limits,
            bundle_out: args.bundle_out.clone(),
            result_json: args.output.result_json.clone(),
            verbose: args.output.verbose,
            quiet: args.output.quiet,
        })
    }
}

/// Rejects a zero `--timeout`.
pub fn validate_timeouts(timeouts: &TimeoutArgs) -> Result<(), SettingsError> {
    if timeouts.timeout == 0 {
        return Err(SettingsError::ZeroTimeout);
    }
    Ok(())
}

/// Builds the wait policy from `--no-wait` and `--timeout`.
pub fn wait_policy(args: &AnchoreArgs, timeouts: &TimeoutArgs) -> WaitPolicy {
    WaitPolicy::new(!args.no_wait, Duration::from_secs(timeouts.timeout))
}

/// Validates the Anchore connection options, falling back to the anchorectl environment
/// variables, and reads the password from `stdin` for `--password-stdin`.
pub fn connection(
    args: &AnchoreArgs,
    timeouts: &TimeoutArgs,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn BufRead,
) -> Result<Connection, SettingsError> {
    // clap already read the ANCHORE_CLI_* variables into the options; the anchorectl names are
    // the fallback.
    let fallback = |value: &Option<String>, name: &str| {
        value
            .clone()
            .filter(|v| !v.is_empty())
            .or_else(|| env(name).filter(|v| !v.is_empty()))
    };
    let url = fallback(&args.url, "ANCHORECTL_URL").ok_or(SettingsError::Missing {
        what: "Anchore URL",
        flag: "-r URL",
        env: "ANCHORE_CLI_URL (or ANCHORECTL_URL), or use --no-import",
    })?;
    let scheme_hint = "write the scheme too, as in https://anchore.example.com:8228";
    let parsed = url::Url::parse(&url).map_err(|error| SettingsError::InvalidUrl {
        url: url.clone(),
        reason: format!("{error}; {scheme_hint}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SettingsError::InvalidUrl {
            url,
            reason: format!("the scheme must be http or https; {scheme_hint}"),
        });
    }
    let username =
        fallback(&args.username, "ANCHORECTL_USERNAME").ok_or(SettingsError::Missing {
            what: "Anchore user name",
            flag: "-u USER",
            env: "ANCHORE_CLI_USER (or ANCHORECTL_USERNAME)",
        })?;
    let password = if args.password_stdin {
        let mut line = String::new();
        stdin
            .read_line(&mut line)
            .map_err(|error| SettingsError::PasswordStdin(error.to_string()))?;
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        if line.is_empty() {
            return Err(SettingsError::PasswordStdin(
                "the first line is empty".into(),
            ));
        }
        line
    } else {
        let given = args
            .password
            .as_ref()
            .map(|password| password.expose().to_owned());
        fallback(&given, "ANCHORECTL_PASSWORD").ok_or(SettingsError::Missing {
            what: "Anchore password",
            flag: "-p PASS or --password-stdin",
            env: "ANCHORE_CLI_PASS (or ANCHORECTL_PASSWORD)",
        })?
    };
    if let Some(path) = &args.cacert {
        if !path.is_file() {
            return Err(SettingsError::FileNotFound {
                what: "CA certificate file (--cacert)",
                path: path.clone(),
            });
        }
    }
    Ok(Connection {
        url,
        username,
        password: Secret::new(password),
        account: args.account.clone().filter(|a| !a.is_empty()),
        api_version: args.api_version,
        cacert: args.cacert.clone(),
        insecure: args.insecure,
        request_timeout: Duration::from_secs(timeouts.request_timeout.max(1)),
    })
}

/// Reads one password line from standard input, without its line ending.
fn read_password_line(stdin: &mut dyn BufRead) -> Result<Secret, String> {
    let mut line = String::new();
    stdin
        .read_line(&mut line)
        .map_err(|error| error.to_string())?;
    let line = line.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return Err("the first line is empty".into());
    }
    Ok(Secret::new(line))
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, SettingsError> {
    if !path.is_file() {
        return Err(SettingsError::FileNotFound {
            what,
            path: path.to_owned(),
        });
    }
    std::fs::read(path).map_err(|error| SettingsError::FileUnreadable {
        what,
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Parses `-a` values: each is one or more `KEY=VALUE` separated by commas, split on the first
/// `=`. Keys and values must be non-empty, as the old analyzer required.
pub fn parse_annotations(values: &[String]) -> Result<BTreeMap<String, String>, SettingsError> {
    let mut annotations = BTreeMap::new();
    for value in values {
        for item in value.split(',') {
            let invalid = || SettingsError::InvalidAnnotation {
                value: item.to_owned(),
            };
            let (key, val) = item.split_once('=').ok_or_else(invalid)?;
            let key = key.trim();
            if key.is_empty() || val.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(invalid());
            }
            annotations.insert(key.to_owned(), val.to_owned());
        }
    }
    Ok(annotations)
}

/// Parses `os/arch[/variant]`.
pub fn parse_platform(value: &str) -> Result<Platform, SettingsError> {
    let parts: Vec<&str> = value.split('/').collect();
    let invalid = || SettingsError::InvalidPlatform {
        value: value.to_owned(),
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid());
    }
    match parts.as_slice() {
        [os, arch] => Ok(Platform {
            os: (*os).to_owned(),
            architecture: (*arch).to_owned(),
            variant: None,
        }),
        [os, arch, variant] => Ok(Platform {
            os: (*os).to_owned(),
            architecture: (*arch).to_owned(),
            variant: Some((*variant).to_owned()),
        }),
        _ => Err(invalid()),
    }
}

type SourceBuilder = fn(PathBuf, Option<String>) -> SourceRef;

/// Parses IMAGE into a source. For the file sources the path may itself contain `:`, so the
/// longest existing path wins and the rest is the reference.
pub fn parse_source(value: &str) -> Result<SourceRef, SettingsError> {
    let schemes: [(&str, SourceBuilder); 3] = [
        ("docker-archive:", |path, reference| {
            SourceRef::DockerArchive { path, reference }
        }),
        ("oci-dir:", |path, reference| SourceRef::OciDir {
            path,
            reference,
        }),
        ("oci-archive:", |path, reference| SourceRef::OciArchive {
            path,
            reference,
        }),
    ];
    for (scheme, build) in schemes {
        if let Some(rest) = value.strip_prefix(scheme) {
            let (path, reference) =
                split_path_reference(rest).ok_or_else(|| SettingsError::InvalidImage {
                    value: value.to_owned(),
                    reason: format!("{rest} not found: check the path after {scheme}"),
                })?;
            return Ok(build(path, reference));
        }
    }
    if let Some(reference) = value.strip_prefix("registry:") {
        if reference.is_empty() {
            return Err(SettingsError::InvalidImage {
                value: value.to_owned(),
                reason: "registry: needs a reference such as registry.example.com/team/app:1"
                    .into(),
            });
        }
        return Ok(SourceRef::Registry(reference.to_owned()));
    }
    if value.is_empty() {
        return Err(SettingsError::InvalidImage {
            value: value.to_owned(),
            reason: "the image reference is empty".into(),
        });
    }
    // A path given without its scheme would be taken for a daemon reference. A reference never
    // starts with `/` or `.`, and a tarball's name usually ends in .tar, so only such values
    // that exist on disk get the hint.
    let path_like = value.starts_with(['/', '.'])
        || [".tar", ".tar.gz", ".tgz"]
            .iter()
            .any(|suffix| value.ends_with(suffix));
    if path_like && Path::new(value).exists() {
        let scheme = if Path::new(value).is_dir() {
            "oci-dir"
        } else {
            "docker-archive"
        };
        return Err(SettingsError::InvalidImage {
            value: value.to_owned(),
            reason: format!(
                "this is a path on disk, not a Docker daemon image: write {scheme}:{value} \
                 (docker-archive: for a docker save tarball, oci-archive: for an OCI archive, \
                 oci-dir: for an OCI layout folder)"
            ),
        });
    }
    Ok(SourceRef::Daemon(value.to_owned()))
}

fn split_path_reference(rest: &str) -> Option<(PathBuf, Option<String>)> {
    if Path::new(rest).exists() {
        return Some((PathBuf::from(rest), None));
    }
    let mut split_points: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
    split_points.reverse();
    split_points
        .into_iter()
        .find(|&i| i > 0 && Path::new(&rest[..i]).exists() && i + 1 < rest.len())
        .map(|i| (PathBuf::from(&rest[..i]), Some(rest[i + 1..].to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn args(list: &[&str]) -> AnalyzeArgs {
        let mut argv = vec!["inline-scan", "analyze"];
        argv.extend_from_slice(list);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Analyze(args) => args,
            Command::Options(_) | Command::Import(_) => unreachable!(),
        }
    }

    fn settings(list: &[&str]) -> Result<Settings, SettingsError> {
        Settings::from_args(&args(list), &|_| None, &mut std::io::empty())
    }

    #[test]
    fn generate_excludes_digest_and_manifest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let error = settings(&["--no-import", "-g", "-d", &digest, "img"]).unwrap_err();
        assert!(error.to_string().contains("-d"), "{error}");
        let error = settings(&["--no-import", "-g", "-m", "Cargo.toml", "img"]).unwrap_err();
        assert!(error.to_string().contains("-m"), "{error}");
    }

    #[test]
    fn scope_values() {
        let default = settings(&["--no-import", "img"]).unwrap();
        assert_eq!(default.scope, Scope::Squashed);
        let all = settings(&["--no-import", "--scope", "all-layers", "img"]).unwrap();
        assert_eq!(all.scope, Scope::AllLayers);
        assert_eq!(all.scope.as_str(), "all-layers");
        let parsed = Cli::try_parse_from(["inline-scan", "analyze", "--scope", "layers", "img"]);
        assert!(parsed.is_err());
    }

    #[test]
    fn fail_on_policy_needs_wait() {
        let error = settings(&["--no-import", "--fail-on-policy", "img"]).unwrap_err();
        assert!(error.to_string().contains("--no-import"), "{error}");
        let error = settings(&["--no-wait", "--fail-on-policy", "img"]).unwrap_err();
        assert!(error.to_string().contains("--no-wait"), "{error}");
    }

    #[test]
    fn digest_and_image_id_formats() {
        let error = settings(&["--no-import", "-d", &"a".repeat(64), "img"]).unwrap_err();
        assert!(error.to_string().contains("sha256:"), "{error}");
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(settings(&["--no-import", "-d", &upper, "img"]).is_err());
        let error = settings(&["--no-import", "-i", "sha256:abc", "img"]).unwrap_err();
        assert!(error.to_string().contains("64 lower-case hex"), "{error}");
        assert!(settings(&["--no-import", "-i", &"b".repeat(64), "img"]).is_ok());
    }

    #[test]
    fn missing_files_are_named() {
        let error = settings(&["--no-import", "-f", "/nonexistent/Dockerfile", "img"]).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/Dockerfile"),
            "{error}"
        );
        let error = settings(&["--no-import", "-m", "/nonexistent/m.json", "img"]).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/m.json"), "{error}");
    }

    #[test]
    fn annotations_parse_and_reject() {
        let parsed = parse_annotations(&["a=1,b=x=y".into(), "c=3".into()]).unwrap();
        assert_eq!(parsed["a"], "1");
        assert_eq!(parsed["b"], "x=y");
        assert_eq!(parsed["c"], "3");
        for bad in ["a", "=1", "a=", "a=1,", "a b=1"] {
            assert!(parse_annotations(&[bad.into()]).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn connection_requires_url_user_password() {
        let error = settings(&["img"]).unwrap_err();
        assert!(error.to_string().contains("ANCHORE_CLI_URL"), "{error}");
        let error = settings(&["-r", "http://127.0.0.1:1", "img"]).unwrap_err();
        assert!(error.to_string().contains("user name"), "{error}");
        let error = settings(&["-r", "http://127.0.0.1:1", "-u", "admin", "img"]).unwrap_err();
        assert!(error.to_string().contains("password"), "{error}");
        let error = settings(&["-r", "ftp://x", "-u", "a", "-p", "b", "img"]).unwrap_err();
        assert!(error.to_string().contains("http or https"), "{error}");
    }

    #[test]
    fn anchorectl_variables_are_a_fallback() {
        let env = |name: &str| match name {
            "ANCHORECTL_URL" => Some("http://127.0.0.1:1".to_owned()),
            "ANCHORECTL_USERNAME" => Some("admin".to_owned()),
            "ANCHORECTL_PASSWORD" => Some("secret-value".to_owned()),
            _ => None,
        };
        let settings = Settings::from_args(&args(&["img"]), &env, &mut std::io::empty()).unwrap();
        let connection = settings.connection.unwrap();
        assert_eq!(connection.url, "http://127.0.0.1:1");
        assert_eq!(connection.username, "admin");
        assert_eq!(connection.password.expose(), "secret-value");
        assert!(!format!("{connection:?}").contains("secret-value"));
    }

    #[test]
    fn password_from_stdin() {
        let mut input = std::io::Cursor::new(b"from-stdin\nignored\n".to_vec());
        let settings = Settings::from_args(
            &args(&[
                "-r",
                "http://127.0.0.1:1",
                "-u",
                "a",
                "--password-stdin",
                "img",
            ]),
            &|_| None,
            &mut input,
        )
        .unwrap();
        assert_eq!(settings.connection.unwrap().password.expose(), "from-stdin");
    }

    #[test]
    fn source_forms() {
        assert_eq!(
            parse_source("nginx:1").unwrap(),
            SourceRef::Daemon("nginx:1".into())
        );
        assert_eq!(
            parse_source("docker-archive:Cargo.toml").unwrap(),
            SourceRef::DockerArchive {
                path: "Cargo.toml".into(),
                reference: None
            }
        );
        assert_eq!(
            parse_source("oci-dir:src:app:1").unwrap(),
            SourceRef::OciDir {
                path: "src".into(),
                reference: Some("app:1".into())
            }
        );
        let error = parse_source("oci-archive:/nonexistent.tar").unwrap_err();
        assert!(error.to_string().contains("/nonexistent.tar"), "{error}");
    }

    #[test]
    fn platform_forms() {
        let platform = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(platform.architecture, "arm64");
        assert_eq!(platform.variant.as_deref(), Some("v8"));
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux//v8").is_err());
    }
}
