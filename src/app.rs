//! Top-level command dispatch: parse the command line, set up logging, run, and turn the
//! outcome into output and an exit code.

use std::ffi::OsString;
use std::io::{IsTerminal as _, Write as _};

use clap::{CommandFactory, Parser};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use std::future::Future;
use std::path::Path;

use crate::anchore::Connection;
use crate::cli::{AnalyzeArgs, Cli, Command, ImportArgs, OptionsArgs};
use crate::error::Error;
use crate::exit::ExitCode;
use crate::progress::Progress;
use crate::report::RunResult;
use crate::report::platform::{Platform, ReportContext, ReportPlatform};
use crate::sbom::format::SbomTarget;
use crate::secret::Secret;
use crate::settings::Settings;

/// The environment variable that contains the GitHub token for the optional check run.
const GITHUB_TOKEN_VARIABLE: &str = "INLINE_SCAN_GITHUB_TOKEN";

/// How long a run may take to clean up (delete a pending import) after an interrupt.
const CLEANUP_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Runs the program with `args` (including the program name) and returns the exit code.
pub fn main_with_args(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = match error.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    ExitCode::Success
                }
                _ => ExitCode::Failure,
            };
            let _ = error.print();
            return code;
        }
    };
    match cli.command {
        Command::Options(args) => print_options(&args),
        Command::Analyze(args) => analyze(&args),
        Command::Import(args) => import(&args),
    }
}

fn analyze(args: &AnalyzeArgs) -> ExitCode {
    init_logging(args.output.verbose, args.output.quiet);
    let env = |name: &str| std::env::var(name).ok();
    let settings = match Settings::from_args(args, &env, &mut std::io::stdin().lock()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::Failure;
        }
    };
    let Some(runtime) = start_runtime() else {
        return ExitCode::Failure;
    };
    runtime.block_on(analyze_async(settings))
}

fn import(args: &ImportArgs) -> ExitCode {
    init_logging(args.output.verbose, args.output.quiet);
    let env = |name: &str| std::env::var(name).ok();
    let validated = crate::settings::validate_timeouts(&args.timeouts).and_then(|()| {
        crate::settings::connection(
            &args.anchore,
            &args.timeouts,
            &env,
            &mut std::io::stdin().lock(),
        )
    });
    let connection = match validated {
        Ok(connection) => connection,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::Failure;
        }
    };
    let Some(runtime) = start_runtime() else {
        return ExitCode::Failure;
    };
    let wait = crate::settings::wait_policy(&args.anchore, &args.timeouts);
    let outputs = RunOutputs {
        quiet: args.output.quiet,
        result_json: args.output.result_json.as_deref(),
        report: args.output.report,
        report_dir: &args.output.report_dir,
        sbom_on_stdout: false,
        connection: Some(&connection),
        fail_on_policy: args.anchore.fail_on_policy,
        registry: None,
    };
    let progress = Progress::for_run(!args.output.quiet, outputs.is_gitlab());
    let cancel = CancellationToken::new();
    let run = crate::analyze::import_bundle(
        &args.bundle,
        &connection,
        args.anchore.force,
        &wait,
        cancel.clone(),
        &progress,
    );
    runtime.block_on(finish_run(&outputs, &progress, &cancel, run))
}

fn start_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => Some(runtime),
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            None
        }
    }
}

/// The settings of a run that decide where its outcome goes.
struct RunOutputs<'a> {
    quiet: bool,
    result_json: Option<&'a Path>,
    report: ReportPlatform,
    report_dir: &'a Path,
    /// True when an SBOM goes to standard output, which then carries no digest line.
    sbom_on_stdout: bool,
    connection: Option<&'a Connection>,
    /// `--fail-on-policy`: a failed policy evaluation exits with [`ExitCode::PolicyFailed`].
    fail_on_policy: bool,
    /// Registry credentials to mask, for `registry:` images.
    registry: Option<&'a crate::source::registry::RegistryOptions>,
}

impl RunOutputs<'_> {
    /// Returns whether the reports go to GitLab, whose job log gets collapsible sections.
    fn is_gitlab(&self) -> bool {
        let env = |name: &str| std::env::var(name).ok();
        self.report.resolve(&env) == Some(Platform::Gitlab)
    }
}

async fn analyze_async(settings: Settings) -> ExitCode {
    let outputs = RunOutputs {
        quiet: settings.quiet,
        result_json: settings.result_json.as_deref(),
        report: settings.report,
        report_dir: &settings.report_dir,
        sbom_on_stdout: settings
            .sbom_outputs
            .iter()
            .any(|output| output.target == SbomTarget::Stdout),
        connection: settings.connection.as_ref(),
        fail_on_policy: settings.fail_on_policy,
        registry: Some(&settings.registry),
    };
    let progress = Progress::for_run(!settings.quiet, outputs.is_gitlab());
    let cancel = CancellationToken::new();
    let run = crate::analyze::run(&settings, cancel.clone(), &progress);
    finish_run(&outputs, &progress, &cancel, run).await
}

/// Drives `run` to its end or, on SIGINT or SIGTERM, cancels it and gives it a short grace
/// period to clean up. Then prints the summary, writes the result file and CI reports, and
/// returns the exit code.
async fn finish_run(
    outputs: &RunOutputs<'_>,
    progress: &Progress,
    cancel: &CancellationToken,
    run: impl Future<Output = (RunResult, Option<Error>)>,
) -> ExitCode {
    mask_secrets(outputs);
    tokio::pin!(run);
    let (result, error) = tokio::select! {
        outcome = &mut run => outcome,
        () = interrupted() => {
            progress.step("interrupted: cleaning up".to_owned());
            cancel.cancel();
            match tokio::time::timeout(CLEANUP_GRACE, &mut run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    progress.finish();
                    eprintln!("error: interrupted; cleanup did not finish within {} s", CLEANUP_GRACE.as_secs());
                    return ExitCode::Interrupted;
                }
            }
        }
    };
    progress.finish();
    let mut code = error.as_ref().map_or(ExitCode::Success, |e| e.exit_code());
    let policy_gate = policy_gate_message(outputs.fail_on_policy, &result);
    let mut result = result;
    if code == ExitCode::Success && policy_gate.is_some() {
        code = ExitCode::PolicyFailed;
        result.status = "policy_failed";
        result.error = policy_gate.clone();
    }
    let result = RunResult {
        exit_code: code.code(),
        ..result
    };
    if !outputs.quiet {
        let summary = result.render_text();
        if outputs.is_gitlab() {
            // An expanded section of its own, so the summary stays visible while the steps
            // above it are folded away.
            let name = "inline_scan_summary";
            let start = crate::report::gitlab::section_start(
                name,
                "inline-scan summary",
                false,
                crate::progress::unix_now(),
            );
            let end = crate::report::gitlab::section_end(name, crate::progress::unix_now());
            eprint!("{start}{summary}{end}");
        } else {
            eprint!("{summary}");
        }
    }
    if let Some(error) = &error {
        eprintln!("error: {error}");
    }
    if let Some(message) = policy_gate.filter(|_| code == ExitCode::PolicyFailed) {
        eprintln!("error: {message}");
    }
    if let Some(path) = outputs.result_json {
        let written = serde_json::to_vec_pretty(&result)
            .map_err(std::io::Error::from)
            .and_then(|bytes| std::fs::write(path, bytes));
        if let Err(write_error) = written {
            eprintln!(
                "error: could not write the result to {}: {write_error}",
                path.display()
            );
            if error.is_none() {
                return ExitCode::Failure;
            }
        }
    }
    let published = publish_reports(outputs, &result).await;
    if !published.stdout.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(published.stdout.as_bytes());
    }
    // The digest line means the run succeeded (a failed policy gate included, because the
    // import itself went through), so scripts can capture it without reading the exit code.
    if !outputs.sbom_on_stdout && error.is_none() {
        if let Some(identity) = &result.identity {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", identity.digest);
        }
    }
    if code == ExitCode::Success && published.failed {
        return ExitCode::Failure;
    }
    code
}

/// Returns the error message for `--fail-on-policy` when it is set and the policy evaluation
/// failed. An evaluation that is not available never trips it.
fn policy_gate_message(fail_on_policy: bool, result: &RunResult) -> Option<String> {
    if !fail_on_policy {
        return None;
    }
    let evaluation = result.evaluation.as_ref().filter(|e| e.policy_failed())?;
    let policy = evaluation
        .policy_id
        .as_deref()
        .map(|id| format!(" under policy {id}"))
        .unwrap_or_default();
    Some(format!(
        "the Anchore policy evaluation of {} failed{policy}, and --fail-on-policy is set; Anchore's \
         evaluation of the image lists the findings",
        evaluation.tag
    ))
}

/// Output of publishing the CI reports: text to print and whether writing them failed.
struct PublishedReports {
    stdout: String,
    failed: bool,
}

/// Writes the CI platform's reports (`--report`). Reports are written for failed runs too, so a
/// pipeline shows why it failed; a report that cannot be written fails an otherwise
/// successful run.
async fn publish_reports(outputs: &RunOutputs<'_>, result: &RunResult) -> PublishedReports {
    let env = |name: &str| std::env::var(name).ok();
    let mut published = PublishedReports {
        stdout: String::new(),
        failed: false,
    };
    let Some(platform) = outputs.report.resolve(&env) else {
        return published;
    };
    let token = env(GITHUB_TOKEN_VARIABLE)
        .filter(|token| !token.is_empty())
        .map(Secret::new);
    let evaluation = result.evaluation.as_ref().map(|e| e.to_report());
    let context = ReportContext {
        result,
        evaluation: evaluation.as_ref(),
        report_dir: outputs.report_dir,
        env: &env,
    };
    match crate::report::platform::publish(platform, &context, token.as_ref()).await {
        Ok(reports) => {
            for warning in &reports.warnings {
                tracing::warn!("{warning}");
            }
            published.stdout = reports.written.stdout;
        }
        Err(error) => {
            eprintln!("error: could not write the CI reports: {error}");
            published.failed = true;
        }
    }
    published
}

/// Prints GitHub's `::add-mask::` commands for the credentials before anything else, so the
/// runner hides them in every later log line.
fn mask_secrets(outputs: &RunOutputs<'_>) {
    let env = |name: &str| std::env::var(name).ok();
    if outputs.report.resolve(&env) != Some(Platform::Github) {
        return;
    }
    let mut commands = String::new();
    if let Some(connection) = outputs.connection {
        commands.push_str(&crate::report::github::mask_commands(
            Some(&connection.username),
            Some(&connection.password),
        ));
    }
    if let Some(registry) = outputs.registry {
        if let Some(password) = &registry.password {
            commands.push_str(&crate::report::github::mask_commands(
                registry.username.as_deref(),
                Some(password),
            ));
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(commands.as_bytes());
    let _ = stdout.flush();
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = match signal(SignalKind::terminate()) {
            Ok(stream) => stream,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(verbose: bool, quiet: bool) {
    let default = if verbose {
        "inline_scan=debug"
    } else if quiet {
        "error"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("INLINE_SCAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // oci-client logs registry token responses, bearer tokens included, at debug level, so its
    // target never goes below info whatever INLINE_SCAN_LOG sets.
    let filter = filter.add_directive("oci_client=info".parse().expect("a valid directive"));
    // Colour codes only on a terminal: CI logs and files get plain text, and NO_COLOR turns
    // them off everywhere.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Prints every `analyze` option: the registry the CI wrappers are checked against.
fn print_options(args: &OptionsArgs) -> ExitCode {
    let command = Cli::command();
    let analyze = command
        .find_subcommand("analyze")
        .expect("the analyze subcommand exists");
    let options: Vec<serde_json::Value> = analyze
        .get_arguments()
        .filter(|arg| arg.get_id() != "help")
        .map(|arg| {
            json!({
                "id": arg.get_id().as_str(),
                "long": arg.get_long(),
                "short": arg.get_short().map(String::from),
                "env": arg.get_env().map(|e| e.to_string_lossy().into_owned()),
                "takesValue": arg.get_action().takes_values(),
                "repeatable": matches!(arg.get_action(), clap::ArgAction::Append),
                "positional": arg.is_positional(),
                "default": arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>(),
                "possibleValues": arg.get_possible_values().iter().map(|v| v.get_name().to_owned()).collect::<Vec<_>>(),
                "help": arg.get_help().map(ToString::to_string),
            })
        })
        .collect();
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&options).unwrap_or_default()
        );
    } else {
        for option in &options {
            let name = option["long"].as_str().map_or_else(
                || {
                    format!(
                        "<{}>",
                        option["id"].as_str().unwrap_or_default().to_uppercase()
                    )
                },
                |long| format!("--{long}"),
            );
            let short = option["short"]
                .as_str()
                .map(|s| format!("-{s}"))
                .unwrap_or_default();
            let env = option["env"].as_str().unwrap_or_default();
            let _ = writeln!(
                stdout,
                "{short:3} {name:22} {env:20} {}",
                option["help"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            );
        }
    }
    ExitCode::Success
}
