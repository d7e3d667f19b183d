//! The OAuth2 refresh-token grant of the distribution token protocol, for an `identitytoken`
//! from the Docker configuration. oci-client 0.15 only sends user and password to a token
//! endpoint, so this one exchange is done here with reqwest.

use std::collections::BTreeMap;

use oci_client::Reference;
use serde::Deserialize;

use crate::secret::Secret;

use super::{RegistryError, RegistryOptions, map_request_error};

/// The `client_id` sent with the grant. Registries log it, and some require one.
const CLIENT_ID: &str = "inline-scan";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    token: Option<String>,
}

/// Exchanges `refresh_token` for an access token with pull scope on the reference's
/// repository, at the realm the registry's `/v2/` challenge names.
pub(super) async fn exchange_identity_token(
    reference: &Reference,
    refresh_token: &Secret,
    options: &RegistryOptions,
) -> Result<Secret, RegistryError> {
    let registry = reference.registry();
    let repository = reference.repository();
    let client = http_client(options)?;
    let scheme = if options.insecure_http {
        "http"
    } else {
        "https"
    };
    let unauthorized = |detail: &str| RegistryError::Unauthorized {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        credentials: format!("identity token: {detail}"),
    };

    let probe = client
        .get(format!("{scheme}://{}/v2/", reference.resolve_registry()))
        .send()
        .await
        .map_err(|error| map_request_error(&error, registry, repository, "identity token"))?;
    let challenge = probe
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_bearer_challenge)
        .ok_or_else(|| {
            unauthorized("the registry sent no Bearer challenge, so it cannot take one")
        })?;
    let realm = challenge
        .get("realm")
        .ok_or_else(|| unauthorized("the Bearer challenge names no realm"))?;

    let scope = format!("repository:{repository}:pull");
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", CLIENT_ID),
        ("scope", scope.as_str()),
    ];
    if let Some(service) = challenge.get("service") {
        form.push(("service", service.as_str()));
    }
    let response = client
        .post(realm)
        .form(&form)
        .send()
        .await
        .map_err(|error| map_request_error(&error, registry, repository, "identity token"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(unauthorized(&format!(
            "the token endpoint returned HTTP {status}"
        )));
    }
    let body: TokenResponse = response
        .json()
        .await
        .map_err(|_| unauthorized("the token endpoint returned no JSON token"))?;
    body.access_token
        .or(body.token)
        .filter(|token| !token.is_empty())
        .map(Secret::new)
        .ok_or_else(|| unauthorized("the token endpoint returned no access_token"))
}

fn http_client(options: &RegistryOptions) -> Result<reqwest::Client, RegistryError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(super::USER_AGENT)
        .connect_timeout(super::CONNECT_TIMEOUT)
        .read_timeout(super::READ_TIMEOUT);
    if let Some(path) = &options.cacert {
        for certificate in super::read_ca_certificates(path)? {
            let parsed = reqwest::Certificate::from_pem(&certificate.data).map_err(|error| {
                RegistryError::CaCertificate {
                    path: path.clone(),
                    detail: error.to_string(),
                }
            })?;
            builder = builder.add_root_certificate(parsed);
        }
    }
    builder
        .build()
        .map_err(|error| RegistryError::CaCertificate {
            path: options.cacert.clone().unwrap_or_default(),
            detail: error.to_string(),
        })
}

/// Parses `Bearer realm="…",service="…",scope="…"` into its parameters.
fn parse_bearer_challenge(header: &str) -> Option<BTreeMap<String, String>> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut parameters = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after_key) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after_key = after_key.trim_start();
        let (value, remainder) = match after_key.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => match after_key.find(',') {
                Some(end) => (&after_key[..end], &after_key[end..]),
                None => (after_key, ""),
            },
        };
        parameters.insert(key, value.to_owned());
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    Some(parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_parameters() {
        let parsed = parse_bearer_challenge(
            r#"Bearer realm="https://auth.test/token",service="registry.test",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(parsed["realm"], "https://auth.test/token");
        assert_eq!(parsed["service"], "registry.test");
        assert_eq!(parsed["scope"], "repository:a/b:pull,push");
    }

    #[test]
    fn basic_challenge_is_not_bearer() {
        assert!(parse_bearer_challenge(r#"Basic realm="registry""#).is_none());
    }
}
