//! From alerts to aggregation groups, as Alertmanager's dispatcher: each alert goes to every
//! route it matches, and within a route to the group of its group labels. A group is
//! identified by the route's unique id and the group labels; its `group_key` (the text
//! receivers see) uses the route key, which two routes may share.

use std::collections::BTreeMap;

use crate::alert::Alert;
use crate::group::Notification;
use crate::labels::{Fingerprint, LabelSet};
use crate::route::{Route, RoutePath};

/// One aggregation group and the alerts in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group<'a> {
    pub path: RoutePath,
    pub group_labels: LabelSet,
    /// Alertmanager's group key, e.g. `{}/{team="db"}:{alertname="X"}`.
    pub group_key: String,
    pub alerts: Vec<&'a Alert>,
}

impl Group<'_> {
    /// A stable identity for storage: route id and group labels.
    pub fn id(&self) -> (String, Fingerprint) {
        (self.path.id.clone(), self.group_labels.fingerprint())
    }
}

/// Groups `alerts` by route and group labels, ordered by route id, then group labels.
pub fn group_alerts<'a>(route: &Route, alerts: &'a [Alert]) -> Vec<Group<'a>> {
    let mut groups: BTreeMap<(String, LabelSet), Group<'a>> = BTreeMap::new();
    for alert in alerts {
        for path in route.matches(&alert.labels) {
            let group_labels = path.group_labels(&alert.labels);
            let entry = groups
                .entry((path.id.clone(), group_labels.clone()))
                .or_insert_with(|| Group {
                    group_key: format!("{}:{}", path.key, group_labels),
                    group_labels,
                    path,
                    alerts: Vec::new(),
                });
            entry.alerts.push(alert);
        }
    }
    groups.into_values().collect()
}

/// The alerts a notification names, firing first, in the order given by the notification.
pub fn notification_alerts(alerts: &[&Alert], notification: &Notification) -> Vec<Alert> {
    let by_fp: BTreeMap<Fingerprint, &Alert> =
        alerts.iter().map(|a| (a.fingerprint(), *a)).collect();
    notification
        .firing
        .iter()
        .chain(&notification.resolved)
        .filter_map(|fp| by_fp.get(fp).map(|a| (*a).clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::AlertmanagerConfig;
    use jiff::Timestamp;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        Alert {
            labels: pairs.iter().map(|(k, v)| (*k, *v)).collect(),
            annotations: LabelSet::new(),
            starts_at: Timestamp::UNIX_EPOCH,
            ends_at: Timestamp::MAX,
            generator_url: String::new(),
        }
    }

    #[test]
    fn alerts_are_grouped_per_route_and_group_labels() {
        let cfg = AlertmanagerConfig::from_yaml_str(
            r#"
route:
  receiver: all
  group_by: [alertname]
  routes:
    - {matchers: ['severity="page"'], receiver: pager, continue: true, group_by: [service]}
receivers: [{name: all}, {name: pager}]
"#,
        )
        .unwrap();
        let alerts = vec![
            alert(&[
                ("alertname", "Latency"),
                ("service", "api"),
                ("severity", "page"),
            ]),
            alert(&[
                ("alertname", "Errors"),
                ("service", "api"),
                ("severity", "page"),
            ]),
            alert(&[("alertname", "Latency"), ("service", "web")]),
            alert(&[("alertname", "Latency"), ("service", "db")]),
        ];
        let groups = group_alerts(&cfg.route, &alerts);
        let summary: Vec<(String, String, usize)> = groups
            .iter()
            .map(|g| (g.path.receiver.clone(), g.group_key.clone(), g.alerts.len()))
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "all".to_string(),
                    r#"{}:{alertname="Latency"}"#.to_string(),
                    2
                ),
                (
                    "pager".to_string(),
                    r#"{}/{severity="page"}:{service="api"}"#.to_string(),
                    2
                ),
            ]
        );
        assert_eq!(groups[1].id().0, r#"{}/{severity="page"}/0"#);
    }

    #[test]
    fn notification_alerts_follow_the_notification() {
        let a = alert(&[("n", "1")]);
        let b = alert(&[("n", "2")]);
        let n = Notification {
            firing: vec![b.fingerprint()],
            resolved: vec![a.fingerprint(), Fingerprint(7)],
        };
        let picked = notification_alerts(&[&a, &b], &n);
        assert_eq!(picked, [b, a]);
    }
}
