//! `bgpctl reload --dry-run` and `bgp-daemon --check --against-running`: what a reload
//! would do, computed from the running state without changing it.
//!
//! The sessions come from [`bgp_core::config::diff`], the same plan a reload applies,
//! with the changed keys behind each restart. The routes come from the RIB task:
//! [`bgp_core::rib::engine::Engine::dry_run`] runs the new policies and announcements
//! over the routes held. A file a reload would refuse gets the same error here.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use bgp_core::config::{Config, DynamicAction, RtNames};
use bgp_core::ctl::{ReloadPreview, RoutePreview, SessionAction, SessionPreview};
use bgp_core::policy::Policy;
use tokio::sync::oneshot;

use super::{kubernetes_unsupported, Supervisor, REPLY_TIMEOUT};
use crate::rib_task::{DryRunRequest, RibInput};

/// The new (import, export) policies of a peer.
type Policies = (Arc<Policy>, Arc<Policy>);

impl Supervisor {
    /// The preview of a reload of `text` (named `file` in errors), or of the running
    /// configuration's file when `text` is `None`. `Err`: what a reload would answer.
    pub(super) async fn dry_run(&self, file: Option<String>, text: Option<String>) -> Result<ReloadPreview, String> {
        let (name, new) = match text {
            Some(text) => {
                let name = file.unwrap_or_else(|| "(request)".into());
                let parsed = bgp_core::config::parse_with_names(&name, &text, &RtNames::system());
                (name, parsed)
            }
            None => (self.config_path.display().to_string(), bgp_core::config::load(&self.config_path)),
        };
        let new = new.map_err(|e| e.to_string())?;
        let plan = bgp_core::config::diff(&self.config, &new).map_err(|refused| format!("{name}: {refused}"))?;
        if let Some(message) = kubernetes_unsupported(&new) {
            return Err(format!("{name}: {message}"));
        }

        let mut sessions = Vec::new();
        let mut policies: HashMap<IpAddr, Policies> = HashMap::new();
        let mut removed: HashSet<IpAddr> = HashSet::new();
        let session = |address, action, keys: &[&str], dynamic| SessionPreview {
            address,
            action,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            dynamic,
        };
        for &a in &plan.removed {
            sessions.push(session(a, SessionAction::Stop, &[], false));
            removed.insert(a);
        }
        for &a in &plan.restarted {
            sessions.push(session(a, SessionAction::Restart, plan.why_restart(a), false));
            // Predicted as it will be once the session is back: its routes are kept
            // over the restart (graceful restart) or sent again, under the new policies.
            if let Some(n) = new.neighbor(a) {
                policies.insert(a, both(&new, n.settings.clone()));
            }
        }
        for &(a, down) in &plan.shutdown {
            let action = if down { SessionAction::Shutdown } else { SessionAction::Enable };
            sessions.push(session(a, action, &[], false));
            if down {
                removed.insert(a);
            }
        }
        for (a, p) in &plan.policies {
            sessions.push(session(*a, SessionAction::Policies, &[], false));
            policies.insert(*a, (p.import.clone(), p.export.clone()));
        }
        for &a in &plan.added {
            sessions.push(session(a, SessionAction::Start, &[], false));
        }
        for (&a, _) in self.peers.iter().filter(|(_, p)| p.dynamic) {
            match plan.dynamic(a) {
                DynamicAction::Keep => {}
                DynamicAction::Policies(p) => {
                    sessions.push(session(a, SessionAction::Policies, &[], true));
                    policies.insert(a, (p.import, p.export));
                }
                DynamicAction::Restart => {
                    sessions.push(session(a, SessionAction::Restart, &plan.why_restart_dynamic(a), true));
                    // Back as a configured neighbor, from its new range, or not at all.
                    let settings = new.neighbor(a).map(|n| &n.settings).or(new.range_for(a).map(|r| &r.settings));
                    match settings {
                        Some(s) => {
                            policies.insert(a, both(&new, s.clone()));
                        }
                        None => {
                            removed.insert(a);
                        }
                    }
                }
            }
        }
        // BFD changes restart nothing; the live sessions get them.
        for (&a, p) in &self.peers {
            let restarts = sessions.iter().any(|s| {
                s.address == a
                    && matches!(s.action, SessionAction::Restart | SessionAction::Stop | SessionAction::Shutdown)
            });
            let settings = |c: &Config| {
                c.neighbor(a).map(|n| n.settings.clone()).or_else(|| c.range_for(a).map(|r| r.settings.clone()))
            };
            if let (false, Some(was), Some(is)) = (restarts, settings(&self.config), settings(&new)) {
                let keys = bgp_core::config::bfd_keys(&was, &is);
                if !keys.is_empty() {
                    sessions.push(session(a, SessionAction::Bfd, &keys, p.dynamic));
                }
            }
        }
        sessions.sort_by_key(|s| s.address);

        let routing = plan.routing.map(|r| (usize::from(r.multipath), r.always_compare_med));
        // Whether an import policy changes (not only an export, nor a restart alone).
        let old_import = |a: IpAddr| {
            let settings =
                self.config.neighbor(a).map(|n| &n.settings).or(self.config.range_for(a).map(|r| &r.settings));
            settings.map(|s| self.config.peer_policies(s).import)
        };
        let imports_change = policies.iter().any(|(&a, (import, _))| old_import(a).is_none_or(|old| old != *import));
        let kernel_import = (new.kernel.import != self.config.kernel.import).then(|| new.kernel.import.clone());
        let request =
            DryRunRequest { policies, removed, announcements: plan.announcements.clone(), routing, kernel_import };
        let (tx, rx) = oneshot::channel();
        self.rib
            .send(RibInput::DryRun { request: Box::new(request), reply: tx })
            .await
            .map_err(|_| "the routing task is not running".to_string())?;
        let deltas = match tokio::time::timeout(REPLY_TIMEOUT * 5, rx).await {
            Ok(Ok(d)) => d,
            _ => return Err("the routing task did not answer the dry run in time: try again".into()),
        };
        let routes = deltas
            .into_iter()
            .map(|d| RoutePreview {
                address: d.address,
                advertised: d.before,
                advertised_after: d.after,
                newly_sent: d.sent,
                withdrawn: d.withdrawn,
                import_refused: d.import_refused,
            })
            .collect();

        let sources: Vec<String> =
            bgp_core::config::source_keys(&self.config, &new).into_iter().map(String::from).collect();
        let mut notes = Vec::new();
        if imports_change {
            notes.push(
                "routes an earlier import policy refused are not kept, so those a new import policy accepts come \
                 with the route refresh the reload asks for and are not counted"
                    .to_string(),
            );
        }
        if sources.iter().any(|k| k.starts_with("kubernetes")) {
            notes.push(
                "routes of the Kubernetes source under the new settings come from a relist and are not counted"
                    .to_string(),
            );
        }
        if sources.iter().any(|k| *k == "kernel.resolve_via_default") {
            notes.push(
                "next hops are counted as they resolve now; kernel.resolve_via_default changes that after the reload"
                    .to_string(),
            );
        }
        if !plan.added.is_empty() || sessions.iter().any(|s| s.action == SessionAction::Enable) {
            notes.push("neighbors without a session now (started or enabled) are not counted".to_string());
        }
        Ok(ReloadPreview { file: name, sessions, routes, sources, notes })
    }
}

fn both(config: &Config, settings: bgp_core::config::PeerSettings) -> Policies {
    let p = config.peer_policies(&settings);
    (p.import, p.export)
}
