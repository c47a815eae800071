//! The `zhengce` command line: the same service operations the HTTP API
//! calls (see [`cli`]).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    tune_allocator();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`zhengce search … | head`): the
        // output ends there, which is not a failure.
        Err(_) if cli::render::stdout_closed() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zhengce: {}", message(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each cause once: several of the library's
/// errors already say their cause ("PATH: No such file or directory"), and
/// anyhow's chain would repeat it.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}

/// glibc's allocator, left to itself, keeps what a long text's encoder pass
/// freed: its mmap threshold rises to the size of the largest block freed
/// (up to 32 MB), so the next pass's activation buffers come from the heap
/// and stay resident, and every thread that allocates gets an arena of its
/// own. A fixed 256 KB threshold returns large buffers to the system when
/// they are freed, and two arenas serve the two cores. Measured with
/// `scripts/bench-memory.py` on the bundled corpus: serving RSS after the
/// mixed load 323 MB before, 181 MB after.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
