//! The `sesame` command line's tests, one module per subject, in one test binary. Most run the `sesame` binary
//! as a user would ([`common::sesame`]).

mod cli_workflow;
mod common;
mod crash_safety;
mod encode_cli;
mod errors;
mod help;
mod hostile_models;
mod hub;
mod modern_finetune;
mod report;
mod report_choices;
mod rerun;
mod tasks_end_to_end;
