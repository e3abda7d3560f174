use assent_protocol::canonical::canonicalize;

#[test]
fn project_canonical_vectors() {
    let vectors = crate::vectors("assent.json");
    let cases = vectors["canonical"].as_array().expect("canonical cases");
    assert!(!cases.is_empty());
    for case in cases {
        let input: serde_json::Value =
            serde_json::from_str(case["input"].as_str().unwrap()).unwrap();
        let got = hex::encode(canonicalize(&input).unwrap());
        assert_eq!(
            got,
            case["canonical_hex"].as_str().unwrap(),
            "canonical bytes of {}",
            case["input"]
        );
    }
}
