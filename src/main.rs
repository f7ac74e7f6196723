//! The git-agent binary: it only calls the library (`git_agent::run`), where all of the code
//! is, so that tests reach the same code as the command does.

fn main() {
    std::process::exit(git_agent::run());
}
