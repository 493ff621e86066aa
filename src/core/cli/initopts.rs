//! Values of the init options that shape signals and exit codes:
//! `--rewrite FROM:TO`, `--remap-exit FROM:TO`, `--pdeathsig SIG`. Each
//! parser says what it expected.

use super::options::parse_signal;

/// `FROM:TO`, each a signal name or number; TO may be `0` (drop FROM, like
/// dumb-init's `-r FROM:0`). FROM cannot be SIGCHLD (sealinit's own: it
/// reaps on it), SIGKILL or SIGSTOP (they never reach sealinit).
pub fn parse_rewrite(s: &str) -> Result<(i32, i32), String> {
    let err = || {
        format!("expected FROM:TO with signal names or numbers (TERM:QUIT, 15:3, HUP:0 to drop), got {s:?}")
    };
    let (from, to) = s.split_once(':').ok_or_else(err)?;
    let from = parse_signal(from.trim()).map_err(|_| err())?;
    let to = match to.trim() {
        "0" => 0,
        t => parse_signal(t).map_err(|_| err())?,
    };
    if [libc::SIGCHLD, libc::SIGKILL, libc::SIGSTOP].contains(&from) {
        return Err(format!(
            "{s:?}: signal {from} cannot be rewritten (SIGKILL and SIGSTOP never reach sealinit; \
             it reaps on SIGCHLD)"
        ));
    }
    Ok((from, to))
}

/// `FROM:TO`, two exit codes 0..=255 (`143:0`: a JVM's exit on SIGTERM is
/// a clean stop).
pub fn parse_remap_exit(s: &str) -> Result<(u8, u8), String> {
    let err = || format!("expected FROM:TO with exit codes 0-255 (e.g. 143:0), got {s:?}");
    let (from, to) = s.split_once(':').ok_or_else(err)?;
    let code = |v: &str| v.trim().parse::<u8>().map_err(|_| err());
    Ok((code(from)?, code(to)?))
}

/// Every value of a repeatable pair option: each occurrence may itself be
/// a comma-separated list (the form an env mirror takes).
pub fn parse_list<T>(
    values: impl IntoIterator<Item = impl AsRef<str>>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for v in values {
        for item in v.as_ref().split(',').filter(|i| !i.trim().is_empty()) {
            out.push(parse(item.trim())?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_take_names_numbers_and_zero() {
        let cases: &[(&str, Option<(i32, i32)>)] = &[
            ("TERM:QUIT", Some((15, 3))),
            ("SIGTERM:SIGQUIT", Some((15, 3))),
            ("15:3", Some((15, 3))),
            ("HUP:0", Some((1, 0))),
            ("RTMIN+1:USR1", Some((33, 10))),
            ("0:TERM", None),
            ("TERM", None),
            ("TERM:", None),
            ("CHLD:TERM", None),
            ("KILL:TERM", None),
            ("TERM:99", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_rewrite(s).ok(), *want, "{s}");
        }
    }

    #[test]
    fn remaps_take_two_codes() {
        let cases: &[(&str, Option<(u8, u8)>)] = &[
            ("143:0", Some((143, 0))),
            ("1:2", Some((1, 2))),
            ("256:0", None),
            ("-1:0", None),
            ("143", None),
            ("a:b", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_remap_exit(s).ok(), *want, "{s}");
        }
    }

    #[test]
    fn lists_split_on_commas_across_occurrences() {
        let got = parse_list(["TERM:QUIT,HUP:0", "USR1:USR2"], parse_rewrite).expect("ok");
        assert_eq!(got, vec![(15, 3), (1, 0), (10, 12)]);
        assert!(parse_list(["TERM:QUIT,bad"], parse_rewrite).is_err());
        assert_eq!(parse_list(Vec::<&str>::new(), parse_remap_exit), Ok(vec![]));
    }
}
