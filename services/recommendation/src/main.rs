//! The `recommendation` binary: everything it does is in [`recommendation::command`].
use std::process::ExitCode;

fn main() -> ExitCode {
    recommendation::command::main()
}
