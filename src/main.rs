//! The `zhengce` command line: the same service operations the HTTP API
//! calls (see [`cli`]).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`zhengce search … | head`): the
        // output ends there, which is not a failure.
        Err(_) if cli::render::stdout_closed() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zhengce: {e:#}");
            ExitCode::FAILURE
        }
    }
}
