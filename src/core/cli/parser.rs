//! The command line and its environment mirrors, as pure functions.
//!
//! One table ([`OPTIONS`]) declares every option: its name, short form, value
//! name, which subcommands take it, and its help line. The environment mirror
//! of `--some-name` is always `SEALINIT_SOME_NAME`. [`parse_args`] turns argv
//! into a [`Parsed`]; [`Layer`] holds raw values from one source (flags or
//! env) and the typed getters report errors naming that source, so a bad
//! value says `--grace` or `SEALINIT_GRACE`, whichever it came from.

use std::ffi::{OsStr, OsString};

mod table;

pub use table::{Opt, OptDef, Sub, OPTIONS};

/// The env mirror of an option name: `SEALINIT_` + upper case, `-` → `_`.
pub fn env_name(name: &str) -> String {
    let mut s = String::from("SEALINIT_");
    s.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    s
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
}

impl Source {
    /// `--name` or `SEALINIT_NAME`: how this source spells `opt`.
    pub fn label(self, opt: Opt) -> String {
        match self {
            Source::Flag => opt.flag(),
            Source::Env => opt.env(),
        }
    }
}

/// A usage error: exit 64 with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Raw values from one source, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub source: Source,
    pub values: Vec<(Opt, String)>,
    /// `SEALINIT_*` environment names that mirror no option.
    pub unknown: Vec<String>,
}

impl Layer {
    /// An empty layer of flags.
    pub fn flags() -> Layer {
        Layer {
            source: Source::Flag,
            values: Vec::new(),
            unknown: Vec::new(),
        }
    }
    /// An empty layer of environment mirrors.
    pub fn env() -> Layer {
        Layer {
            source: Source::Env,
            ..Layer::flags()
        }
    }
    /// The last value of a single-valued option.
    pub fn get(&self, opt: Opt) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(o, _)| *o == opt)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a repeatable option.
    pub fn all(&self, opt: Opt) -> impl Iterator<Item = &str> + '_ {
        self.values
            .iter()
            .filter(move |(o, _)| *o == opt)
            .map(|(_, v)| v.as_str())
    }
    /// How many times a switch was given.
    pub fn count(&self, opt: Opt) -> usize {
        self.values.iter().filter(|(o, _)| *o == opt).count()
    }
    /// Whether a switch is on.
    pub fn on(&self, opt: Opt) -> bool {
        self.count(opt) > 0
    }
    /// `--name` or `SEALINIT_NAME`, as this layer spells `opt`.
    pub fn label(&self, opt: Opt) -> String {
        self.source.label(opt)
    }
    /// The last value of `opt` parsed with `parse`; errors name the option
    /// as this layer spells it: `--grace: expected ...`.
    pub fn typed<T>(
        &self,
        opt: Opt,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, UsageError> {
        self.get(opt)
            .map(|v| parse(v).map_err(|e| UsageError(format!("{}: {e}", self.label(opt)))))
            .transpose()
    }
    /// Every value of a repeatable `opt`, parsed with `parse`.
    pub fn typed_all<T>(
        &self,
        opt: Opt,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, UsageError> {
        self.all(opt)
            .map(|v| parse(v).map_err(|e| UsageError(format!("{}: {e}", self.label(opt)))))
            .collect()
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub sub: Sub,
    pub flags: Layer,
    /// The workload command (`Run`, `Learn`) or positional arguments (`Plan`).
    pub argv: Vec<OsString>,
    pub help: bool,
    pub version: bool,
}

fn find_long(name: &str) -> Option<&'static OptDef> {
    OPTIONS.iter().find(|o| o.name == name)
}

fn find_short(c: char) -> Option<&'static OptDef> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

fn utf8(arg: &OsStr, what: &str) -> Result<String, UsageError> {
    arg.to_str()
        .map(str::to_string)
        .ok_or_else(|| UsageError(format!("{what}: the value is not valid UTF-8")))
}

/// Parses argv (without the program name).
///
/// `sealinit [OPTIONS] [--] COMMAND [ARG...]`: option parsing stops at `--`
/// or at the first positional argument, which starts the workload. A first
/// positional of `check`, `mounts`, `manifest`, `plan` or `learn` (before
/// any `--`) selects that subcommand instead; run a program of that name
/// with `sealinit -- check`. `learn` takes its COMMAND like the default.
pub fn parse_args(args: &[OsString]) -> Result<Parsed, UsageError> {
    let mut p = Parsed {
        sub: Sub::Run,
        flags: Layer::flags(),
        argv: Vec::new(),
        help: false,
        version: false,
    };
    let mut i = 0;
    let mut sub_chosen = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            p.argv.extend(args[i..].iter().cloned());
            break;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            let text = utf8(arg, "argument")?;
            if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                match (name, &inline) {
                    ("help", None) => {
                        p.help = true;
                        continue;
                    }
                    ("version", None) => {
                        p.version = true;
                        continue;
                    }
                    ("help" | "version", Some(_)) => {
                        return Err(UsageError(format!("--{name} takes no value")))
                    }
                    _ => {}
                }
                let def = find_long(name).ok_or_else(|| {
                    UsageError(format!("unknown option --{name} (see sealinit --help)"))
                })?;
                let value = take_value(def, inline, args, &mut i, &format!("--{name}"))?;
                p.flags.values.push((def.id, value));
            } else {
                // A cluster of short switches, e.g. -gv or -vv.
                for c in text[1..].chars() {
                    match c {
                        'h' => p.help = true,
                        'V' => p.version = true,
                        _ => {
                            let def = find_short(c).ok_or_else(|| {
                                UsageError(format!("unknown option -{c} (see sealinit --help)"))
                            })?;
                            if def.value.is_some() {
                                return Err(UsageError(format!("-{c} needs a value")));
                            }
                            p.flags.values.push((def.id, String::new()));
                        }
                    }
                }
            }
            continue;
        }
        // A positional argument.
        if !sub_chosen && p.argv.is_empty() && p.sub == Sub::Run {
            if let Some(sub) = Sub::from_word(bytes) {
                p.sub = sub;
                sub_chosen = true;
                continue;
            }
        }
        match p.sub {
            Sub::Run | Sub::Learn => {
                p.argv.push(arg.clone());
                p.argv.extend(args[i..].iter().cloned());
                break;
            }
            Sub::Plan => p.argv.push(arg.clone()),
            other => {
                return Err(UsageError(format!(
                    "sealinit {}: unexpected argument {:?}",
                    other.name(),
                    arg
                )))
            }
        }
    }
    for (opt, _) in &p.flags.values {
        if !opt.def().applies_to(p.sub) {
            return Err(not_here(*opt, p.sub));
        }
    }
    Ok(p)
}

/// `--out does not apply to sealinit check; it is an option of sealinit learn`.
fn not_here(opt: Opt, sub: Sub) -> UsageError {
    let spell = |s: Sub| match s {
        Sub::Run => "sealinit [OPTIONS] -- COMMAND".to_string(),
        s => format!("sealinit {}", s.name()),
    };
    let takers: Vec<String> = Sub::ALL
        .into_iter()
        .filter(|s| opt.def().applies_to(*s))
        .map(spell)
        .collect();
    let (here, help) = match sub {
        Sub::Run => (
            "running a command".to_string(),
            "sealinit --help".to_string(),
        ),
        s => (spell(s), format!("sealinit {} --help", s.name())),
    };
    UsageError(format!(
        "{} does not apply to {here}; it is an option of {} (see {help})",
        opt.flag(),
        takers.join(", ")
    ))
}

fn take_value(
    def: &OptDef,
    inline: Option<String>,
    args: &[OsString],
    i: &mut usize,
    shown: &str,
) -> Result<String, UsageError> {
    match (def.value, inline) {
        (None, None) => Ok(String::new()),
        (None, Some(_)) => Err(UsageError(format!("{shown} takes no value"))),
        (Some(_), Some(v)) => Ok(v),
        (Some(vn), None) => {
            let next = args
                .get(*i)
                .ok_or_else(|| UsageError(format!("{shown} needs a value: {shown} {vn}")))?;
            *i += 1;
            utf8(next, shown)
        }
    }
}

/// Reads the env mirrors from `vars` (the process environment, or a list
/// in tests), in one pass: only `SEALINIT_*` names are looked at.
/// Repeatable options take comma-separated lists in env
/// (`SEALINIT_TMPFS=/a:1Gi,/b`, `SEALINIT_REWRITE=TERM:QUIT,USR1:USR2`).
/// Switches accept 1/true/yes/on and 0/false/no/off; anything else is an
/// error naming the variable. A `SEALINIT_*` name that mirrors no option is
/// kept in [`Layer::unknown`] so the caller can warn about a likely typo.
pub fn env_layer(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Layer, UsageError> {
    let mut layer = Layer::env();
    for (key, raw) in vars {
        let Some(suffix) = key.as_encoded_bytes().strip_prefix(b"SEALINIT_") else {
            continue;
        };
        let var = key.to_string_lossy().into_owned();
        let Some(def) = env_def(suffix) else {
            layer.unknown.push(var);
            continue;
        };
        let value = utf8(&raw, &var)?;
        if def.value.is_none() {
            match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => layer.values.push((def.id, String::new())),
                "0" | "false" | "no" | "off" | "" => {}
                _ => {
                    return Err(UsageError(format!(
                        "{var}: expected 1/true/yes/on or 0/false/no/off, got {value:?}"
                    )))
                }
            }
        } else if def.repeat {
            for item in value.split(',').filter(|s| !s.trim().is_empty()) {
                layer.values.push((def.id, item.trim().to_string()));
            }
        } else {
            layer.values.push((def.id, value));
        }
    }
    Ok(layer)
}

/// The option a `SEALINIT_` suffix mirrors (upper case, digits, `_` only).
fn env_def(suffix: &[u8]) -> Option<&'static OptDef> {
    if !suffix
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
    {
        return None;
    }
    let name: String = suffix
        .iter()
        .map(|&b| {
            if b == b'_' {
                '-'
            } else {
                b.to_ascii_lowercase() as char
            }
        })
        .collect();
    find_long(&name)
}

/// Flags over env: the value of a single-valued option and where it came
/// from, so a parse error can name `--x` or `SEALINIT_X`.
pub fn pick<'a>(flags: &'a Layer, env: &'a Layer, opt: Opt) -> Option<(&'a str, String)> {
    [flags, env]
        .into_iter()
        .find_map(|l| l.get(opt).map(|v| (v, l.label(opt))))
}

/// Parses a picked value with `parse`, prefixing errors with its source.
pub fn typed<T>(
    picked: Option<(&str, String)>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, UsageError> {
    match picked {
        None => Ok(None),
        Some((v, src)) => parse(v)
            .map(Some)
            .map_err(|e| UsageError(format!("{src}: {e}"))),
    }
}

/// The log format asked for, found without failing: used to report a usage
/// error in the right format before the command line is known to be valid
/// (`SEALINIT_LOG_FORMAT=json` with a bad flag is a JSON `exit` event).
/// Walks `args` like [`parse_args`] (stopping where the workload starts);
/// the last `--log-format` flag wins, else `SEALINIT_LOG_FORMAT`; anything
/// unreadable counts as text.
pub fn log_format_hint(
    args: &[OsString],
    env_value: Option<&OsStr>,
) -> crate::core::cli::options::LogFormat {
    use crate::core::cli::options::parse_log_format;
    let mut found = None;
    let mut sub = Sub::Run;
    let mut i = 0;
    while i < args.len() {
        let bytes = args[i].as_encoded_bytes();
        i += 1;
        if bytes == b"--" {
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                None => (long, None),
            };
            let def = std::str::from_utf8(name).ok().and_then(find_long);
            let takes_value = def.is_some_and(|d| d.value.is_some());
            let value = match inline {
                Some(v) => Some(v),
                None if takes_value => {
                    i += 1;
                    args.get(i - 1).map(|a| a.as_encoded_bytes())
                }
                None => None,
            };
            if def.is_some_and(|d| d.id == Opt::LogFormat) {
                if let Some(f) = value
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .and_then(|v| parse_log_format(v).ok())
                {
                    found = Some(f);
                }
            }
            continue;
        }
        if bytes.first() == Some(&b'-') {
            continue;
        }
        match Sub::from_word(bytes) {
            Some(s) if sub == Sub::Run => sub = s,
            _ if sub == Sub::Plan => {}
            _ => break,
        }
    }
    found
        .or_else(|| {
            env_value
                .and_then(OsStr::to_str)
                .and_then(|v| parse_log_format(v).ok())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
