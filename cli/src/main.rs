//! The `p06` command: see `p06 --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    p06::cli::main()
}
