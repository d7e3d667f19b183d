//! Process exit codes, compatible with the old `inline_scan analyze` script.

/// The documented exit codes. Pipelines branch on these numbers, so they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Imported, and analyzed when waiting; or analyzed locally with `--no-import`.
    Success = 0,
    /// Invalid usage or input, authentication failure, or an HTTP or network error.
    Failure = 1,
    /// The local analysis failed, or Anchore reported `analysis_failed`.
    AnalysisFailed = 2,
    /// The policy evaluation failed and `--fail-on-policy` is set. Reports are written first.
    PolicyFailed = 3,
    /// The wait for Anchore's analysis ran past `--timeout`.
    TimedOut = 124,
    /// Interrupted by SIGINT or SIGTERM.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}
