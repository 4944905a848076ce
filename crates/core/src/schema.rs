//! Building blocks for OpenAPI schemas whose limits a derive cannot say (lists of bounded
//! strings, maps with a fixed set of keys), so the document states every limit the domain
//! checks. Used through `#[schema(schema_with = ...)]` on request fields.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, SchemaType, Type,
};
use utoipa::openapi::{Array, Object};

/// Not only blank characters (the domain trims before it checks).
pub const NOT_BLANK: &str = r"\S";

/// A string of `min..=max` characters; `pattern` when the characters are restricted too.
pub fn text(min: usize, max: usize, pattern: Option<&str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(pattern)
        .build()
}

fn kind(base: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([base, Type::Null])
    } else {
        SchemaType::from(base)
    }
}

/// A list of `min..=max` items, each `item`; `null` allowed when `nullable`.
pub fn list(item: Object, min: usize, max: usize, nullable: bool, description: &str) -> Array {
    ArrayBuilder::new()
        .description(Some(description))
        .schema_type(kind(Type::Array, nullable))
        .items(item)
        .min_items(Some(min))
        .max_items(Some(max))
        .build()
}

/// An object whose keys are among `keys` and whose values are each `value`.
pub fn map(keys: &[&str], value: Object, nullable: bool, description: &str) -> Object {
    ObjectBuilder::new()
        .description(Some(description))
        .schema_type(kind(Type::Object, nullable))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(keys.iter().copied())),
        ))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .build()
}

/// A string that is always `value` (OpenAI's `object` fields and the like), as a one-value enum.
pub fn constant(value: &str, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
        .description(Some(description))
        .build()
}

/// A string from a fixed set.
pub fn one_of(values: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}
