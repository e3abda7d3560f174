//! Call budgets: a token bucket per API key and per source address.
//!
//! Buckets live in memory on each instance (behind a balancer, N instances allow N times the
//! rate; the connection caps and per-person limits in the database hold regardless). The number of
//! buckets is bounded: when it reaches [`MAX_BUCKETS`], buckets that have refilled completely (and
//! so carry no state worth keeping) are dropped, and if none has, the oldest half is.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::config::{ConnectionLimits, Rate};

/// Most buckets kept per limiter.
pub const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One keyed token-bucket limiter.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// A limiter allowing `rate` per key.
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from `key`'s budget at `now`; when it is empty, how long until it is not.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Rate { per_second, burst } = self.rate;
        let mut buckets = self.buckets.lock().expect("rate limiter lock");
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            Self::evict(&mut buckets, self.rate, now);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    fn evict(buckets: &mut HashMap<String, Bucket>, rate: Rate, now: Instant) {
        let full_after = Duration::from_secs_f64(rate.burst / rate.per_second);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        if buckets.len() >= MAX_BUCKETS {
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            buckets.retain(|_, b| b.at > cutoff);
        }
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.buckets.lock().expect("rate limiter lock").len()
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The service's limiters.
#[derive(Debug)]
pub struct RateLimits {
    per_api_key: Option<Limiter>,
    per_source: Option<Limiter>,
    trusted_proxies: Vec<IpAddr>,
}

impl RateLimits {
    /// The limiters `limits` configures.
    pub fn new(limits: &ConnectionLimits) -> Self {
        RateLimits {
            per_api_key: limits.per_api_key.map(Limiter::new),
            per_source: limits.per_source.map(Limiter::new),
            trusted_proxies: limits.trusted_proxies.clone(),
        }
    }

    /// The address a call comes from: the peer, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not a trusted proxy itself (what the proxy saw).
    pub fn source(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|a| !self.trusted_proxies.contains(a))
                .unwrap_or(peer),
        )
    }

    /// Charges a call from `source`.
    pub fn check_source(&self, source: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        match (&self.per_source, source) {
            (Some(limiter), Some(source)) => limiter.check(&source.to_string(), now),
            _ => Ok(()),
        }
    }

    /// Charges a call by the app `app_id` (keyed by app, so a rotated key keeps its budget).
    pub fn check_app(&self, app_id: &str, now: Instant) -> Result<(), Duration> {
        match &self.per_api_key {
            Some(limiter) => limiter.check(app_id, now),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: f64) -> Limiter {
        Limiter::new(Rate { per_second, burst })
    }

    #[test]
    fn allows_the_burst_then_refuses_with_the_time_to_wait() {
        let l = limiter(2.0, 3.0);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(l.check("k", t).is_ok());
        }
        let wait = l
            .check("k", t)
            .expect_err("the fourth call at once is over the burst");
        assert!(
            (wait.as_secs_f64() - 0.5).abs() < 0.01,
            "at 2/s the next token comes in 0.5 s, not {wait:?}"
        );
        assert!(l.check("k", t + Duration::from_millis(500)).is_ok());
        assert!(l.check("other", t).is_ok(), "keys have separate budgets");
    }

    #[test]
    fn buckets_stay_bounded() {
        let l = limiter(1.0, 1.0);
        let t = Instant::now();
        for i in 0..(MAX_BUCKETS + 10) {
            let _ = l.check(&i.to_string(), t);
        }
        assert!(l.len() <= MAX_BUCKETS, "{} buckets kept", l.len());
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let limits = RateLimits::new(&ConnectionLimits {
            trusted_proxies: vec![proxy],
            ..ConnectionLimits::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        assert_eq!(
            limits.source(Some(proxy), &headers),
            Some("5.6.7.8".parse().unwrap()),
            "the address the proxy saw is the last one it appended"
        );
        let stranger: IpAddr = "9.9.9.9".parse().unwrap();
        assert_eq!(
            limits.source(Some(stranger), &headers),
            Some(stranger),
            "an untrusted peer cannot choose its address with a header"
        );
    }
}
