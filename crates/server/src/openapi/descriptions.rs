//! An optional field of a named type is `oneOf: [{$ref, description}, {type: null}]` in the
//! derived document, with its doc comment inside the reference; generators show a property's
//! own description, so it is lifted onto the property.

use utoipa::openapi::{OpenApi, RefOr, Schema};

fn lift(property: &mut RefOr<Schema>) {
    let RefOr::T(Schema::OneOf(one_of)) = property else {
        return;
    };
    if one_of.description.is_some() {
        return;
    }
    one_of.description = one_of.items.iter().find_map(|item| match item {
        RefOr::Ref(reference) if !reference.description.is_empty() => {
            Some(reference.description.clone())
        }
        _ => None,
    });
}

/// Lifts the descriptions of every component's optional named-type properties.
pub fn lift_optional(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for schema in components.schemas.values_mut() {
        if let RefOr::T(Schema::Object(object)) = schema {
            object.properties.values_mut().for_each(lift);
        }
    }
}
