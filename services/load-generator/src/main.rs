//! The `load-generator` binary: everything it does is in [`load_generator::command`].
use std::process::ExitCode;

fn main() -> ExitCode {
    load_generator::command::main()
}
