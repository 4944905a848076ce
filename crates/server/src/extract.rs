//! A JSON body extractor that tells malformed JSON (`invalid_json`) from well-formed JSON of the
//! wrong shape (`invalid_body`). serde_json alone reports some shape errors (a number where an
//! enum belongs) as syntax errors, so the body is parsed in two steps.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use confab_core::Code;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Content type, size limit and syntax are checked here, with the JsonConfig's handler.
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = value.await?.into_inner();
            integral(&mut value);
            // Every body is an object; serde would also read a struct from an array.
            let Some(fields) = value.as_object() else {
                let message = format!("body: expected a JSON object, got {}", kind_of(&value));
                return Err(ApiError::new(Code::InvalidBody, message)
                    .with_param("body")
                    .into());
            };
            // From a reference: the body is not copied, and stays at hand for the error.
            match T::deserialize(&value) {
                Ok(body) => Ok(Json(body)),
                Err(err) => Err(shape_error::<T>(fields, &err).into()),
            }
        })
    }
}

/// JSON has one number type, and JSON Schema counts `2.0` as the integer 2: numbers without
/// a fraction are made integers (within the exact range of a double), so an integer field
/// takes them as the document promises. Fields of type number take integers all the same.
fn integral(value: &mut serde_json::Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        serde_json::Value::Number(number) if number.is_f64() => {
            if let Some(float) = number.as_f64()
                && float.fract() == 0.0
                && float.abs() <= EXACT
            {
                let whole = float as i64;
                *number = serde_json::Number::from(whole);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral),
        _ => {}
    }
}

/// Says which field of a well-formed body is wrong and how, in words for people: serde's own
/// message names no field for a wrong type ("expected i32") and names Rust types.
fn shape_error<T: DeserializeOwned>(
    object: &serde_json::Map<String, serde_json::Value>,
    err: &serde_json::Error,
) -> ApiError {
    let message = err.to_string();
    if let Some(field) = between(&message, "missing field `", "`") {
        return ApiError::new(
            Code::InvalidBody,
            format!("{field}: this field is required"),
        )
        .with_param(field.to_owned());
    }
    if let Some(field) = between(&message, "unknown field `", "`") {
        let known = message
            .split_once("expected ")
            .map(|(_, known)| format!("; the fields are {}", known.replace("one of ", "")))
            .unwrap_or_default();
        return ApiError::new(Code::InvalidBody, format!("{field}: unknown field{known}"))
            .with_param(field.to_owned());
    }
    let reason = reason(&message);
    // The field whose removal changes the outcome is the one serde stumbled on.
    let culprit = object.keys().find(|key| {
        let mut without = object.clone();
        without.remove(*key);
        match serde_json::from_value::<T>(serde_json::Value::Object(without)) {
            Ok(_) => true,
            Err(other) => other.to_string() != message,
        }
    });
    match culprit {
        Some(field) => {
            ApiError::new(Code::InvalidBody, format!("{field}: {reason}")).with_param(field.clone())
        }
        None => ApiError::new(Code::InvalidBody, format!("body: {reason}")),
    }
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let (_, rest) = text.split_once(start)?;
    rest.split_once(end).map(|(inside, _)| inside)
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a number with a fraction",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde's "invalid type: string \"x\", expected i32" as "expected an integer, got a string".
fn reason(message: &str) -> String {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    if let Some(variant) = between(&message, "unknown variant `", "`") {
        let allowed = message
            .split_once("expected ")
            .map(|(_, allowed)| allowed.replace("one of ", "").replace('`', ""))
            .unwrap_or_default();
        return format!("must be one of {allowed}, not {variant}");
    }
    let (got, expected) = if let Some(rest) = message.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((got, expected)) => (got_kind(got), expected),
            None => return message,
        }
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        match rest.split_once(", expected ") {
            Some((got, expected)) => (between(got, "`", "`").unwrap_or(got).to_owned(), expected),
            None => return message,
        }
    } else {
        return message;
    };
    format!("expected {}, got {got}", expected_kind(expected))
}

fn got_kind(got: &str) -> String {
    let word = got.split([' ', '`']).next().unwrap_or(got);
    match word {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a number with a fraction",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "an object",
        "null" | "unit" => "null",
        _ => return got.to_owned(),
    }
    .to_owned()
}

fn expected_kind(expected: &str) -> String {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" | "a string" => expected.to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        other if other.starts_with("struct ") || other.starts_with("a map") => {
            "an object".to_owned()
        }
        other => other.to_owned(),
    }
}

/// A query-string extractor whose errors name the parameter at fault, found the same way as
/// for bodies: the parameter whose removal changes the outcome.
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let query = req.query_string();
        std::future::ready(match web::Query::<T>::from_query(query) {
            Ok(parsed) => Ok(Query(parsed.into_inner())),
            Err(err) => Err(query_error::<T>(query, &err.to_string()).into()),
        })
    }
}

fn query_error<T: DeserializeOwned>(query: &str, message: &str) -> ApiError {
    let detail = message
        .strip_prefix("Query deserialize error: ")
        .unwrap_or(message);
    if let Some(name) = between(detail, "missing field `", "`") {
        return ApiError::new(
            Code::InvalidQuery,
            format!("{name}: this parameter is required"),
        )
        .with_param(name.to_owned());
    }
    let reason = match detail {
        "invalid digit found in string" => "expected an integer".to_owned(),
        "cannot parse integer from empty string" => "expected an integer, got nothing".to_owned(),
        "number too large to fit in target type" | "number too small to fit in target type" => {
            "the number is out of range".to_owned()
        }
        "invalid float literal" => "expected a number".to_owned(),
        "provided string was not `true` or `false`" => "expected true or false".to_owned(),
        other => reason(other),
    };
    let segments: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
    let culprit = (0..segments.len()).find(|&skip| {
        let rest: Vec<&str> = segments
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, s)| *s)
            .collect();
        match web::Query::<T>::from_query(&rest.join("&")) {
            Ok(_) => true,
            Err(other) => other.to_string() != message,
        }
    });
    let name = culprit.map(|i| segments[i].split('=').next().unwrap_or_default().to_owned());
    match name {
        Some(name) if !name.is_empty() => {
            ApiError::new(Code::InvalidQuery, format!("{name}: {reason}")).with_param(name)
        }
        _ => ApiError::new(
            Code::InvalidQuery,
            format!("invalid query parameters: {reason}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_sentences() {
        assert_eq!(
            reason("invalid type: string \"x\", expected u32 at line 1 column 3"),
            "expected a non-negative integer, got a string"
        );
        assert_eq!(
            reason("invalid type: integer `5`, expected a string"),
            "expected a string, got an integer"
        );
        assert_eq!(
            reason("invalid value: integer `-1`, expected u32"),
            "expected a non-negative integer, got -1"
        );
        assert_eq!(
            reason("unknown variant `x`, expected one of `chat`, `image`"),
            "must be one of chat, image, not x"
        );
        assert_eq!(
            reason("invalid type: sequence, expected struct NewChat"),
            "expected an object, got an array"
        );
        assert_eq!(
            reason("invalid type: floating point `1.5`, expected i32"),
            "expected an integer, got a number with a fraction"
        );
    }
}
