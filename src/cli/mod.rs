//! Subcommands of `sesame`.

mod encode;
mod progress;

use clap::{Parser, Subcommand};
use sesame::SesameError;

/// sesame: fine-tune and evaluate BERT encoders with SesameBERT-style attention enhancements.
#[derive(Parser, Debug)]
#[command(name = "sesame", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Extract every hidden state and the pooler output of a TSV of sentences or sentence pairs.
    Encode(encode::EncodeArgs),
}

pub fn run(cli: Cli) -> Result<(), SesameError> {
    match cli.command {
        Command::Encode(args) => encode::run(args),
    }
}
