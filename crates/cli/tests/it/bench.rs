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
