//! Callback signature checking as a relying party runs it (`assent callback verify`, the Authy
//! libraries' algorithm) on whatever arrives at its endpoint. Input layout: `signature \0 body`;
//! the body is tried as a POST JSON body and as a GET query string.
#![no_main]

use assent_protocol::callback::{self, CallbackKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |b| *b == 0);
    let signature = parts
        .next()
        .and_then(|s| std::str::from_utf8(s).ok())
        .unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let key = CallbackKey::from_api_key("fuzz-api-key");
    let url = "https://rp.example/callback";
    let _ = callback::verify_post(&key, "1700000000", url, body, signature);
    if let Ok(query) = std::str::from_utf8(body) {
        let _ = callback::verify_get(&key, "1700000000", url, query, signature);
        let _ = callback::params_from_query(query);
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = callback::params_from_json(&value);
        let _ = callback::to_query_string(&value);
    }
});
