//! Progress on stderr: indicatif spinners and bars on a terminal, one plain line per change
//! elsewhere (CI logs, pipes), so output stays readable either way.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes for one command.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { multi }
    }

    /// Plain lines only, whatever stderr is.
    pub fn plain() -> Self {
        Progress { multi: None }
    }

    /// A line of progress for one object (a service, an image).
    pub fn task(&self, name: &str) -> Task {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(spinner_style());
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task {
            name: name.to_string(),
            bar,
            last_percent: None,
        }
    }

    /// A line that is not about one object.
    pub fn note(&self, line: &str) {
        match &self.multi {
            Some(multi) => multi.println(line).unwrap_or_default(),
            None => eprintln!("{line}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {prefix:<16} {wide_msg}").expect("valid template")
}

/// Progress of one object.
pub struct Task {
    name: String,
    bar: Option<ProgressBar>,
    last_percent: Option<u64>,
}

impl Task {
    /// A new stage ("building", "starting", "waiting for health").
    pub fn stage(&mut self, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => eprintln!("{}: {message}", self.name),
        }
    }

    /// A transient detail (a line of build output): shown on a terminal, dropped elsewhere.
    pub fn detail(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// Bytes moved of a known total (an image pull). Plain output prints every tenth.
    pub fn bytes(&mut self, done: u64, total: u64) {
        match &self.bar {
            Some(bar) => {
                if bar.length() != Some(total) {
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix:<16} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .expect("valid template")
                        .progress_chars("=> "),
                    );
                    bar.set_length(total);
                }
                bar.set_position(done);
            }
            None if total > 0 => {
                let percent = done * 100 / total / 10 * 10;
                if self.last_percent != Some(percent) {
                    self.last_percent = Some(percent);
                    eprintln!("{}: pulled {percent}%", self.name);
                }
            }
            None => {}
        }
    }

    /// The final state of this object.
    pub fn finish(self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:<16} {wide_msg}")
                        .expect("valid template"),
                );
                bar.finish_with_message(message.to_string());
            }
            None => eprintln!("{}: {message}", self.name),
        }
    }
}
