//! Black-box tests of the storage contract through the real binary: the
//! start-up report and its exit codes, `check`, `--print-spec`, spec errors,
//! the usage watcher's limit actions, and the manifest/plan chain. Root tests
//! run inside private mount namespaces (`unshare -m --propagation private`).

mod common;

use common::*;
use std::process::Command;

/// Runs `script` under `sh` in a private mount namespace, with `$SEALINIT`
/// pointing at the binary and `$D` at a fresh scratch directory.
fn in_ns(script: &str) -> std::process::Output {
    let dir = tempdir();
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-ec", script])
        .env("SEALINIT", bin())
        .env("D", &dir);
    let out = run(c);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sealinit check` reports on stdout.
fn report(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON `check` event for `path` with `verdict`, if any.
fn check_event<'a>(err: &'a str, path: &str, verdict: &str) -> Option<&'a str> {
    events(err, "check").into_iter().find(|l| {
        l.contains(&format!("\"path\":\"{path}\""))
            && l.contains(&format!("\"verdict\":\"{verdict}\""))
    })
}

macro_rules! need_root {
    () => {
        assert!(
            is_root(),
            "needs root for mount namespaces (run the tests as root)"
        );
    };
}

#[test]
fn check_passes_on_a_sized_tmpfs_and_exits_zero() {
    need_root!();
    let out = in_ns(
        "mkdir -p $D/shm; mount -t tmpfs -o size=1m,noexec tmpfs $D/shm; \
         exec $SEALINIT check --root any --log-format json --tmpfs $D/shm:1Mi",
    );
    let err = report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // $D is expanded by the shell, so the event is found by its suffix.
    let pass = events(&err, "check").into_iter().find(|l| {
        l.contains("/shm\"")
            && l.contains("\"kind\":\"tmpfs\"")
            && l.contains("\"verdict\":\"pass\"")
    });
    assert!(pass.is_some(), "no passing tmpfs check\n{err}");
    let summary = events(&err, "checks.summary");
    assert_eq!(summary.len(), 1, "{err}");
    assert!(summary[0].contains("\"fail\":0"), "{err}");
}

#[test]
fn a_directory_that_is_not_a_mount_fails_with_the_volume_yaml() {
    need_root!();
    // The plain directory's own mount is made read-only: a plain directory
    // under a writable mount other than `/` only warns (it shares that
    // mount's space), and a host's `/tmp` may be a tmpfs of its own.
    let out = in_ns(
        "mkdir -p /tmp/sealinit-ro; mount -t tmpfs -o size=1m tmpfs /tmp/sealinit-ro; \
         mkdir /tmp/sealinit-ro/notamount; mount -o remount,ro /tmp/sealinit-ro; \
         exec $SEALINIT check --root any --log-format json --emptydir /tmp/sealinit-ro/notamount:64Mi",
    );
    let err = report(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "check exits 1 on a violation\n{}",
        show(&out)
    );
    let ev = check_event(&err, "/tmp/sealinit-ro/notamount", "fail")
        .unwrap_or_else(|| panic!("no failing check\n{err}"));
    for want in [
        "\"kind\":\"emptydir\"",
        "not a mount",
        "mountPath: \\\"/tmp/sealinit-ro/notamount\\\"",
        "sizeLimit: \\\"64Mi\\\"",
        "emptyDir",
    ] {
        assert!(ev.contains(want), "missing {want:?} in {ev}");
    }
    let _ = std::fs::remove_dir("/tmp/sealinit-ro");
}

#[test]
fn a_violation_stops_before_the_workload_and_warn_lets_it_run() {
    need_root!();
    // A plain directory on a read-only mount (as in the test above).
    let script = "mkdir $D/ro; mount -t tmpfs -o size=1m tmpfs $D/ro; mkdir $D/ro/cache; \
        mount -o remount,ro $D/ro; \
        $SEALINIT --root any --emptydir $D/ro/cache -- sh -c 'echo ran > $D/marker' && rc=0 || rc=$?; \
        echo rc=$rc; test -e $D/marker && echo marker-present || echo marker-absent; \
        $SEALINIT --root any --on-violation warn --emptydir $D/ro/cache -- sh -c 'echo ran > $D/marker2'; \
        test -e $D/marker2 && echo warn-ran";
    let out = in_ns(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("rc=78"),
        "violation must exit 78\n{}",
        show(&out)
    );
    assert!(
        stdout.contains("marker-absent"),
        "the workload must not run\n{}",
        show(&out)
    );
    assert!(
        stdout.contains("warn-ran"),
        "--on-violation warn must start it\n{}",
        show(&out)
    );
    assert!(
        stderr(&out).contains("not starting the workload"),
        "{}",
        show(&out)
    );
}

#[test]
fn spec_errors_exit_64_with_file_line_and_key() {
    let dir = tempdir();
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, "root = \"read-only\"\n\n[[mount]]\npath = \"/tmp\"\nkind = \"emptydir\"\nsize_limt = \"1Gi\"\n")
        .expect("write");
    let mut c = Command::new(bin());
    c.args(["check", "--spec"]).arg(&spec);
    let out = run(c);
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:6", spec.display())),
        "file:line missing\n{err}"
    );
    assert!(err.contains("size_limt"), "key missing\n{err}");

    std::fs::write(
        &spec,
        "[[mount]]\npath = \"/tmp\"\nkind = \"emptydir\"\nsize_limit = \"lots\"\n",
    )
    .expect("write");
    let mut c = Command::new(bin());
    c.args(["--spec"]).arg(&spec).args(["--", "true"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    assert!(stderr(&out).contains(":4"), "{}", show(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn print_spec_round_trips_through_spec() {
    let dir = tempdir();
    for profile in [
        "postgres",
        "redis-cache",
        "redis-db",
        "kafka",
        "nginx",
        "app",
    ] {
        let mut c = Command::new(bin());
        c.args(["check", "--profile", profile, "--print-spec"]);
        let first = run(c);
        assert_eq!(first.status.code(), Some(0), "{}", show(&first));
        let file = dir.join(format!("{profile}.toml"));
        std::fs::write(&file, &first.stdout).expect("write");
        let mut c = Command::new(bin());
        c.args(["check", "--print-spec", "--spec"]).arg(&file);
        let second = run(c);
        assert_eq!(second.status.code(), Some(0), "{}", show(&second));
        assert_eq!(
            String::from_utf8_lossy(&first.stdout),
            String::from_utf8_lossy(&second.stdout),
            "{profile}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_override_the_profile_per_path() {
    let mut c = Command::new(bin());
    c.args([
        "check",
        "--profile",
        "nginx",
        "--tmpfs",
        "/tmp:64Mi",
        "--print-spec",
    ]);
    let out = run(c);
    let text = String::from_utf8_lossy(&out.stdout);
    let tmp = text
        .split("[[mount]]")
        .find(|b| b.contains("path = \"/tmp\""))
        .expect("/tmp entry");
    assert!(
        tmp.contains("kind = \"tmpfs\"") && tmp.contains("size_limit = \"64Mi\""),
        "{text}"
    );
    assert!(
        text.contains("/var/cache/nginx"),
        "profile entries kept\n{text}"
    );
}

#[test]
fn a_workload_filling_a_disk_emptydir_is_stopped_with_75() {
    need_root!();
    // A disk-backed emptyDir: a bind mount of a directory on the real disk.
    let script = "mkdir -p $D/disk $D/cache; mount --bind $D/disk $D/cache; \
        exec $SEALINIT --root any --log-format json --emptydir $D/cache:8Mi --limit-action stop --grace 5s -- \
        sh -c 'i=0; while [ $i -lt 40 ]; do dd if=/dev/zero of=$D/cache/f$i bs=512k count=1 2>/dev/null; i=$((i+1)); done; \
               trap \"exit 0\" TERM; while :; do sleep 0.05; done'";
    let out = in_ns(script);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    let warn = err
        .find("\"transition\":\"crossed_warn\"")
        .expect("crossed_warn event");
    let act = err
        .find("\"event\":\"limit.action\"")
        .expect("limit.action event");
    assert!(warn < act, "warning before the action\n{err}");
    let action = events(&err, "limit.action");
    assert!(
        action[0].contains("\"action\":\"stop\"") && action[0].contains("/cache"),
        "{err}"
    );
    let exit = events(&err, "exit");
    assert!(
        exit.last().is_some_and(|l| l.contains("\"code\":75")),
        "{err}"
    );
}

#[test]
fn signal_limit_action_reaches_the_workload_once_per_crossing() {
    need_root!();
    let script = "mkdir -p $D/t; mount -t tmpfs -o size=4m tmpfs $D/t; \
        exec $SEALINIT --root any --log-format json --tmpfs $D/t:4Mi --limit-action signal:USR1 -- \
        sh -c 'trap \"echo got-USR1; rm -f $D/t/fill; exit 0\" USR1; \
               dd if=/dev/zero of=$D/t/fill bs=1M count=4 2>/dev/null; while :; do sleep 0.05; done'";
    let out = in_ns(script);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("got-USR1").count(), 1, "{}", show(&out));
    let err = stderr(&out);
    let action = events(&err, "limit.action");
    assert_eq!(action.len(), 1, "{err}");
    assert!(action[0].contains("SIGUSR1"), "{err}");
}

#[test]
fn manifest_yaml_parses_and_plan_feeds_spec() {
    use yaml_rust2::YamlLoader;
    let mut c = Command::new(bin());
    c.args([
        "manifest",
        "--profile",
        "postgres",
        "--workload",
        "statefulset",
        "--name",
        "db",
        "--image",
        "postgres:16",
    ]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let docs =
        YamlLoader::load_from_str(&String::from_utf8_lossy(&out.stdout)).expect("valid YAML");
    let sts = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("StatefulSet"))
        .expect("a StatefulSet");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(container["image"].as_str(), Some("postgres:16"));

    let dir = tempdir();
    let mut c = Command::new(bin());
    c.args(["plan", "postgres", "--shared-buffers", "4Gi"]);
    let plan = run(c);
    assert_eq!(plan.status.code(), Some(0), "{}", show(&plan));
    let spec = dir.join("plan.toml");
    std::fs::write(&spec, &plan.stdout).expect("write");
    let mut c = Command::new(bin());
    c.args(["check", "--print-spec", "--spec"]).arg(&spec);
    let printed = run(c);
    assert_eq!(
        printed.status.code(),
        Some(0),
        "plan output must be a valid --spec\n{}",
        show(&printed)
    );
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("path = \"/dev/shm\"") && text.contains("size_limit = \"1Gi\""),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let mut c = Command::new(bin());
    c.args(["plan", "web", "--concurrency", "-3"]);
    let bad = run(c);
    assert_eq!(bad.status.code(), Some(64), "{}", show(&bad));
    assert!(stderr(&bad).contains("--concurrency"), "{}", show(&bad));
}

#[test]
fn an_executable_dropped_on_a_watched_tmpfs_stops_the_workload_with_77() {
    need_root!();
    let script = "mkdir -p $D/t; mount -t tmpfs -o size=16m tmpfs $D/t; \
        exec $SEALINIT --root any --log-format json --tmpfs $D/t:16Mi --on-tamper stop --grace 5s -- \
        sh -c 'echo data > $D/t/plain.txt; cp /bin/true $D/t/dropped; trap \"exit 0\" TERM; while :; do sleep 0.05; done'";
    let out = in_ns(script);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{}", show(&out));
    let tamper = events(&err, "tamper");
    assert!(
        tamper
            .iter()
            .any(|l| l.contains("\"finding\":\"exec-drop\"")
                && l.contains("/dropped")
                && l.contains("\"recognised\":\"elf\"")),
        "{err}"
    );
    assert!(
        !tamper.iter().any(|l| l.contains("plain.txt")),
        "a plain data file is not a drop\n{err}"
    );
}

#[test]
fn a_declared_readonly_mount_turning_writable_stops_the_workload_with_77() {
    need_root!();
    // The declared read-only mount turning writable is `mount-changed`.
    let script = "mkdir -p $D/r; mount -t tmpfs -o ro,size=1m tmpfs $D/r; \
        exec $SEALINIT --root any --log-format json --readonly $D/r --on-tamper stop --grace 5s -- \
        sh -c 'mount -o remount,rw $D/r; trap \"exit 0\" TERM; while :; do sleep 0.05; done'";
    let out = in_ns(script);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(77), "{}", show(&out));
    assert!(
        events(&err, "tamper")
            .iter()
            .any(|l| l.contains("\"finding\":\"mount-changed\"") && l.contains("/r\"")),
        "{err}"
    );
}

#[test]
fn bad_manifest_and_plan_input_exits_64_naming_the_input() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["manifest", "--profile", "nope"],
            "unknown profile \"nope\"",
        ),
        (
            &["manifest", "--tmpfs", "/x:99999Ei"],
            "--tmpfs: \"/x:99999Ei\"",
        ),
        (&["manifest", "--format", "helm"], "--format"),
        (&["manifest", "--run-as-user", "root"], "--run-as-user"),
        (&["plan", "web", "--concurrency", "-3"], "--concurrency"),
        (&["plan", "web", "--concurrency", "0"], "concurrency"),
        (
            &["plan", "kafka", "--daily", "20Ei", "--retention-days", "30"],
            "--daily",
        ),
        (
            &["plan", "kafka", "--daily", "1Ei", "--retention-days", "30"],
            "overflow",
        ),
        (&["plan", "spreadsheet"], "unknown workload kind"),
        (&["plan"], "which workload"),
    ];
    for (args, want) in cases {
        let mut c = Command::new(bin());
        c.args(*args);
        let out = run(c);
        assert_eq!(out.status.code(), Some(64), "{args:?}\n{}", show(&out));
        assert!(
            stderr(&out).contains(want),
            "{args:?}: want {want:?}\n{}",
            show(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "{args:?}: nothing on stdout on error"
        );
    }
}
