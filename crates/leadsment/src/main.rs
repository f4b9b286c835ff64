use std::process::ExitCode;

fn main() -> ExitCode {
    leadsment::cli::main()
}
