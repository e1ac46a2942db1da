//! The `demo` binary: run, print any error as one line (plus its context lines), exit with the
//! code the error's kind calls for. Started under a service's name, it is that service.
use std::process::ExitCode;

fn main() -> ExitCode {
    // Packed into our images as /recommendation and /load-generator: be that service.
    let program = std::env::args_os().next().unwrap_or_default();
    match std::path::Path::new(&program)
        .file_name()
        .and_then(|n| n.to_str())
    {
        Some(demo::build::RECOMMENDATION) => return recommendation::command::main(),
        Some(demo::build::LOAD_GENERATOR) => return load_generator::command::main(),
        _ => {}
    }
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
