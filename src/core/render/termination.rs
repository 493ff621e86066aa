//! The termination message: what sealinit writes to the termination log
//! (Kubernetes' `terminationMessagePath`, `/dev/termination-log` by
//! default) when it decides the exit code itself (64, 71, 75, 77, 78), so
//! `kubectl describe pod` says why. Short: what, which path, the first line
//! of the fix; at most [`MAX`] bytes (all the kubelet reads).

/// The most the kubelet reads from a termination message file.
pub const MAX: usize = 4096;

/// The message for exit `code`: `what` happened, at `path`, and the first
/// line of `fix`. Control characters (other than the line breaks this
/// function puts in) become `?`; the result is cut to [`MAX`] bytes at a
/// character boundary.
pub fn message(code: i32, what: &str, path: Option<&str>, fix: Option<&str>) -> String {
    let mut out = format!("sealinit: exit {code}: {}\n", clean(what));
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        out.push_str(&format!("path: {}\n", clean(p)));
    }
    if let Some(first) = fix.and_then(|f| f.lines().map(str::trim).find(|l| !l.is_empty())) {
        out.push_str(&format!("fix: {}\n", clean(first)));
    }
    cap(out)
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn cap(mut s: String) -> String {
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_where_and_the_first_line_of_the_fix() {
        type Case<'a> = (
            &'a str,
            i32,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a str,
        );
        let cases: &[Case] = &[
            (
                "all three",
                78,
                "/var/cache is not a mount",
                Some("/var/cache"),
                Some("\n  add an emptyDir volume\nvolumes:\n- name: x"),
                "sealinit: exit 78: /var/cache is not a mount\npath: /var/cache\nfix: add an emptyDir volume\n",
            ),
            ("what only", 64, "--grace: bad", None, None, "sealinit: exit 64: --grace: bad\n"),
            ("empty path", 71, "no signalfd", Some(""), None, "sealinit: exit 71: no signalfd\n"),
            (
                "control characters",
                77,
                "dropped \u{1b}[31mx\ty",
                Some("/d/\u{7}"),
                None,
                "sealinit: exit 77: dropped ?[31mx?y\npath: /d/?\n",
            ),
        ];
        for (name, code, what, path, fix, want) in cases {
            assert_eq!(message(*code, what, *path, *fix), *want, "case {name}");
        }
    }

    #[test]
    fn messages_are_capped_at_a_character_boundary() {
        let m = message(75, &"é".repeat(5000), None, None);
        assert!(m.len() <= MAX && m.len() > MAX - 4, "{}", m.len());
        assert!(m.starts_with("sealinit: exit 75: é"));
    }
}
