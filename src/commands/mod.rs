//! One file per subcommand; each a short script over `compose`, `engine`, `images` and `plan`.
mod build;
mod diagnose;
mod doctor;
mod down;
mod flag;
mod init;
mod logs;
mod restart;
mod status;
mod up;
mod wait;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::compose::{self, Project};
use crate::engine::Engine;
use crate::error::Error;
use crate::progress::Progress;
use crate::stack;

/// What every command is given: the resolved global options.
pub struct Context {
    pub project: String,
    /// `--file`/`DEMO_FILE`; `None` runs the stack embedded in the binary.
    pub file: Option<PathBuf>,
    pub progress: Progress,
}

impl Context {
    /// The compose file, loaded for this project: `--file`, or the embedded stack.
    pub fn load(&self) -> Result<Project, Error> {
        match &self.file {
            Some(file) => Ok(compose::load(file, &self.project)?),
            None => {
                let here = std::env::current_dir().map_err(|e| {
                    Error::Internal(format!("cannot read the current directory: {e}"))
                })?;
                Ok(stack::load(&self.project, &here, &|name| {
                    std::env::var(name).ok()
                })?)
            }
        }
    }

    pub async fn engine(&self) -> Result<Engine, Error> {
        Ok(Engine::connect().await?)
    }
}

/// Runs one parsed command line; the exit code on success may still say "not healthy".
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    compose::validate_project_name(&cli.project)?;
    let ctx = Context {
        project: cli.project,
        // Read here, not by clap: an environment value must not conflict with `-f`.
        file: cli.file.or(cli.file_short).or_else(|| {
            std::env::var_os("DEMO_FILE")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from)
        }),
        progress: Progress::new(),
    };
    match cli.command {
        Command::Build(args) => build::run(&ctx, args).await,
        Command::Up(args) => up::run(&ctx, args).await,
        Command::Status(args) => status::run(&ctx, args).await,
        Command::Down(args) => down::run(&ctx, args).await,
        Command::Flag(args) => flag::run(&ctx, args).await,
        Command::Diagnose(args) => diagnose::run(&ctx, args).await,
        Command::Logs(args) => logs::run(&ctx, args).await,
        Command::Restart(args) => restart::run(&ctx, args).await,
        Command::Wait(args) => wait::run(&ctx, args).await,
        Command::Doctor(args) => doctor::run(&ctx, args).await,
        Command::Init(args) => init::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "demo", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}
