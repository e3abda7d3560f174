//! Enrollment links from anywhere (a web page, a chat message, a second launch of the app): a
//! link is refused or read one way only. What is read has a service address without a user part,
//! query or fragment, a token of the registration shape, and a host that is shown whole (no `@`,
//! nothing that could mislead); rendering it again reads back the same host, token and security.
#![no_main]

use assent_protocol::enroll::{EnrollLink, MAX_LINK_BYTES, check_token_shape, parse_server_url};
use assent_protocol::text::find_unsafe;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(server) = parse_server_url(text) {
        assert!(server.username().is_empty() && server.password().is_none());
        assert!(server.query().is_none() && server.fragment().is_none());
        assert!(matches!(server.scheme(), "http" | "https"));
    }
    let Ok(link) = EnrollLink::parse(text) else {
        return;
    };
    assert!(text.len() <= MAX_LINK_BYTES);
    assert!(link.server.username().is_empty() && link.server.password().is_none());
    assert!(link.server.query().is_none() && link.server.fragment().is_none());
    assert!(check_token_shape(link.token.expose()).is_ok());
    let host = link.host();
    assert!(!host.is_empty(), "a link is never read without a host");
    assert!(!host.contains('@'), "the host shown has no user part: {host:?}");
    assert_eq!(find_unsafe(&host), None, "the host shown is safe text: {host:?}");
    if link.server.scheme() == "http" && !link.is_insecure() {
        let parsed = link.server.host().expect("a host");
        assert!(
            assent_protocol::net::is_loopback_host(&parsed),
            "plain http is only secure on loopback: {host:?}"
        );
    }
    let rendered = link.render();
    match EnrollLink::parse(&rendered) {
        Ok(again) => {
            assert_eq!(again.host(), host, "rendered and read again: the same host");
            assert_eq!(again.token.expose(), link.token.expose());
            assert_eq!(again.is_insecure(), link.is_insecure());
            assert_eq!(again.is_bare_ip(), link.is_bare_ip());
            assert_eq!(
                again.phrase(),
                link.phrase(),
                "rendered and read again: the same enrollment phrase"
            );
        }
        Err(e) => assert!(
            rendered.len() > MAX_LINK_BYTES,
            "a link read once must read again once rendered ({e}): {rendered:?}"
        ),
    }
});
