//! Backend API parameters in every encoding Authy's client libraries use, merged into one JSON
//! object: a JSON body (Python), a form body with `a[b]` and `a[0][c]` keys (npm), Rack-style
//! `a[][c]` keys where a repeated key starts a new element (Ruby), and parameters in the query
//! string of a POST (PHP). Query parameters come first; body parameters override them.
//!
//! Form values are strings; typed readers accept a string wherever a number or boolean is expected,
//! and an object with numeric keys wherever a list is expected. `null` and missing are the same.
//!
//! Everything here reads untrusted input before any credential is checked, so every cost is
//! bounded: keys nest at most [`MAX_KEY_DEPTH`] levels (Rack's `param_depth_limit`), a call carries
//! at most [`MAX_PAIRS`] form pairs, and JSON bodies nest at most 128 levels (serde_json's own
//! limit). Building, reading and dropping the merged
//! value recurse at most that deep.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::error::{ErrorBody, ErrorCode};

/// Deepest nesting of a form key (`a[b][c]` nests 3 levels). Rack's default is 32 too.
pub const MAX_KEY_DEPTH: usize = 32;
/// Most `key=value` pairs in one query string or form body.
pub const MAX_PAIRS: usize = 1024;

/// Why parameters were refused: a stable code (60002 for an unreadable call, 60004 for a bad
/// parameter), a message for a person, and the parameter at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamsError {
    /// The stable code.
    pub code: ErrorCode,
    /// What is wrong, for a person.
    pub message: Cow<'static, str>,
    /// The parameter at fault.
    pub field: Option<String>,
}

impl ParamsError {
    fn unreadable(message: impl Into<Cow<'static, str>>) -> Self {
        ParamsError {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
            field: None,
        }
    }

    fn param(name: &str, message: impl Into<Cow<'static, str>>) -> Self {
        ParamsError {
            code: ErrorCode::InvalidParameter,
            message: message.into(),
            field: Some(name.to_owned()),
        }
    }

    /// The error body this refusal is answered with.
    pub fn to_body(&self) -> ErrorBody {
        let body = ErrorBody::new(self.code, self.message.clone());
        match &self.field {
            Some(name) => body.with_field(name.clone(), "is invalid"),
            None => body,
        }
    }
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ParamsError {}

/// The merged parameters of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Map<String, Value>);

/// Splits `a[b][][c]` into `["a", "b", "", "c"]`; `Ok(None)` when the brackets are unbalanced
/// (the key is then taken literally, as Rack does).
///
/// # Errors
/// 60002 when the key nests deeper than [`MAX_KEY_DEPTH`].
fn key_path(key: &str) -> Result<Option<Vec<&str>>, ParamsError> {
    let Some(open) = key.find('[') else {
        return Ok(Some(vec![key]));
    };
    if open == 0 {
        return Ok(None);
    }
    let mut path = vec![&key[..open]];
    let mut rest = &key[open..];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Ok(None);
        };
        let Some(close) = inner.find(']') else {
            return Ok(None);
        };
        if path.len() >= MAX_KEY_DEPTH {
            return Err(ParamsError::unreadable(format!(
                "A parameter name nests deeper than {MAX_KEY_DEPTH} levels."
            )));
        }
        path.push(&inner[..close]);
        rest = &inner[close + 1..];
    }
    Ok(Some(path))
}

/// Sets `path` under `node`. Recursion depth is the path length, at most [`MAX_KEY_DEPTH`].
fn insert_path(node: &mut Value, path: &[&str], value: Value) {
    let Some((head, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    if head.is_empty() {
        // `a[]...`: an array. `a[]=v` appends; `a[][k]=v` sets `k` on the last element unless it
        // already has `k` (then a new element starts), which is Rack's rule.
        if !node.is_array() {
            *node = Value::Array(Vec::new());
        }
        let items = node.as_array_mut().expect("just made an array");
        match rest.first() {
            None => items.push(value),
            Some(next) => {
                let reuse = items
                    .last()
                    .is_some_and(|last| last.as_object().is_some_and(|o| !o.contains_key(*next)));
                if !reuse {
                    items.push(Value::Object(Map::new()));
                }
                insert_path(items.last_mut().expect("non-empty"), rest, value);
            }
        }
        return;
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("just made an object");
    let child = map.entry(head.to_string()).or_insert(Value::Null);
    insert_path(child, rest, value);
}

impl Params {
    /// Parses and merges the query string and the body.
    ///
    /// # Errors
    /// 60002 for a body that does not parse as its content type says, a JSON body that is not
    /// an object, a key nested deeper than [`MAX_KEY_DEPTH`], or more than [`MAX_PAIRS`] pairs.
    pub fn parse(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Params, ParamsError> {
        let mut params = Params::default();
        // One budget for the query and the body together.
        let mut pairs = 0;
        if let Some(query) = query {
            params.merge_form(query.as_bytes(), &mut pairs)?;
        }
        let mime = content_type.map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        let looks_json = body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
        let is_json = match mime.as_deref() {
            Some(m) => {
                m == "application/json" || m.ends_with("+json") || (m == "text/plain" && looks_json)
            }
            None => looks_json,
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(params);
        }
        if is_json {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                ParamsError::unreadable(format!("The request body is not valid JSON: {e}"))
            })?;
            let Value::Object(map) = value else {
                return Err(ParamsError::unreadable(
                    "The JSON request body must be an object.",
                ));
            };
            params.0.extend(map);
        } else {
            match mime.as_deref() {
                None | Some("application/x-www-form-urlencoded") | Some("text/plain") => {
                    params.merge_form(body, &mut pairs)?;
                }
                Some(other) => {
                    return Err(ParamsError::unreadable(format!(
                        "Unsupported content type {other}: send JSON or application/x-www-form-urlencoded."
                    )));
                }
            }
        }
        Ok(params)
    }

    fn merge_form(&mut self, form: &[u8], pairs: &mut usize) -> Result<(), ParamsError> {
        let mut root = Value::Object(std::mem::take(&mut self.0));
        for (key, value) in form_urlencoded::parse(form) {
            *pairs += 1;
            if *pairs > MAX_PAIRS {
                return Err(ParamsError::unreadable(format!(
                    "A call may carry at most {MAX_PAIRS} parameters."
                )));
            }
            if key.is_empty() {
                // `=v` or `&&`: a value without a name, ignored as Rack does. (Taken as a path it
                // would turn the root into a list; found by the backend_params fuzz target.)
                continue;
            }
            let value = Value::String(value.into_owned());
            match key_path(&key)? {
                Some(path) => insert_path(&mut root, &path, value),
                None => insert_path(&mut root, &[key.as_ref()], value),
            }
        }
        self.0 = match root {
            Value::Object(map) => map,
            _ => unreachable!("the root stays an object"),
        };
        Ok(())
    }

    /// The raw value of `name`, `None` when missing or `null`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string (numbers are accepted and written in decimal).
    ///
    /// # Errors
    /// 60004 when the value is an object, list or boolean.
    pub fn string(&self, name: &str) -> Result<Option<String>, ParamsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => scalar_string(v)
                .map(Some)
                .ok_or_else(|| ParamsError::param(name, format!("`{name}` must be a string."))),
        }
    }

    /// A non-negative integer (strings of digits accepted).
    ///
    /// # Errors
    /// 60004 when the value is not a non-negative integer.
    pub fn unsigned(&self, name: &str) -> Result<Option<u64>, ParamsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(v) => as_unsigned(v).map(Some).ok_or_else(|| {
                ParamsError::param(name, format!("`{name}` must be a non-negative integer."))
            }),
        }
    }

    /// A boolean (`true`/`false`, `1`/`0`, as JSON or strings).
    ///
    /// # Errors
    /// 60004 otherwise.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ParamsError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => match scalar_string(v)
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
                Some("false" | "0" | "no" | "off" | "") => Ok(Some(false)),
                _ => Err(ParamsError::param(
                    name,
                    format!("`{name}` must be true or false."),
                )),
            },
        }
    }

    /// An object (empty when missing).
    ///
    /// # Errors
    /// 60004 when the value is not an object.
    pub fn object(&self, name: &str) -> Result<Map<String, Value>, ParamsError> {
        match self.get(name) {
            None => Ok(Map::new()),
            Some(Value::Object(map)) => Ok(map.clone()),
            Some(Value::Array(items)) if items.is_empty() => Ok(Map::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Map::new()),
            Some(_) => Err(ParamsError::param(
                name,
                format!("`{name}` must be an object of names to values."),
            )),
        }
    }

    /// A list: a JSON array, an object with numeric keys (`a[0]=..&a[1]=..`, in index order), or
    /// for lists of scalars a comma-separated string. Empty when missing.
    ///
    /// # Errors
    /// 60004 for anything else.
    pub fn list(&self, name: &str) -> Result<Vec<Value>, ParamsError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(Value::Object(map)) => {
                let mut indexed = Vec::with_capacity(map.len());
                for (k, v) in map {
                    let i: usize = k.parse().map_err(|_| {
                        ParamsError::param(name, format!("`{name}` must be a list."))
                    })?;
                    indexed.push((i, v.clone()));
                }
                indexed.sort_by_key(|(i, _)| *i);
                Ok(indexed.into_iter().map(|(_, v)| v).collect())
            }
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| Value::String(p.trim().to_owned()))
                .collect()),
            Some(_) => Err(ParamsError::param(
                name,
                format!("`{name}` must be a list."),
            )),
        }
    }

    /// The object nested under `name`, as parameters of their own.
    ///
    /// # Errors
    /// As [`Params::object`].
    pub fn nested(&self, name: &str) -> Result<Params, ParamsError> {
        self.object(name).map(Params)
    }
}

/// A string from a string or a number; `None` for objects, lists and booleans.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-negative integer from a JSON integer or a string of digits.
pub fn as_unsigned(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(body: &str) -> Params {
        Params::parse(
            None,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn npm_indexed_form() {
        let p = form(
            "message=Login%20requested&details%5BEmail%5D=a%40b.c&logos%5B0%5D%5Bres%5D=default&logos%5B0%5D%5Burl%5D=https%3A%2F%2Fx&logos%5B1%5D%5Bres%5D=low&logos%5B1%5D%5Burl%5D=https%3A%2F%2Fy",
        );
        assert_eq!(
            p.string("message").unwrap().as_deref(),
            Some("Login requested")
        );
        assert_eq!(
            p.object("details").unwrap(),
            json!({"Email": "a@b.c"}).as_object().unwrap().clone()
        );
        assert_eq!(
            p.list("logos").unwrap(),
            vec![
                json!({"res": "default", "url": "https://x"}),
                json!({"res": "low", "url": "https://y"})
            ]
        );
    }

    #[test]
    fn ruby_rack_arrays_start_a_new_element_on_a_repeated_key() {
        let p = form(
            "message=Hi+there&logos%5B%5D%5Bres%5D=default&logos%5B%5D%5Burl%5D=https%3A%2F%2Fx&logos%5B%5D%5Bres%5D=low&logos%5B%5D%5Burl%5D=https%3A%2F%2Fy",
        );
        assert_eq!(
            p.string("message").unwrap().as_deref(),
            Some("Hi there"),
            "+ is a space in forms"
        );
        assert_eq!(
            p.list("logos").unwrap(),
            vec![
                json!({"res": "default", "url": "https://x"}),
                json!({"res": "low", "url": "https://y"})
            ]
        );
    }

    #[test]
    fn php_params_in_the_query_of_a_post_merge_with_the_body() {
        let p = Params::parse(
            Some("message=from+query&details[k]=v&seconds_to_expire=120"),
            None,
            b"",
        )
        .unwrap();
        assert_eq!(p.string("message").unwrap().as_deref(), Some("from query"));
        assert_eq!(p.unsigned("seconds_to_expire").unwrap(), Some(120));
        let p = Params::parse(
            Some("message=q"),
            Some("application/json"),
            br#"{"message":"b"}"#,
        )
        .unwrap();
        assert_eq!(
            p.string("message").unwrap().as_deref(),
            Some("b"),
            "the body overrides the query"
        );
    }

    #[test]
    fn python_json_with_nulls() {
        let p = Params::parse(
            None,
            Some("application/json"),
            br#"{"message": "m", "seconds_to_expire": null, "details": {}, "hidden_details": {}, "logos": []}"#,
        )
        .unwrap();
        assert_eq!(
            p.unsigned("seconds_to_expire").unwrap(),
            None,
            "null is missing"
        );
        assert!(p.object("details").unwrap().is_empty());
        assert!(p.list("logos").unwrap().is_empty());
    }

    #[test]
    fn scalar_lists_and_booleans() {
        let p = form("approvers%5B%5D=2&approvers%5B%5D=3&number_matching=true&quorum=2");
        assert_eq!(p.list("approvers").unwrap(), vec![json!("2"), json!("3")]);
        assert_eq!(p.boolean("number_matching").unwrap(), Some(true));
        let p = form("approvers=2,3");
        assert_eq!(p.list("approvers").unwrap(), vec![json!("2"), json!("3")]);
    }

    #[test]
    fn malformed_bodies_are_refused_with_60002() {
        use crate::error::ErrorCode;
        let e = Params::parse(None, Some("application/json"), b"{not json").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = Params::parse(None, Some("application/json"), b"[1,2]").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = Params::parse(None, Some("multipart/form-data; boundary=x"), b"--x").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn wrong_types_are_refused_with_60004() {
        let p = Params::parse(
            None,
            Some("application/json"),
            br#"{"message": {"a": 1}, "quorum": -1, "logos": 5}"#,
        )
        .unwrap();
        assert!(p.string("message").is_err());
        assert!(p.unsigned("quorum").is_err());
        assert!(p.list("logos").is_err());
    }

    #[test]
    fn unbalanced_brackets_are_literal_keys() {
        let p = form("a%5Bb=1&%5Bc%5D=2");
        assert_eq!(p.string("a[b").unwrap().as_deref(), Some("1"));
        assert_eq!(p.string("[c]").unwrap().as_deref(), Some("2"));
    }

    #[test]
    fn deep_keys_are_refused_with_60002_at_any_depth_past_the_limit() {
        let at_limit = format!("a{}=1", "[]".repeat(MAX_KEY_DEPTH - 1));
        assert!(
            Params::parse(None, None, at_limit.as_bytes()).is_ok(),
            "a key nesting exactly {MAX_KEY_DEPTH} levels is accepted"
        );
        for depth in [MAX_KEY_DEPTH, MAX_KEY_DEPTH + 1, 2_000, 100_000] {
            for shape in ["[]", "[x]", "[0]"] {
                let key = format!("a{}", shape.repeat(depth));
                let e = Params::parse(None, None, format!("{key}=1").as_bytes())
                    .expect_err("a key nested past the limit must be refused");
                assert_eq!(e.code, ErrorCode::InvalidRequest, "depth {depth} {shape}");
                let e = Params::parse(Some(&format!("{key}=1")), None, b"")
                    .expect_err("the same key in the query string must be refused");
                assert_eq!(
                    e.code,
                    ErrorCode::InvalidRequest,
                    "query, depth {depth} {shape}"
                );
            }
        }
    }

    #[test]
    fn too_many_pairs_are_refused_with_60002() {
        let body = "a=1&".repeat(MAX_PAIRS + 1);
        let e = Params::parse(None, None, body.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let body = "a=1&".repeat(MAX_PAIRS);
        assert!(Params::parse(None, None, body.as_bytes()).is_ok());
        let half = "a=1&".repeat(MAX_PAIRS / 2 + 1);
        let e = Params::parse(Some(&half), None, half.as_bytes()).unwrap_err();
        assert_eq!(
            e.code,
            ErrorCode::InvalidRequest,
            "the query and the body share one budget"
        );
    }

    #[test]
    fn deep_json_is_refused_not_overflowed() {
        let body = format!("{{\"a\":{}1{}}}", "[".repeat(50_000), "]".repeat(50_000));
        let e = Params::parse(None, Some("application/json"), body.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_parameter_without_a_name_is_ignored() {
        // Regression: fuzz/artifacts/backend_params/crash-1b87925314a63bac9450035b5ba521d701a8055f
        let p = Params::parse(Some("message=from+qls[vaipk]&=_key=k"), None, b"").unwrap();
        assert_eq!(
            p.string("message").unwrap().as_deref(),
            Some("from qls[vaipk]")
        );
        for form in ["=1", "&&", "=", "=a&message=m", "a=1&=&b=2"] {
            assert!(
                Params::parse(Some(form), None, form.as_bytes()).is_ok(),
                "{form:?} must parse without a panic"
            );
        }
    }
}
