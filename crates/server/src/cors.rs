//! Cross-origin access for browser apps served from elsewhere: off unless
//! `server.cors_allowed_origins` names origins (or `*`). Preflights are answered for the API's
//! methods and the headers a client sends (Authorization, Content-Type); `Retry-After` and
//! `X-Request-Id` are readable by the page. No credentials: tokens travel in the Authorization
//! header, never in cookies.

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Condition;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether `value` is `*` or a bare origin: `scheme://host[:port]`, nothing after it.
pub fn is_origin(value: &str) -> bool {
    if value == "*" {
        return true;
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '*'])
        && header::HeaderValue::from_str(value).is_ok()
}

/// The CORS middleware for the configured origins (checked by the config's validation).
pub fn middleware(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
        ])
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .max_age(3600);
    if origins.iter().any(|origin| origin == "*") {
        cors = cors.allow_any_origin();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    Condition::new(!origins.is_empty(), cors)
}

#[cfg(test)]
mod tests {
    use super::is_origin;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(is_origin("https://app.example.com"));
        assert!(is_origin("http://localhost:5173"));
        assert!(is_origin("*"));
        assert!(!is_origin("app.example.com"));
        assert!(!is_origin("https://app.example.com/"));
        assert!(!is_origin("https://*.example.com"));
        assert!(!is_origin("ftp://example.com"));
    }
}
