//! The routing tree with Alertmanager's semantics: depth-first, left to right; a matching child
//! stops the search among its siblings unless it has `continue: true`; when no child matches,
//! the node itself is the match.

use jiff::SignedDuration;

use crate::labels::LabelSet;
use crate::matcher::Matchers;

/// How alerts of a route are grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// By these labels (an empty list puts every alert of the route in one group).
    Labels(Vec<String>),
    /// `group_by: ['...']`: by all labels (every distinct alert is its own group).
    All,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy::Labels(Vec::new())
    }
}

/// Alertmanager's defaults for the root route.
pub const DEFAULT_GROUP_WAIT: SignedDuration = SignedDuration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: SignedDuration = SignedDuration::from_secs(5 * 60);
pub const DEFAULT_REPEAT_INTERVAL: SignedDuration = SignedDuration::from_secs(4 * 3600);

/// A node of the routing tree, with everything inherited from its parents already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    /// Sorted in Alertmanager's order (the key depends on it).
    pub matchers: Matchers,
    pub continue_matching: bool,
    /// Names of time intervals during which notifications are muted (not inherited).
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which notifications are muted (not inherited).
    pub active_time_intervals: Vec<String>,
    pub routes: Vec<Route>,
    /// Alertmanager's route key: the parent's key, `/`, this node's matchers (`{}` at the root).
    pub key: String,
    /// A unique id: the key plus the position among siblings (`{}/{a="1"}/0`).
    pub id: String,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            receiver: String::new(),
            group_by: GroupBy::default(),
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            matchers: Matchers::default(),
            continue_matching: false,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            routes: Vec::new(),
            key: "{}".to_string(),
            id: "{}".to_string(),
        }
    }
}

/// One route an alert takes, with what is needed to group and notify.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePath {
    pub key: String,
    pub id: String,
    pub receiver: String,
    pub group_by: GroupBy,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

impl Route {
    /// The routes `labels` take, in order (empty only when the root's matchers do not match,
    /// which a valid root — it has none — never does).
    pub fn matches(&self, labels: &LabelSet) -> Vec<RoutePath> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect(&self, labels: &LabelSet, out: &mut Vec<RoutePath>) -> bool {
        if !self.matchers.matches(labels) {
            return false;
        }
        let before = out.len();
        for child in &self.routes {
            if child.collect(labels, out) && !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(self.path());
        }
        true
    }

    fn path(&self) -> RoutePath {
        RoutePath {
            key: self.key.clone(),
            id: self.id.clone(),
            receiver: self.receiver.clone(),
            group_by: self.group_by.clone(),
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            repeat_interval: self.repeat_interval,
            mute_time_intervals: self.mute_time_intervals.clone(),
            active_time_intervals: self.active_time_intervals.clone(),
        }
    }

    /// Every node, depth-first (the root first).
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for child in &self.routes {
            out.extend(child.walk());
        }
        out
    }
}

impl RoutePath {
    /// The labels an alert is grouped by on this route: the `group_by` labels it has (all of
    /// them for `...`).
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        match &self.group_by {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.to_string())))
                .collect(),
        }
    }

    /// Alertmanager's group key `<route key>:<group labels>`, e.g.
    /// `{}/{severity="page"}:{alertname="HighLatency"}`.
    pub fn group_key(&self, labels: &LabelSet) -> String {
        format!("{}:{}", self.key, self.group_labels(labels))
    }
}

/// The route key of a child of `parent_key` with `matchers` (sorted).
pub(crate) fn child_key(parent_key: Option<&str>, matchers: &Matchers) -> String {
    match parent_key {
        Some(p) => format!("{p}/{matchers}"),
        None => matchers.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::AlertmanagerConfig;
    use crate::labels::LabelSet;

    use super::*;

    fn ls(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }

    const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      group_wait: 10s
      continue: true
    - matchers: ['team=~"db|storage"']
      receiver: db
      group_by: ['...']
      routes:
        - match: {env: prod}
          receiver: db-prod
          repeat_interval: 1h
    - match_re: {service: 'api.*'}
      receiver: api
receivers:
  - name: default
  - name: pager
  - name: db
  - name: db-prod
  - name: api
"#;

    fn receivers(labels: &LabelSet) -> Vec<String> {
        let cfg = AlertmanagerConfig::from_yaml_str(TREE).unwrap();
        cfg.route
            .matches(labels)
            .into_iter()
            .map(|p| p.receiver)
            .collect()
    }

    #[test]
    fn no_matching_child_means_the_root() {
        assert_eq!(receivers(&ls(&[("alertname", "X")])), ["default"]);
    }

    #[test]
    fn first_matching_child_stops_the_search() {
        assert_eq!(
            receivers(&ls(&[("team", "db"), ("service", "api-1")])),
            ["db"]
        );
        assert_eq!(receivers(&ls(&[("service", "api-1")])), ["api"]);
        // Anchored: "xapi" does not match `api.*`.
        assert_eq!(receivers(&ls(&[("service", "xapi")])), ["default"]);
    }

    #[test]
    fn continue_goes_on_to_siblings() {
        assert_eq!(
            receivers(&ls(&[("severity", "page"), ("team", "db")])),
            ["pager", "db"]
        );
        // `continue` on a matching child whose siblings do not match: only that child.
        assert_eq!(receivers(&ls(&[("severity", "page")])), ["pager"]);
    }

    #[test]
    fn depth_first_into_grandchildren() {
        assert_eq!(
            receivers(&ls(&[("team", "storage"), ("env", "prod")])),
            ["db-prod"]
        );
        assert_eq!(
            receivers(&ls(&[("team", "storage"), ("env", "dev")])),
            ["db"]
        );
    }

    #[test]
    fn timings_and_group_by_are_inherited() {
        let cfg = AlertmanagerConfig::from_yaml_str(TREE).unwrap();
        let paths = cfg
            .route
            .matches(&ls(&[("team", "db"), ("env", "prod"), ("alertname", "A")]));
        let p = &paths[0];
        assert_eq!(p.receiver, "db-prod");
        assert_eq!(p.group_by, GroupBy::All); // from its parent
        assert_eq!(p.group_wait, SignedDuration::from_secs(30));
        assert_eq!(p.group_interval, SignedDuration::from_secs(300));
        assert_eq!(p.repeat_interval, SignedDuration::from_secs(3600));
        let pager = &cfg.route.matches(&ls(&[("severity", "page")]))[0];
        assert_eq!(pager.group_wait, SignedDuration::from_secs(10));
        assert_eq!(pager.repeat_interval, SignedDuration::from_secs(4 * 3600));
        assert_eq!(pager.group_by, GroupBy::Labels(vec!["alertname".into()]));
    }

    #[test]
    fn group_keys_are_formatted_like_alertmanager() {
        let cfg = AlertmanagerConfig::from_yaml_str(TREE).unwrap();
        let root = &cfg.route.matches(&ls(&[("alertname", "Disk"), ("x", "1")]))[0];
        assert_eq!(
            root.group_key(&ls(&[("alertname", "Disk"), ("x", "1")])),
            r#"{}:{alertname="Disk"}"#
        );
        // Missing group_by labels are left out.
        assert_eq!(root.group_key(&ls(&[("x", "1")])), "{}:{}");
        let labels = ls(&[("team", "db"), ("env", "prod"), ("alertname", "A")]);
        let deep = &cfg.route.matches(&labels)[0];
        assert_eq!(
            deep.group_key(&labels),
            r#"{}/{team=~"db|storage"}/{env="prod"}:{alertname="A", env="prod", team="db"}"#
        );
        let pager = &cfg.route.matches(&ls(&[("severity", "page")]))[0];
        assert_eq!(pager.key, r#"{}/{severity="page"}"#);
        assert_eq!(pager.id, r#"{}/{severity="page"}/0"#);
    }

    #[test]
    fn route_matchers_are_sorted_for_the_key() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            "route:\n  receiver: r\n  routes:\n    - matchers: ['b=\"2\"', 'a=\"1\"']\n      match_re: {c: x}\nreceivers: [{name: r}]\n",
        )
        .unwrap();
        assert_eq!(cfg.route.routes[0].key, r#"{}/{a="1",b="2",c=~"x"}"#);
    }
}
