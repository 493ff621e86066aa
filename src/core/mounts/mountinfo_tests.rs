//! Unit tests for `mountinfo`: real lines from containerd, CRI-O, docker and
//! podman containers (tests/fixtures/mountinfo/), escapes captured for real
//! in a private mount namespace, malformed lines, lookups, and hostile input.

use super::*;
use crate::core::testkit::splitmix;
use std::os::unix::ffi::OsStrExt;

const PODMAN: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/podman-runc.txt");
const PODMAN_ROOTLESS: &[u8] =
    include_bytes!("../../../tests/fixtures/mountinfo/podman-rootless.txt");
const ESCAPES: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/unshare-escapes.txt");
const HOST: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/host.txt");
const CONTAINERD: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/containerd-k8s.txt");
const CRIO: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/crio-k8s.txt");
const DOCKER_K8S: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/docker-k8s.txt");
const DOCKER: &[u8] = include_bytes!("../../../tests/fixtures/mountinfo/docker.txt");

const FIXTURES: &[(&str, &[u8], usize)] = &[
    ("podman-runc", PODMAN, 34),
    ("podman-rootless", PODMAN_ROOTLESS, 13),
    ("unshare-escapes", ESCAPES, 27),
    ("host", HOST, 21),
    ("containerd-k8s", CONTAINERD, 26),
    ("crio-k8s", CRIO, 27),
    ("docker-k8s", DOCKER_K8S, 26),
    ("docker", DOCKER, 9),
];

fn line(text: &str) -> MountEntry {
    MountEntry::parse_line(text.as_bytes(), 1).expect(text)
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn every_fixture_parses_strictly() {
    for &(name, text, lines) in FIXTURES {
        let table = MountTable::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(table.len(), lines, "fixture {name}");
        let (lenient, errors) = MountTable::parse_lenient(text);
        assert_eq!(lenient, table, "fixture {name}: lenient == strict");
        assert!(errors.is_empty(), "fixture {name}");
    }
}

#[test]
fn proc5_example_line() {
    let e = line("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue");
    assert_eq!(
        e,
        MountEntry {
            mount_id: 36,
            parent_id: 35,
            major: 98,
            minor: 0,
            root: p("/mnt1"),
            mount_point: p("/mnt2"),
            mount_options: ["rw", "noatime"].into_iter().collect(),
            optional: ["master:1"].into_iter().collect(),
            fs_type: "ext3".into(),
            source: "/dev/root".into(),
            super_options: ["rw", "errors=continue"].into_iter().collect(),
        }
    );
}

#[test]
fn real_lines_field_by_field() {
    // (name, line, root, mount point, optional count, fs, source, ro, size)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        usize,
        &'static str,
        &'static str,
        bool,
        Option<&'static str>,
    );
    let cases: &[Case] = &[
        (
            "containerd overlay root with lowerdir",
            "757 605 0:139 / / rw,relatime master:180 - overlay overlay rw,context=\"system_u:object_r:data_t:s0:c171,c852\",lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/25/fs,upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/26/fs,workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/26/work",
            "/", "/", 1, "overlay", "overlay", false, None,
        ),
        (
            "containerd kubelet empty-dir",
            "769 757 259:16 /var/lib/kubelet/pods/6f0e2b1c-3d4a-4e5f-8a9b-0c1d2e3f4a5b/volumes/kubernetes.io~empty-dir/html /html rw,nosuid,nodev,noatime - ext4 /dev/nvme1n1p1 rw,seclabel",
            "/var/lib/kubelet/pods/6f0e2b1c-3d4a-4e5f-8a9b-0c1d2e3f4a5b/volumes/kubernetes.io~empty-dir/html", "/html", 0, "ext4", "/dev/nvme1n1p1", false, None,
        ),
        (
            "cri-o shm with master",
            "607 602 0:69 / /dev/shm rw,nosuid,nodev,noexec,relatime master:278 - tmpfs shm rw,size=65536k,inode64",
            "/", "/dev/shm", 1, "tmpfs", "shm", false, Some("65536k"),
        ),
        (
            "cri-o read-only configmap on btrfs",
            "636 600 0:35 /lib/kubelet/pods/042efd86-1f3b-4f2f-8736-f31c58e95bbc/volumes/kubernetes.io~configmap/flannel-cfg /etc/kube-flannel ro,relatime - btrfs /dev/sda3 rw,space_cache,subvolid=5,subvol=/",
            "/lib/kubelet/pods/042efd86-1f3b-4f2f-8736-f31c58e95bbc/volumes/kubernetes.io~configmap/flannel-cfg", "/etc/kube-flannel", 0, "btrfs", "/dev/sda3", true, None,
        ),
        (
            "docker serviceaccount tmpfs",
            "872 857 0:45 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=8039532k,inode64",
            "/", "/var/run/secrets/kubernetes.io/serviceaccount", 0, "tmpfs", "tmpfs", true, Some("8039532k"),
        ),
        (
            "podman tmpfs at a path with a space",
            "76 73 0:42 / /data\\040dir rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=1024k",
            "/", "/data dir", 0, "tmpfs", "tmpfs", false, Some("1024k"),
        ),
        (
            "host nsfs with a non-path root",
            "662 644 0:4 mnt:[4026532136] /run/snapd/ns/lxd.mnt rw - nsfs nsfs rw",
            "mnt:[4026532136]", "/run/snapd/ns/lxd.mnt", 0, "nsfs", "nsfs", false, None,
        ),
        (
            "empty source (kubernetes#66134)",
            "269 68 0:108 / /tmp/bb rw,relatime shared:147 - tmpfs  rw",
            "/", "/tmp/bb", 1, "tmpfs", "", false, None,
        ),
        (
            "two optional fields",
            "60 1 0:29 / /mnt rw shared:1 master:2 - ext4 /dev/sda2 rw",
            "/", "/mnt", 2, "ext4", "/dev/sda2", false, None,
        ),
    ];
    for &(name, text, root, mp, nopt, fs, src, ro, size) in cases {
        let e = line(text);
        assert_eq!(e.root, p(root), "case {name:?}");
        assert_eq!(e.mount_point, p(mp), "case {name:?}");
        assert_eq!(e.optional.len(), nopt, "case {name:?}");
        assert_eq!(e.fs_type, fs, "case {name:?}");
        assert_eq!(e.source, src, "case {name:?}");
        assert_eq!(e.is_read_only(), ro, "case {name:?}");
        assert_eq!(e.super_option("size"), size, "case {name:?}");
    }
}

#[test]
fn per_mount_and_super_options_are_separate() {
    // Read-only bind of a read-write filesystem: field 6 says ro, super rw.
    let e = line("82 78 254:0 /etc/hostname /run/cfg ro,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534");
    assert!(e.is_read_only());
    assert!(!e.is_super_read_only());
    assert!(e.has_option("relatime"));
    assert!(!e.has_option("rw"));
    assert_eq!(e.super_option("resuid"), Some("65534"));
    assert_eq!(e.super_option("resu"), None, "key must match whole");
    assert_eq!(e.super_option("discard"), None, "flag without value");
    // sysfs mounted rw per mount on a read-only super block.
    let e = line("729 724 0:95 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs ro");
    assert!(!e.is_read_only());
    assert!(e.is_super_read_only());
}

#[test]
fn escapes_captured_in_a_real_mount_namespace() {
    let t = MountTable::parse(ESCAPES).expect("fixture");
    let cases: &[(&str, &[u8], &str, Option<&str>)] = &[
        (
            "space",
            b"/tmp/parsers-esc/with space",
            "tmpfs with space",
            Some("1024k"),
        ),
        ("newline", b"/tmp/parsers-esc/new\nline", "tmpfs", None),
        (
            "backslash, empty source",
            b"/tmp/parsers-esc/back\\slash",
            "",
            None,
        ),
        (
            "raw non-UTF-8 byte",
            b"/tmp/parsers-esc/latin1-\xe9",
            "tmpfs",
            Some("4k"),
        ),
    ];
    for &(name, mp, source, size) in cases {
        let mp = Path::new(std::ffi::OsStr::from_bytes(mp));
        let e = t
            .at(mp)
            .unwrap_or_else(|| panic!("case {name:?}: no mount at {mp:?}"));
        assert_eq!(e.source, source, "case {name:?}");
        assert_eq!(e.super_option("size"), size, "case {name:?}");
        assert_eq!(e.fs_type, "tmpfs", "case {name:?}");
    }
    // Tab: a tmpfs, then a read-only bind of "with space/sub dir" on top.
    let tab = Path::new("/tmp/parsers-esc/tab\there");
    let top = t.at(tab).expect("tab mount");
    assert_eq!(top.root, p("/sub dir"), "last mount on a path wins");
    assert!(top.is_read_only());
    assert_eq!(top.source, "tmpfs with space");
    let under: Vec<_> = t.entries.iter().filter(|e| e.mount_point == tab).collect();
    assert_eq!(under.len(), 2);
    assert_eq!(under[0].super_option("size"), Some("2048k"));
}

#[test]
fn unescape_table() {
    let cases: &[(&str, &[u8], &[u8])] = &[
        ("none", b"/a/b", b"/a/b"),
        ("space", b"/a\\040b", b"/a b"),
        ("tab", b"\\011", b"\t"),
        ("newline", b"\\012", b"\n"),
        ("backslash", b"\\134", b"\\"),
        ("comma in option", b"lowerdir=/a\\054b", b"lowerdir=/a,b"),
        ("high byte", b"\\351", b"\xe9"),
        ("max octal", b"\\377", b"\xff"),
        ("too big stays literal", b"\\400", b"\\400"),
        ("non-octal digit stays", b"\\089", b"\\089"),
        ("short at end stays", b"a\\04", b"a\\04"),
        ("lone backslash stays", b"a\\", b"a\\"),
        ("adjacent", b"\\040\\040", b"  "),
        ("escaped backslash then digits", b"\\134040", b"\\040"),
    ];
    for &(name, input, want) in cases {
        assert_eq!(&*unescape(input), want, "case {name:?}");
    }
}

#[test]
fn malformed_lines_name_the_problem() {
    let cases: &[(&str, &[u8], &str)] = &[
        ("empty", b"", "empty line"),
        ("text", b"hello", "mount ID \"hello\" is not a number"),
        (
            "signed id",
            b"+1 2 0:1 / / rw - ext4 x rw",
            "mount ID \"+1\"",
        ),
        (
            "id overflow",
            b"4294967296 2 0:1 / / rw - ext4 x rw",
            "too large",
        ),
        ("no colon", b"1 2 01 / / rw - ext4 x rw", "has no ':'"),
        (
            "bad minor",
            b"1 2 0:x / / rw - ext4 x rw",
            "minor device number",
        ),
        (
            "no separator",
            b"1 2 0:1 / / rw shared:1 ext4 x rw",
            "'-' separator",
        ),
        ("stops after options", b"1 2 0:1 / / rw", "'-' separator"),
        ("no fs type", b"1 2 0:1 / / rw -", "filesystem type"),
        ("no source", b"1 2 0:1 / / rw - ext4", "source"),
        (
            "no super options",
            b"1 2 0:1 / / rw - ext4 /dev/x",
            "super options",
        ),
        (
            "extra field",
            b"1 2 0:1 / / rw - ext4 /dev/x rw extra",
            "unexpected field \"extra\"",
        ),
        (
            "double space in path",
            b"1 2 0:1 /  / rw - ext4 x rw",
            "empty mount point",
        ),
        (
            "empty options",
            b"1 2 0:1 / /  - ext4 x rw",
            "empty mount options",
        ),
        (
            "empty optional",
            b"1 2 0:1 / / rw  - ext4 x rw",
            "empty optional",
        ),
        (
            "empty fs type",
            b"1 2 0:1 / / rw -  x rw",
            "empty filesystem type",
        ),
        (
            "carriage return",
            b"1 2 0:1 / / rw - ext4 x rw\r more",
            "unexpected field",
        ),
    ];
    for &(name, input, want) in cases {
        let err = MountEntry::parse_line(input, 7).expect_err(name);
        assert_eq!(err.line, 7, "case {name:?}");
        assert!(
            err.reason.contains(want),
            "case {name:?}: {:?} lacks {want:?}",
            err.reason
        );
    }
}

#[test]
fn strict_parse_reports_the_first_bad_line_number() {
    let text = b"1 0 0:1 / / rw - ext4 /dev/a rw\n2 1 0:2 / /a rw - tmpfs t rw\ngarbage\n3 1 0:3 / /b rw - tmpfs t rw\n";
    let err = MountTable::parse(text).expect_err("garbage");
    assert_eq!(err.line, 3);
    assert_eq!(
        err.to_string(),
        "mountinfo line 3: mount ID \"garbage\" is not a number"
    );
}

#[test]
fn lenient_parse_keeps_good_lines_and_lists_bad_ones() {
    let text = b"1 0 0:1 / / rw - ext4 /dev/a rw\n\ngarbage\n3 1 0:3 / /b rw - tmpfs t rw";
    let (t, errors) = MountTable::parse_lenient(text);
    let points: Vec<_> = t.entries.iter().map(|e| e.mount_point.clone()).collect();
    assert_eq!(points, vec![p("/"), p("/b")]);
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![2, 3],
        "an empty line in the middle is an error too"
    );
}

#[test]
fn line_endings() {
    let one = b"1 0 0:1 / / rw - ext4 /dev/a rw";
    let cases: &[(&str, &[u8], Result<usize, usize>)] = &[
        ("empty input", b"", Ok(0)),
        ("no final newline", one, Ok(1)),
        ("final newline", b"1 0 0:1 / / rw - ext4 /dev/a rw\n", Ok(1)),
        (
            "two final newlines",
            b"1 0 0:1 / / rw - ext4 /dev/a rw\n\n",
            Err(2),
        ),
        ("lone newline", b"\n", Err(1)),
    ];
    for &(name, text, want) in cases {
        let got = MountTable::parse(text).map(|t| t.len()).map_err(|e| e.line);
        assert_eq!(got, want, "case {name:?}");
    }
}

fn table(points: &[&str]) -> MountTable {
    let text: String = points
        .iter()
        .enumerate()
        .map(|(i, mp)| {
            let mp = mp.replace(' ', "\\040");
            format!("{} 1 0:{i} /r{i} {mp} rw - tmpfs t rw\n", i + 10)
        })
        .collect();
    MountTable::parse(text.as_bytes()).expect("table")
}

#[test]
fn at_and_containing() {
    let t = table(&["/", "/data", "/data/db", "/data", "/var/lib", "/data base"]);
    let root_of = |e: Option<&MountEntry>| e.map(|e| e.root.to_string_lossy().into_owned());
    let at: &[(&str, &str, Option<&str>)] = &[
        ("exact, last of two wins", "/data", Some("/r3")),
        ("trailing slash is the same path", "/data/", Some("/r3")),
        ("not a mount point", "/data/x", None),
        ("space in name", "/data base", Some("/r5")),
    ];
    for &(name, path, want) in at {
        assert_eq!(
            root_of(t.at(Path::new(path))).as_deref(),
            want,
            "at {name:?}"
        );
    }
    let containing: &[(&str, &str, Option<&str>)] = &[
        ("root", "/etc/passwd", Some("/r0")),
        ("the mount point itself", "/data", Some("/r3")),
        ("inside, tie on /data: last wins", "/data/file", Some("/r3")),
        ("deeper mount", "/data/db/base", Some("/r2")),
        ("components, not bytes", "/database", Some("/r0")),
        ("components, not bytes 2", "/var/library", Some("/r0")),
        ("space", "/data base/x", Some("/r5")),
        ("relative path", "data", None),
    ];
    for &(name, path, want) in containing {
        assert_eq!(
            root_of(t.containing(Path::new(path))).as_deref(),
            want,
            "containing {name:?}"
        );
    }
    assert!(MountTable::default().containing(Path::new("/")).is_none());
}

#[test]
fn visible_is_the_last_mount_at_each_point() {
    let t = table(&[
        "/",
        "/data",
        "/data/db",
        "/data",
        "/var/lib",
        "/data/",
        "/data base",
    ]);
    // "/data/" is the same path as "/data": it covers both earlier ones.
    assert_eq!(
        t.visible(),
        vec![true, false, true, false, true, true, true],
        "stacked mounts are covered by the last one"
    );
    assert!(MountTable::default().visible().is_empty());
}

/// Regression (hardening): the inventory and `sealinit mounts` decided
/// visibility by scanning the rest of the table for every entry, O(n^2):
/// 10,000 distinct mounts took seconds. `visible` is one hashed pass and
/// must agree with that definition.
#[test]
fn visible_agrees_with_the_quadratic_definition() {
    let mut state = 7u64;
    let points: Vec<String> = (0..2_000)
        .map(|_| format!("/m/{}", splitmix(&mut state) % 700))
        .collect();
    let refs: Vec<&str> = points.iter().map(String::as_str).collect();
    let t = table(&refs);
    let naive: Vec<bool> = (0..t.len())
        .map(|i| {
            let mp = &t.entries[i].mount_point;
            !t.entries[i + 1..].iter().any(|e| &e.mount_point == mp)
        })
        .collect();
    assert_eq!(t.visible(), naive);
}

#[test]
fn ten_thousand_lines_parse() {
    let mut text = Vec::with_capacity(10_000 * 120);
    for i in 0..10_000u32 {
        text.extend_from_slice(
            format!(
                "{} 1 0:{} /var/lib/kubelet/pods/p{i}/volumes/kubernetes.io~empty-dir/v /mnt/m\\040{i} rw,nosuid,nodev,relatime shared:{i} - tmpfs tmpfs rw,size={i}k,mode=755\n",
                i + 2,
                i % 256
            )
            .as_bytes(),
        );
    }
    let t = MountTable::parse(&text).expect("10k lines");
    assert_eq!(t.len(), 10_000);
    let last = t.at(Path::new("/mnt/m 9999")).expect("last mount");
    assert_eq!(last.super_option("size"), Some("9999k"));
}

#[test]
fn hostile_bytes_never_panic() {
    let interesting = b" -:\\\n0123456789/,=\x00\xff\t";
    let mut state = 1;
    for &(_, fixture, _) in FIXTURES {
        for _ in 0..400 {
            let mut bytes = fixture.to_vec();
            for _ in 0..(splitmix(&mut state) % 8 + 1) {
                if bytes.is_empty() {
                    break;
                }
                let at = (splitmix(&mut state) % bytes.len() as u64) as usize;
                let b = interesting[(splitmix(&mut state) % interesting.len() as u64) as usize];
                match splitmix(&mut state) % 3 {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let _ = MountTable::parse(&bytes);
            let (t, errors) = MountTable::parse_lenient(&bytes);
            assert!(bytes.is_empty() || t.len() + errors.len() >= 1);
        }
    }
    for _ in 0..5_000 {
        let len = (splitmix(&mut state) % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| interesting[(splitmix(&mut state) % interesting.len() as u64) as usize])
            .collect();
        let _ = MountTable::parse_lenient(&bytes);
    }
}

#[test]
fn option_lists_keep_each_option_whole_and_in_order() {
    // An escaped comma stays inside its option; an empty option between
    // two commas is kept (as the kernel printed it); \012 is a newline.
    let e = line(
        r"90 1 0:50 / /m ro,a=x\054y,,nl=\012 shared:3 master:1 - overlay over lowerdir=/l1\054/l2,upperdir=/u",
    );
    assert_eq!(
        e.mount_options.iter().collect::<Vec<_>>(),
        ["ro", "a=x,y", "", "nl=\n"]
    );
    assert_eq!(e.mount_options.len(), 4);
    assert_eq!(e.mount_options.join(","), "ro,a=x,y,,nl=\n");
    assert!(e.is_read_only());
    assert_eq!(
        e.optional.iter().collect::<Vec<_>>(),
        ["shared:3", "master:1"]
    );
    assert_eq!(e.super_option("lowerdir"), Some("/l1,/l2"));
    assert_eq!(e.super_options.len(), 2);
    let none = line("91 1 0:51 / /n rw - tmpfs tmpfs ");
    assert!(none.optional.is_empty());
    assert_eq!(none.optional.len(), 0);
    assert_eq!(none.optional.iter().count(), 0);
    assert!(none.super_options.is_empty());
    assert_eq!(format!("{:?}", e.optional), r#"["shared:3", "master:1"]"#);
}

#[test]
fn an_escaped_nul_does_not_split_an_option() {
    let e = line(r"92 1 0:52 / /z rw - tmpfs tmpfs x\000ro,size=1k");
    assert_eq!(e.super_options.len(), 2);
    assert!(!e.is_super_read_only());
    assert_eq!(e.super_options.iter().next(), Some("x\u{fffd}ro"));
    assert_eq!(e.super_option("size"), Some("1k"));
}

#[test]
fn the_one_pass_options_equal_the_option_by_option_ones() {
    // Named cases first (a raw NUL, invalid UTF-8, escapes, empty options,
    // multi-byte text), then random fields over an alphabet of the bytes
    // that matter.
    let named: &[&[u8]] = &[
        b"rw,nosuid,nodev",
        b"rw",
        b",",
        b",,a,",
        b"a\0b,c",
        b"size=1k,\xff,x",
        b"lowerdir=/l1\\054/l2,upperdir=/u",
        b"caf\xc3\xa9,mode=755",
        b"\xc3,\xa9",
    ];
    let alphabet: &[u8] = b"ab,=\\0\x00\xc3\xa9\xff5";
    let mut state = 11u64;
    let mut random = Vec::new();
    for _ in 0..2000 {
        let len = (splitmix(&mut state) % 12) as usize;
        let field: Vec<u8> = (0..len)
            .map(|_| alphabet[(splitmix(&mut state) % alphabet.len() as u64) as usize])
            .collect();
        random.push(field);
    }
    for field in named
        .iter()
        .copied()
        .chain(random.iter().map(Vec::as_slice))
    {
        if field.is_empty() {
            continue;
        }
        assert_eq!(
            options(field),
            options_each(field),
            "field {:?}",
            field.escape_ascii().to_string()
        );
    }
}

#[test]
fn a_plainly_spelled_path_has_one_spelling() {
    for p in [
        "/",
        "/data",
        "/data/db",
        "/a..b",
        "/..",
        "/.x",
        "/data base",
    ] {
        assert!(spelled_plainly(p.as_bytes()), "{p}");
    }
    for p in [
        "", "data", "/data/", "//data", "/a//b", "/a/./b", "/a/.", "./a",
    ] {
        assert!(!spelled_plainly(p.as_bytes()), "{p}");
    }
}

#[test]
fn visible_agrees_with_path_equality_on_plain_spellings() {
    let t = table(&["/", "/data", "/data/db", "/data", "/var/lib", "/data base"]);
    assert_eq!(t.visible(), vec![true, false, true, true, true, true]);
}
