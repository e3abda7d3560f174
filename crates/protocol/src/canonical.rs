//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Every signed Assent message is signed over the JCS form of its JSON value, so two
//! implementations that agree on the *value* agree on the *bytes*, whatever order or spacing their
//! JSON encoders use. The rules (RFC 8785 section 3.2):
//!
//! - no whitespace between tokens;
//! - object members sorted by their names compared as arrays of UTF-16 code units;
//! - strings escaped as ECMAScript's `JSON.stringify` does: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
//!   `\t`, other control characters as `\u00xx` (lower-case hex), everything else literal UTF-8;
//! - numbers serialised as ECMAScript's `Number.prototype.toString` does (shortest round-trip
//!   form; integers without a fraction or exponent).
//!
//! Numbers outside the IEEE-754 "safe" range (|n| > 2^53 - 1) are refused rather than silently
//! rounded: I-JSON (RFC 7493), which JCS requires, cannot carry such integers exactly, and a float
//! that large prints as one. They are refused in every spelling (`2e60` as well as
//! `2000...000`), so a value's canonical form never depends on how it was written. Assent messages
//! carry only integers within the range; this is the one departure from RFC 8785, whose example
//! includes `1E30`.

use serde::Serialize;
use serde_json::{Map, Number, Value};

/// The largest integer an IEEE-754 double represents exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a value has no canonical form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    /// An integer outside +-(2^53 - 1), which I-JSON cannot carry exactly.
    #[error("integer {0} is outside the range JSON can carry exactly (|n| <= 2^53 - 1)")]
    IntegerOutOfRange(String),
    /// The value could not be turned into JSON at all (for example a map with non-string keys).
    #[error("value cannot be represented as JSON: {0}")]
    NotJson(String),
}

/// Serialises `value` to JSON and returns its canonical (RFC 8785) bytes.
///
/// # Errors
/// [`CanonicalError::NotJson`] when serde cannot represent the value as JSON;
/// [`CanonicalError::IntegerOutOfRange`] for integers beyond 2^53 - 1 in magnitude.
pub fn to_canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    let value = serde_json::to_value(value).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
    canonicalize(&value)
}

/// Returns the canonical (RFC 8785) bytes of a JSON value.
///
/// # Errors
/// [`CanonicalError::IntegerOutOfRange`] for integers beyond 2^53 - 1 in magnitude.
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map)?,
    }
    Ok(())
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) -> Result<(), CanonicalError> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // RFC 8785 3.2.3: sort by UTF-16 code units, not by UTF-8 bytes or code points; the two
    // orders differ for characters above U+FFFF versus U+E000..U+FFFF.
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (name, member)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_value(out, member)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER {
            return Err(CanonicalError::IntegerOutOfRange(u.to_string()));
        }
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(CanonicalError::IntegerOutOfRange(i.to_string()));
        }
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        // A float beyond the safe range prints as (or like) an integer beyond it, which is refused
        // when written as one: refuse it in every spelling, so a value's canonical form never
        // depends on how it was written (found by the signed_envelope fuzz target).
        if f.abs() > MAX_SAFE_INTEGER as f64 {
            return Err(CanonicalError::IntegerOutOfRange(n.to_string()));
        }
        // serde_json never holds NaN or infinities, so the value is finite here.
        let mut buffer = ryu_js::Buffer::new();
        out.extend_from_slice(buffer.format_finite(f).as_bytes());
    } else {
        return Err(CanonicalError::NotJson(format!(
            "unrepresentable number {n}"
        )));
    }
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for ch in s.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(canonicalize(v).expect("canonicalizable")).expect("utf-8")
    }

    #[test]
    fn sorts_members_by_utf16_code_units() {
        // RFC 8785 section 3.2.3 sorting example.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let got = canon(&v);
        let names: Vec<&str> = ["\\r", "1", "\u{80}", "ö", "€", "😀", "\u{fb33}"].to_vec();
        let mut last = 0;
        for name in names {
            let at = got
                .find(&format!("\"{name}\""))
                .expect("every name is present");
            assert!(
                at >= last,
                "{name} should sort after the previous name in {got}"
            );
            last = at;
        }
    }

    #[test]
    fn rfc8785_primitive_example() {
        // RFC 8785 section 3.2.2 example input and its canonical output, without the example's
        // 1E30: Assent refuses every number beyond +-(2^53 - 1), whatever its spelling (below).
        let v: Value = serde_json::from_str(
            r#"{"numbers": [333333333.33333329, 4.50, 2e-3, 0.000000000000000000000000001],
                "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
                "literals": [null, true, false]}"#,
        )
        .unwrap();
        assert_eq!(
            canon(&v),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#,
            "the RFC's own example must canonicalize to the RFC's own output"
        );
    }

    #[test]
    fn refuses_unsafe_integers() {
        assert_eq!(
            canon(&json!(MAX_SAFE_INTEGER)),
            MAX_SAFE_INTEGER.to_string()
        );
        assert!(
            matches!(
                canonicalize(&json!(MAX_SAFE_INTEGER + 1)),
                Err(CanonicalError::IntegerOutOfRange(_))
            ),
            "2^53 must be refused, not rounded"
        );
        assert!(matches!(
            canonicalize(&json!(-(MAX_SAFE_INTEGER as i64) - 1)),
            Err(CanonicalError::IntegerOutOfRange(_))
        ));
    }

    #[test]
    fn floats_beyond_the_safe_range_are_refused_in_every_spelling() {
        // Regression: fuzz/artifacts/signed_envelope (1.1110002030002e18 canonicalized to
        // "1111000203000200000", which is then refused as an integer).
        for text in [
            "1.1110002030002e18",
            "1e21",
            "-9.1e15",
            "9007199254740993.0",
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert!(
                matches!(
                    canonicalize(&value),
                    Err(CanonicalError::IntegerOutOfRange(_))
                ),
                "{text} must be refused like the integer it prints as"
            );
        }
        assert_eq!(canon(&json!(1.5)), "1.5");
        assert_eq!(canon(&json!(9007199254740991.0)), "9007199254740991");
    }

    #[test]
    fn negative_zero_is_zero() {
        assert_eq!(canon(&json!(-0.0)), "0");
    }

    #[test]
    fn nested_structures_have_no_whitespace() {
        assert_eq!(
            canon(&json!({"b": [1, {"d": 2, "c": 3}], "a": {}})),
            r#"{"a":{},"b":[1,{"c":3,"d":2}]}"#
        );
    }
}
