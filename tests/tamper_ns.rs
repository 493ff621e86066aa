//! Tamper detection end to end, as root, against real mounts and files.
//!
//! Each scenario is a pair (as in `checks_ns`): the outer `#[test]` runs this
//! test binary again under `unshare -m --propagation private`, filtered to
//! the inner test, so the whole process (and `/proc/self/mountinfo`) lives
//! in a private mount namespace and nothing leaks to the host; the inner
//! test (`inner_*`, `#[ignore]`d, failing without `SEALINIT_NS_SCRATCH`) builds the
//! mounts, starts the mount-table watch or the usage watcher with exec-drop
//! detection, changes things, and waits for the `tamper` events themselves
//! (captured by a global `tracing` layer; a condvar wait with a guard
//! timeout, no sleeps). Fails, saying so, when not root.
//!
//! Run: `cargo test --test tamper_ns`; the latency bench:
//! `cargo test --release --test tamper_ns -- --ignored --exact --nocapture bench_tamper_latency`.

mod common;

use std::collections::HashMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use sealinit::core::cli::options::TamperPolicy;
use sealinit::core::contract::spec::{MountKind, MountSpec};
use sealinit::core::exitcode;
use sealinit::core::mounts::mountinfo::MountTable;
use sealinit::orchestra::supervisor::Request;
use sealinit::orchestra::tamper::{
    spawn_tamper_watch, spawn_tamper_watch_with, ExecDropConfig, MountWatchConfig, TamperSink,
};
use sealinit::orchestra::watcher::{spawn_watcher_with, WatchConfig, WatchedMount};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

const SCRATCH_ENV: &str = "SEALINIT_NS_SCRATCH";
/// Why an inner half fails when run without its outer test.
const INNER_ONLY: &str =
    "an inner half: run it through its outer test, which sets the scratch directory";
const GUARD: Duration = Duration::from_secs(30);

// ---- running inside a private mount namespace -------------------------

fn in_namespace(inner: &str) {
    in_namespace_args(inner, &[]);
}

fn in_namespace_args(inner: &str, extra: &[&str]) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{inner} needs root for mount namespaces (run the tests as root)"
    );
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tamper-{inner}-{}", std::process::id()));
    fs::create_dir_all(scratch.join("disk")).expect("create scratch");
    fs::create_dir_all(scratch.join("t")).expect("create scratch");
    let (_, stderr) = common::rerun_in_mount_ns(inner, &scratch, SCRATCH_ENV, &[], extra);
    // The bench prints its figures on stderr; pass them on.
    if !extra.is_empty() {
        eprintln!("{stderr}");
    }
}

/// Inside the namespace: a tmpfs at `<scratch>/t` to build in, and the
/// disk directory `<scratch>/disk`. `None` outside.
fn inner_setup() -> Option<(PathBuf, PathBuf)> {
    let scratch = PathBuf::from(std::env::var_os(SCRATCH_ENV).expect(INNER_ONLY));
    let base = scratch.join("t");
    tmpfs(&base, "size=256m,mode=0755", MsFlags::empty());
    Some((base, scratch.join("disk")))
}

fn tmpfs(at: &Path, opts: &str, flags: MsFlags) {
    fs::create_dir_all(at).expect("mkdir mount point");
    mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some(opts))
        .unwrap_or_else(|e| panic!("mount tmpfs {}: {e}", at.display()));
}

fn remount(at: &Path, flags: MsFlags) {
    mount(
        None::<&str>,
        at,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags,
        None::<&str>,
    )
    .unwrap_or_else(|e| panic!("remount {} {flags:?}: {e}", at.display()));
}

fn bind(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("mkdir bind target");
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
}

fn table() -> MountTable {
    let text = fs::read("/proc/self/mountinfo").expect("read mountinfo");
    MountTable::parse(&text).expect("parse mountinfo")
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe2")
}

/// A sink with its request channel and the read end of its wake pipe.
fn sink(policy: TamperPolicy) -> (TamperSink, Receiver<Request>, OwnedFd) {
    let (tx, rx) = channel();
    let (rd, wr) = pipe();
    (TamperSink::new(policy, tx, wr), rx, rd)
}

fn spec(path: &Path, kind: MountKind) -> MountSpec {
    MountSpec {
        path: path.to_path_buf(),
        kind,
        size_limit: None,
        allow_exec: false,
    }
}

// ---- capturing events -------------------------------------------------

/// One captured event: when, level, fields (`message` is the msg).
#[derive(Debug, Clone)]
struct Ev {
    at: Instant,
    level: String,
    f: HashMap<String, String>,
}

impl Ev {
    fn get(&self, k: &str) -> &str {
        self.f.get(k).map_or("", String::as_str)
    }
    fn is(&self, kind: &str) -> bool {
        self.get("event") == "tamper" && self.get("finding") == kind
    }
}

type Log = (Mutex<Vec<Ev>>, Condvar);

struct Recorder(&'static Log);

struct Fields(HashMap<String, String>);
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.to_string());
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut f = Fields(HashMap::new());
        event.record(&mut f);
        let ev = Ev {
            at,
            level: event.metadata().level().to_string(),
            f: f.0,
        };
        if let Ok(mut v) = self.0 .0.lock() {
            v.push(ev);
        }
        self.0 .1.notify_all();
    }
}

/// Installs the recorder as the global subscriber (every thread's events).
fn log() -> &'static Log {
    static LOG: OnceLock<&'static Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Log = Box::leak(Box::new((Mutex::new(Vec::new()), Condvar::new())));
        let sub = tracing_subscriber::registry().with(Recorder(log));
        tracing::subscriber::set_global_default(sub).expect("global subscriber");
        log
    })
}

/// Waits for the first event (from index `from`) matching `pred`.
fn wait_for(from: usize, what: &str, pred: impl Fn(&Ev) -> bool) -> (usize, Ev) {
    wait_until(what, |evs| {
        evs.iter()
            .enumerate()
            .skip(from)
            .find(|(_, e)| pred(e))
            .map(|(i, e)| (i, e.clone()))
    })
}

/// Waits until `done` (given every event so far) says `Some`.
fn wait_until<T>(what: &str, done: impl Fn(&[Ev]) -> Option<T>) -> T {
    let (lock, cv) = log();
    let deadline = Instant::now() + GUARD;
    let mut g = lock.lock().expect("log lock");
    loop {
        if let Some(t) = done(&g) {
            return t;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let dump: Vec<String> = g.iter().map(|e| format!("{} {:?}", e.level, e.f)).collect();
            panic!("no event: {what}; events so far:\n{}", dump.join("\n"));
        }
        g = cv.wait_timeout(g, left).expect("log lock").0;
    }
}

fn events() -> Vec<Ev> {
    log().0.lock().expect("log lock").clone()
}

fn mark() -> usize {
    log().0.lock().expect("log lock").len()
}

// ---- mount table ------------------------------------------------------

#[test]
fn root_remounted_read_write() {
    in_namespace("inner_root_remounted_read_write");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_root_remounted_read_write() {
    let Some(_) = inner_setup() else { return };
    log();
    let root = Path::new("/");
    remount(root, MsFlags::MS_RDONLY);
    let (s, rx, _wake) = sink(TamperPolicy::Warn);
    spawn_tamper_watch(table(), vec![], s).expect("mount watch");
    let m = mark();
    remount(root, MsFlags::empty());
    let (_, ev) = wait_for(m, "root-writable", |e| e.is("root-writable"));
    assert_eq!(ev.level, "ERROR");
    assert_eq!(ev.get("path"), "/");
    assert!(
        ev.get("message")
            .starts_with("the root filesystem was remounted read-write: the tamper seal is broken"),
        "{ev:?}"
    );
    // Read-only again: cleared (info); the warn policy asks nothing.
    remount(root, MsFlags::MS_RDONLY);
    let (_, ev) = wait_for(m, "cleared", |e| {
        e.is("root-writable") && e.get("state") == "cleared"
    });
    assert_eq!(ev.level, "INFO");
    assert!(rx.try_recv().is_err(), "warn policy must not stop");
}

#[test]
fn declared_tmpfs_unmounted() {
    in_namespace("inner_declared_tmpfs_unmounted");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_declared_tmpfs_unmounted() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    log();
    let tmp = base.join("tmp");
    tmpfs(&tmp, "size=4m", MsFlags::MS_NOEXEC);
    let (s, _rx, _wake) = sink(TamperPolicy::Warn);
    spawn_tamper_watch(table(), vec![spec(&tmp, MountKind::Tmpfs)], s).expect("mount watch");
    let m = mark();
    umount2(&tmp, MntFlags::empty()).expect("umount");
    let (_, ev) = wait_for(m, "mount-changed", |e| e.is("mount-changed"));
    assert_eq!(ev.level, "ERROR");
    assert_eq!(ev.get("path"), tmp.display().to_string());
    assert_eq!(ev.get("change"), "unmounted");
    assert_eq!(ev.get("declared"), "tmpfs");
    assert_eq!(ev.get("observed"), "not a mount");
}

#[test]
fn readonly_mount_remounted_rw_and_new_mount() {
    in_namespace("inner_readonly_mount_remounted_rw_and_new_mount");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_readonly_mount_remounted_rw_and_new_mount() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    log();
    let conf = base.join("conf");
    // Read-only by the per-mount flag, as runc mounts a readOnly volume.
    tmpfs(&conf, "size=1m", MsFlags::MS_NOEXEC);
    remount(&conf, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
    let (s, rx, wake) = sink(TamperPolicy::Stop);
    spawn_tamper_watch(table(), vec![spec(&conf, MountKind::ReadOnly)], s).expect("watch");
    let m = mark();
    // A new writable mount: a warning, which never stops the workload.
    let extra = base.join("extra");
    tmpfs(&extra, "size=1m", MsFlags::empty());
    let (_, ev) = wait_for(m, "mount-added", |e| e.is("mount-added"));
    assert_eq!(ev.level, "WARN");
    assert_eq!(ev.get("path"), extra.display().to_string());
    assert!(rx.try_recv().is_err(), "mount-added must not stop");
    // The declared read-only mount remounted rw: error, and the stop.
    remount(&conf, MsFlags::MS_NOEXEC);
    let (_, ev) = wait_for(m, "mount-changed", |e| e.is("mount-changed"));
    assert_eq!(ev.level, "ERROR");
    assert_eq!(ev.get("change"), "read-write");
    assert!(ev
        .get("message")
        .ends_with("--on-tamper stop: stopping the workload"));
    match rx.recv_timeout(GUARD).expect("stop request") {
        Request::Stop { code, reason } => {
            assert_eq!(code, exitcode::TAMPER_STOP);
            assert_eq!(code, 77);
            assert!(reason.contains("remounted read-write"), "{reason}");
        }
        other => panic!("unexpected request {other:?}"),
    }
    // The wake byte follows the request (the supervisor reads the channel
    // when woken): wait for it rather than assume it is already there.
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&wake),
        nix::poll::PollFlags::POLLIN,
    )];
    let ready = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(10_000u16)).expect("poll");
    assert_eq!(ready, 1, "no wake byte");
    let mut b = [0u8; 8];
    assert_eq!(nix::unistd::read(&wake, &mut b).expect("wake byte"), 1);
    // A second error finding does not ask again.
    umount2(&conf, MntFlags::empty()).expect("umount");
    wait_for(m, "unmounted", |e| {
        e.is("mount-changed") && e.get("change") == "unmounted"
    });
    assert!(rx.try_recv().is_err(), "stop is requested once");
}

#[test]
fn unpollable_mount_table_is_said_once_and_skipped() {
    log();
    let m = mark();
    let (s, _rx, _wake) = sink(TamperPolicy::Stop);
    let cfg = MountWatchConfig {
        mountinfo: PathBuf::from("/nonexistent/mountinfo"),
        ..MountWatchConfig::default()
    };
    assert!(spawn_tamper_watch_with(MountTable::default(), vec![], s, cfg).is_none());
    let (_, ev) = wait_for(m, "mount-watch off", |e| e.is("mount-watch"));
    assert_eq!(ev.level, "WARN");
    assert_eq!(ev.get("detection"), "off");
    assert!(ev.get("error").contains("/nonexistent/mountinfo"), "{ev:?}");
    assert!(ev
        .get("message")
        .contains("will not be detected while the workload runs"));
}

// ---- exec drops -------------------------------------------------------

struct Drops {
    exe: PathBuf,
    nox: PathBuf,
    disk: PathBuf,
    rx: Receiver<Request>,
    /// Kept open: the read ends of the wake pipes, the usage channel.
    _keep: (
        OwnedFd,
        OwnedFd,
        Receiver<sealinit::orchestra::watcher::WatchEvent>,
    ),
}

/// Three watched mounts (tmpfs without noexec, tmpfs with noexec, a
/// disk-backed bind), the usage watcher with exec-drop detection, once its
/// watches are in place.
fn start_drops(base: &Path, disk_src: &Path, policy: TamperPolicy, first: u32) -> Drops {
    let exe = base.join("exe");
    let nox = base.join("nox");
    let disk = base.join("disk");
    tmpfs(&exe, "size=128m", MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
    tmpfs(
        &nox,
        "size=8m",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    );
    bind(disk_src, &disk);
    let (s, rx, wake) = sink(policy);
    let mut cfg = ExecDropConfig::new(s);
    cfg.first = first;
    let (utx, urx) = channel();
    let (urd, uwr) = pipe();
    let mk = |p: &Path, kind| WatchedMount {
        path: p.to_path_buf(),
        kind,
        limit: None,
    };
    let mounts = vec![
        mk(&exe, MountKind::Tmpfs),
        mk(&nox, MountKind::Tmpfs),
        mk(&disk, MountKind::EmptyDir),
    ];
    let wcfg = WatchConfig {
        rescan: Duration::from_secs(3600),
        ..WatchConfig::default()
    };
    let h = spawn_watcher_with(mounts, wcfg, utx, uwr, Some(cfg)).expect("spawn watcher");
    assert!(h.wait_ready(GUARD), "watcher ready");
    drop(h); // detached: lives as long as the process
    Drops {
        exe,
        nox,
        disk,
        rx,
        _keep: (wake, urd, urx),
    }
}

fn drop_event(from: usize, p: &Path) -> Ev {
    let want = p.display().to_string();
    wait_for(from, &format!("exec-drop {want}"), |e| {
        e.is("exec-drop") && e.get("path") == want
    })
    .1
}

fn count_drops(p: &Path) -> usize {
    let want = p.display().to_string();
    events()
        .iter()
        .filter(|e| e.is("exec-drop") && e.get("path") == want)
        .count()
}

#[test]
fn exec_drops() {
    in_namespace("inner_exec_drops");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_exec_drops() {
    let Some((base, disk_src)) = inner_setup() else {
        return;
    };
    log();
    let d = start_drops(&base, &disk_src, TamperPolicy::Stop, 20);
    let m = mark();

    // An ELF binary copied onto an exec-able tmpfs: error, and the stop.
    let t = d.exe.join("true");
    fs::copy("/bin/true", &t).expect("cp /bin/true");
    let ev = drop_event(m, &t);
    assert_eq!(ev.level, "ERROR", "{ev:?}");
    assert_eq!(
        (ev.get("recognised"), ev.get("noexec"), ev.get("trigger")),
        ("elf", "false", "write")
    );
    assert_eq!(ev.get("mode"), "0755");
    assert_eq!(
        ev.get("size"),
        fs::metadata("/bin/true").expect("stat").len().to_string()
    );
    assert!(ev.get("message").starts_with(&format!(
        "an ELF binary appeared at {} (mode 0755",
        t.display()
    )));
    match d.rx.recv_timeout(GUARD).expect("stop request") {
        Request::Stop { code, .. } => assert_eq!(code, exitcode::TAMPER_STOP),
        other => panic!("unexpected request {other:?}"),
    }

    // A script on a noexec tmpfs: a warning, no second stop.
    let s = d.nox.join("run.sh");
    common::write_exec(&s, b"#!/bin/sh\necho hi\n");
    let ev = drop_event(m, &s);
    assert_eq!(ev.level, "WARN", "{ev:?}");
    assert_eq!((ev.get("recognised"), ev.get("noexec")), ("script", "true"));
    assert_eq!(ev.get("mode"), "0755");

    // Plain data, and an ELF or a script without an exec bit (none can be
    // execve'd; none is even read): nothing. The events of one mount are
    // handled in order, so once a later drop on the same mount is
    // reported, these writes would have been too.
    let plain = d.exe.join("data.bin");
    fs::write(&plain, b"just some data\n").expect("write data");
    let elf_no_x = d.exe.join("elf-no-x");
    fs::write(&elf_no_x, fs::read("/bin/true").expect("read /bin/true")).expect("write");
    let script_no_x = d.exe.join("script-no-x");
    fs::write(&script_no_x, "#!/bin/sh\n").expect("write script");
    let later = d.exe.join("later.sh");
    common::write_exec(&later, b"#!/bin/sh\n");
    drop_event(m, &later);
    assert_eq!(count_drops(&plain), 0, "a plain data file is no drop");
    assert_eq!(count_drops(&elf_no_x), 0, "an ELF without exec bit");
    assert_eq!(count_drops(&script_no_x), 0, "a script without exec bit");
    // chmod +x of the existing file: exec-bit.
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o755)).expect("chmod +x");
    let ev = drop_event(m, &plain);
    assert_eq!(
        (ev.get("recognised"), ev.get("trigger"), ev.get("mode")),
        ("exec-bit", "attrib", "0755")
    );

    // Made with an exec bit, written and closed without one, given it back
    // in a later batch: the close of the plain file must reach the
    // detector, or it still takes the file for one being written and
    // never judges the chmod.
    let sneaky = d.exe.join("sneaky");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&sneaky)
            .expect("create 0755");
        std::thread::sleep(Duration::from_millis(100));
        f.set_permissions(fs::Permissions::from_mode(0o644))
            .expect("fchmod -x");
        f.write_all(&fs::read("/bin/true").expect("read /bin/true"))
            .expect("write");
    }
    std::thread::sleep(Duration::from_millis(100));
    fs::set_permissions(&sneaky, fs::Permissions::from_mode(0o755)).expect("chmod +x");
    let ev = drop_event(m, &sneaky);
    assert_eq!(ev.get("recognised"), "elf");

    // A new directory with a binary written into it at once.
    let dir = d.exe.join("new/deeper");
    fs::create_dir_all(&dir).expect("mkdir -p");
    let t2 = dir.join("t2");
    fs::copy("/bin/true", &t2).expect("cp");
    drop_event(m, &t2);

    // The disk-backed tracker too.
    let t3 = d.disk.join("true");
    fs::copy("/bin/true", &t3).expect("cp");
    let ev = drop_event(m, &t3);
    assert_eq!(ev.get("recognised"), "elf");

    // Markers on each mount: once seen, everything before is in.
    let marks = [
        d.exe.join("zz-mark"),
        d.nox.join("zz-mark"),
        d.disk.join("zz-mark"),
    ];
    for p in &marks {
        common::write_exec(p, b"#!/bin/sh\n");
        drop_event(m, p);
    }
    for p in [&t, &s, &later, &plain, &sneaky, &t2, &t3] {
        assert_eq!(count_drops(p), 1, "one event for {}", p.display());
    }
    assert!(d.rx.try_recv().is_err(), "stop is requested once");
}

#[test]
fn storm_of_10000_files() {
    in_namespace("inner_storm_of_10000_files");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_storm_of_10000_files() {
    let Some((base, disk_src)) = inner_setup() else {
        return;
    };
    log();
    // The archive: 10,000 small executable scripts, built outside the
    // watched mounts.
    let src = base.join("src/pkg");
    fs::create_dir_all(&src).expect("mkdir src");
    for i in 0..10_000 {
        let p = src.join(format!("bin{i:05}"));
        fs::write(&p, "#!/bin/sh\nexit 0\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let tarball = base.join("pkg.tar");
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(&tarball)
        .arg("-C")
        .arg(base.join("src"))
        .arg("pkg")
        .status()
        .expect("tar -c");
    assert!(ok.success());
    let d = start_drops(&base, &disk_src, TamperPolicy::Warn, 20);
    let m = mark();
    let t0 = Instant::now();
    let ok = Command::new("tar")
        .arg("-xf")
        .arg(&tarball)
        .arg("-C")
        .arg(&d.exe)
        .status()
        .expect("tar -x");
    assert!(ok.success());
    let unpacked = t0.elapsed();
    // Wait until individual events plus summary counts reach 10,000.
    let counted = |evs: &[Ev]| -> u64 {
        evs.iter()
            .filter(|e| e.is("exec-drop"))
            .map(|e| match e.get("summary") {
                "true" => e.get("count").parse::<u64>().unwrap_or(0),
                _ => u64::from(e.get("path").contains("/pkg/")),
            })
            .sum()
    };
    // Even when the kernel queue overflows (a loaded machine), the rescan
    // that follows judges every new file, so the count is still exact.
    let end = wait_until("10,000 counted", |evs| {
        (counted(&evs[m..]) >= 10_000).then_some(evs.len())
    });
    let evs = events()[m..end].to_vec();
    let drops: Vec<&Ev> = evs.iter().filter(|e| e.is("exec-drop")).collect();
    // Drops reported one by one (an overflow warning, if any, is not one).
    let singles = drops
        .iter()
        .filter(|e| e.get("summary") != "true" && e.get("path").contains("/pkg/"))
        .count();
    let summaries: Vec<&&Ev> = drops
        .iter()
        .filter(|e| e.get("summary") == "true")
        .collect();
    let elapsed = t0.elapsed();
    eprintln!(
        "10,000 files: tar -x {unpacked:?}, all counted after {elapsed:?}: {singles} single \
         lines, {} summary lines",
        summaries.len()
    );
    assert_eq!(counted(&evs), 10_000, "exact count");
    assert_eq!(singles, 20, "the first 20 individually");
    let bound = elapsed.as_secs() as usize + 2;
    assert!(
        !summaries.is_empty() && summaries.len() <= bound,
        "{} summaries, at most one per second ({bound})",
        summaries.len()
    );
    let last = summaries.last().expect("a summary");
    assert_eq!(last.get("total"), "10000", "{last:?}");
    assert!(last
        .get("message")
        .contains("more exec-drop events on mounts without noexec in the last"));
    let _ = d;
}

// ---- bench -------------------------------------------------------------

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Voluntary context switches of this process's thread named `name`.
fn vcsw(name: &str) -> Option<u64> {
    for t in fs::read_dir("/proc/self/task").ok()? {
        let dir = t.ok()?.path();
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let st = fs::read_to_string(dir.join("status")).ok()?;
            return st
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        }
    }
    None
}

/// Detection latency (change → event) for mount changes and exec drops,
/// and idle wake-ups of both threads.
#[test]
#[ignore]
fn bench_tamper_latency() {
    in_namespace_args("inner_bench_tamper_latency", &["--ignored"]);
}
#[test]
#[ignore]
fn inner_bench_tamper_latency() {
    let Some((base, disk_src)) = inner_setup() else {
        return;
    };
    log();
    let n: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let decl = base.join("decl");
    tmpfs(&decl, "size=1m", MsFlags::MS_NOEXEC);
    let (s, _rx, _w) = sink(TamperPolicy::Warn);
    let cfg = MountWatchConfig {
        first: u32::MAX,
        ..MountWatchConfig::default()
    };
    spawn_tamper_watch_with(table(), vec![spec(&decl, MountKind::Tmpfs)], s, cfg).expect("watch");
    let mut mount_lat = Vec::with_capacity(n);
    for _ in 0..n {
        let m = mark();
        let t = Instant::now();
        remount(&decl, MsFlags::MS_RDONLY | MsFlags::MS_NOEXEC);
        let (_, ev) = wait_for(m, "read-only", |e| {
            e.is("mount-changed") && e.get("state") == "detected"
        });
        mount_lat.push(ev.at - t);
        let m = mark();
        remount(&decl, MsFlags::MS_NOEXEC);
        wait_for(m, "cleared", |e| {
            e.is("mount-changed") && e.get("state") == "cleared"
        });
    }
    let d = start_drops(&base, &disk_src, TamperPolicy::Warn, u32::MAX);
    let elf = fs::read("/bin/true").expect("read /bin/true");
    let mut exec_lat = Vec::with_capacity(n);
    for i in 0..n {
        let p = d.exe.join(format!("b{i}"));
        let m = mark();
        let t = Instant::now();
        fs::write(&p, &elf).expect("write");
        let ev = drop_event(m, &p);
        exec_lat.push(ev.at - t);
    }
    // Idle: no wake-ups of either thread over IDLE seconds (default 5; a
    // measurement window, not a synchronisation).
    let idle: u64 = std::env::var("IDLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let before = (vcsw("sealinit-tamper"), vcsw("sealinit-usage"));
    eprintln!("idle window of {idle} s starts");
    std::thread::sleep(Duration::from_secs(idle));
    let after = (vcsw("sealinit-tamper"), vcsw("sealinit-usage"));
    eprintln!(
        "mount change -> event: median {:?}, p99 {:?} (n={n})",
        percentile(&mut mount_lat, 0.5),
        percentile(&mut mount_lat, 0.99)
    );
    eprintln!(
        "exec drop (write of /bin/true) -> event: median {:?}, p99 {:?} (n={n})",
        percentile(&mut exec_lat, 0.5),
        percentile(&mut exec_lat, 0.99)
    );
    eprintln!(
        "idle {idle} s voluntary context switches: tamper {:?} -> {:?}, usage {:?} -> {:?}",
        before.0, after.0, before.1, after.1
    );
    assert_eq!(before.0, after.0, "the mount watch woke up while idle");
    // bench/tamper_latency.sh attaches `strace -c` in a second window
    // (attaching itself interrupts the poll, so it is not in the first).
    if let Some(secs) = std::env::var("STRACE_WINDOW")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        eprintln!("strace window of {secs} s starts");
        std::thread::sleep(Duration::from_secs(secs));
    }
}
