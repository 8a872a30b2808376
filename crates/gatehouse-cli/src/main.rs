//! `gatehouse`: the native command-line tool. It validates plugin configurations with the same code the
//! filter runs in `on_configure`, makes keys, mints Direct Access Tokens, and probes a running deployment.
//!
//! Exit status everywhere: 0 success, 1 the work failed (an invalid configuration, a file that cannot be read,
//! a probe check that failed), 2 the command line is wrong (clap's convention, so scripts can tell a typo
//! from a finding).

mod cli;
mod keygen;
mod locate;
mod mint;
mod placeholders;
mod probe;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, TokenCommand};

/// Why a command did not succeed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    /// A wrong command line that the parser could not see (two options that only make sense together, a
    /// value of the wrong shape): exit 2, like the parser's own errors.
    Usage(String),
    /// The command ran and the answer is no: exit 1.
    Failed(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Failed(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::Failed(message.to_owned())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match Cli::try_parse_from(&args) {
        Ok(parsed) => parsed,
        Err(e) => return cli::usage_error(&e, &args),
    };
    let result = match parsed.command {
        Command::ValidateConfig(a) => validate::run(&a),
        Command::Schema => {
            // Generated from the same field tables the loader reads through (checked in as
            // schema/gatehouse-config.schema.json).
            let schema = gatehouse::config::schema::schema();
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            Ok(())
        }
        Command::StatsTags => {
            println!("{}", serde_json::to_string_pretty(&gatehouse::metrics::stats_config()).unwrap_or_default());
            Ok(())
        }
        Command::Keygen(a) => keygen::run(&a),
        Command::Token(TokenCommand::Mint(a)) => mint::run(&a),
        Command::Probe(a) => return probe::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::FAILURE
        }
    }
}
