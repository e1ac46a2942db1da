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

/// A block of text shown again and again on stdout (`status --watch`): redrawn in place on a
/// terminal, printed one block after another elsewhere so a log keeps every reading.
pub struct Redraw {
    terminal: bool,
    /// Lines of the block on screen, to move back over.
    shown: usize,
}

impl Redraw {
    pub fn stdout() -> Self {
        Redraw {
            terminal: std::io::stdout().is_terminal(),
            shown: 0,
        }
    }

    pub fn show(&mut self, block: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let text = if self.terminal {
            // Up over the last block, clear to the end of the screen, draw the new one.
            let up = if self.shown > 0 {
                format!("\x1b[{}A", self.shown)
            } else {
                String::new()
            };
            format!("{up}\x1b[J{block}")
        } else {
            format!("{block}\n")
        };
        self.shown = block.lines().count();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// `refreshed 23:05:10 UTC, every 2s; Ctrl-C stops`, under a redrawn block.
pub fn refreshed_line(interval: Duration) -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let clock = now.get(11..19).unwrap_or(&now);
    format!(
        "refreshed {clock} UTC, every {}; Ctrl-C stops\n",
        humantime::format_duration(interval)
    )
}
