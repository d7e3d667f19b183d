//! The `analyze` job: read the image, catalog it, name it, write the SBOM and bundle, import
//! it, and describe the outcome. The `import` job imports a bundle with the same code.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::anchore::import::ImportStep;
use crate::anchore::{self, Connection, ImportRequest, WaitPolicy};
use crate::bundle::{self, BundleContext};
use crate::catalog::{self, Cataloger};
use crate::digest::Digest;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::image::Identity;
use crate::progress::Progress;
use crate::report::{
    DistroSummary, EvaluationSummary, IdentitySummary, ImportSummary, PackageCounts, RunResult,
};
use crate::sbom::format::{self, SbomFormat, SbomTarget};
use crate::sbom::syft_json::{self, SbomInput};
use crate::settings::Settings;
use crate::source::{self, Limits, Platform, SourceImage, SourceRef};

/// Runs the job. The returned result is filled as far as the run got, also on failure; the
/// error, if any, decides the exit code.
pub async fn run(
    settings: &Settings,
    cancel: CancellationToken,
    progress: &Progress,
) -> (RunResult, Option<Error>) {
    let started = Instant::now();
    let mut result = new_result(&settings.image_input);
    let outcome = run_steps(settings, cancel, progress, &mut result).await;
    finish(result, outcome, started)
}

/// Runs `inline-scan import DIR`: reads and verifies the bundle in `dir`, then imports it with
/// the same requests `analyze` sends. `force` forces a re-analysis also when the bundle was
/// written without `--force`. The result is filled as far as the run got, as with [`run`].
pub async fn import_bundle(
    dir: &Path,
    connection: &Connection,
    force: bool,
    wait: &WaitPolicy,
    cancel: CancellationToken,
    progress: &Progress,
) -> (RunResult, Option<Error>) {
    let started = Instant::now();
    let mut result = new_result(&dir.display().to_string());
    let outcome = async {
        progress.step(format!("verifying the bundle in {}", dir.display()));
        let bundle = bundle::read(dir)?;
        result.image = bundle.context.image_input.clone();
        let mut request = bundle.request;
        request.force |= force;
        result.identity = Some(IdentitySummary {
            digest: request.digest.to_string(),
            image_id: Digest::of(&request.config).to_string(),
            local_image_id: request.local_image_id.clone(),
            manifest_origin: bundle.context.manifest_origin,
            manifest_media_type: request.manifest.media_type.clone(),
            parent_digest: request.parent.as_ref().map(|p| p.digest().to_string()),
            tags: request.tags.clone(),
        });
        if cancel.is_cancelled() {
            return Err(Error::Interrupted);
        }
        import(connection, wait, &request, progress, &cancel, &mut result).await
    }
    .await;
    finish(result, outcome, started)
}

fn new_result(image: &str) -> RunResult {
    RunResult {
        format_version: crate::report::RESULT_FORMAT_VERSION,
        image: image.to_owned(),
        status: "ok",
        ..RunResult::default()
    }
}

/// Records the elapsed time and, on failure, the status, exit code and message.
fn finish(
    mut result: RunResult,
    outcome: Result<(), Error>,
    started: Instant,
) -> (RunResult, Option<Error>) {
    result.elapsed_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => (result, None),
        Err(error) => {
            let code = error.exit_code();
            result.status = match code {
                ExitCode::AnalysisFailed => "analysis_failed",
                ExitCode::TimedOut => "timed_out",
                ExitCode::Interrupted => "interrupted",
                _ => "error",
            };
            result.exit_code = code.code();
            result.error = Some(error.to_string());
            (result, Some(error))
        }
    }
}

/// Times the phases of a run for `INLINE_SCAN_LOG=inline_scan=debug` (or `--verbose`), so a
/// benchmark can tell which phase moved.
struct PhaseClock {
    last: std::time::Instant,
}

impl PhaseClock {
    fn start() -> Self {
        Self {
            last: std::time::Instant::now(),
        }
    }

    /// Logs the time since the previous lap as the time of `phase`.
    fn lap(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        let ms = now.duration_since(self.last).as_secs_f64() * 1000.0;
        tracing::debug!(phase, ms = format_args!("{ms:.1}"), "phase finished");
        self.last = now;
    }
}

async fn run_steps(
    settings: &Settings,
    cancel: CancellationToken,
    progress: &Progress,
    result: &mut RunResult,
) -> Result<(), Error> {
    if let Some(dir) = &settings.bundle_out {
        bundle::check_folder(dir)?;
    }
    let catalogers: Arc<Vec<Box<dyn Cataloger>>> =
        Arc::new(catalog::registry::default_catalogers());
    let mut clock = PhaseClock::start();
    progress.step(format!("reading {}", settings.image_input));
    let mut image = read_source(settings, catalogers.clone(), progress).await?;
    clock.lap("read");
    if cancel.is_cancelled() {
        return Err(Error::Interrupted);
    }

    progress.step("cataloging packages".to_owned());
    // The tree moves into the blocking task and is dropped there: nothing after cataloging
    // reads it, and the SBOM is rendered without it in memory.
    let tree = std::mem::take(&mut image.tree);
    let (catalog, warnings) = {
        let catalogers = catalogers.clone();
        let scope = settings.scope;
        tokio::task::spawn_blocking(move || scope.run(&tree, &catalogers))
            .await
            .expect("the cataloging task does not panic")
    };
    clock.lap("catalog");
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let identity = Identity::resolve(&image, &settings.identity)?;

    let input = SbomInput {
        user_input: &settings.image_input,
        image: &image,
        identity: &identity,
        catalog: &catalog,
        configuration: json!({
            "catalogers": catalogers.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "scope": settings.scope.as_str(),
        }),
    };
    let sbom = syft_json::render(&input);
    clock.lap("render");
    // A `docker save` file's layer digests were computed on other threads while the image was
    // cataloged. Nothing derived from the image leaves the process before they are checked.
    image.verify()?;
    clock.lap("verify");
    // The run's result gets the packages and the identity only once the digests are checked,
    // so the summary of an image that fails the check shows none.
    result.warnings = warnings.iter().map(ToString::to_string).collect();
    result.distro = catalog.distro.as_ref().map(|d| DistroSummary {
        id: d.id.clone(),
        version_id: d.version_id.clone(),
        pretty_name: d.pretty_name.clone(),
    });
    result.packages = Some(PackageCounts::from(&catalog));
    result.identity = Some(IdentitySummary::from(&identity));
    for output in &settings.sbom_outputs {
        if output.format == SbomFormat::SyftJson {
            write_sbom(&output.target, output.format, &sbom)?;
        } else {
            let bytes = format::render_at(output.format, &input, settings.sbom_created);
            write_sbom(&output.target, output.format, &bytes)?;
        }
        if let SbomTarget::File(path) = &output.target {
            if result.sbom_path.is_none() {
                result.sbom_path = Some(path.display().to_string());
            }
        }
    }

    clock.lap("write");

    let env = |name: &str| std::env::var(name).ok();
    if settings.report.resolve(&env) == Some(crate::report::platform::Platform::Gitlab) {
        // GitLab reads `artifacts:reports:cyclonedx` from files named gl-sbom-*.cdx.json and
        // lists their packages in its dependency list. The report layer has no catalog to
        // render it from, so it is written here with the other SBOMs.
        let path = settings
            .report_dir
            .join(crate::report::gitlab::CYCLONEDX_FILE);
        std::fs::create_dir_all(&settings.report_dir).map_err(|error| Error::Output {
            what: "GitLab CycloneDX report",
            path: settings.report_dir.display().to_string(),
            reason: error.to_string(),
        })?;
        let bytes = format::render_at(SbomFormat::CycloneDxJson, &input, settings.sbom_created);
        write_sbom(&SbomTarget::File(path), SbomFormat::CycloneDxJson, &bytes)?;
    }

    let request = ImportRequest {
        digest: identity.digest.clone(),
        manifest: identity.manifest.clone(),
        config: image.config.clone(),
        parent: identity.parent.clone(),
        local_image_id: identity.local_image_id.clone(),
        tags: identity.tags.clone(),
        annotations: settings.annotations.clone(),
        dockerfile: settings.dockerfile.clone(),
        sbom,
        force: settings.force,
    };
    if let Some(dir) = &settings.bundle_out {
        // An import needs at least one tag, so a bundle without one could never be imported.
        identity.require_tags(&settings.image_input)?;
        progress.step(format!("writing the import bundle to {}", dir.display()));
        let context = BundleContext {
            image_input: settings.image_input.clone(),
            manifest_origin: identity.manifest_origin,
        };
        bundle::write(dir, &request, &context)?;
    }

    let Some(connection) = &settings.connection else {
        return Ok(());
    };
    identity.require_tags(&settings.image_input)?;
    if catalog.packages.is_empty() {
        tracing::warn!(
            "no packages were found in {}; Anchore will show the image with an empty package list",
            settings.image_input
        );
    }
    import(
        connection,
        &settings.wait,
        &request,
        progress,
        &cancel,
        result,
    )
    .await
}

/// Imports `request`, waits as the `wait` policy sets, and records the outcome in `result`.
async fn import(
    connection: &Connection,
    wait: &WaitPolicy,
    request: &ImportRequest,
    progress: &Progress,
    cancel: &CancellationToken,
    result: &mut RunResult,
) -> Result<(), Error> {
    let client = anchore::Client::new(connection)?;
    let outcome = anchore::import::run_until_cancelled(
        &client,
        request,
        wait,
        &|step| progress.step(describe_step(&step)),
        cancel,
    )
    .await?;
    result.import = Some(ImportSummary {
        api_version: outcome.api_version.as_str().to_owned(),
        url: outcome.base_url.clone(),
        operation_id: outcome.operation_uuid.clone(),
        analysis_status: if wait.wait {
            outcome.analysis_status.clone()
        } else {
            format!("{} (not waited for)", outcome.analysis_status)
        },
        image_url: outcome.image_url.clone(),
    });
    if wait.wait && outcome.analysis_status == "analyzed" {
        let tag = &request.tags[0];
        progress.step(format!("fetching the policy evaluation of {tag}"));
        let report = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(Error::Interrupted),
            report = anchore::evaluation::evaluate(&client, outcome.api_version, &outcome.digest, tag) => report,
        };
        for warning in &report.warnings {
            tracing::warn!("{warning}");
        }
        result.warnings.extend(report.warnings.iter().cloned());
        result.evaluation = Some(EvaluationSummary::new(tag, &report));
    }
    Ok(())
}

fn describe_step(step: &ImportStep) -> String {
    match step {
        ImportStep::Connected { version, account } => match account {
            Some(account) => format!(
                "connected to Anchore (API {}, account {account})",
                version.as_str()
            ),
            None => format!("connected to Anchore (API {})", version.as_str()),
        },
        ImportStep::OperationCreated { uuid } => format!("created import operation {uuid}"),
        ImportStep::Uploaded { kind, bytes, .. } => {
            format!("uploaded {} ({bytes} bytes)", kind.contents_key())
        }
        ImportStep::Finalized { analysis_status } => {
            format!("import finalized, analysis status {analysis_status}")
        }
        ImportStep::Polled { analysis_status } => {
            format!("waiting for Anchore's analysis: {analysis_status}")
        }
    }
}

async fn read_source(
    settings: &Settings,
    catalogers: Arc<Vec<Box<dyn Cataloger>>>,
    progress: &Progress,
) -> Result<SourceImage, Error> {
    let limits = settings.limits.clone();
    let platform = settings.platform.clone();
    let wants = catalog::CatalogerCapture { catalogers };
    let source = settings.source.clone();
    if let SourceRef::Daemon(reference) = &source {
        let daemon = match source::daemon::connect() {
            Ok(daemon) => match source::daemon::negotiate(&daemon).await {
                Ok(()) => Ok(daemon),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        return match daemon {
            Ok(daemon) => {
                read_daemon(daemon, reference, settings.pull, platform, wants, limits).await
            }
            // `-P` on a runner without a daemon (a Kubernetes executor, say) reads the image
            // from its registry instead: the user asked for a pull, and a daemon is only one
            // way to do it.
            Err(source::daemon::DaemonError::Unreachable { host, .. }) if settings.pull => {
                let reference = source::registry::qualify_reference(reference);
                let message = format!(
                    "no Docker daemon at DOCKER_HOST={host}: pulling {reference} straight from its registry"
                );
                // Said at the default verbosity: the image now comes from elsewhere than the
                // user may expect, with the registry's credentials instead of the daemon's.
                tracing::warn!("{message}");
                progress.step(message);
                read_registry(reference, settings, wants, limits).await
            }
            Err(error) => Err(error.into()),
        };
    }
    if let SourceRef::Registry(reference) = &source {
        return read_registry(reference.clone(), settings, wants, limits).await;
    }
    let read = move || match &source {
        // The layer digests are checked in `run_steps`, after cataloging.
        SourceRef::DockerArchive { path, reference } => {
            source::archive::read_docker_archive_file_deferred(
                path,
                reference.as_deref(),
                platform.as_ref(),
                &wants,
                &limits,
            )
        }
        SourceRef::OciArchive { path, reference } => source::archive::read_oci_archive_file(
            path,
            reference.as_deref(),
            platform.as_ref(),
            &wants,
            &limits,
        ),
        SourceRef::OciDir { path, reference } => source::oci::read_oci_dir(
            path,
            reference.as_deref(),
            platform.as_ref(),
            &wants,
            &limits,
        ),
        SourceRef::Daemon(_) | SourceRef::Registry(_) => {
            unreachable!("daemon and registry sources are read above")
        }
    };
    let image = tokio::task::spawn_blocking(read)
        .await
        .expect("the layer reader does not panic")?;
    Ok(image)
}

async fn read_registry(
    reference: String,
    settings: &Settings,
    wants: impl crate::layer::CapturePolicy + Send + Sync + 'static,
    limits: Limits,
) -> Result<SourceImage, Error> {
    let image = source::registry::fetch(&reference, &settings.registry).await?;
    let description = format!("registry:{reference}");
    let image = tokio::task::spawn_blocking(move || {
        source::registry::read_layers(image, description, &wants, &limits)
    })
    .await
    .expect("the layer reader does not panic")?;
    Ok(image)
}

async fn read_daemon(
    daemon: source::daemon::Daemon,
    reference: &str,
    pull: bool,
    platform: Option<Platform>,
    wants: impl crate::layer::CapturePolicy + Send + Sync + 'static,
    limits: Limits,
) -> Result<SourceImage, Error> {
    if pull {
        source::daemon::pull(&daemon, reference, platform.as_ref()).await?;
    }
    let daemon_image = source::daemon::inspect(&daemon, reference).await?;
    if let Some(requested) = &platform {
        if !source::oci::platform_matches(requested, &daemon_image.platform) {
            return Err(Error::PlatformMismatch {
                reference: reference.to_owned(),
                requested: source::oci::platform_label(requested),
                found: source::oci::platform_label(&daemon_image.platform),
            });
        }
    }
    let reader = source::daemon::export_reader(&daemon, &daemon_image.id);
    let description = source::error::daemon_description(reference);
    // The export is one image by id, so no reference or platform selection applies to it.
    let mut image = tokio::task::spawn_blocking(move || {
        source::archive::read_docker_archive(reader, description, None, None, &wants, &limits)
    })
    .await
    .expect("the layer reader does not panic")?;
    image.repo_tags = daemon_image.repo_tags;
    image.repo_digests = daemon_image.repo_digests;
    Ok(image)
}

fn write_sbom(target: &SbomTarget, format: SbomFormat, bytes: &[u8]) -> Result<(), Error> {
    let output_error = |error: std::io::Error| Error::Output {
        what: format.name(),
        path: match target {
            SbomTarget::Stdout => "standard output".to_owned(),
            SbomTarget::File(path) => path.display().to_string(),
        },
        reason: error.to_string(),
    };
    match target {
        SbomTarget::Stdout => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).map_err(output_error)?;
            stdout.write_all(b"\n").map_err(output_error)?;
            stdout.flush().map_err(output_error)
        }
        SbomTarget::File(path) => std::fs::write(path, bytes).map_err(output_error),
    }
}
