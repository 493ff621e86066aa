//! One named case per roll-up, classification and sizing rule.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::rules::{self, EntryType, ImageFacts, Placement};
use super::*;

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

/// An image: directory → entries it held.
struct Image(HashMap<PathBuf, u64>);

impl Image {
    fn new(dirs: &[(&str, u64)]) -> Image {
        Image(dirs.iter().map(|(d, n)| (PathBuf::from(d), *n)).collect())
    }
}

impl ImageFacts for Image {
    fn existed(&self, dir: &Path) -> bool {
        self.0.contains_key(dir)
    }
    fn image_entries(&self, dir: &Path) -> u64 {
        self.0.get(dir).copied().unwrap_or(0)
    }
}

fn debian() -> Image {
    Image::new(&[
        ("/", 20),
        ("/var", 10),
        ("/var/lib", 8),
        ("/var/lib/nginx", 0),
        ("/var/lib/redis", 0),
        ("/var/lib/postgresql", 1),
        ("/var/cache", 3),
        ("/var/cache/nginx", 0),
        ("/var/log", 5),
        ("/run", 2),
        ("/run/postgresql", 0),
        ("/app", 4),
        ("/data", 0),
        ("/opt", 1),
        ("/opt/app", 3),
        ("/root", 2),
        ("/home", 1),
        ("/home/app", 3),
    ])
}

fn m(p: &str) -> Placement {
    Placement::Mount(PathBuf::from(p))
}

#[test]
#[rustfmt::skip]
fn roll_up_rules() {
    use EntryType::*;
    let cases: &[(&str, &str, EntryType, Placement)] = &[
        ("a server's own cache directory", "/var/cache/nginx/proxy/1/ab", File, m("/var/cache/nginx")),
        ("a /var/lib data directory that was empty in the image", "/var/lib/redis/dump.rdb", File, m("/var/lib/redis")),
        ("a socket directory under /run", "/run/postgresql/.s.PGSQL.5432", Socket, m("/run/postgresql")),
        ("a pid file directly in /run makes /run the mount", "/run/nginx.pid", File, m("/run")),
        ("anything under /tmp is /tmp", "/tmp/tmpa1b2/x/y", File, m("/tmp")),
        ("anything under /var/tmp is /var/tmp", "/var/tmp/x", File, m("/var/tmp")),
        ("/dev/shm", "/dev/shm/PostgreSQL.123", File, m("/dev/shm")),
        ("a log directory below /var/log", "/var/log/nginx/access.log", File, m("/var/log/nginx")),
        ("a log file directly in /var/log makes /var/log the mount", "/var/log/app.log", File, m("/var/log")),
        ("a directory the workload created below image content", "/var/lib/postgresql/data/base/1/112", File, m("/var/lib/postgresql/data")),
        ("an application directory with code: one level deeper", "/app/__pycache__/x.pyc", File, m("/app/__pycache__")),
        ("an empty top-level data directory", "/data/appendonlydir/x.aof", File, m("/data")),
        ("below /opt/<app>, which holds code", "/opt/app/logs/a.log", File, m("/opt/app/logs")),
        ("a home directory's new subdirectory", "/home/app/.cache/pip/x", File, m("/home/app/.cache")),
        ("a file directly in /root", "/root/.python_history", File, m("/root")),
        ("a file created in /etc is drift, not a writable /etc", "/etc/nginx/conf.d/default.conf", File, Placement::Drift),
        ("a file written in /usr is drift", "/usr/lib/python3/x.pyc", File, Placement::Drift),
        ("a file directly in an app directory with code is stray", "/app/app.pid", File, Placement::Stray(PathBuf::from("/app"))),
        ("a file directly in /var/lib is stray, never a /var/lib mount", "/var/lib/foo.db", File, Placement::Stray(PathBuf::from("/var/lib"))),
        ("a file directly in / is stray, never a / mount", "/x", File, Placement::Stray(PathBuf::from("/"))),
        ("a changed /var is ignored", "/var", Dir, Placement::Ignore),
        ("a changed /run (created and removed) is /run", "/run", Dir, m("/run")),
    ];
    let img = debian();
    for (name, path, t, want) in cases {
        assert_eq!(rules::place(Path::new(path), *t, &img), *want, "case {name}");
    }
}

fn ev(files: &[(&str, EntryType)]) -> rules::Evidence {
    let mut e = rules::Evidence::default();
    for (p, t) in files {
        e.add(Path::new(p), *t);
    }
    e
}

#[test]
#[rustfmt::skip]
fn classification_rules() {
    use EntryType::*;
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, EntryType)], MountKind, &'a str);
    let cases: &[Case] = &[
        ("/dev/shm is a tmpfs", "/dev/shm", &[("/dev/shm/x", File)], MountKind::Tmpfs, "shm"),
        ("sockets are a small emptyDir", "/run/postgresql", &[("/run/postgresql/.s.PGSQL.5432", Socket), ("/run/postgresql/.s.PGSQL.5432.lock", File)], MountKind::EmptyDir, "runtime"),
        ("pid files are a small emptyDir", "/run", &[("/run/nginx.pid", File)], MountKind::EmptyDir, "runtime"),
        ("a fifo and a symlink beside a socket stay runtime", "/run", &[("/run/fifo", Fifo), ("/run/link", Symlink), ("/run/a.sock", Socket)], MountKind::EmptyDir, "runtime"),
        ("created and removed: a small emptyDir", "/run/x", &[], MountKind::EmptyDir, "runtime"),
        ("a PostgreSQL data directory is a pvc", "/var/lib/postgresql/data", &[("/var/lib/postgresql/data/PG_VERSION", File), ("/var/lib/postgresql/data/base/1/1", File)], MountKind::Pvc, "data"),
        ("a Redis AOF directory is a pvc", "/data", &[("/data/appendonlydir", Dir), ("/data/appendonlydir/a.aof", File)], MountKind::Pvc, "data"),
        ("a Redis snapshot is a pvc", "/var/lib/redis", &[("/var/lib/redis/dump.rdb", File)], MountKind::Pvc, "data"),
        ("logs are an emptyDir", "/var/log/nginx", &[("/var/log/nginx/access.log", File), ("/var/log/nginx/error.log", File)], MountKind::EmptyDir, "logs"),
        ("a cache is an emptyDir", "/var/cache/nginx", &[("/var/cache/nginx/a/b", File)], MountKind::EmptyDir, "cache"),
        ("empty temp directories are a cache, not runtime", "/var/cache/nginx", &[("/var/cache/nginx/client_temp", Dir)], MountKind::EmptyDir, "cache"),
        ("scratch in /tmp is an emptyDir", "/tmp", &[("/tmp/upload123", File)], MountKind::EmptyDir, "scratch"),
        ("/tmp with files created and removed is still scratch", "/tmp", &[], MountKind::EmptyDir, "scratch"),
    ];
    for (name, path, files, kind, role) in cases {
        let c = rules::classify(Path::new(path), &ev(files));
        assert_eq!((c.kind, c.role), (*kind, *role), "case {name}: {}", c.reason);
    }
    let pvc = rules::classify(Path::new("/d"), &ev(&[("/d/PG_VERSION", File)]));
    assert!(pvc.reason.contains("PG_VERSION") && pvc.reason.contains("survive"), "the pvc reason is said: {}", pvc.reason);
}

#[test]
fn sizing_rules() {
    let cases: &[(&str, u64, u64, u64)] = &[
        ("sockets get the 10Mi floor", 8192, 10 * MI, 10 * MI),
        ("nothing written still gets the floor", 0, 10 * MI, 10 * MI),
        (
            "twice the high-water mark, rounded up to 1-2-5",
            30 * MI,
            10 * MI,
            100 * MI,
        ),
        ("exactly a step stays", 50 * MI, 10 * MI, 100 * MI),
        ("past 500Mi the steps are Gi", 400 * MI, 100 * MI, GI),
        ("a pvc floor of 1Gi", 40 * MI, GI, GI),
        ("large data", 3 * GI, GI, 10 * GI),
    ];
    for (name, hw, floor, want) in cases {
        assert_eq!(rules::size_limit(*hw, *floor), *want, "case {name}");
    }
    assert_eq!(
        rules::size_limit(u64::MAX, MI) % GI,
        0,
        "no overflow at the top"
    );
}

#[test]
fn drift_fix_names_configmap_under_etc_and_emptydir_elsewhere() {
    assert!(rules::drift_fix(Path::new("/etc/nginx/nginx.conf")).contains("ConfigMap"));
    assert!(rules::drift_fix(Path::new("/usr/share/x")).contains("emptyDir"));
}

#[test]
fn ownership_advice_says_fsgroup_for_a_non_root_writer() {
    let passwd = "root:x:0:0::/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n";
    assert_eq!(rules::passwd_name(passwd, 33).as_deref(), Some("www-data"));
    let a = rules::ownership_advice(Path::new("/var/lib/nginx"), 33, 33, Some("www-data"))
        .expect("advice");
    assert!(
        a.contains("fsGroup: 33") && a.contains("www-data") && a.contains("runAsUser: 33"),
        "{a}"
    );
    assert_eq!(
        rules::ownership_advice(Path::new("/x"), 0, 0, None),
        None,
        "root needs none"
    );
}

fn w(path: &str, etype: EntryType, bytes: u64, change: Change) -> Written {
    Written {
        path: PathBuf::from(path),
        etype,
        bytes,
        uid: 33,
        gid: 33,
        change,
    }
}

#[test]
fn learner_keeps_the_high_water_mark_across_scans_and_explains_directories() {
    use EntryType::*;
    let img = debian();
    let mut l = Learner::default();
    l.add_scan(
        &[
            w("/var/cache/nginx", Dir, 4096, Change::Modified),
            w("/var/cache/nginx/a", File, 30 * MI, Change::Created),
            w("/run", Dir, 0, Change::Modified),
            w("/run/nginx.pid", File, 4096, Change::Created),
            w("/etc/nginx/nginx.conf", File, 4096, Change::Modified),
        ],
        &img,
    );
    // Second scan: the cache shrank, the pid file is gone (only /run changed).
    l.add_scan(
        &[
            w("/var/cache/nginx", Dir, 4096, Change::Modified),
            w("/var/cache/nginx/a", File, MI, Change::Created),
            w("/run", Dir, 0, Change::Modified),
        ],
        &img,
    );
    let got = l.learned(&[], &|_| Some("www-data".into()));
    assert_eq!(
        got.kinds(),
        vec![
            (PathBuf::from("/run"), MountKind::EmptyDir),
            (PathBuf::from("/var/cache/nginx"), MountKind::EmptyDir),
        ]
    );
    let cache = &got.mounts[1];
    assert_eq!(cache.high_water, 30 * MI, "high-water, not the last scan");
    assert_eq!(cache.spec.size_limit, Some(100 * MI));
    assert_eq!(
        got.mounts[0].role, "runtime",
        "the pid file seen earlier still counts"
    );
    assert_eq!(got.drift.len(), 1);
    assert_eq!(got.drift[0].path, PathBuf::from("/etc/nginx/nginx.conf"));
    assert_eq!(got.drift[0].what, "modified");
    assert!(
        cache.notes.iter().any(|n| n.contains("fsGroup: 33")),
        "{:?}",
        cache.notes
    );
    // Declared mounts are kept and not learned again.
    let declared = vec![MountSpec {
        path: "/run".into(),
        kind: MountKind::Tmpfs,
        size_limit: None,
        allow_exec: false,
    }];
    let with = l.learned(&declared, &|_| None);
    assert_eq!(with.spec().mounts.len(), 2);
    assert_eq!(with.spec().mounts[0].kind, MountKind::Tmpfs);
}

#[test]
fn learned_toml_is_a_spec_the_parser_accepts() {
    use EntryType::*;
    let mut l = Learner::default();
    l.add_scan(
        &[
            w("/var/lib/postgresql/data", Dir, 4096, Change::Created),
            w(
                "/var/lib/postgresql/data/PG_VERSION",
                File,
                4096,
                Change::Created,
            ),
            w("/run/postgresql/.s.PGSQL.5432", Socket, 0, Change::Created),
        ],
        &debian(),
    );
    let learned = l.learned(&[], &|_| None);
    let text = render::spec_toml(&learned);
    let file = crate::core::contract::spec::parse_spec_toml(&text, Path::new("learned.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let paths: Vec<_> = file
        .mounts
        .iter()
        .map(|m| (m.path.clone(), m.kind))
        .collect();
    assert!(
        paths.contains(&(PathBuf::from("/var/lib/postgresql/data"), MountKind::Pvc)),
        "{text}"
    );
    assert!(
        paths.contains(&(PathBuf::from("/run/postgresql"), MountKind::EmptyDir)),
        "{text}"
    );
    let flags = render::podman_flags(&learned).expect("podman");
    assert!(flags.contains("/var/lib/postgresql/data"), "{flags}");
    let docker = render::docker_line(&learned).expect("docker");
    assert!(
        docker.starts_with("docker run --read-only") && docker.ends_with(" IMAGE"),
        "{docker}"
    );
    assert!(
        !docker.contains("--read-only-tmpfs"),
        "podman-only flag: {docker}"
    );
    let yaml = render::kubernetes(&learned).expect("yaml");
    assert!(
        yaml.contains("persistentVolumeClaim") || yaml.contains("claimName"),
        "{yaml}"
    );
    // A path the workload chose with a newline: the TOML still parses (the
    // comment cannot end early), the flags say why they cannot be printed.
    l.add_scan(&[w("/data\nx/y", File, 0, Change::Created)], &debian());
    let odd = l.learned(&[], &|_| None);
    let text = render::spec_toml(&odd);
    let file = crate::core::contract::spec::parse_spec_toml(&text, Path::new("x")).expect("parses");
    assert!(
        file.mounts.iter().any(|m| m.path == Path::new("/data\nx")),
        "{text}"
    );
    assert!(render::podman_flags(&odd).is_err());
}

#[test]
fn nothing_written_learns_an_empty_contract() {
    let l = Learner::default();
    let learned = l.learned(&[], &|_| None);
    assert!(learned.mounts.is_empty());
    let text = render::spec_toml(&learned);
    let file = crate::core::contract::spec::parse_spec_toml(&text, Path::new("x")).expect("parses");
    assert!(file.mounts.is_empty());
    assert!(render::summary_lines(&learned)[0].contains("wrote nothing"));
    render::podman_flags(&learned).expect("podman flags for no mounts");
    render::kubernetes(&learned).expect("yaml for no mounts");
}

#[test]
fn baseline_tells_created_from_modified_and_counts_children() {
    let mut b = Baseline::default();
    b.record(b"/", 1, 1);
    b.record(b"/etc", 1, 1);
    b.record(b"/etc/a", 5, 5);
    b.record(b"/etc/b", 5, 5);
    assert_eq!(b.change(b"/etc/a", 5), None);
    assert_eq!(b.change(b"/etc/a", 6), Some(Change::Modified));
    assert_eq!(b.change(b"/etc/c", 6), Some(Change::Created));
    assert_eq!(b.image_entries(Path::new("/etc")), 2);
    assert_eq!(b.image_entries(Path::new("/")), 1);
    assert!(b.existed(Path::new("/etc")) && !b.existed(Path::new("/nope")));
}

#[test]
fn drift_is_capped_and_counted_so_memory_does_not_grow_with_files() {
    let mut l = Learner::default();
    let many: Vec<Written> = (0..MAX_DRIFT + 100)
        .map(|i| {
            w(
                &format!("/etc/gen/{i}.conf"),
                EntryType::File,
                4096,
                Change::Created,
            )
        })
        .collect();
    l.add_scan(&many, &debian());
    let got = l.learned(&[], &|_| None);
    assert_eq!(got.drift.len(), MAX_DRIFT);
    assert_eq!(got.drift_dropped, 100);
    assert!(render::spec_toml(&got).contains("100 more path(s)"));
}

#[test]
fn baseline_taken_beside_the_workload_knows_its_early_writes() {
    // The walk ran after the start (since = 100): /app/app.py is the
    // image's, /app/__pycache__ and /etc/x.conf were written before the
    // walk reached them.
    let mut b = Baseline::new(Some(100));
    b.record(b"/", 5, 5);
    b.record(b"/app", 120, 120);
    b.record(b"/app/app.py", 5, 5);
    b.record(b"/app/__pycache__", 120, 120);
    b.record(b"/app/__pycache__/m.pyc", 121, 121);
    b.record(b"/etc", 5, 5);
    b.record(b"/etc/x.conf", 130, 130);
    assert_eq!(
        b.image_entries(Path::new("/app")),
        1,
        "only the image's entries count"
    );
    let mut touched = Baseline::new(Some(100));
    touched.record(b"/app/app.py", 150, 5);
    assert_eq!(
        touched.image_entries(Path::new("/app")),
        1,
        "an old mtime is image content"
    );
    assert_eq!(b.image_entries(Path::new("/app/__pycache__")), 0);
    assert_eq!(
        b.change(b"/app/__pycache__/m.pyc", 121),
        Some(Change::Early)
    );
    assert_eq!(b.change(b"/app/app.py", 5), None);
    let mut l = Learner::default();
    let early = |p: &str, t| Written {
        path: PathBuf::from(p),
        etype: t,
        bytes: 4096,
        uid: 0,
        gid: 0,
        change: Change::Early,
    };
    l.add_scan(
        &[
            early("/app", EntryType::Dir),
            early("/app/__pycache__", EntryType::Dir),
            early("/app/__pycache__/m.pyc", EntryType::File),
            early("/etc/x.conf", EntryType::File),
        ],
        &b,
    );
    let got = l.learned(&[], &|_| None);
    assert_eq!(
        got.kinds(),
        vec![(PathBuf::from("/app/__pycache__"), MountKind::EmptyDir)],
        "never /app"
    );
    assert!(
        got.mounts[0].notes.is_empty(),
        "no 'rewrites image files' note: {:?}",
        got.mounts[0].notes
    );
    assert_eq!(got.drift[0].what, "written");
}
