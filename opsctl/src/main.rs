use std::process::ExitCode;

fn main() -> ExitCode {
    opsctl::main()
}
