//! Strict JSON for JOSE headers, JWT claim sets and JWKs.
//!
//! RFC 7515 §5.2 step 4 lets a recipient either reject duplicate member names or keep the
//! last one; keeping the last one is what lets two parsers disagree about the same token
//! (one checks the first `alg`, another uses the second), so duplicates are always refused
//! here, at every depth. Nesting is capped, and only objects are accepted at the top level
//! (RFC 7515 §4, RFC 7519 §7.2 step 10).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON object whose member names are unique.
pub type Object = Map<String, Value>;

/// Nesting allowed, counting the top-level object as the first level. JOSE headers and
/// claims are shallow: a `jwk` inside a header, or `cnf.jkt`, is at level 2.
pub const MAX_DEPTH: usize = 16;

/// Why a JSON text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not valid JSON (RFC 8259), or trailing data after the value.
    #[error("not valid JSON")]
    Syntax,
    /// Valid JSON, but not an object.
    #[error("not a JSON object")]
    NotObject,
    /// An object repeats a member name (RFC 7515 §5.2, RFC 7519 §4).
    #[error("duplicate member name")]
    DuplicateMember,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested too deeply")]
    TooDeep,
}

/// Parses `bytes` as one JSON object, refusing duplicate members at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Object, JsonError> {
    // Refuse non-objects before building anything.
    let first = bytes.iter().find(|b| !b" \t\r\n".contains(b));
    if first != Some(&b'{') {
        return Err(if first.is_none() {
            JsonError::Syntax
        } else {
            JsonError::NotObject
        });
    }
    let failure = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = StrictValue {
        depth: 0,
        failure: &failure,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(JsonError::NotObject),
        Err(_) => Err(failure.get().unwrap_or(JsonError::Syntax)),
    }
}

/// A `Value` deserializer that records why it failed in `failure`, because serde's
/// errors are strings and the caller needs the typed reason.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    depth: usize,
    failure: &'a Cell<Option<JsonError>>,
}

impl StrictValue<'_> {
    fn fail<E: de::Error>(&self, reason: JsonError) -> E {
        self.failure.set(Some(reason));
        E::custom(reason)
    }

    fn nested<E: de::Error>(&self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(JsonError::TooDeep));
        }
        Ok(StrictValue {
            depth: self.depth + 1,
            failure: self.failure,
        })
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if object.contains_key(&name) {
                return Err(self.fail(JsonError::DuplicateMember));
            }
            let value = map.next_value_seed(inner)?;
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_objects() {
        let object = parse_object(br#" {"a":1,"b":{"c":[true,null,"x"]}} "#).unwrap();
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(
            parse_object(br#"{"alg":"ES256","alg":"none"}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"jwk":{"x":"a","x":"b"}}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_object(br#"{"a":[{"k":1,"k":2}]}"#),
            Err(JsonError::DuplicateMember)
        );
        // Escapes that decode to the same name are the same name.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::DuplicateMember)
        );
    }

    #[test]
    fn refuses_non_objects_trailing_data_and_depth() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotObject));
        assert_eq!(parse_object(b"\"x\""), Err(JsonError::NotObject));
        assert_eq!(parse_object(b""), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{} {}"), Err(JsonError::Syntax));
        assert_eq!(parse_object(b"{\"a\":1,}"), Err(JsonError::Syntax));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonError::TooDeep));
        let ok = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_object(ok.as_bytes()).is_ok());
    }
}
