use assent_protocol::callback::{self, CallbackKey, CallbackPayload};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::Value;

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {field}"))
}

#[test]
fn authy_post_vectors() {
    let vectors = crate::vectors("authy.json");
    let cases = vectors["post_json"].as_array().unwrap();
    assert_eq!(cases.len(), 4, "every POST vector of the reference");
    for v in cases {
        let key = CallbackKey::from_api_key(s(v, "api_key"));
        let body = match v.get("body") {
            Some(body) => body.as_str().unwrap().as_bytes().to_vec(),
            None => serde_json::to_vec(&v["payload"]).unwrap(),
        };
        let payload: Value = serde_json::from_slice(&body).unwrap();
        let params = callback::params_from_json(&payload).unwrap();
        if let Some(data) = v.get("data") {
            assert_eq!(
                callback::signing_data(s(v, "nonce"), "POST", s(v, "url"), &params),
                data.as_str().unwrap(),
                "{}: canonical data string",
                s(v, "name")
            );
        }
        assert_eq!(
            callback::sign(&key, s(v, "nonce"), "POST", s(v, "url"), &params),
            s(v, "signature"),
            "{}",
            s(v, "name")
        );
        callback::verify_post(&key, s(v, "nonce"), s(v, "url"), &body, s(v, "signature")).unwrap();
        assert_eq!(
            callback::verify_post(&key, "1", s(v, "url"), &body, s(v, "signature")),
            Err(callback::CallbackError::BadSignature),
            "another nonce must not verify"
        );
    }
}

#[test]
fn authy_get_vector() {
    let vectors = crate::vectors("authy.json");
    let v = &vectors["get_query"][0];
    let key = CallbackKey::from_api_key(s(v, "api_key"));
    assert_eq!(
        callback::params_from_query(s(v, "query")),
        s(v, "query"),
        "the vector is already canonical"
    );
    callback::verify_get(
        &key,
        s(v, "nonce"),
        s(v, "url"),
        s(v, "query"),
        s(v, "signature"),
    )
    .unwrap();
    let mut tampered = s(v, "signature").to_owned();
    tampered.replace_range(0..1, "X");
    assert!(
        callback::verify_get(&key, s(v, "nonce"), s(v, "url"), s(v, "query"), &tampered).is_err()
    );
}

#[test]
fn authy_java_body_reads_as_our_payload_type() {
    // Our CallbackPayload must carry every field Authy sends: reading the captured body into it
    // and writing it back signs the same.
    let vectors = crate::vectors("authy.json");
    let v = &vectors["post_json"][2];
    let typed: CallbackPayload = serde_json::from_str(s(v, "body")).unwrap();
    let key = CallbackKey::from_api_key(s(v, "api_key"));
    let params = callback::params_from_json(&serde_json::to_value(&typed).unwrap()).unwrap();
    assert_eq!(
        callback::sign(&key, s(v, "nonce"), "POST", s(v, "url"), &params),
        s(v, "signature")
    );
}

proptest! {
    #[test]
    fn precomputed_key_matches_hmac(key in ".{0,100}", data in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut reference = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        reference.update(&data);
        let expected: [u8; 32] = reference.finalize().into_bytes().into();
        prop_assert_eq!(CallbackKey::from_api_key(&key).mac(&data), expected);
        let stored = CallbackKey::from_bytes(&CallbackKey::from_api_key(&key).to_bytes());
        prop_assert_eq!(stored.mac(&data), expected);
    }

    #[test]
    fn get_and_post_forms_sign_alike(details in prop::collection::btree_map("[a-z_]{1,8}", ".{0,20}", 0..5), status in "approved|denied") {
        let payload = serde_json::json!({
            "status": status,
            "approval_request": {"transaction": {"details": details}, "logos": [{"res": "default", "url": "https://x.example/a b.png"}]},
        });
        let query = callback::to_query_string(&payload).unwrap();
        prop_assert_eq!(callback::params_from_query(&query), callback::params_from_json(&payload).unwrap());
    }
}
