//! The `demo` binary: run, print any error as one line (plus its context lines), exit with the
//! code the error's kind calls for.
use std::process::ExitCode;

fn main() -> ExitCode {
    match demo::run().map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = err
                .downcast_ref::<demo::Error>()
                .map_or(1, demo::Error::exit_code);
            ExitCode::from(code)
        }
    }
}
