//! The run's steps on standard error: a one-line spinner on a terminal, a collapsible GitLab log
//! section in a GitLab job, nothing otherwise, and never with `-q`.

use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};

use crate::report::gitlab::{section_end, section_start};

/// Name of the GitLab log section that contains the steps of a run.
pub const GITLAB_STEPS_SECTION: &str = "inline_scan_steps";

/// Shows the current step of the run. Outside a terminal and GitLab the steps go to the debug
/// log only, so CI logs stay clean.
pub struct Progress {
    display: Display,
}

enum Display {
    Off,
    Spinner(ProgressBar),
    /// One line per step inside a collapsed GitLab section, opened by the first step.
    GitlabSection {
        opened: AtomicBool,
    },
}

impl Progress {
    /// A display on a terminal when `enabled`; see [`Progress::for_run`] for GitLab.
    pub fn new(enabled: bool) -> Self {
        Self::for_run(enabled, false)
    }

    /// Like [`Progress::new`], but in a GitLab job (`gitlab` true) without a terminal each step
    /// is printed as a line inside a collapsed log section, so the job log stays short and the
    /// steps are one click away.
    pub fn for_run(enabled: bool, gitlab: bool) -> Self {
        let display = if !enabled {
            Display::Off
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Spinner(bar)
        } else if gitlab {
            Display::GitlabSection {
                opened: AtomicBool::new(false),
            }
        } else {
            Display::Off
        };
        Self { display }
    }

    /// Starts a new step.
    pub fn step(&self, message: String) {
        tracing::debug!(step = %message);
        match &self.display {
            Display::Off => {}
            Display::Spinner(bar) => bar.set_message(message),
            Display::GitlabSection { opened } => {
                let mut text = String::new();
                if !opened.swap(true, Ordering::SeqCst) {
                    text.push_str(&section_start(
                        GITLAB_STEPS_SECTION,
                        "inline-scan steps",
                        true,
                        unix_now(),
                    ));
                }
                text.push_str(&message);
                text.push('\n');
                let _ = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
    }

    /// Removes the display (or closes the GitLab section) before the summary is printed.
    pub fn finish(&self) {
        match &self.display {
            Display::Off => {}
            Display::Spinner(bar) => bar.finish_and_clear(),
            Display::GitlabSection { opened } => {
                if opened.swap(false, Ordering::SeqCst) {
                    let end = section_end(GITLAB_STEPS_SECTION, unix_now());
                    let _ = std::io::stderr().lock().write_all(end.as_bytes());
                }
            }
        }
    }
}

/// Seconds since the Unix epoch, as GitLab section markers carry them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
