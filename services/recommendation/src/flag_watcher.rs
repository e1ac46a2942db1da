//! Keeps the leak flag current from the flag file: polls it, re-reads it when it changes, and
//! keeps the last good value through missing, torn or malformed versions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::flags::{FlagValues, parse_flag_file};

/// How often the file's metadata is checked: often enough that a change is acted on within a
/// second, cheap enough (one `stat`) to do forever.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The flag values the service acts on, shared by the request path and the admin endpoint.
#[derive(Debug, Default)]
pub struct FlagState {
    /// The leak flag, read on every request without a lock.
    cache_failure: AtomicBool,
    report: Mutex<FlagReport>,
}

/// What the admin endpoint shows about the flag file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagReport {
    /// The values last read from a good version of the file (off before any was read).
    pub values: FlagValues,
    /// Why the latest read failed, while it still fails.
    pub error: Option<String>,
    /// When a good version was last read.
    pub loaded_at: Option<SystemTime>,
}

impl FlagState {
    /// Whether the leak is on right now.
    pub fn cache_failure(&self) -> bool {
        self.cache_failure.load(Ordering::Relaxed)
    }

    /// A copy of the current values and error.
    pub fn report(&self) -> FlagReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn accept(&self, values: FlagValues) {
        let mut report = self.report.lock().unwrap_or_else(|e| e.into_inner());
        self.cache_failure
            .store(values.cache_failure, Ordering::Relaxed);
        report.values = values;
        report.error = None;
        report.loaded_at = Some(SystemTime::now());
    }

    fn reject(&self, error: String) {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).error = Some(error);
    }
}

/// The identity of one version of the file, cheap to read with a `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::metadata(path)?;
        Ok(Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode: metadata.ino(),
        })
    }
}

/// Polls one flag file and feeds a [`FlagState`].
#[derive(Debug)]
pub struct FlagWatcher {
    path: PathBuf,
    state: Arc<FlagState>,
    /// The version last read successfully; an unchanged stamp is not read again.
    last_good: Option<FileStamp>,
    /// The error last logged, so a lasting problem is logged once, not on every poll.
    last_logged_error: Option<String>,
}

impl FlagWatcher {
    pub fn new(path: impl Into<PathBuf>, state: Arc<FlagState>) -> Self {
        Self {
            path: path.into(),
            state,
            last_good: None,
            last_logged_error: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file if it changed since the last good read, or if the last read failed
    /// (a writer may not replace the file atomically, so a torn read is retried even when
    /// the modification time did not move).
    pub fn poll(&mut self) {
        let stamp = match FileStamp::of(&self.path) {
            Ok(stamp) => stamp,
            Err(error) => {
                return self.fail(format!("cannot read {}: {error}", self.path.display()));
            }
        };
        if self.last_good == Some(stamp) && self.state.report().error.is_none() {
            return;
        }
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) => {
                return self.fail(format!("cannot read {}: {error}", self.path.display()));
            }
        };
        match parse_flag_file(&text) {
            Ok(values) => {
                let before = self.state.report();
                if before.values.cache_failure != values.cache_failure
                    || self.last_good.is_none()
                    || before.error.is_some()
                {
                    eprintln!(
                        "recommendation: flag file {}: recommendationCacheFailure is {}",
                        self.path.display(),
                        if values.cache_failure { "on" } else { "off" }
                    );
                }
                self.state.accept(values);
                self.last_good = Some(stamp);
                self.last_logged_error = None;
            }
            Err(error) => self.fail(format!("{}: {error}", self.path.display())),
        }
    }

    fn fail(&mut self, error: String) {
        if self.last_logged_error.as_ref() != Some(&error) {
            eprintln!(
                "recommendation: flag file unusable, keeping recommendationCacheFailure={}: {error}",
                if self.state.cache_failure() {
                    "on"
                } else {
                    "off"
                }
            );
            self.last_logged_error = Some(error.clone());
        }
        self.state.reject(error);
    }

    /// Polls forever at `interval`.
    pub async fn run(mut self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.poll();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ON: &str = r#"{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {"recommendationCacheFailure": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}"#;
    const OFF: &str = r#"{"$schema": "https://flagd.dev/schema/v0/flags.json", "flags": {"recommendationCacheFailure": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}"#;

    fn watcher(dir: &tempfile::TempDir) -> (FlagWatcher, Arc<FlagState>, PathBuf) {
        let path = dir.path().join("demo.flagd.json");
        let state = Arc::new(FlagState::default());
        (FlagWatcher::new(&path, state.clone()), state, path)
    }

    #[test]
    fn a_missing_file_leaves_the_flag_off_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, state, _) = watcher(&dir);
        watcher.poll();
        assert!(!state.cache_failure());
        let error = state.report().error.unwrap();
        assert!(
            error.contains("cannot read") && error.contains("demo.flagd.json"),
            "{error}"
        );
    }

    #[test]
    fn a_change_is_picked_up_and_an_unchanged_file_is_not_reread() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, state, path) = watcher(&dir);
        std::fs::write(&path, OFF).unwrap();
        watcher.poll();
        assert!(!state.cache_failure());
        let first_load = state.report().loaded_at.unwrap();
        watcher.poll();
        assert_eq!(
            state.report().loaded_at.unwrap(),
            first_load,
            "re-read an unchanged file"
        );

        std::fs::write(&path, ON).unwrap();
        watcher.poll();
        assert!(state.cache_failure());
        assert_eq!(state.report().error, None);
    }

    #[test]
    fn a_torn_or_malformed_file_keeps_the_last_good_value() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, state, path) = watcher(&dir);
        std::fs::write(&path, ON).unwrap();
        watcher.poll();
        assert!(state.cache_failure());

        std::fs::write(&path, &OFF[..OFF.len() / 2]).unwrap();
        watcher.poll();
        assert!(
            state.cache_failure(),
            "a torn file must not change the flag"
        );
        assert!(state.report().error.unwrap().contains("not valid JSON"));

        std::fs::write(&path, r#"{"flags": {"recommendationCacheFailure": {}}}"#).unwrap();
        watcher.poll();
        assert!(
            state.cache_failure(),
            "a malformed entry must not change the flag"
        );

        std::fs::remove_file(&path).unwrap();
        watcher.poll();
        assert!(
            state.cache_failure(),
            "a vanished file must not change the flag"
        );
        assert!(state.report().values.cache_failure);
    }

    #[test]
    fn a_failed_read_is_retried_even_if_the_stamp_did_not_move() {
        let dir = tempfile::tempdir().unwrap();
        let (mut watcher, state, path) = watcher(&dir);
        // A writer that rewrites in place: the poll lands when only half is written, and the
        // finished file has the same length and (put back here) the same modification time.
        let torn = format!("{:width$}", &ON[..ON.len() / 2], width = ON.len());
        std::fs::write(&path, &torn).unwrap();
        let torn_stamp = FileStamp::of(&path).unwrap();
        watcher.poll();
        assert!(state.report().error.is_some());

        std::fs::write(&path, ON).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(torn_stamp.modified.unwrap())
            .unwrap();
        assert_eq!(FileStamp::of(&path).unwrap(), torn_stamp);
        watcher.poll();
        assert_eq!(state.report().error, None);
        assert!(state.cache_failure());
    }
}
