//! Server-sent events in the document: a `text/event-stream` answer's schema describes one
//! event (its `event` name and its `data`, a line of JSON), as OpenAPI before 3.2 reads it.
//! Routes name the JSON of their events' `data`; this wraps it in the event's own shape. OpenAI's
//! streams (`/v1`) end with `data: [DONE]`.

use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, RefOr, Schema};

const EVENT_STREAM: &str = "text/event-stream";

/// The `data` of one event: a line of JSON; on OpenAI's streams also the closing `[DONE]`.
fn data_of(json: RefOr<Schema>, openai: bool) -> RefOr<Schema> {
    let line = ObjectBuilder::new()
        .schema_type(Type::String)
        .content_media_type("application/json")
        .content_schema(Some(json));
    if !openai {
        return line.into();
    }
    let done = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["[DONE]"]))
        .description(Some("The last event of the stream."));
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(done)
        .item(line)
        .into()
}

fn event_of(data: RefOr<Schema>, openai: bool) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "One server-sent event: `data` is a line of JSON of the schema given by `contentSchema`.",
        ))
        .property(
            "event",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The event's name, on streams that name their events.")),
        )
        .property("data", data_of(data, openai))
        .required("data")
        .into()
}

/// Wraps the schema of every event-stream answer in the event's shape.
pub fn wrap(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        let openai = path.starts_with("/v1/");
        let operations = [&mut item.get, &mut item.post];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                let Some(RefOr::T(content)) = response.content.get_mut(EVENT_STREAM) else {
                    continue;
                };
                if let Some(data) = content.schema.take() {
                    content.schema = Some(event_of(data, openai));
                }
            }
        }
    }
}
