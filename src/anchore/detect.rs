//! API version detection and the early credential check.

use reqwest::{Method, StatusCode};

use super::ApiVersion;
use super::client::Client;
use super::error::ImportError;

/// Facts the server returned before the import starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: ApiVersion,
    /// The account name from `GET /v{n}/account`, when that route returned one.
    pub account: Option<String>,
}

/// Picks the API version, verifies the credentials and, for v1, checks that the server has
/// the import routes (Engine 0.9 and later).
pub async fn connect(client: &Client) -> Result<ServerInfo, ImportError> {
    let version = match client.version_hint() {
        Some(version) => version,
        None => probe_version(client).await?,
    };
    tracing::debug!(%version, base = client.base_url(), "Anchore API version");

    let account = verify_credentials(client, version).await?;
    if version == ApiVersion::V1 {
        check_import_routes(client).await?;
    }
    Ok(ServerInfo { version, account })
}

/// Tries `GET /v2/` and then `GET /v1/`; each returns its version string as JSON.
async fn probe_version(client: &Client) -> Result<ApiVersion, ImportError> {
    let mut answers = Vec::new();
    for version in [ApiVersion::V2, ApiVersion::V1] {
        let path = format!("{}/", version.prefix());
        let response = client.send_idempotent(Method::GET, &path, None).await?;
        let body: Option<String> = serde_json::from_slice(&response.body).ok();
        if response.status == StatusCode::OK && body.as_deref() == Some(version.as_str()) {
            return Ok(version);
        }
        answers.push(format!(
            "GET {path} returned HTTP {}",
            response.status.as_u16()
        ));
    }
    Err(ImportError::NotAnchore {
        url: client.base_url().to_owned(),
        reason: answers.join(" and "),
    })
}

/// Sends `GET /v{n}/account`, falling back to `/v{n}/status` where the account route is
/// missing. A 401 or 403 becomes [`ImportError::AuthenticationFailed`].
async fn verify_credentials(
    client: &Client,
    version: ApiVersion,
) -> Result<Option<String>, ImportError> {
    let path = format!("{}/account", version.prefix());
    let response = client.send_idempotent(Method::GET, &path, None).await?;
    if response.status == StatusCode::NOT_FOUND {
        let path = format!("{}/status", version.prefix());
        let response = client.send_idempotent(Method::GET, &path, None).await?;
        if response.status == StatusCode::NOT_FOUND {
            // Neither route exists, so this server does not serve the version that the URL
            // suffix or --api-version chose.
            return Err(ImportError::VersionNotServed {
                url: client.base_url().to_owned(),
                version: version.as_str().to_owned(),
            });
        }
        client.check(&Method::GET, &path, response)?;
        return Ok(None);
    }
    let response = client.check(&Method::GET, &path, response)?;
    let account = response
        .json(&Method::GET, &path)
        .ok()
        .and_then(|value| value.get("name")?.as_str().map(str::to_owned));
    Ok(account)
}

async fn check_import_routes(client: &Client) -> Result<(), ImportError> {
    let path = "/v1/imports/images";
    let response = client.send_idempotent(Method::GET, path, None).await?;
    if response.status == StatusCode::NOT_FOUND {
        return Err(ImportError::NoImportApi {
            url: client.base_url().to_owned(),
            path: path.to_owned(),
        });
    }
    client.check(&Method::GET, path, response)?;
    Ok(())
}
