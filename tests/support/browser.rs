//! Headless Chromium for tests that look at report.html as a person sees it. Chromium is a test
//! requirement (`.ci/run` installs it): without it these tests fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Chromium binary on PATH.
pub fn chromium() -> PathBuf {
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(candidate).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("headless Chromium is required for this test (apt-get install chromium)");
}

/// A headless Chromium command with its own profile and window size.
pub fn headless(browser: &Path, profile: &Path, window: (u32, u32)) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--window-size={},{}", window.0, window.1))
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}
