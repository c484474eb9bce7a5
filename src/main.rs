//! The `kyc` binary: parses the command line and hands over to the library's CLI.

fn main() -> std::process::ExitCode {
    kyc::cli::main()
}
