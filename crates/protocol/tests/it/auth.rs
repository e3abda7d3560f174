use assent_protocol::auth::{AuthError, DeviceAuthorization};
use assent_protocol::crypto::PublicKey;
use assent_protocol::{SigningKey, Uuid};
use proptest::prelude::*;

#[test]
fn project_auth_header_vectors() {
    let vectors = crate::vectors("assent.json");
    let cases = vectors["auth_headers"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for v in cases {
        let key = crate::key_from_seed(v["seed_hex"].as_str().unwrap());
        let device_id = Uuid::parse_str(v["device_id"].as_str().unwrap()).unwrap();
        let (method, path, body) = (
            v["method"].as_str().unwrap(),
            v["path"].as_str().unwrap(),
            v["body"].as_str().unwrap(),
        );
        let ts = v["ts"].as_i64().unwrap();
        let auth = DeviceAuthorization::sign(
            &key,
            device_id,
            method,
            path,
            body.as_bytes(),
            ts,
            v["nonce"].as_str().unwrap().into(),
        );
        assert_eq!(
            auth.render(),
            v["header"].as_str().unwrap(),
            "header for {method} {path}"
        );
        let parsed = DeviceAuthorization::parse(v["header"].as_str().unwrap()).unwrap();
        assert_eq!(parsed, auth);
        let public = PublicKey::from_b64(v["public_key"].as_str().unwrap()).unwrap();
        parsed
            .verify(&public, method, path, body.as_bytes(), ts + 5, 120)
            .unwrap();
    }
}

prop_compose! {
    fn header()(
        seed in prop::array::uniform32(any::<u8>()),
        device in any::<u128>(),
        ts in 0i64..4_000_000_000,
        nonce in "[A-Za-z0-9_-]{16,64}",
        method in prop::sample::select(vec!["GET", "POST", "DELETE"]),
        path in "/device/v1/[a-z0-9/?=&-]{0,40}",
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) -> (SigningKey, DeviceAuthorization, &'static str, String, Vec<u8>) {
        let key = SigningKey::from_bytes(&seed);
        let auth = DeviceAuthorization::sign(&key, Uuid::from_u128(device), method, &path, &body, ts, nonce);
        (key, auth, method, path, body)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn render_parse_round_trips((_key, auth, ..) in header()) {
        prop_assert_eq!(DeviceAuthorization::parse(&auth.render()), Ok(auth));
    }

    #[test]
    fn any_bit_flip_in_the_header_fails((key, auth, method, path, body) in header(), bit in any::<usize>()) {
        let public = PublicKey::from_signing_key(&key);
        let mut bytes = auth.render().into_bytes();
        let at = bit % (bytes.len() * 8);
        bytes[at / 8] ^= 1 << (at % 8);
        let result = std::str::from_utf8(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| DeviceAuthorization::parse(text).map_err(|e| e.to_string()))
            .and_then(|parsed| parsed.verify(&public, method, &path, &body, parsed.ts, 120).map_err(|e| e.to_string()));
        prop_assert!(result.is_err(), "flipping bit {} of {} still verified", at, auth.render());
    }

    #[test]
    fn any_bit_flip_in_the_signed_request_fails((key, auth, method, path, body) in header(), bit in any::<usize>()) {
        let public = PublicKey::from_signing_key(&key);
        // Flip one bit of what the signature covers besides the header: method, path or body.
        let mut request = [method.as_bytes(), path.as_bytes(), &body].concat();
        let at = bit % (request.len() * 8);
        request[at / 8] ^= 1 << (at % 8);
        let (m, rest) = request.split_at(method.len());
        let (p, b) = rest.split_at(path.len());
        let result = auth.verify_signature(&public, &String::from_utf8_lossy(m), &String::from_utf8_lossy(p), b);
        prop_assert_eq!(result, Err(AuthError::BadSignature));
    }
}
