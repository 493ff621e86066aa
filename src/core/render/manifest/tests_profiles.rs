//! Unit tests of what `--profile` adds around the contract (the seed's
//! Part 3 "Complete Manifest" figures), single-file mounts, and compose
//! escaping.

use super::*;
use crate::core::contract::profiles::{pod_layout, profile, PROFILE_NAMES};
use crate::core::contract::spec::merge;
use yaml_rust2::{Yaml, YamlLoader};

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

fn spec_of(name: &str) -> Spec {
    merge([&profile(name).expect("profile")]).spec
}

fn load(text: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

fn deployment(name: &str, metrics: Option<u16>) -> Vec<Yaml> {
    let o = ManifestOptions {
        workload: Some(Workload::Deployment),
        profile: Some(name.to_string()),
        metrics_port: metrics,
        ..ManifestOptions::default()
    };
    load(&render(&spec_of(name), &o).expect(name))
}

#[test]
fn every_profile_carries_the_seeds_pod_figures() {
    // (profile, replicas, port, cpu request/limit, memory request/limit as
    // the seed writes them, tmpfs bytes added to memory)
    let seed = [
        ("postgres", 1, 5432, ("500m", "2"), (GI, 4 * GI), GI),
        ("redis-cache", 3, 6379, ("250m", "1"), (512 * MI, 2 * GI), 0),
        ("redis-db", 1, 6379, ("500m", "2"), (GI, 4 * GI), 0),
        ("kafka", 1, 9092, ("1", "2"), (2 * GI, 4 * GI), 0),
        ("nginx", 3, 8080, ("100m", "500m"), (256 * MI, 512 * MI), 0),
        ("app", 3, 8000, ("250m", "1"), (256 * MI, 512 * MI), 0),
    ];
    assert_eq!(seed.len(), PROFILE_NAMES.len());
    for (name, replicas, port, cpu, mem, tmpfs) in seed {
        let docs = deployment(name, None);
        let d = &docs[0];
        assert_eq!(d["spec"]["replicas"].as_i64(), Some(replicas), "{name}");
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{name}"
        );
        let c = &pod["containers"][0];
        assert_eq!(
            c["ports"][0]["containerPort"].as_i64(),
            Some(port),
            "{name}"
        );
        assert!(
            c["ports"][1].is_badvalue(),
            "{name}: no metrics port unless asked"
        );
        let r = &c["resources"];
        assert_eq!(s(&r["requests"]["cpu"]), cpu.0, "{name}");
        assert_eq!(s(&r["limits"]["cpu"]), cpu.1, "{name}");
        let q = |y: &Yaml| quantity::parse(s(y)).expect("quantity");
        assert_eq!(q(&r["requests"]["memory"]), mem.0 + tmpfs, "{name}");
        assert_eq!(q(&r["limits"]["memory"]), mem.1 + tmpfs, "{name}");
        assert!(
            r["limits"]["ephemeral-storage"].as_str().is_some(),
            "{name}"
        );
        for probe in ["livenessProbe", "readinessProbe"] {
            let p = &c[probe];
            assert!(p["periodSeconds"].as_i64().is_some(), "{name} {probe}");
            let how = ["tcpSocket", "httpGet", "exec"]
                .iter()
                .filter(|k| !p[**k].is_badvalue())
                .count();
            assert_eq!(how, 1, "{name} {probe}: {p:?}");
            for k in ["tcpSocket", "httpGet"] {
                if !p[k].is_badvalue() {
                    assert_eq!(p[k]["port"].as_i64(), Some(port), "{name} {probe}");
                }
            }
        }
        let layout = pod_layout(name).expect("layout");
        let args: Vec<&str> = c["args"]
            .as_vec()
            .map_or(vec![], |v| v.iter().map(s).collect());
        assert_eq!(args, layout.args, "{name}");
        // A ReadWriteOnce claim cannot move to a new pod before the old one stops.
        let pvc = spec_of(name)
            .mounts
            .iter()
            .any(|m| m.kind == MountKind::Pvc);
        let strategy = d["spec"]["strategy"]["type"].as_str();
        assert_eq!(strategy, pvc.then_some("Recreate"), "{name}");
    }
    let db = deployment("redis-db", None);
    let args = &db[0]["spec"]["template"]["spec"]["containers"][0]["args"];
    let args: Vec<&str> = args.as_vec().expect("args").iter().map(s).collect();
    assert_eq!(
        args,
        [
            "redis-server",
            "/etc/redis/redis.conf",
            "--appendonly",
            "yes"
        ]
    );
    let pg = deployment("postgres", None);
    let ready = &pg[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
    assert_eq!(
        s(&ready["exec"]["command"][0]),
        "/usr/lib/postgresql/15/bin/pg_isready"
    );
}

#[test]
fn a_statefulset_has_no_strategy_and_keeps_its_claims() {
    let o = ManifestOptions {
        workload: Some(Workload::StatefulSet),
        profile: Some("kafka".into()),
        ..ManifestOptions::default()
    };
    let docs = load(&render(&spec_of("kafka"), &o).expect("kafka"));
    assert!(docs[0]["spec"]["strategy"].is_badvalue());
    assert!(docs[0]["spec"]["volumeClaimTemplates"][0]
        .as_hash()
        .is_some());
}

#[test]
fn metrics_declares_its_port() {
    let docs = deployment("nginx", Some(9090));
    let ports = &docs[0]["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert_eq!(s(&ports[1]["name"]), "metrics");
    assert_eq!(ports[1]["containerPort"].as_i64(), Some(9090));
}

#[test]
fn without_a_profile_sealinit_check_is_the_readiness_probe() {
    let spec = Spec {
        mounts: vec![MountSpec {
            path: "/tmp".into(),
            kind: MountKind::Tmpfs,
            size_limit: Some(64 * MI),
            allow_exec: false,
        }],
        ..Spec::default()
    };
    let docs = load(&render(&spec, &ManifestOptions::default()).expect("render"));
    let c = &docs[0]["containers"][0];
    let cmd: Vec<&str> = c["readinessProbe"]["exec"]["command"]
        .as_vec()
        .expect("exec probe")
        .iter()
        .map(s)
        .collect();
    assert_eq!(cmd, ["/usr/bin/sealinit", "check"]);
    assert!(
        c["resources"]["limits"]["cpu"].is_badvalue(),
        "no invented cpu"
    );
}

#[test]
fn nginx_conf_is_a_single_file_mount_everywhere() {
    let spec = spec_of("nginx");
    let docs = load(&render(&spec, &ManifestOptions::default()).expect("k8s"));
    let mounts = docs[0]["containers"][0]["volumeMounts"]
        .as_vec()
        .expect("mounts");
    let conf = mounts
        .iter()
        .find(|m| s(&m["mountPath"]) == "/etc/nginx/nginx.conf")
        .expect("nginx.conf mount");
    assert_eq!(s(&conf["subPath"]), "nginx.conf");
    assert_eq!(conf["readOnly"].as_bool(), Some(true));
    assert!(
        mounts
            .iter()
            .filter(|m| !m["subPath"].is_badvalue())
            .count()
            == 1
    );
    for format in [Format::Docker, Format::Podman] {
        let o = ManifestOptions {
            format,
            host_dir: Some("/srv/cfg".into()),
            ..ManifestOptions::default()
        };
        let args = docker_args(&spec, &o).expect("args");
        assert!(
            args.contains(
                &"/srv/cfg/etc-nginx-nginx-conf/nginx.conf:/etc/nginx/nginx.conf:ro".to_string()
            ),
            "{args:?}"
        );
    }
    // A directory with a dot in its name stays a directory.
    let d = Volume {
        name: "x".into(),
        path: "/etc/nginx/conf.d".into(),
        kind: MountKind::ReadOnly,
        size: None,
        allow_exec: false,
    };
    assert_eq!(d.file_name(), None);
    for (path, want) in [
        ("/etc/app/config.yaml", Some("config.yaml")),
        ("/etc/ssl/certs", None),
        ("/etc/.hidden", None),
        ("/etc/trailing.", None),
        ("/opt/app-1.2", None),
        ("/etc/ssl/tls.pem", Some("tls.pem")),
        ("/etc/app.properties", Some("app.properties")),
    ] {
        let v = Volume {
            path: path.into(),
            ..d.clone()
        };
        assert_eq!(v.file_name(), want, "{path}");
    }
}

#[test]
fn compose_escapes_dollar_signs() {
    let spec = Spec {
        mounts: vec![MountSpec {
            path: "/srv/$HOME/${x}".into(),
            kind: MountKind::EmptyDir,
            size_limit: None,
            allow_exec: false,
        }],
        ..Spec::default()
    };
    let o = ManifestOptions {
        format: Format::Compose,
        image: "registry/app:${TAG}".into(),
        ..ManifestOptions::default()
    };
    let text = render(&spec, &o).expect("compose");
    let docs = load(&text);
    let svc = &docs[0]["services"]["app"];
    assert_eq!(s(&svc["image"]), "registry/app:$${TAG}");
    assert_eq!(s(&svc["volumes"][0]), "app-srv-home-x:/srv/$$HOME/$${x}");
    assert_eq!(
        s(&svc["environment"]["SEALINIT_MOUNTS"]),
        "emptydir:/srv/$$HOME/$${x}"
    );
    // Every `$` outside comments is doubled (compose reads `$$` as `$`).
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!line.replace("$$", "").contains('$'), "{line}");
    }
}
