use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before any thread exists: the arena cap applies to every thread that allocates later.
    gatehouse::allocator::cap_arenas();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a Tokio runtime");
    runtime.block_on(async {
        let cli = gatehouse::cli::args::Cli::parse();
        match gatehouse::cli::run(cli).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        }
    })
}
