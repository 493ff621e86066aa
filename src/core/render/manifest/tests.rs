//! Unit tests for the manifest model and renderers.

use super::*;
use crate::core::contract::spec::{MountKind, MountSpec, Spec};
use yaml_rust2::{Yaml, YamlLoader};

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

fn m(kind: MountKind, path: &str, size: Option<u64>) -> MountSpec {
    MountSpec {
        path: path.into(),
        kind,
        size_limit: size,
        allow_exec: false,
    }
}

/// The seed's Part 3 layouts, by hand until the built-in profiles land.
/// The seed's Part 3 layouts, written out by hand as the expected values.
fn seed_tables() -> Vec<(&'static str, Spec)> {
    use MountKind::*;
    let spec = |mounts| Spec {
        mounts,
        ..Spec::default()
    };
    vec![
        (
            "postgres",
            spec(vec![
                m(Pvc, "/var/lib/postgresql/data", Some(50 * GI)),
                m(EmptyDir, "/var/run/postgresql", Some(10 * MI)),
                m(EmptyDir, "/tmp", Some(5 * GI)),
                m(Tmpfs, "/dev/shm", Some(GI)),
            ]),
        ),
        (
            "redis-cache",
            spec(vec![
                m(EmptyDir, "/data", Some(10 * GI)),
                m(EmptyDir, "/tmp", Some(100 * MI)),
                m(EmptyDir, "/var/run/redis", Some(50 * MI)),
            ]),
        ),
        (
            "redis-db",
            spec(vec![
                m(ReadOnly, "/etc/redis", None),
                m(Pvc, "/data", Some(20 * GI)),
                m(EmptyDir, "/tmp", Some(500 * MI)),
            ]),
        ),
        (
            "kafka",
            spec(vec![
                m(Pvc, "/var/lib/kafka/data", Some(700 * GI)),
                m(EmptyDir, "/tmp", Some(70 * GI)),
            ]),
        ),
        (
            "nginx",
            spec(vec![
                m(ReadOnly, "/etc/nginx/nginx.conf", None),
                m(EmptyDir, "/var/cache/nginx", Some(5 * GI)),
                m(EmptyDir, "/var/run/nginx", Some(10 * MI)),
                m(EmptyDir, "/tmp", Some(100 * MI)),
            ]),
        ),
        (
            "app",
            spec(vec![
                m(EmptyDir, "/tmp", Some(GI)),
                m(EmptyDir, "/app/cache", Some(500 * MI)),
            ]),
        ),
    ]
}

/// The built-in profiles (`sealinit manifest --profile NAME`), checked
/// against the hand-written seed tables so every manifest test below runs on
/// what users actually get.
pub(super) fn seed_profiles() -> Vec<(&'static str, Spec)> {
    seed_tables()
        .into_iter()
        .map(|(name, want)| {
            let file = crate::core::contract::profiles::profile(name).expect("built-in profile");
            let got = crate::core::contract::spec::merge([&file]).spec;
            assert_eq!(
                got.mounts, want.mounts,
                "profile {name} differs from the seed's Part 3"
            );
            (name, got)
        })
        .collect()
}

/// (profile, ephemeral request, limit, tmpfs total) from the Part 4 rule,
/// worked by hand.
const EXPECTED: [(&str, u64, u64, u64); 6] = [
    // (10Mi + 5Gi) = 5130Mi × 1.2 = 6156Mi
    ("postgres", 6156 * MI, 12312 * MI, GI),
    // (10Gi + 100Mi + 50Mi) = 10390Mi × 1.2 = 12468Mi
    ("redis-cache", 12468 * MI, 24936 * MI, 0),
    ("redis-db", 600 * MI, 1200 * MI, 0),
    ("kafka", 84 * GI, 168 * GI, 0),
    // (5Gi + 10Mi + 100Mi) = 5230Mi × 1.2 = 6276Mi
    ("nginx", 6276 * MI, 12552 * MI, 0),
    // (1Gi + 500Mi) = 1524Mi × 1.2 = 1828.8Mi, rounded up to 1829Mi
    ("app", 1829 * MI, 3658 * MI, 0),
];

pub(super) fn opts(name: &str) -> ManifestOptions {
    ManifestOptions {
        name: name.to_string(),
        ..ManifestOptions::default()
    }
}

pub(super) fn load(text: &str) -> Vec<Yaml> {
    match YamlLoader::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => panic!("output is not YAML: {e}\n{text}"),
    }
}

pub(super) fn s(y: &Yaml) -> &str {
    y.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {y:?}"))
}

fn bytes(y: &Yaml) -> u64 {
    quantity::parse(s(y)).unwrap_or_else(|e| panic!("{e}"))
}

fn size_str(size: Option<u64>) -> String {
    size.map(|b| format!(":{}", quantity::format(b)))
        .unwrap_or_default()
}

pub(super) fn expected_env(spec: &Spec) -> String {
    let parts: Vec<String> = spec
        .mounts
        .iter()
        .map(|m| {
            format!(
                "{}:{}{}",
                m.kind.as_str(),
                m.path.display(),
                size_str(m.size_limit)
            )
        })
        .collect();
    parts.join(",")
}

/// Asserts the pod spec of one profile, field by field.
fn check_pod(profile: &str, spec: &Spec, pod: &Yaml, sts: bool) {
    let (_, req, lim, _) = EXPECTED
        .iter()
        .find(|e| e.0 == profile)
        .copied()
        .expect("profile in EXPECTED");
    assert_eq!(pod["securityContext"]["fsGroup"].as_i64(), Some(65532));
    let c = &pod["containers"][0];
    assert_eq!(s(&c["name"]), profile);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["runAsUser"].as_i64(), Some(65532));
    assert_eq!(sc["runAsGroup"].as_i64(), Some(65532));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(s(&sc["capabilities"]["drop"][0]), "ALL");
    assert_eq!(s(&sc["seccompProfile"]["type"]), "RuntimeDefault");
    // env: the contract and the downward-API limit
    assert_eq!(s(&c["env"][0]["name"]), "SEALINIT_MOUNTS");
    assert_eq!(s(&c["env"][0]["value"]), expected_env(spec));
    assert_eq!(s(&c["env"][1]["name"]), "SEALINIT_EPHEMERAL_LIMIT");
    let rf = &c["env"][1]["valueFrom"]["resourceFieldRef"];
    assert_eq!(s(&rf["containerName"]), profile);
    assert_eq!(s(&rf["resource"]), "limits.ephemeral-storage");
    let res = &c["resources"];
    assert_eq!(
        bytes(&res["requests"]["ephemeral-storage"]),
        req,
        "{profile}"
    );
    assert_eq!(bytes(&res["limits"]["ephemeral-storage"]), lim, "{profile}");
    // one mount and (unless a StatefulSet claim) one volume per entry
    let mounts = c["volumeMounts"].as_vec().expect("volumeMounts");
    assert_eq!(mounts.len(), spec.mounts.len());
    let volumes = pod["volumes"].as_vec().expect("volumes");
    for (i, want) in spec.mounts.iter().enumerate() {
        let vm = &mounts[i];
        let path = want.path.to_str().expect("utf-8");
        assert_eq!(s(&vm["mountPath"]), path);
        assert_eq!(
            vm["readOnly"].as_bool(),
            (!want.kind.is_writable()).then_some(true),
            "{profile} {path} readOnly"
        );
        let name = s(&vm["name"]);
        check_label("volume", name).expect("volume name is a DNS-1123 label");
        let vol = volumes.iter().find(|v| s(&v["name"]) == name);
        if sts && want.kind == MountKind::Pvc {
            assert!(
                vol.is_none(),
                "{profile} {path}: claim template, not a volume"
            );
            continue;
        }
        let vol = vol.unwrap_or_else(|| panic!("{profile}: no volume {name}"));
        let size = |e: &Yaml| {
            e["sizeLimit"]
                .as_str()
                .map(|q| bytes(&Yaml::String(q.into())))
        };
        match want.kind {
            MountKind::Tmpfs => {
                assert_eq!(s(&vol["emptyDir"]["medium"]), "Memory");
                assert_eq!(size(&vol["emptyDir"]), want.size_limit);
            }
            MountKind::EmptyDir => {
                assert!(vol["emptyDir"]["medium"].is_badvalue());
                assert_eq!(size(&vol["emptyDir"]), want.size_limit);
            }
            MountKind::Pvc => assert_eq!(
                s(&vol["persistentVolumeClaim"]["claimName"]),
                format!("{profile}-{name}")
            ),
            MountKind::ReadOnly => {
                assert_eq!(s(&vol["configMap"]["name"]), format!("{profile}-{name}"))
            }
            MountKind::Secret => {
                assert_eq!(s(&vol["secret"]["secretName"]), format!("{profile}-{name}"))
            }
        }
    }
}

fn check_claim(claim_spec: &Yaml, size: Option<u64>) {
    assert_eq!(s(&claim_spec["accessModes"][0]), "ReadWriteOnce");
    let storage = &claim_spec["resources"]["requests"]["storage"];
    match size {
        Some(b) => assert_eq!(bytes(storage), b),
        None => assert_eq!(s(storage), "SIZE"),
    }
}

fn pvcs(spec: &Spec) -> Vec<&MountSpec> {
    spec.mounts
        .iter()
        .filter(|m| m.kind == MountKind::Pvc)
        .collect()
}

#[test]
fn kubernetes_fragment_for_every_profile() {
    for (profile, spec) in seed_profiles() {
        let out = render(&spec, &opts(profile)).expect(profile);
        let docs = load(&out);
        check_pod(profile, &spec, &docs[0], false);
        assert!(
            docs[0]["containers"][0]["image"].is_badvalue(),
            "fragment has no image"
        );
        let claims = pvcs(&spec);
        assert_eq!(
            docs.len(),
            1 + claims.len(),
            "{profile}: one PVC document per pvc"
        );
        for (doc, m) in docs[1..].iter().zip(claims) {
            assert_eq!(s(&doc["kind"]), "PersistentVolumeClaim");
            assert_eq!(s(&doc["apiVersion"]), "v1");
            check_claim(&doc["spec"], m.size_limit);
        }
        let tmpfs = EXPECTED.iter().find(|e| e.0 == profile).map(|e| e.3);
        assert_eq!(
            out.contains("count against this container's"),
            tmpfs != Some(0),
            "{profile}: memory comment exactly when there is a tmpfs"
        );
    }
}

#[test]
fn workloads_for_every_profile() {
    for (profile, spec) in seed_profiles() {
        for (w, kind) in [
            (Workload::Deployment, "Deployment"),
            (Workload::StatefulSet, "StatefulSet"),
        ] {
            let o = ManifestOptions {
                workload: Some(w),
                image: "registry.example/app:1@sha256:abc".into(),
                ..opts(profile)
            };
            let docs = load(&render(&spec, &o).expect(profile));
            let d = &docs[0];
            assert_eq!(s(&d["apiVersion"]), "apps/v1");
            assert_eq!(s(&d["kind"]), kind);
            assert_eq!(s(&d["metadata"]["name"]), profile);
            let sel = &d["spec"]["selector"]["matchLabels"];
            assert_eq!(sel, &d["spec"]["template"]["metadata"]["labels"]);
            assert_eq!(s(&sel["app.kubernetes.io/name"]), profile);
            let pod = &d["spec"]["template"]["spec"];
            assert_eq!(s(&pod["containers"][0]["image"]), o.image);
            let sts = w == Workload::StatefulSet;
            check_pod(profile, &spec, pod, sts);
            let claims = pvcs(&spec);
            if sts {
                assert_eq!(s(&d["spec"]["serviceName"]), profile);
                assert_eq!(docs.len(), 1, "{profile}: claims are templates");
                let templates = d["spec"]["volumeClaimTemplates"].as_vec();
                assert_eq!(templates.map_or(0, |t| t.len()), claims.len());
                for (t, m) in templates.into_iter().flatten().zip(&claims) {
                    let name = volume_name(m.path.to_str().expect("utf-8"));
                    assert_eq!(s(&t["metadata"]["name"]), name);
                    check_claim(&t["spec"], m.size_limit);
                }
            } else {
                assert_eq!(docs.len(), 1 + claims.len());
            }
        }
    }
}

#[test]
fn volume_names_cases() {
    let long = format!("/{}", "abcdefghij/".repeat(10));
    let cases: [(&str, &str); 10] = [
        ("/var/cache/nginx", "var-cache-nginx"),
        ("/", "root"),
        ("/__/", "root"),
        ("/a//b__c", "a-b-c"),
        ("/dev/shm", "dev-shm"),
        ("/tmp/", "tmp"),
        ("/Data__Dir/x.y", "data-dir-x-y"),
        ("/é", "root"),
        ("/var/lib/postgresql/data", "var-lib-postgresql-data"),
        (
            &long,
            "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh",
        ),
    ];
    for (path, want) in cases {
        let got = volume_name(path);
        assert_eq!(got, want, "case {path:?}");
        check_label("volume", &got).expect("label");
    }
    let long2 = format!("{long}z");
    let paths: Vec<String> = ["/tmp", "/TMP", "/tmp/", "/tmp-2", &long, &long2]
        .iter()
        .map(|p| p.to_string())
        .collect();
    let names = volume_names(&paths);
    assert_eq!(names[..4], ["tmp", "tmp-2", "tmp-3", "tmp-2-2"]);
    assert_ne!(names[4], names[5]);
    for n in &names {
        check_label("volume", n).expect("label");
    }
}

#[test]
fn scale_up_cases() {
    let cases = [
        ("exact 1.2", 5230 * MI, 6, 5, Some(6276 * MI)),
        (
            "fraction rounds up to MiB",
            1524 * MI,
            6,
            5,
            Some(1829 * MI),
        ),
        ("one byte", 1, 6, 5, Some(MI)),
        ("zero", 0, 6, 5, Some(0)),
        (
            "decimal exact",
            700_000_000_000,
            1,
            10,
            Some(70_000_000_000),
        ),
        ("overflow", u64::MAX, 6, 5, None),
        ("zero denominator", 1, 1, 0, None),
    ];
    for (name, x, num, den, want) in cases {
        assert_eq!(scale_up(x, num, den), want, "case {name}");
    }
}

#[test]
fn errors_name_the_problem() {
    use MountKind::*;
    let huge = Spec {
        mounts: vec![
            m(EmptyDir, "/a", Some(u64::MAX / 2 + 1)),
            m(EmptyDir, "/b", Some(u64::MAX / 2 + 1)),
        ],
        ..Spec::default()
    };
    let near = Spec {
        mounts: vec![m(EmptyDir, "/a", Some(u64::MAX / 2))],
        ..Spec::default()
    };
    let app = &seed_profiles()[5].1;
    let path = |p: &str| Spec {
        mounts: vec![m(EmptyDir, p, None)],
        ..Spec::default()
    };
    let cases: Vec<(&str, Spec, ManifestOptions, &str)> = vec![
        ("sum overflow", huge, opts("app"), "overflows"),
        ("rule overflow", near, opts("app"), "overflows"),
        ("bad name", app.clone(), opts("My_App"), "DNS-1123"),
        (
            "root user",
            app.clone(),
            ManifestOptions {
                run_as_user: 0,
                ..opts("app")
            },
            "runAsNonRoot",
        ),
        ("relative path", path("tmp"), opts("app"), "absolute"),
        ("comma in path", path("/a,b"), opts("app"), "','"),
        ("colon in path", path("/a:b"), opts("app"), "':'"),
        (
            "workload with docker",
            app.clone(),
            ManifestOptions {
                format: Format::Docker,
                workload: Some(Workload::Deployment),
                ..opts("app")
            },
            "--workload",
        ),
        (
            "request above limit",
            app.clone(),
            ManifestOptions {
                ephemeral_request: Some(2 * GI),
                ephemeral_limit: Some(GI),
                ..opts("app")
            },
            "exceeds",
        ),
    ];
    for (name, spec, o, want) in cases {
        match render(&spec, &o) {
            Ok(out) => panic!("case {name}: expected an error, got\n{out}"),
            Err(e) => assert!(e.contains(want), "case {name}: {e}"),
        }
    }
}

#[test]
fn user_strings_read_back_exactly() {
    let weird = "/srv/yes: *x #&!|>'\"\\ ünï";
    let spec = Spec {
        mounts: vec![
            m(MountKind::Secret, "/run/secrets/db", None),
            m(MountKind::EmptyDir, "/srv/a b#c", None),
        ],
        ..Spec::default()
    };
    let o = ManifestOptions {
        image: format!("{weird}\n\t\u{2028}"),
        workload: Some(Workload::Deployment),
        ..opts("app")
    };
    let out = render(&spec, &o).expect("renders");
    let docs = load(&out);
    let c = &docs[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(s(&c["image"]), o.image);
    assert_eq!(s(&c["volumeMounts"][1]["mountPath"]), "/srv/a b#c");
    assert_eq!(c["volumeMounts"][0]["readOnly"].as_bool(), Some(true));
    // an unsized emptyDir has no sizeLimit and no ephemeral-storage resources
    assert!(c["resources"].is_badvalue());
    assert!(out.contains("no sizeLimit"));
}

#[test]
fn overrides_and_root_any() {
    let app = seed_profiles()[5].1.clone();
    let o = ManifestOptions {
        ephemeral_request: Some(GI),
        run_as_user: 1000,
        fs_group: 2000,
        ..opts("app")
    };
    let docs = load(&render(&app, &o).expect("renders"));
    let c = &docs[0]["containers"][0];
    assert_eq!(bytes(&c["resources"]["requests"]["ephemeral-storage"]), GI);
    assert_eq!(
        bytes(&c["resources"]["limits"]["ephemeral-storage"]),
        2 * GI
    );
    assert_eq!(c["securityContext"]["runAsUser"].as_i64(), Some(1000));
    assert_eq!(docs[0]["securityContext"]["fsGroup"].as_i64(), Some(2000));
    let any = Spec {
        root: crate::core::contract::spec::RootPolicy::Any,
        ..app
    };
    let docs = load(&render(&any, &opts("app")).expect("renders"));
    let sc = &docs[0]["containers"][0]["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(false));
    let args = docker_args(&any, &opts("app")).expect("args");
    assert!(!args.contains(&"--read-only".to_string()));
}

#[test]
fn sealinit_mounts_value() {
    let spec = &seed_profiles()[4].1;
    assert_eq!(sealinit_mounts(spec).expect("nginx"), expected_env(spec));
    assert!(
        expected_env(spec).starts_with("readonly:/etc/nginx/nginx.conf,emptydir:/var/cache/nginx:")
    );
}
