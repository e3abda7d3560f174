//! `assent callback verify` against every Authy vector of the reference.

use serde_json::Value;

use crate::support::run;

fn vectors() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../protocol/tests/vectors/authy.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The signature with each character in turn replaced by a different base64 character.
fn one_char_changes(signature: &str) -> Vec<String> {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..signature.len())
        .map(|i| {
            let current = signature.as_bytes()[i] as char;
            let replacement = match ALPHABET.find(current) {
                Some(at) => ALPHABET.as_bytes()[(at + 1) % ALPHABET.len()] as char,
                None => 'A', // padding
            };
            format!("{}{replacement}{}", &signature[..i], &signature[i + 1..])
        })
        .collect()
}

fn verify(case: &Value, method: &str, source: (&str, &str), signature: &str) -> i32 {
    let args = [
        "callback",
        "verify",
        "--api-key",
        case["api_key"].as_str().unwrap(),
        "--url",
        case["url"].as_str().unwrap(),
        "--method",
        method,
        "--nonce",
        case["nonce"].as_str().unwrap(),
        "--signature",
        signature,
        source.0,
        source.1,
    ];
    run(&args, &[]).code
}

#[test]
fn every_authy_vector_is_valid_and_every_one_character_change_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = vectors();
    let mut checked = 0;
    for (i, case) in vectors["post_json"].as_array().unwrap().iter().enumerate() {
        let body = match case.get("body") {
            Some(body) => body.as_str().unwrap().to_owned(),
            None => serde_json::to_string(&case["payload"]).unwrap(),
        };
        let file = dir.path().join(format!("body-{i}.json"));
        std::fs::write(&file, body).unwrap();
        let source = ("--body-file", file.to_str().unwrap());
        let signature = case["signature"].as_str().unwrap();
        assert_eq!(
            verify(case, "POST", source, signature),
            0,
            "{} must verify",
            case["name"]
        );
        for changed in one_char_changes(signature) {
            assert_eq!(
                verify(case, "POST", source, &changed),
                1,
                "{}: {changed} must be refused",
                case["name"]
            );
        }
        checked += 1;
    }
    for case in vectors["get_query"].as_array().unwrap() {
        let source = ("--query", case["query"].as_str().unwrap());
        let signature = case["signature"].as_str().unwrap();
        assert_eq!(
            verify(case, "GET", source, signature),
            0,
            "{} must verify",
            case["name"]
        );
        for changed in one_char_changes(signature) {
            assert_eq!(
                verify(case, "GET", source, &changed),
                1,
                "{}: {changed} must be refused",
                case["name"]
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "every vector of the reference");
}

#[test]
fn explain_shows_the_signed_string() {
    let vectors = vectors();
    let case = &vectors["post_json"][0];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.json");
    std::fs::write(&file, serde_json::to_string(&case["payload"]).unwrap()).unwrap();
    let out = run(
        &[
            "callback",
            "verify",
            "--api-key",
            "foo",
            "--url",
            "https://foo.bar/",
            "--method",
            "post",
            "--nonce",
            "1455825429",
            "--signature",
            "AAAA",
            "--body-file",
            file.to_str().unwrap(),
            "--explain",
        ],
        &[],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains(case["data"].as_str().unwrap()),
        "the signed data is shown: {out:?}"
    );
    assert!(
        out.stdout.contains(case["signature"].as_str().unwrap()),
        "and the expected signature"
    );
}

#[test]
fn an_api_key_that_starts_with_a_hyphen_is_read_as_the_key() {
    // Minted keys are base64url: one in 64 starts with `-`, which an option parser would take for
    // a flag (the service's durability test failed on exactly that now and then).
    let key = "-r4GmE0a1LkqKZ8yZt3m2t0e6d5h0b7K9s4v1w2x3y4";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.json");
    std::fs::write(&file, r#"{"uuid":"x","status":"approved"}"#).unwrap();
    let check = |signature: &str| {
        run(
            &[
                "callback",
                "verify",
                "--api-key",
                key,
                "--url",
                "https://bank.example/assent/callback",
                "--method",
                "post",
                "--nonce",
                "1455825429",
                "--signature",
                signature,
                "--body-file",
                file.to_str().unwrap(),
                "--explain",
            ],
            &[],
        )
    };
    let wrong = check("AAAA");
    assert_eq!(
        wrong.code, 1,
        "a wrong signature is refused, not a usage error: {wrong:?}"
    );
    let expected = wrong
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("expected signature: "))
        .expect("--explain names the expected signature")
        .trim()
        .to_owned();
    let right = check(&expected);
    assert_eq!(right.code, 0, "the key's own signature verifies: {right:?}");
}
