//! The Kubernetes manifests in `deploy/kubernetes` keep the hardening the README promises: a
//! later edit that drops one property fails a normal `cargo test`, without kubectl or checkov.
//!
//! Each overlay is rendered the way kustomize does for these files: the kustomizations may
//! only list `resources` (checked here), so rendering is reading every listed file and
//! directory in order. When kubectl is installed (on PATH, or the one scripts/check-deploy
//! installs) the test also renders with `kubectl kustomize` and requires the same objects.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn overlay_dir(name: &str) -> PathBuf {
    repo().join("deploy/kubernetes/overlays").join(name)
}

/// The objects of the kustomization in `dir`, in kustomize's order for resource-only files.
fn render(dir: &Path) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(dir.join("kustomization.yaml"))?;
    let kustomization: Value = serde_saphyr::from_str(&text)?;
    let keys: BTreeSet<&str> = kustomization
        .as_object()
        .ok_or("a kustomization is a mapping")?
        .keys()
        .map(String::as_str)
        .collect();
    let allowed: BTreeSet<&str> = ["apiVersion", "kind", "resources"].into();
    assert!(
        keys.is_subset(&allowed),
        "{}: only resources are used (the fallback renderer and this test rely on it), found {keys:?}",
        dir.display()
    );
    let mut objects = Vec::new();
    for resource in kustomization["resources"]
        .as_array()
        .ok_or("resources is a list")?
    {
        let path = dir.join(resource.as_str().ok_or("a resource is a path")?);
        if path.is_dir() {
            objects.extend(render(&path)?);
        } else {
            let text = std::fs::read_to_string(&path)?;
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)?;
            objects.extend(docs.into_iter().filter(|d| !d.is_null()));
        }
    }
    Ok(objects)
}

fn kubectl() -> Option<PathBuf> {
    let cached = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/nines-check-deploy/venv/bin/kubectl"));
    let on_path = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("kubectl"));
    on_path.or_else(|| cached.filter(|p| p.is_file()))
}

/// `render`, checked against `kubectl kustomize` when kubectl is there.
fn rendered(overlay: &str) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let objects = render(&overlay_dir(overlay))?;
    assert!(!objects.is_empty(), "{overlay}: nothing rendered");
    match kubectl() {
        Some(kubectl) => {
            let out = Command::new(kubectl)
                .arg("kustomize")
                .arg(overlay_dir(overlay))
                .output()?;
            assert!(
                out.status.success(),
                "kubectl kustomize {overlay}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let theirs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8(out.stdout)?)?;
            let key = |v: &Value| v.to_string();
            let ours: BTreeSet<String> = objects.iter().map(key).collect();
            let theirs: BTreeSet<String> =
                theirs.iter().filter(|v| !v.is_null()).map(key).collect();
            assert_eq!(
                ours, theirs,
                "{overlay}: kubectl kustomize renders other objects"
            );
            eprintln!("{overlay}: same objects as kubectl kustomize");
        }
        None => eprintln!("{overlay}: kubectl not found: checked the files as listed"),
    }
    Ok(objects)
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn name(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The pod template of every workload kind.
fn pod_specs(objects: &[Value]) -> Vec<(String, &Value)> {
    objects
        .iter()
        .filter_map(|o| match o["kind"].as_str()? {
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
                Some((name(o), &o["spec"]["template"]["spec"]))
            }
            "CronJob" => Some((
                name(o),
                &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            )),
            "Pod" => Some((name(o), &o["spec"])),
            _ => None,
        })
        .collect()
}

/// A container's setting, else the pod's (securityContext fields that exist at both levels).
fn effective<'a>(pod: &'a Value, container: &'a Value, field: &str) -> &'a Value {
    match &container["securityContext"][field] {
        Value::Null => &pod["securityContext"][field],
        v => v,
    }
}

/// Pod Security Standards "restricted" and the extra rules, on every container of
/// every workload.
fn assert_hardened(objects: &[Value]) {
    let pods = pod_specs(objects);
    assert!(!pods.is_empty(), "no workload found");
    for (workload, pod) in pods {
        assert_eq!(
            pod["automountServiceAccountToken"], false,
            "{workload}: the service account token must not be mounted"
        );
        assert_eq!(
            pod["serviceAccountName"], "nines",
            "{workload}: own service account"
        );
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert_ne!(pod[host], true, "{workload}: {host}");
        }
        let secret_volumes: BTreeSet<&str> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["secret"].is_object() || v["projected"].is_object())
            .filter_map(|v| v["name"].as_str())
            .collect();
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            assert!(volume["hostPath"].is_null(), "{workload}: hostPath volume");
        }
        let init = pod["initContainers"].as_array().into_iter().flatten();
        let main = pod["containers"].as_array().into_iter().flatten();
        let containers: Vec<&Value> = init.chain(main).collect();
        assert!(!containers.is_empty(), "{workload}: no containers");
        for c in containers {
            let at = format!("{workload} container {}", c["name"]);
            assert_eq!(
                effective(pod, c, "runAsNonRoot"),
                true,
                "{at}: runAsNonRoot"
            );
            for id in ["runAsUser", "runAsGroup"] {
                let n = effective(pod, c, id).as_u64();
                assert!(
                    n.is_some_and(|n| n >= 10_000),
                    "{at}: numeric {id} ≥ 10000, found {n:?}"
                );
            }
            let sc = &c["securityContext"];
            assert_eq!(
                sc["allowPrivilegeEscalation"], false,
                "{at}: allowPrivilegeEscalation"
            );
            assert_ne!(sc["privileged"], true, "{at}: privileged");
            assert_eq!(
                sc["readOnlyRootFilesystem"], true,
                "{at}: readOnlyRootFilesystem"
            );
            assert!(
                strings(&sc["capabilities"]["drop"]).contains(&"ALL"),
                "{at}: drop ALL"
            );
            assert!(
                sc["capabilities"]["add"].is_null(),
                "{at}: adds capabilities"
            );
            assert_eq!(
                effective(pod, c, "seccompProfile")["type"],
                "RuntimeDefault",
                "{at}: seccompProfile"
            );
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        !c["resources"][bound][resource].is_null(),
                        "{at}: resources.{bound}.{resource}"
                    );
                }
            }
            let image = c["image"].as_str().unwrap_or("");
            let tag = image
                .rsplit('/')
                .next()
                .and_then(|last| last.split_once(':'));
            assert!(
                tag.is_some_and(|(_, t)| !t.is_empty() && !t.starts_with("latest")),
                "{at}: image {image:?} pinned by a tag"
            );
            // Secrets only as files.
            for env in c["env"].as_array().into_iter().flatten() {
                assert!(
                    env["valueFrom"]["secretKeyRef"].is_null(),
                    "{at}: env {} comes from a secret",
                    env["name"]
                );
            }
            for from in c["envFrom"].as_array().into_iter().flatten() {
                assert!(from["secretRef"].is_null(), "{at}: envFrom a secret");
            }
            for mount in c["volumeMounts"].as_array().into_iter().flatten() {
                if mount["name"]
                    .as_str()
                    .is_some_and(|n| secret_volumes.contains(n))
                {
                    assert_eq!(
                        mount["readOnly"], true,
                        "{at}: secret {} mounted writable",
                        mount["name"]
                    );
                }
            }
        }
        for c in pod["containers"].as_array().into_iter().flatten() {
            let at = format!("{workload} container {}", c["name"]);
            assert_eq!(
                c["livenessProbe"]["httpGet"]["path"], "/healthz",
                "{at}: liveness"
            );
            assert_eq!(
                c["readinessProbe"]["httpGet"]["path"], "/readyz",
                "{at}: readiness"
            );
            let args = strings(&c["args"]);
            assert!(
                args.contains(&"--listen=0.0.0.0:9797"),
                "{at}: listens on 0.0.0.0:9797"
            );
            let data_dir = args
                .iter()
                .find_map(|a| a.strip_prefix("--data-dir="))
                .unwrap_or_else(|| panic!("{at}: --data-dir"));
            let mounts: Vec<&str> = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["mountPath"].as_str())
                .collect();
            assert!(mounts.contains(&data_dir), "{at}: the data dir is a volume");
            assert!(mounts.contains(&"/tmp"), "{at}: a writable /tmp");
            assert!(
                args.iter().any(|a| a.starts_with("--audit-key-file=")),
                "{at}: the audit key comes from a mounted secret"
            );
        }
    }
    for account in kind(objects, "ServiceAccount") {
        assert_eq!(
            account["automountServiceAccountToken"],
            false,
            "{}",
            name(account)
        );
    }
    for object in objects {
        if object["kind"] != "Namespace" {
            assert_eq!(
                object["metadata"]["namespace"],
                "nines",
                "{}: namespace",
                name(object)
            );
        }
    }
    let namespace = kind(objects, "Namespace");
    assert_eq!(namespace.len(), 1);
    assert_eq!(
        namespace[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "the namespace enforces Pod Security restricted"
    );
}

/// A default deny for every pod, and only DNS, HTTPS (plus `extra_egress`) out and the HTTP
/// port in for nines.
fn assert_network_policies(objects: &[Value], extra_egress: &[u64]) {
    let policies = kind(objects, "NetworkPolicy");
    let deny = policies
        .iter()
        .find(|p| {
            let spec = &p["spec"];
            spec["podSelector"]
                .as_object()
                .is_some_and(|s| s.is_empty())
                && strings(&spec["policyTypes"]) == ["Ingress", "Egress"]
                && spec["ingress"].is_null()
                && spec["egress"].is_null()
        })
        .expect("a default-deny NetworkPolicy for every pod");
    assert_eq!(deny["metadata"]["namespace"], "nines");
    let mut ingress_ports = BTreeSet::new();
    let mut egress_ports = BTreeSet::new();
    for policy in &policies {
        for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
            let ports = rule["ports"]
                .as_array()
                .expect("ingress rules name their ports");
            ingress_ports.extend(ports.iter().map(|p| p["port"].to_string()));
        }
        for rule in policy["spec"]["egress"].as_array().into_iter().flatten() {
            let ports = rule["ports"]
                .as_array()
                .expect("egress rules name their ports");
            egress_ports.extend(ports.iter().filter_map(|p| p["port"].as_u64()));
        }
    }
    assert_eq!(
        ingress_ports,
        BTreeSet::from(["\"http\"".to_string()]),
        "ingress: only the HTTP port"
    );
    let mut expected: BTreeSet<u64> = [53, 443].into();
    expected.extend(extra_egress);
    assert_eq!(egress_ports, expected, "egress ports");
}

/// Every flag the manifests pass exists in the binary's help for that subcommand.
fn assert_flags_exist(objects: &[Value]) {
    for (workload, pod) in pod_specs(objects) {
        let init = pod["initContainers"].as_array().into_iter().flatten();
        let main = pod["containers"].as_array().into_iter().flatten();
        for c in init.chain(main) {
            let args = strings(&c["args"]);
            let (subcommand, flags) = args.split_first().expect("args start with a subcommand");
            let help = Command::new(env!("CARGO_BIN_EXE_nines"))
                .args([subcommand, "--help"])
                .output()
                .expect("nines runs");
            assert!(
                help.status.success(),
                "{workload}: nines {subcommand} --help"
            );
            let help = String::from_utf8_lossy(&help.stdout);
            for flag in flags {
                let flag = flag.split('=').next().unwrap_or(flag);
                assert!(
                    help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                    "{workload}: nines {subcommand} has no {flag}"
                );
            }
        }
    }
}

#[test]
fn embedded_overlay_is_one_hardened_statefulset_with_a_volume() -> TestResult {
    let objects = rendered("embedded")?;
    assert_hardened(&objects);
    assert_network_policies(&objects, &[]);
    assert_flags_exist(&objects);
    assert!(
        kind(&objects, "Deployment").is_empty(),
        "no Deployment on SQLite"
    );
    let sets = kind(&objects, "StatefulSet");
    assert_eq!(sets.len(), 1);
    let set = sets[0];
    assert_eq!(set["spec"]["replicas"], 1, "SQLite has one writer");
    let claims = set["spec"]["volumeClaimTemplates"]
        .as_array()
        .ok_or("a volume claim")?;
    let claim = claims[0]["metadata"]["name"].as_str().ok_or("claim name")?;
    let container = &set["spec"]["template"]["spec"]["containers"][0];
    let data_dir = strings(&container["args"])
        .into_iter()
        .find_map(|a| a.strip_prefix("--data-dir="))
        .ok_or("--data-dir")?;
    assert!(
        container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["name"] == claim && m["mountPath"] == data_dir),
        "the claim {claim} holds the data dir {data_dir}"
    );
    assert!(
        !strings(&container["args"])
            .iter()
            .any(|a| a.starts_with("--store")),
        "the embedded overlay uses the data dir's SQLite store"
    );
    Ok(())
}

#[test]
fn postgres_overlay_runs_replicas_with_a_disruption_budget() -> TestResult {
    let objects = rendered("postgres")?;
    assert_hardened(&objects);
    assert_network_policies(&objects, &[5432]);
    assert_flags_exist(&objects);
    assert!(kind(&objects, "StatefulSet").is_empty());
    let deployments = kind(&objects, "Deployment");
    assert_eq!(deployments.len(), 1);
    let deployment = deployments[0];
    let replicas = deployment["spec"]["replicas"].as_u64().ok_or("replicas")?;
    assert!(replicas >= 2, "{replicas} replicas");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let budgets = kind(&objects, "PodDisruptionBudget");
    assert_eq!(budgets.len(), 1);
    let budget = &budgets[0]["spec"];
    for (k, v) in budget["selector"]["matchLabels"]
        .as_object()
        .ok_or("selector")?
    {
        assert_eq!(&labels[k], v, "the budget selects the replicas");
    }
    assert!(
        budget["minAvailable"]
            .as_u64()
            .is_some_and(|n| n >= 1 && n < replicas)
            || budget["maxUnavailable"].as_u64() == Some(1),
        "the budget keeps a replica up and still lets a node drain: {budget}"
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let main = &pod["containers"][0];
    let store_file = strings(&main["args"])
        .into_iter()
        .find_map(|a| a.strip_prefix("--store-file="))
        .ok_or("the store URL comes from a file (--store-file)")?;
    // The URL's file is in a mounted Secret.
    let mount = main["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m["mountPath"]
                .as_str()
                .is_some_and(|p| store_file.starts_with(&format!("{p}/")))
        })
        .ok_or("the store URL file is mounted")?;
    assert!(
        pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v["name"] == mount["name"] && v["secret"]["secretName"].is_string()),
        "the store URL is a Secret"
    );
    assert!(
        pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|v| v["persistentVolumeClaim"].is_null()),
        "replicas share nothing but PostgreSQL"
    );
    Ok(())
}

#[test]
fn example_config_in_the_configmap_is_valid() -> TestResult {
    let objects = render(&repo().join("deploy/kubernetes/base"))?;
    let maps = kind(&objects, "ConfigMap");
    assert_eq!(maps.len(), 1);
    let dir = tempfile::tempdir()?;
    let data = maps[0]["data"].as_object().ok_or("ConfigMap data")?;
    assert!(!data.is_empty());
    for (file, text) in data {
        let path = dir.path().join(file);
        std::fs::write(&path, text.as_str().ok_or("text")?)?;
        let out = Command::new(env!("CARGO_BIN_EXE_nines"))
            .arg("check")
            .arg(&path)
            .output()?;
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
