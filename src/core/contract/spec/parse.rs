//! Parsers of the contract's sources: the TOML spec file (with real line
//! numbers from `toml::de::DeTable` spans), `SEALINIT_MOUNTS`
//! (`kind:path[:size],...`) and the `--tmpfs PATH[:SIZE]` family of flags.
//! Pure: text in, [`SpecFile`]/[`MountSpec`] or an error out; never panics.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::ViolationPolicy;
use super::{normalize, MountKind, MountSpec, Problem, RootPolicy, SpecError, SpecFile};
use crate::core::contract::quantity;
use crate::core::{cli::initopts, cli::options};

/// Top-level keys of the spec file, for "unknown key" messages.
const TOP_KEYS: &str = "root, on_violation, require_non_root, warn_at, act_at, \
     limit_action, grace, on_tamper, ephemeral_limit, rescan, rewrite, remap_exit, \
     pdeathsig or [[mount]]";
const MOUNT_KEYS: &str = "path, kind, size_limit or allow_exec";
const KINDS: &str = "tmpfs, emptydir, pvc, readonly or secret";

/// Parses a TOML spec file (format in DESIGN.md). `file` is only used to
/// name the file in errors. Paths are normalised ([`super::normalize_path`]);
/// unknown keys, wrong types, bad kinds, bad sizes, relative paths, missing
/// keys and duplicate paths are errors naming the 1-based line and the key.
pub fn parse_spec_toml(text: &str, file: &Path) -> Result<SpecFile, SpecError> {
    let lines = Lines::new(text);
    let at = |span: Range<usize>, key: &str, p: Problem| SpecError {
        file: file.to_path_buf(),
        line: lines.line_of(span.start),
        key: key.to_string(),
        expected: p.expected,
        found: p.found,
    };
    let doc = DeTable::parse(text).map_err(|e| SpecError {
        file: file.to_path_buf(),
        line: lines.line_of(e.span().map_or(0, |s| s.start)),
        key: String::new(),
        expected: "valid TOML".into(),
        found: format!("a syntax error ({})", e.message().replace('\n', " ")),
    })?;

    let mut out = SpecFile::default();
    // Path → line of its first declaration (a map: files may be large).
    let mut seen: HashMap<PathBuf, usize> = HashMap::new();
    for (key, value) in in_source_order(doc.get_ref()) {
        let name: &str = key.get_ref();
        let span = value.span();
        let v = value.get_ref();
        let s = &mut out.settings;
        let r = match name {
            "root" => string(v, "read-only or any").and_then(|t| {
                RootPolicy::parse(t)
                    .map(|x| s.root = Some(x))
                    .ok_or_else(|| problem("read-only or any", v))
            }),
            "on_violation" => string(v, "fail or warn").and_then(|t| {
                ViolationPolicy::parse(t)
                    .map(|x| s.on_violation = Some(x))
                    .ok_or_else(|| problem("fail or warn", v))
            }),
            "require_non_root" => match v {
                DeValue::Boolean(b) => {
                    s.require_non_root = Some(*b);
                    Ok(())
                }
                _ => Err(problem("true or false", v)),
            },
            "warn_at" => percent(v).map(|x| s.warn_at = Some(x)),
            "act_at" => percent(v).map(|x| s.act_at = Some(x)),
            "limit_action" => {
                let exp = "warn, \"signal:SIG\" (e.g. \"signal:USR1\") or stop";
                string(v, exp).and_then(|t| {
                    options::parse_limit_action(t)
                        .map(|x| s.limit_action = Some(x))
                        .map_err(|_| problem(exp, v))
                })
            }
            "grace" => {
                let exp = "a duration like \"10s\", \"500ms\" or \"2m\"";
                string(v, exp).and_then(|t| {
                    options::parse_duration(t)
                        .map(|x| s.grace = Some(x))
                        .map_err(|_| problem(exp, v))
                })
            }
            "on_tamper" => string(v, "warn or stop").and_then(|t| {
                options::parse_tamper_policy(t)
                    .map(|x| s.on_tamper = Some(x))
                    .map_err(|_| problem("warn or stop", v))
            }),
            "ephemeral_limit" => size(v).map(|x| s.ephemeral_limit = Some(x)),
            "rescan" => {
                let exp = "a duration of at least 1s like \"60s\" or \"5m\"";
                string(v, exp).and_then(|t| {
                    options::parse_period(t)
                        .map(|x| s.rescan = Some(x))
                        .map_err(|_| problem(exp, v))
                })
            }
            "rewrite" => {
                let exp = "signal pairs \"FROM:TO\" like \"TERM:QUIT\"";
                strings(v, exp, initopts::parse_rewrite).map(|x| s.rewrite = x)
            }
            "remap_exit" => {
                let exp = "exit-code pairs \"FROM:TO\" (0 to 255) like \"143:0\"";
                strings(v, exp, initopts::parse_remap_exit).map(|x| s.remap_exit = x)
            }
            "pdeathsig" => {
                let exp = "a signal name like \"TERM\" or \"KILL\"";
                string(v, exp).and_then(|t| {
                    options::parse_signal(t)
                        .map(|x| s.pdeathsig = Some(x))
                        .map_err(|_| problem(exp, v))
                })
            }
            "mount" => {
                let DeValue::Array(items) = v else {
                    return Err(at(span, name, problem("[[mount]] tables", v)));
                };
                for item in items.iter() {
                    let m = parse_mount(item).map_err(|(sp, k, p)| at(sp, &k, p))?;
                    let line = lines.line_of(item.span().start);
                    if let Some(first) = seen.get(&m.path) {
                        let p = Problem {
                            expected: format!(
                                "each path declared once (first declared at line {first})"
                            ),
                            found: format!("{} again", m.path.display()),
                        };
                        return Err(at(item.span(), "mount.path", p));
                    }
                    seen.insert(m.path.clone(), line);
                    out.mounts.push(m);
                }
                Ok(())
            }
            _ => {
                let p = Problem {
                    expected: format!("one of {TOP_KEYS}"),
                    found: "an unknown key".into(),
                };
                return Err(at(key.span(), name, p));
            }
        };
        r.map_err(|p| at(span, name, p))?;
    }
    Ok(out)
}

/// One `[[mount]]` table. Errors carry the span and key to report.
fn parse_mount(item: &Spanned<DeValue<'_>>) -> Result<MountSpec, (Range<usize>, String, Problem)> {
    let DeValue::Table(t) = item.get_ref() else {
        return Err((
            item.span(),
            "mount".into(),
            problem("[[mount]] tables", item.get_ref()),
        ));
    };
    let (mut path, mut kind, mut size_limit) = (None, None, None);
    let mut allow_exec = false;
    for (key, value) in in_source_order(t) {
        let v = value.get_ref();
        match &**key.get_ref() {
            "path" => {
                let s = string(v, "an absolute path like \"/tmp\"")
                    .map_err(|p| (value.span(), "mount.path".into(), p))?;
                path = Some(normalize(s).map_err(|p| (value.span(), "mount.path".into(), p))?);
            }
            "kind" => {
                let k = string(v, KINDS)
                    .and_then(|s| MountKind::parse(s).ok_or_else(|| problem(KINDS, v)))
                    .map_err(|p| (value.span(), "mount.kind".into(), p))?;
                kind = Some((k, value.span()));
            }
            "size_limit" => {
                let n = size(v).map_err(|p| (value.span(), "mount.size_limit".into(), p))?;
                size_limit = Some((n, value.span()));
            }
            "allow_exec" => match v {
                DeValue::Boolean(b) => allow_exec = *b,
                _ => {
                    return Err((
                        value.span(),
                        "mount.allow_exec".into(),
                        problem("true or false", v),
                    ))
                }
            },
            other => {
                let p = Problem {
                    expected: format!("one of {MOUNT_KEYS} in a [[mount]] table"),
                    found: "an unknown key".into(),
                };
                return Err((key.span(), format!("mount.{other}"), p));
            }
        }
    }
    let missing = |key: &'static str, example: &str| {
        let p = Problem {
            expected: format!("`{}` in every [[mount]] table, e.g. {example}", &key[6..]),
            found: "none".into(),
        };
        (item.span(), key.to_string(), p)
    };
    let path = path.ok_or_else(|| missing("mount.path", "path = \"/tmp\""))?;
    let (kind, _) = kind.ok_or_else(|| missing("mount.kind", "kind = \"emptydir\""))?;
    if let Some((_, span)) = &size_limit {
        if !kind.is_writable() {
            let p = Problem {
                expected: format!(
                    "no size_limit on a {} mount (sizes apply to tmpfs, emptydir and pvc)",
                    kind.as_str()
                ),
                found: "a size_limit".into(),
            };
            return Err((span.clone(), "mount.size_limit".into(), p));
        }
    }
    Ok(MountSpec {
        path,
        kind,
        size_limit: size_limit.map(|(n, _)| n),
        allow_exec,
    })
}

/// Table entries sorted by where they appear (the map is key-ordered), so
/// the first error in the file is the one reported.
fn in_source_order<'t, 'i>(
    t: &'t DeTable<'i>,
) -> Vec<(
    &'t Spanned<std::borrow::Cow<'i, str>>,
    &'t Spanned<DeValue<'i>>,
)> {
    let mut v: Vec<_> = t.iter().collect();
    v.sort_by_key(|(k, _)| k.span().start);
    v
}

/// Byte offsets of the newlines, for O(log n) offset → line lookups.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter_map(|(i, b)| (b == b'\n').then_some(i))
                .collect(),
        )
    }

    /// 1-based line of byte offset `pos`.
    fn line_of(&self, pos: usize) -> usize {
        1 + self.0.partition_point(|&nl| nl < pos)
    }
}

fn problem(expected: &str, found: &DeValue<'_>) -> Problem {
    Problem {
        expected: expected.to_string(),
        found: describe(found),
    }
}

/// `string "x"`, `integer 5`, `boolean true`, `a table`, ...
fn describe(v: &DeValue<'_>) -> String {
    match v {
        DeValue::String(s) => format!("string {:?}", &**s),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".into(),
        DeValue::Table(_) => "a table".into(),
    }
}

fn string<'v>(v: &'v DeValue<'_>, expected: &str) -> Result<&'v str, Problem> {
    match v {
        DeValue::String(s) => Ok(s),
        _ => Err(problem(&format!("a string: {expected}"), v)),
    }
}

/// An array of strings, each parsed with `parse`; the whole array is the
/// problem when one item is wrong (its line is the array's).
fn strings<T>(
    v: &DeValue<'_>,
    expected: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, Problem> {
    let DeValue::Array(items) = v else {
        return Err(problem(&format!("an array of {expected}"), v));
    };
    items
        .iter()
        .map(|item| match item.get_ref() {
            DeValue::String(t) => parse(t).map_err(|e| Problem {
                expected: format!("an array of {expected}"),
                found: format!("{:?} ({e})", &**t),
            }),
            other => Err(problem(&format!("an array of {expected}"), other)),
        })
        .collect()
}

fn percent(v: &DeValue<'_>) -> Result<u8, Problem> {
    const EXP: &str = "an integer percentage from 1 to 100, e.g. 80";
    match v {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| problem(EXP, v)),
        _ => Err(problem(EXP, v)),
    }
}

fn size(v: &DeValue<'_>) -> Result<u64, Problem> {
    const EXP: &str = "a Kubernetes quantity string like \"500Mi\" or \"5Gi\"";
    let s = string(v, EXP)?;
    parse_size(s).map_err(|reason| Problem {
        expected: EXP.into(),
        found: format!("{s:?} ({reason})"),
    })
}

/// A positive quantity (a zero limit would make every byte a violation).
fn parse_size(s: &str) -> Result<u64, String> {
    match quantity::parse(s) {
        Ok(0) => Err("a limit of 0 bytes".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.reason),
    }
}

/// Parses `SEALINIT_MOUNTS`: `kind:path[:size]` items separated by commas,
/// e.g. `tmpfs:/dev/shm:1Gi,emptydir:/tmp:500Mi,readonly:/etc/nginx`.
/// Whitespace around items is ignored (YAML folding); an empty value is an
/// empty list. Paths containing `:` or `,` cannot be written here (use a
/// spec file); an empty item, a duplicate path, a bad kind or size is an
/// error naming the item's position.
pub fn parse_mounts_env(value: &str) -> Result<Vec<MountSpec>, String> {
    let mut out: Vec<MountSpec> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if value.trim().is_empty() {
        return Ok(out);
    }
    let mut offset = 0;
    for (i, raw) in value.split(',').enumerate() {
        let n = i + 1;
        let item = raw.trim();
        let where_ = format!("SEALINIT_MOUNTS item {n} (at byte {offset})");
        offset += raw.len() + 1;
        if item.is_empty() {
            return Err(format!(
                "{where_}: expected KIND:PATH[:SIZE] between commas, e.g. \
                 tmpfs:/dev/shm:1Gi,emptydir:/tmp:500Mi; found an empty item \
                 (a stray or trailing comma?)"
            ));
        }
        let m = parse_item(item).map_err(|e| format!("{where_} {item:?}: {e}"))?;
        if !seen.insert(m.path.clone()) {
            return Err(format!(
                "{where_} {item:?}: expected each path once, found {} declared again",
                m.path.display()
            ));
        }
        out.push(m);
    }
    Ok(out)
}

fn parse_item(item: &str) -> Result<MountSpec, String> {
    let Some((kind_s, rest)) = item.split_once(':') else {
        return Err(format!(
            "expected KIND:PATH[:SIZE], e.g. emptydir:/tmp:500Mi, found no ':' \
             (KIND is one of {KINDS})"
        ));
    };
    let kind = MountKind::parse(kind_s)
        .ok_or_else(|| format!("expected a kind ({KINDS}), found {kind_s:?}"))?;
    path_and_size(kind, rest, "SEALINIT_MOUNTS")
}

/// Parses the value of `--tmpfs`, `--emptydir`, `--pvc` (`PATH[:SIZE]`) or
/// `--readonly`, `--secret` (`PATH`) for `kind`. Paths containing `:`
/// cannot be written here (use a spec file).
pub fn parse_mount_flag(kind: MountKind, value: &str) -> Result<MountSpec, String> {
    path_and_size(kind, value, &format!("--{}", kind.as_str()))
        .map_err(|e| format!("--{} {value:?}: {e}", kind.as_str()))
}

/// `PATH[:SIZE]` for a writable kind, `PATH` for the read-only ones.
fn path_and_size(kind: MountKind, s: &str, source: &str) -> Result<MountSpec, String> {
    let example = match kind {
        MountKind::Tmpfs => "/dev/shm:1Gi",
        MountKind::EmptyDir => "/tmp:500Mi",
        MountKind::Pvc => "/var/lib/postgresql/data:50Gi",
        MountKind::ReadOnly => "/etc/nginx",
        MountKind::Secret => "/etc/tls",
    };
    let mut parts = s.split(':');
    let path_s = parts.next().unwrap_or("");
    let size_s = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "expected PATH[:SIZE] like {example}, found more than one ':' \
             (paths containing ':' cannot be given in {source}; use a spec file)"
        ));
    }
    let path: PathBuf = normalize(path_s).map_err(|p| p.to_string())?;
    let size_limit = match size_s {
        None => None,
        Some(_) if !kind.is_writable() => {
            return Err(format!(
                "expected PATH like {example}, found a size (a {} mount has no size; \
                 paths containing ':' cannot be given in {source})",
                kind.as_str()
            ))
        }
        Some("") => {
            return Err(format!(
                "expected a size after ':' like {example}, found nothing"
            ))
        }
        Some(z) => Some(parse_size(z).map_err(|reason| {
            format!("expected a Kubernetes quantity like 500Mi or 5Gi, found {z:?} ({reason})")
        })?),
    };
    Ok(MountSpec {
        path,
        kind,
        size_limit,
        allow_exec: false,
    })
}
