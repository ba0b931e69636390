use clap::Parser;

fn main() {
    let cli = landx::cli::Cli::parse();
    std::process::exit(landx::cli::main_with(cli));
}
