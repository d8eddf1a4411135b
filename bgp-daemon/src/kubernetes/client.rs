//! Where the API server is and who we are to it: the kubeconfig or in-cluster
//! configuration, and this node's name.
//!
//! The order (`[kubernetes] kubeconfig` in KEYS.md): the configured `kubeconfig`; else
//! the in-cluster service account (`KUBERNETES_SERVICE_HOST`/`PORT` set and a token at
//! /var/run/secrets/kubernetes.io/serviceaccount); else `$KUBECONFIG` (a `:`-separated
//! list, merged as kubectl does); else `~/.kube/config`. [`Env`] holds every input
//! taken from outside, so tests point it at a temporary directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// The service account's files in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// A connection attempt gives up after this: a server that went away and came back
/// is found again within the watchers' retry cap plus this (the 5 s of the issue).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What the configuration is resolved from, outside the configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    pub service_account_dir: PathBuf,
    /// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`.
    pub service_host: Option<String>,
    pub service_port: Option<String>,
    /// `KUBECONFIG`.
    pub kubeconfig: Option<String>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `NODE_NAME`.
    pub node_name: Option<String>,
    /// The host name (/proc/sys/kernel/hostname).
    pub hostname: Option<String>,
}

impl Env {
    /// This process's environment.
    pub fn from_process() -> Env {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Env {
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
            service_host: var("KUBERNETES_SERVICE_HOST"),
            service_port: var("KUBERNETES_SERVICE_PORT"),
            kubeconfig: var("KUBECONFIG"),
            home: var("HOME").map(PathBuf::from),
            node_name: var("NODE_NAME"),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname").ok(),
        }
    }
}

/// Where the client configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `[kubernetes] kubeconfig`.
    Configured(PathBuf),
    /// The pod's service account; the API server's URL.
    InCluster(String),
    /// `$KUBECONFIG`: its files, in order.
    KubeconfigEnv(Vec<PathBuf>),
    /// `~/.kube/config`.
    Home(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Configured(p) => write!(f, "kubeconfig {}", p.display()),
            Source::InCluster(url) => write!(f, "in-cluster service account, {url}"),
            Source::KubeconfigEnv(paths) => {
                let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "$KUBECONFIG {}", list.join(":"))
            }
            Source::Home(p) => write!(f, "kubeconfig {}", p.display()),
        }
    }
}

/// Chooses the source, in the module's order. In-cluster counts when both service
/// variables are set and the token file exists (as client-go); `~/.kube/config` when
/// it exists.
pub fn choose(configured: Option<&Path>, env: &Env) -> Result<Source, String> {
    if let Some(path) = configured {
        return Ok(Source::Configured(path.to_path_buf()));
    }
    if let (Some(host), Some(port)) = (&env.service_host, &env.service_port) {
        if env.service_account_dir.join("token").exists() {
            return Ok(Source::InCluster(in_cluster_url(host, port)?));
        }
    }
    if let Some(list) = &env.kubeconfig {
        let paths: Vec<PathBuf> = std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()).collect();
        if !paths.is_empty() {
            return Ok(Source::KubeconfigEnv(paths));
        }
    }
    if let Some(home) = &env.home {
        let path = home.join(".kube").join("config");
        if path.exists() {
            return Ok(Source::Home(path));
        }
    }
    Err(format!(
        "no Kubernetes client configuration: no [kubernetes] kubeconfig, not in a cluster \
         (KUBERNETES_SERVICE_HOST/PORT and {}/token), no $KUBECONFIG, no ~/.kube/config",
        env.service_account_dir.display()
    ))
}

/// `https://HOST:PORT`, an IPv6 host in brackets (as the environment gives it bare).
pub fn in_cluster_url(host: &str, port: &str) -> Result<String, String> {
    let port: u16 = port.trim().parse().map_err(|_| format!("KUBERNETES_SERVICE_PORT {port:?} is not a port"))?;
    let host = host.trim();
    Ok(match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(a)) => format!("https://[{a}]:{port}"),
        Ok(IpAddr::V4(a)) => format!("https://{a}:{port}"),
        Err(_) => format!("https://{host}:{port}"),
    })
}

/// The client configuration from `source`.
pub async fn load(source: &Source, env: &Env) -> Result<kube::Config, String> {
    let options = KubeConfigOptions::default();
    let mut config = match source {
        Source::InCluster(url) => in_cluster(url, &env.service_account_dir)?,
        Source::Configured(path) | Source::Home(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        Source::KubeconfigEnv(paths) => {
            let mut merged: Option<Kubeconfig> = None;
            for path in paths {
                let file = match Kubeconfig::read_from(path) {
                    Ok(file) => file,
                    // kubectl skips files of the list that do not exist.
                    Err(_) if !path.exists() => continue,
                    Err(e) => return Err(format!("{}: {e}", path.display())),
                };
                merged = Some(match merged {
                    None => file,
                    Some(m) => m.merge(file).map_err(|e| format!("{}: {e}", path.display()))?,
                });
            }
            let merged = merged.ok_or_else(|| format!("{source}: no such file"))?;
            kube::Config::from_custom_kubeconfig(merged, &options).await.map_err(|e| format!("{source}: {e}"))?
        }
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    // kube retries 429/503/504 itself, backing off up to minutes; the watchers' own
    // capped backoff retries instead (watch.rs).
    config.default_retry = false;
    Ok(config)
}

/// The in-cluster configuration: the service account's token (read again as it is
/// rotated), CA bundle and namespace.
pub fn in_cluster(url: &str, dir: &Path) -> Result<kube::Config, String> {
    let uri = url.parse().map_err(|e| format!("API server URL {url:?}: {e}"))?;
    let ca = dir.join("ca.crt");
    let pem = std::fs::read(&ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", ca.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", ca.display()));
    }
    let token = dir.join("token");
    std::fs::metadata(&token).map_err(|e| format!("{}: {e}", token.display()))?;
    let mut config = kube::Config::new(uri);
    config.default_namespace = std::fs::read_to_string(dir.join("namespace"))
        .ok()
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".into());
    config.root_cert = Some(certs);
    // Read again from time to time: the CA may be rotated.
    config.root_cert_file = Some(ca);
    config.auth_info.token_file = Some(token.to_string_lossy().into_owned());
    Ok(config)
}

/// This node's name (node mode): the configured `node_name`, else `$NODE_NAME`, else
/// the host name, lower-cased as the kubelet registers it.
pub fn node_name(configured: Option<&str>, env: &Env) -> Result<String, String> {
    let name = configured
        .map(str::to_string)
        .or_else(|| env.node_name.clone())
        .or_else(|| env.hostname.as_deref().map(|h| h.trim().to_ascii_lowercase()))
        .filter(|n| !n.trim().is_empty());
    name.map(|n| n.trim().to_string())
        .ok_or_else(|| "no node name: set [kubernetes] node_name or $NODE_NAME (the host name is unknown)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256`).
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBeDCCAR+gAwIBAgIUdbKgIBAYl/0Po2LDsJ7gjlSzuicwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNjEyMDUxNTE2MjlaFw0zNjEyMDIxNTE2
MjlaMBIxEDAOBgNVBAMMB3Rlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AARc7SiDvG49+QgGQXPbImO2MTFf66X/RQAiwQ6l4W5bcSem2WLARMYZukqbsgRB
rdVuKcfLFFIT76DXiZOvmQlso1MwUTAdBgNVHQ4EFgQUnIYq/rmxeIUdRF1a5Pyx
Xzcu0tMwHwYDVR0jBBgwFoAUnIYq/rmxeIUdRF1a5PyxXzcu0tMwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiAEVUP+kNvSAbLeucqbMEMbU9qzrLQn
ZYl0r/hR2BoTtAIgK1ZwnCvpTvQR6dwtfYMEEiky8uUt6FMgeWZ0t7fa0c0=
-----END CERTIFICATE-----
";

    fn service_account(ca: Option<&str>, namespace: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "secret-token\n").unwrap();
        if let Some(ca) = ca {
            std::fs::write(dir.path().join("ca.crt"), ca).unwrap();
        }
        if let Some(ns) = namespace {
            std::fs::write(dir.path().join("namespace"), ns).unwrap();
        }
        dir
    }

    fn in_cluster_env(dir: &Path, host: &str, port: &str) -> Env {
        Env {
            service_account_dir: dir.to_path_buf(),
            service_host: Some(host.into()),
            service_port: Some(port.into()),
            ..Env::default()
        }
    }

    #[test]
    fn in_cluster_config_comes_from_the_service_account_and_the_environment() {
        let dir = service_account(Some(CA), Some("bgp-system\n"));
        let env = in_cluster_env(dir.path(), "10.96.0.1", "443");
        let source = choose(None, &env).unwrap();
        assert_eq!(source, Source::InCluster("https://10.96.0.1:443".into()));
        let Source::InCluster(url) = &source else { unreachable!() };
        let config = in_cluster(url, dir.path()).unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.96.0.1:443/");
        assert_eq!(config.default_namespace, "bgp-system");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1), "the CA, as DER");
        assert_eq!(config.root_cert.as_ref().unwrap()[0][0], 0x30, "a DER SEQUENCE");
        assert_eq!(config.root_cert_file, Some(dir.path().join("ca.crt")));
        assert_eq!(config.auth_info.token_file.as_deref(), Some(dir.path().join("token").to_str().unwrap()));
        assert!(config.auth_info.token.is_none(), "the token is read from the file, so rotation is seen");
    }

    #[test]
    fn in_cluster_ipv6_hosts_are_bracketed() {
        let dir = service_account(Some(CA), None);
        let env = in_cluster_env(dir.path(), "fd00:10:96::1", "6443");
        let Source::InCluster(url) = choose(None, &env).unwrap() else { panic!() };
        assert_eq!(url, "https://[fd00:10:96::1]:6443");
        let config = in_cluster(&url, dir.path()).unwrap();
        assert_eq!(config.cluster_url.host(), Some("[fd00:10:96::1]"));
        assert_eq!(config.cluster_url.port_u16(), Some(6443));
        assert_eq!(config.default_namespace, "default", "no namespace file");
        assert_eq!(in_cluster_url("kubernetes.default.svc", "443").unwrap(), "https://kubernetes.default.svc:443");
        assert!(in_cluster_url("10.96.0.1", "https").is_err());
    }

    #[test]
    fn in_cluster_needs_the_ca() {
        let dir = service_account(None, None);
        let err = in_cluster("https://10.96.0.1:443", dir.path()).unwrap_err();
        assert!(err.contains("ca.crt"), "{err}");
        std::fs::write(dir.path().join("ca.crt"), "not a certificate").unwrap();
        let err = in_cluster("https://10.96.0.1:443", dir.path()).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
    }

    #[test]
    fn sources_are_chosen_in_order() {
        let sa = service_account(Some(CA), None);
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".kube")).unwrap();
        std::fs::write(home.path().join(".kube/config"), "").unwrap();
        let mut env = Env {
            kubeconfig: Some("/a/config:/b/config".into()),
            home: Some(home.path().to_path_buf()),
            ..in_cluster_env(sa.path(), "10.96.0.1", "443")
        };
        let configured = Path::new("/etc/bgp/kubeconfig");
        assert_eq!(choose(Some(configured), &env).unwrap(), Source::Configured(configured.into()));
        assert!(matches!(choose(None, &env).unwrap(), Source::InCluster(_)));
        // Not in a cluster: one variable missing, or no token.
        env.service_port = None;
        let kubeconfig_env = Source::KubeconfigEnv(vec!["/a/config".into(), "/b/config".into()]);
        assert_eq!(choose(None, &env).unwrap(), kubeconfig_env);
        env.service_port = Some("443".into());
        std::fs::remove_file(sa.path().join("token")).unwrap();
        assert_eq!(choose(None, &env).unwrap(), kubeconfig_env);
        env.kubeconfig = None;
        assert_eq!(choose(None, &env).unwrap(), Source::Home(home.path().join(".kube/config")));
        std::fs::remove_file(home.path().join(".kube/config")).unwrap();
        let err = choose(None, &env).unwrap_err();
        assert!(err.contains("no Kubernetes client configuration"), "{err}");
    }

    #[tokio::test]
    async fn kubeconfig_files_are_read_and_merged() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, server: &str| {
            let text = format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: {name}\n\
                 clusters:\n- name: {name}\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n\
                 contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n    namespace: ns-{name}\n\
                 users:\n- name: {name}\n  user:\n    token: t-{name}\n"
            );
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let (a, b) = (file("a", "https://127.0.0.1:6443"), file("b", "https://[::1]:7443"));
        let env = Env::default();
        let config = load(&Source::Configured(b.clone()), &env).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://[::1]:7443/");
        assert_eq!(config.default_namespace, "ns-b");
        assert!(!config.default_retry);
        assert_eq!(config.connect_timeout, Some(CONNECT_TIMEOUT));
        // The first file's current-context wins; a missing file of the list is skipped.
        let missing = dir.path().join("missing");
        let config = load(&Source::KubeconfigEnv(vec![missing.clone(), a, b]), &env).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:6443/");
        assert!(load(&Source::KubeconfigEnv(vec![missing.clone()]), &env).await.is_err());
        let err = load(&Source::Configured(missing), &env).await.unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn node_names_come_from_the_config_then_the_environment_then_the_host() {
        let mut env = Env { node_name: Some("from-env".into()), hostname: Some("Worker-3\n".into()), ..Env::default() };
        assert_eq!(node_name(Some("node1"), &env).unwrap(), "node1");
        assert_eq!(node_name(None, &env).unwrap(), "from-env");
        env.node_name = None;
        assert_eq!(node_name(None, &env).unwrap(), "worker-3", "as the kubelet registers it");
        env.hostname = None;
        assert!(node_name(None, &env).is_err());
        env.hostname = Some("\n".into());
        assert!(node_name(None, &env).is_err());
    }
}
