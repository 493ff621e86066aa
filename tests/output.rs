//! Black-box tests of what sealinit prints: quiet when there is nothing to
//! say (like tini, dumb-init, catatonit), every check line when something
//! is wrong or with `-v`, `sealinit check`'s report on stdout, and text
//! from the workload escaped. The namespace tests need root and fail
//! without it (CI runs as root).

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Inside the namespace: every other writable mount of the host (podman's
/// storage, `/run/netns`, ...) remounted read-only, so the host's own
/// undeclared mounts do not warn.
const QUIET_HOST: &str = "awk '{print $5}' /proc/self/mountinfo | while read -r m; do \
    case $m in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; \
    *) mount -o remount,bind,ro \"$m\" 2>/dev/null ;; esac; done; ";

/// `sh -c SCRIPT` in a private mount namespace, with `$D` a fresh directory
/// and `$BIN` sealinit.
fn in_mount_ns(script: &str) -> (Command, Scratch) {
    assert!(is_root(), "needs root: unshare(2) and mount(2)");
    let d = tempdir();
    let mut c = Command::new("unshare");
    let script = format!("{QUIET_HOST}{script}");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("D", &d)
        .env("BIN", bin());
    (c, Scratch(d))
}

/// `$D`: only a mount point inside the namespace, empty on the host side,
/// removed when the test is done with it.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_plain_init_on_a_terminal_shows_only_the_workloads_output() {
    let cmd = format!("{} --root any -- echo hi", bin());
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = run(c);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hi\r\n",
        "{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn a_plain_init_prints_nothing_of_its_own_on_pipes() {
    let out = run(sealinit(&["--", "sh", "-c", "echo out; echo err >&2"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out\n",
        "{}",
        show(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "err\n",
        "{}",
        show(&out)
    );
    // -v shows what was held back.
    let out = run(sealinit(&["-v", "--", "true"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("check: PASS") && err.contains("started true"),
        "{err}"
    );
}

#[test]
fn a_clean_contract_says_one_summary_line_and_v_says_every_check() {
    let script = "mount -t tmpfs -o noexec,nosuid,nodev,size=1m none \"$D\" && \
                  exec \"$BIN\" --root any --tmpfs \"$D:1Mi\" \"$@\" -- echo ok";
    let (c, _d) = in_mount_ns(script);
    let out = run(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        show(&out)
    );
    // One message (it may wrap: the identity lists every group).
    let one = unwrapped(&err);
    let lines: Vec<&str> = one.lines().collect();
    assert_eq!(lines.len(), 1, "{}", show(&out));
    assert!(
        lines[0].starts_with("sealinit: check: PASS 0 failed, 0 warnings"),
        "{err}"
    );

    let (c, _d2) = in_mount_ns(&script.replace("\"$@\"", "-v"));
    let out = run(c);
    let err = unwrapped(&String::from_utf8_lossy(&out.stderr));
    assert!(
        err.contains(&format!("debug: pass {}/", std::env::temp_dir().display()))
            && err.contains("tmpfs expected"),
        "{err}"
    );
    assert!(err.contains("check: PASS"), "{err}");
}

#[test]
fn a_warning_shows_every_check_line() {
    // A tmpfs without noexec outside Kubernetes: the noexec advice warns.
    let script = "mount -t tmpfs -o size=1m none \"$D\" && \
                  exec \"$BIN\" --root any --tmpfs \"$D:1Mi\" -- true";
    let (c, _d) = in_mount_ns(script);
    let out = run(c);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for want in [
        "sealinit: pass  -  identity",
        "sealinit: pass  /tmp/",
        "sealinit: warning: warn  /tmp/",
        "sealinit:   why: code written here can be executed",
        "sealinit: warning: check: WARN 0 failed, 1 warning",
    ] {
        assert!(err.contains(want), "{want:?} missing\n{err}");
    }
}

/// Each line of `text` parsed as JSON by python3 (a real parser): the
/// number of objects, or the parser's complaint.
fn json_lines(text: &str) -> Result<usize, String> {
    let mut c = Command::new("python3");
    c.args([
        "-c",
        "import json,sys\nn=0\nfor l in sys.stdin:\n  o=json.loads(l); assert isinstance(o, dict) and o['event'] and o['level']; n+=1\nprint(n)",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))
}

#[test]
fn check_prints_its_report_on_stdout_as_json_lines() {
    let mut c = Command::new(bin());
    c.args(["check", "--root", "any", "--log-format", "json"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n = json_lines(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    assert!(n >= 2, "{stdout}");
    assert!(stdout
        .lines()
        .last()
        .is_some_and(|l| l.contains("\"event\":\"checks.summary\"")));

    // A violation: exit 1, the failing line on stdout, stderr still clean.
    let mut c = Command::new(bin());
    c.args([
        "check",
        "--root",
        "any",
        "--log-format",
        "json",
        "--emptydir",
        "/definitely/not/here",
    ]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    json_lines(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    assert!(stdout.contains("\"verdict\":\"fail\""), "{stdout}");

    // Text, failing: at most 120 columns a line (a path longer than a line
    // stays whole), why and fix on lines of their own.
    let long = format!("/definitely/not/here/{}", "deep/".repeat(8));
    let mut c = Command::new(bin());
    c.args(["check", "--root", "any", "--emptydir", &long]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let one_word = line["sealinit:".len()..].split_whitespace().count() == 1;
        assert!(line.chars().count() <= 120 || one_word, "{line}\n{text}");
    }
    assert!(text.contains("\nsealinit:   why: "), "{text}");
    assert!(text.contains("\nsealinit:   fix:\n"), "{text}");

    // Text: the same report, on stdout too.
    let mut c = Command::new(bin());
    c.args(["check", "--root", "any"]);
    let out = run(c);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sealinit: check: PASS"));
}

#[test]
fn a_dropped_file_named_with_esc_and_newline_is_escaped_in_the_log() {
    // The workload drops an executable whose name holds ESC [2J (clear the
    // screen) and a newline followed by a fake sealinit line.
    let script = "mount -t tmpfs -o size=8m none \"$D\" && \
        exec \"$BIN\" --root any --on-violation warn --tmpfs \"$D:8Mi\" -- sh -c \
        'cp /bin/true \"$D/$(printf \"evil\\033[2Jname\\nsealinit: fake\")\"; \
         while :; do sleep 1; done'";
    let (mut c, _d) = in_mount_ns(script);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\n') {
            let Ok(l) = line else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let mut seen: Vec<Vec<u8>> = Vec::new();
    // Looked for in the lines so far, joined back: the escaped name has a
    // space, and a long scratch path may put the wrap there.
    let mut text = String::new();
    let found = loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => {
                text.push_str(&String::from_utf8_lossy(&l));
                text.push('\n');
                let hit = unwrapped(&text).contains("evil\\x1b[2Jname\\nsealinit: fake");
                seen.push(l);
                if hit {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    // SAFETY: signalling the child we spawned (sealinit, exec'd by unshare and sh).
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    seen.extend(rx.try_iter());
    let all: Vec<String> = seen
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    assert!(found, "no escaped exec-drop line:\n{}", all.join("\n"));
    for l in &seen {
        assert!(
            !l.contains(&0x1b),
            "a raw ESC reached the log: {:?}",
            String::from_utf8_lossy(l)
        );
    }
    assert!(
        !all.iter().any(|l| l.starts_with("sealinit: fake")),
        "a newline in a file name made a line of its own:\n{}",
        all.join("\n")
    );
}
