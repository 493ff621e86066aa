//! The command line and the configuration it resolves to: `parser` (the
//! option table, argv and env-mirror parsing, subcommands), `options` and
//! `initopts` (the typed values: percentages, durations, signals, rewrites,
//! exit remaps), `config` (one resolved `Config` folded from profile, spec,
//! env and flags, and the `Command` each subcommand runs) and `help` (the
//! help text, generated from the option table).

pub mod config;
pub mod help;
pub mod initopts;
pub mod options;
pub mod parser;
