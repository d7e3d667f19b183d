//! Registry credentials from the command line or from the Docker CLI configuration.
//!
//! The lookup follows the Docker CLI: a `credHelpers` entry for the host wins, then the
//! `credsStore`, then the `auths` entry (`identitytoken`, base64 `auth`, or `username` and
//! `password`). `docker_credential` was not used because it matches `auths` keys only
//! byte for byte (so `https://host/v1/` misses `host`) and puts the helper's standard output
//! into its error text.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::secret::Secret;

use super::RegistryError;

/// The host names Docker Hub is known by in `auths` keys and references.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The server address the Docker CLI passes to credential helpers for Docker Hub.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password, sent as HTTP basic auth or to the token endpoint.
    Basic { username: String, password: Secret },
    /// An OAuth2 refresh token (`identitytoken`), exchanged for an access token.
    IdentityToken(Secret),
}

/// The source of a credential, for log lines and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialOrigin {
    CommandLine,
    DockerConfig(PathBuf),
    Helper(String),
}

impl std::fmt::Display for CredentialOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CommandLine => f.write_str("--registry-username/--registry-password-stdin"),
            Self::DockerConfig(path) => write!(f, "{}", path.display()),
            Self::Helper(name) => write!(f, "docker-credential-{name}"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

/// Returns the directory of the Docker CLI configuration: `explicit`, else `$DOCKER_CONFIG`,
/// else `~/.docker`.
pub fn docker_config_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker"))
}

/// Looks up the credential for `registry` (host[:port] as written in the reference) in
/// `config_dir/config.json`. A missing file or a host without an entry gives `Ok(None)`.
pub fn from_docker_config(
    config_dir: &Path,
    registry: &str,
) -> Result<Option<(Credential, CredentialOrigin)>, RegistryError> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(RegistryError::DockerConfig {
                path,
                detail: error.to_string(),
            });
        }
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|error| RegistryError::DockerConfig {
            path: path.clone(),
            detail: error.to_string(),
        })?;

    let helper = find_entry(&config.cred_helpers, registry)
        .filter(|name| !name.is_empty())
        .or(config.creds_store.as_ref().filter(|name| !name.is_empty()));
    if let Some(helper) = helper {
        let credential = run_helper(helper, registry)?;
        return Ok(
            credential.map(|credential| (credential, CredentialOrigin::Helper(helper.clone())))
        );
    }

    let Some(entry) = find_entry(&config.auths, registry) else {
        return Ok(None);
    };
    let origin = CredentialOrigin::DockerConfig(path.clone());
    if let Some(token) = entry
        .identitytoken
        .as_deref()
        .filter(|token| !token.is_empty())
    {
        return Ok(Some((
            Credential::IdentityToken(Secret::new(token)),
            origin,
        )));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|auth| !auth.is_empty()) {
        let (username, password) =
            decode_auth(auth).ok_or_else(|| RegistryError::DockerConfig {
                path: path.clone(),
                detail: format!("the auth value for {registry} is not base64 of USER:PASSWORD"),
            })?;
        return Ok(Some((Credential::Basic { username, password }, origin)));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        let credential = Credential::Basic {
            username: username.clone(),
            password: Secret::new(password.clone()),
        };
        return Ok(Some((credential, origin)));
    }
    Ok(None)
}

/// Finds the entry whose key names `registry`. Keys may carry a scheme and a path
/// (`https://host:5000/v1/`), as older `docker login` versions wrote them.
fn find_entry<'a, T>(entries: &'a BTreeMap<String, T>, registry: &str) -> Option<&'a T> {
    let expected = canonical_host(registry);
    entries
        .iter()
        .find(|(key, _)| canonical_host(key) == expected)
        .map(|(_, value)| value)
}

fn canonical_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if DOCKER_HUB_HOSTS.contains(&host.as_str()) {
        DOCKER_HUB_HOSTS[0].to_owned()
    } else {
        host
    }
}

fn decode_auth(auth: &str) -> Option<(String, Secret)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (username, password) = text.split_once(':')?;
    Some((username.to_owned(), Secret::new(password)))
}

/// Runs `docker-credential-<helper> get` with the server address on standard input.
/// A helper that exits non-zero with "credentials not found" means no credential.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let server = if canonical_host(registry) == DOCKER_HUB_HOSTS[0] {
        DOCKER_HUB_SERVER
    } else {
        registry
    };
    let failed = |detail: String| RegistryError::CredentialHelper {
        program: program.clone(),
        registry: registry.to_owned(),
        detail,
    };

    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| failed(format!("could not start it: {error}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|error| failed(format!("could not write to its standard input: {error}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| failed(format!("could not read its output: {error}")))?;

    if !output.status.success() {
        // Helpers print the reason on stdout ("credentials not found in native keychain").
        // Only that fixed phrase is matched, and neither stream is copied into the error,
        // because a misbehaving helper may print a secret there.
        let stdout = String::from_utf8_lossy(&output.stdout);
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        return Err(failed(format!("it exited with {}", output.status)));
    }
    let parsed: HelperOutput = serde_json::from_slice(&output.stdout)
        .map_err(|_| failed("its output is not JSON with Username and Secret".to_owned()))?;
    if parsed.username == "<token>" {
        Ok(Some(Credential::IdentityToken(Secret::new(parsed.secret))))
    } else {
        Ok(Some(Credential::Basic {
            username: parsed.username,
            password: Secret::new(parsed.secret),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(dir: &Path, json: &str) {
        std::fs::write(dir.join("config.json"), json).unwrap();
    }

    #[test]
    fn auth_key_with_scheme_matches_host() {
        let dir = tempfile::tempdir().unwrap();
        // base64 of "alice:s3cret"
        write_config(
            dir.path(),
            r#"{"auths":{"https://registry.test:5000/v1/":{"auth":"YWxpY2U6czNjcmV0"}}}"#,
        );
        let (credential, _) = from_docker_config(dir.path(), "registry.test:5000")
            .unwrap()
            .expect("credential found");
        assert_eq!(
            credential,
            Credential::Basic {
                username: "alice".into(),
                password: Secret::new("s3cret"),
            }
        );
    }

    #[test]
    fn identity_token_wins_over_auth() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            r#"{"auths":{"registry.test":{"auth":"YWxpY2U6czNjcmV0","identitytoken":"refresh-1"}}}"#,
        );
        let (credential, _) = from_docker_config(dir.path(), "registry.test")
            .unwrap()
            .unwrap();
        assert_eq!(
            credential,
            Credential::IdentityToken(Secret::new("refresh-1"))
        );
    }

    #[test]
    fn docker_hub_aliases_match() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            r#"{"auths":{"https://index.docker.io/v1/":{"username":"bob","password":"pw"}}}"#,
        );
        assert!(
            from_docker_config(dir.path(), "docker.io")
                .unwrap()
                .is_some()
        );
        assert!(
            from_docker_config(dir.path(), "other.test")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn missing_config_is_no_credential() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            from_docker_config(dir.path(), "registry.test")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn bad_auth_value_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), r#"{"auths":{"registry.test":{"auth":"!!"}}}"#);
        let error = from_docker_config(dir.path(), "registry.test").unwrap_err();
        assert!(error.to_string().contains("config.json"), "{error}");
    }

    #[test]
    fn missing_helper_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            r#"{"credHelpers":{"registry.test":"inline-scan-test-absent"}}"#,
        );
        let error = from_docker_config(dir.path(), "registry.test").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("docker-credential-inline-scan-test-absent"),
            "{error}"
        );
    }
}
