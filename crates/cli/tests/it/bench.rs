//! `assent bench`, run small: every reported figure is present and plausible. (Timings are not
//! asserted: benchmarks report, tests check behaviour.)

use crate::support::run;

#[test]
fn a_small_bench_reports_every_figure() {
    let out = run(
        &[
            "bench",
            "--devices",
            "50",
            "--rate",
            "20",
            "--seconds",
            "2",
            "--json",
        ],
        &[],
    )
    .ok();
    let report = out.json();
    for field in [
        "push_p50_ms",
        "push_p99_ms",
        "push_max_ms",
        "baseline_push_p99_ms",
        "decision_p99_ms",
        "callback_p99_ms",
        "approvals_per_s",
        "sqlite_ceiling_per_s",
        "storage_ceiling_without_receipts_per_s",
        "server_rss_per_conn_kib",
    ] {
        let value = report[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} is a number: {report}"));
        assert!(
            value.is_finite() && value > 0.0,
            "{field} = {value} should be a positive measurement"
        );
    }
    assert_eq!(report["devices"], 50);
    assert_eq!(report["rate"], 20);
    assert_eq!(report["requests_sent"], 40);
    assert_eq!(
        report["approved"], 40,
        "every request is pushed, fetched, verified and approved by its device"
    );
    assert!(report["push_p50_ms"].as_f64() <= report["push_max_ms"].as_f64());
}

#[test]
fn idle_devices_hold_signed_streams_and_a_sweep_reports_each_offered_rate() {
    // Two sweep steps (15/s and 23/s; 34/s is above --sweep-max). The bench fails unless every
    // idle device enrolled and its signed stream was accepted, on the service and the baseline.
    let out = run(
        &[
            "bench",
            "--devices",
            "20",
            "--idle-devices",
            "300",
            "--rate",
            "10",
            "--seconds",
            "1",
            "--sweep",
            "--sweep-max",
            "30",
            "--json",
        ],
        &[],
    )
    .ok();
    let report = out.json();
    assert_eq!(report["idle_devices"], 300, "{report}");
    assert_eq!(report["requests_sent"], 10, "{report}");
    assert_eq!(
        report["approved"], 10,
        "the sample devices approve as before: {report}"
    );
    for field in ["server_rss_per_conn_kib", "baseline_rss_per_conn_kib"] {
        assert!(
            report[field]
                .as_f64()
                .is_some_and(|v| v.is_finite() && v > 0.0),
            "{field} should be measured over every held connection: {report}"
        );
    }
    let sweep = report["sweep"].as_array().expect("a sweep array");
    let offered: Vec<u64> = sweep
        .iter()
        .map(|s| s["offered_per_s"].as_u64().unwrap())
        .collect();
    assert_eq!(
        offered,
        [15, 23],
        "x1.5 per step up to --sweep-max: {report}"
    );
    for step in sweep {
        let sent = step["requests_sent"].as_u64().unwrap();
        assert_eq!(sent, step["offered_per_s"].as_u64().unwrap(), "{step}");
        let approved = step["approved"].as_u64().unwrap();
        let refused = step["requests_refused"].as_u64().unwrap();
        assert!(
            approved + refused <= sent && approved > 0,
            "a step approves what it created: {step}"
        );
        assert!(
            step["approvals_per_s"].as_f64().is_some_and(|v| v > 0.0)
                && step["push_p99_ms"].as_f64().is_some_and(|v| v > 0.0),
            "each step reports its throughput and push latency: {step}"
        );
    }
}
