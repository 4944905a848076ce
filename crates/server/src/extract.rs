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
            let value = value.await?.into_inner();
            serde_json::from_value(value).map(Json).map_err(|err| {
                ApiError::new(Code::InvalidBody, format!("invalid request body: {err}")).into()
            })
        })
    }
}
