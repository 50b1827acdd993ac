//! The SLOs the tests and the shipped examples (examples/rules/) are generated from.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use rulegen::{RuleSli, RuleSlo};
use slo::alerting::{AlertCondition, AlertPolicy, AlertTier, Severity, Strategy};

/// 99.9% of `api` requests over 30 days are not 5xx; the default multiwindow policy.
pub fn api_availability() -> RuleSlo {
    RuleSlo {
        service: "api".into(),
        slo: "availability".into(),
        objective: 0.999,
        period_seconds: 30 * 86_400,
        sli: RuleSli::ErrorRatio {
            error_query: r#"sum(rate(http_requests_total{job="api",code=~"5.."}[{{window}}]))"#
                .into(),
            total_query: r#"sum(rate(http_requests_total{job="api"}[{{window}}]))"#.into(),
        },
        policy: None,
        labels: BTreeMap::new(),
    }
}

/// A latency SLO over 28 days (good-ratio SLI), with extra labels and a custom policy that
/// uses a window outside the standard list (90m), a tier without a short window and a `for`.
pub fn checkout_latency() -> RuleSlo {
    let tier = |severity, long, short, burn_rate, for_seconds| AlertTier {
        severity,
        long_window: long,
        short_window: short,
        burn_rate,
        for_seconds,
    };
    RuleSlo {
        service: "checkout".into(),
        slo: "latency".into(),
        objective: 0.99,
        period_seconds: 28 * 86_400,
        sli: RuleSli::GoodRatio {
            good_query: "sum(rate(http_request_duration_seconds_bucket{job=\"checkout\",le=\"0.3\"}[{{ window }}]))\n  unless on() vector(0) == 1".into(),
            total_query: r#"sum(rate(http_request_duration_seconds_count{job="checkout"}[{{window}}]))"#.into(),
        },
        policy: Some(AlertPolicy {
            name: "custom".into(),
            conditions: vec![
                AlertCondition {
                    strategy: Strategy::Multiwindow,
                    tiers: vec![
                        tier(Severity::Page, 3600, Some(300), 13.44, 0),
                        tier(Severity::Page, 5400, Some(900), 8.0, 120),
                    ],
                },
                AlertCondition {
                    strategy: Strategy::BurnRate,
                    tiers: vec![tier(Severity::Ticket, 86_400, None, 2.8, 600)],
                },
            ],
            inhibit_lower_tiers: true,
        }),
        labels: BTreeMap::from([
            ("team".to_string(), "payments: \"core\" {eu}".to_string()),
            ("tier".to_string(), "1".to_string()),
        ]),
    }
}

pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules")
}
