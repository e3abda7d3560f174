//! The backend API's parameter parser: query string, content type and body as Authy clients send
//! them, parsed before any API key is checked. Input layout: `query \0 content-type \0 body`.
#![no_main]

use assent_protocol::params::Params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let query = parts.next().and_then(|q| std::str::from_utf8(q).ok());
    let content_type = parts.next().and_then(|c| std::str::from_utf8(c).ok());
    let body = parts.next().unwrap_or_default();
    if let Ok(params) = Params::parse(query, content_type, body) {
        // Every typed reader the handlers use, on the names they read.
        for name in ["message", "details", "logos", "approvers", "requester", "user", "api_key"] {
            let _ = params.string(name);
            let _ = params.unsigned(name);
            let _ = params.boolean(name);
            let _ = params.object(name);
            let _ = params.list(name);
            if let Ok(nested) = params.nested(name) {
                let _ = nested.string("email");
                let _ = nested.list("0");
            }
        }
    }
});
