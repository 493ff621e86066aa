//! Tests of the docker, podman and compose renderings for every seed
//! profile: the printed command is exactly `docker_args`, and each flag
//! carries the contract.

use super::tests::{expected_env, load, opts, s, seed_profiles};
use super::*;

/// Splits the rendered `run` text the way a shell would (our quoting only
/// produces plain words and single-quoted words).
fn shell_words(text: &str) -> Vec<String> {
    let body: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("podman volume create "))
        .collect();
    for l in &body[..body.len() - 1] {
        assert!(l.ends_with(" \\"), "continuation missing: {l:?}");
    }
    let joined = body
        .iter()
        .map(|l| l.trim_end_matches('\\'))
        .collect::<Vec<_>>()
        .join(" ");
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = joined.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !quoted => {
                quoted = true;
                in_word = true;
            }
            '\'' => quoted = false,
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[test]
fn run_flags_for_every_profile() {
    for (profile, spec) in seed_profiles() {
        for (format, tool) in [(Format::Docker, "docker"), (Format::Podman, "podman")] {
            let o = ManifestOptions {
                format,
                image: "my image's".into(),
                ..opts(profile)
            };
            let args = docker_args(&spec, &o).expect(profile);
            let text = render(&spec, &o).expect(profile);
            let mut want = vec![tool.to_string(), "run".to_string()];
            want.extend(args.iter().cloned());
            want.push(o.image.clone());
            assert_eq!(shell_words(&text), want, "{profile} {tool}: text = args");
            let pair = |flag: &str| -> Vec<&str> {
                args.windows(2)
                    .filter(|w| w[0] == flag)
                    .map(|w| w[1].as_str())
                    .collect()
            };
            assert_eq!(args[0], "--read-only");
            assert_eq!(
                args.contains(&"--read-only-tmpfs=false".to_string()),
                tool == "podman"
            );
            assert_eq!(pair("--user"), ["65532:65532"]);
            assert_eq!(pair("--security-opt"), ["no-new-privileges"]);
            assert_eq!(pair("--cap-drop"), ["ALL"]);
            assert_eq!(
                pair("-e"),
                [format!("SEALINIT_MOUNTS={}", expected_env(&spec))]
            );
            let mut tmpfs = Vec::new();
            let mut vols = Vec::new();
            for m in &spec.mounts {
                let path = m.path.to_str().expect("utf-8");
                let name = volume_name(path);
                match m.kind {
                    MountKind::Tmpfs => tmpfs.push(format!(
                        "{path}:size={},mode=1777,noexec,nosuid,nodev",
                        m.size_limit.expect("sized")
                    )),
                    // podman's -v takes noexec; docker's does not.
                    MountKind::EmptyDir | MountKind::Pvc if tool == "podman" => {
                        vols.push(format!("{profile}-{name}:{path}:noexec,nosuid,nodev"))
                    }
                    MountKind::EmptyDir | MountKind::Pvc => {
                        vols.push(format!("{profile}-{name}:{path}"))
                    }
                    // A single file (nginx.conf) binds the file, not a directory.
                    MountKind::ReadOnly | MountKind::Secret if path.ends_with(".conf") => {
                        let file = path.rsplit('/').next().expect("file name");
                        vols.push(format!("/path/to/{name}/{file}:{path}:ro"))
                    }
                    MountKind::ReadOnly | MountKind::Secret => {
                        vols.push(format!("/path/to/{name}:{path}:ro"))
                    }
                }
            }
            assert_eq!(pair("--tmpfs"), tmpfs, "{profile}");
            assert_eq!(pair("-v"), vols, "{profile}");
        }
    }
}

#[test]
fn compose_for_every_profile() {
    for (profile, spec) in seed_profiles() {
        let o = ManifestOptions {
            format: Format::Compose,
            host_dir: Some("/srv/cfg/".into()),
            ..opts(profile)
        };
        let docs = load(&render(&spec, &o).expect(profile));
        let svc = &docs[0]["services"][profile];
        assert_eq!(s(&svc["image"]), "IMAGE");
        assert_eq!(svc["read_only"].as_bool(), Some(true));
        assert_eq!(s(&svc["user"]), "65532:65532");
        assert_eq!(s(&svc["cap_drop"][0]), "ALL");
        assert_eq!(s(&svc["security_opt"][0]), "no-new-privileges:true");
        assert_eq!(
            s(&svc["environment"]["SEALINIT_MOUNTS"]),
            expected_env(&spec)
        );
        let vols: Vec<&str> = svc["volumes"]
            .as_vec()
            .into_iter()
            .flatten()
            .map(s)
            .collect();
        for m in &spec.mounts {
            let path = m.path.to_str().expect("utf-8");
            let name = volume_name(path);
            match m.kind {
                MountKind::Tmpfs => assert_eq!(
                    s(&svc["tmpfs"][0]),
                    format!(
                        "{path}:size={},mode=1777,noexec,nosuid,nodev",
                        m.size_limit.expect("sized")
                    )
                ),
                MountKind::EmptyDir | MountKind::Pvc => {
                    let n = format!("{profile}-{name}");
                    assert!(
                        vols.contains(&format!("{n}:{path}").as_str()),
                        "{profile} {path}"
                    );
                    assert!(
                        docs[0]["volumes"][n.as_str()].as_hash().is_some(),
                        "top-level {n}"
                    );
                }
                MountKind::ReadOnly | MountKind::Secret if path.ends_with(".conf") => {
                    let file = path.rsplit('/').next().expect("file name");
                    let want = format!("/srv/cfg/{name}/{file}:{path}:ro");
                    assert!(vols.contains(&want.as_str()), "{want} not in {vols:?}")
                }
                MountKind::ReadOnly | MountKind::Secret => {
                    assert!(vols.contains(&format!("/srv/cfg/{name}:{path}:ro").as_str()))
                }
            }
        }
    }
}

#[test]
fn podman_creates_each_named_volume_owned_by_the_user_first() {
    for (profile, spec) in seed_profiles() {
        let mut o = opts(profile);
        o.format = Format::Podman;
        o.run_as_user = 1000;
        o.run_as_group = 2000;
        let creates = podman_volume_creates(&spec, &o).expect("creates");
        let disk: Vec<String> = spec
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, MountKind::EmptyDir | MountKind::Pvc))
            .map(|m| format!("{profile}-{}", volume_name(m.path.to_str().expect("utf-8"))))
            .collect();
        let names: Vec<String> = creates.iter().map(|c| c[5].clone()).collect();
        assert_eq!(names, disk, "{profile}");
        for c in &creates {
            assert_eq!(
                &c[..5],
                ["podman", "volume", "create", "--opt", "o=uid=1000,gid=2000"],
                "{profile}"
            );
        }
        let text = render(&spec, &o).expect("render");
        let printed: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("podman volume create "))
            .collect();
        let want: Vec<String> = creates.iter().map(|c| c.join(" ")).collect();
        assert_eq!(printed, want, "{profile}");
        assert!(
            !text
                .lines()
                .any(|l| l.trim_end_matches(" \\").ends_with(":U")),
            "{profile}: podman 4 ignores :U on named volumes"
        );
    }
}
