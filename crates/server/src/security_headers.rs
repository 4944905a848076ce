//! Headers every answer carries so browsers treat Confab's answers safely: no MIME sniffing, no
//! framing, no referrer leaks, no caching of API answers (they carry tokens, key secrets, card
//! codes and private data), and a Content-Security-Policy: nothing at all for the API, and for
//! `/docs` exactly what the vendored Swagger UI needs.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// API answers are data, never a page: they may load nothing and be framed by no one.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Swagger UI's index loads its scripts and styles from files beside it (no inline script:
/// the initializer is `swagger-initializer.js`), its stylesheet draws icons with `data:` SVGs,
/// it fetches `/openapi.json` and, for "Try it out", the API itself. Its React components set
/// inline styles, hence `'unsafe-inline'` for styles only; scripts stay same-origin files.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn is_docs(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// Answers whose content is private to the caller; only `/docs` assets and the public
/// document may be kept by caches.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/v1/")
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let policy = if is_docs(&path) {
        DOCS_POLICY
    } else {
        API_POLICY
    };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    // A handler that chose its own caching (event streams, immutable files) keeps it.
    if is_api(&path) && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_and_api_paths_are_told_apart() {
        assert!(is_docs("/docs/") && is_docs("/docs/swagger-ui.css") && is_docs("/docs"));
        assert!(!is_docs("/docsx") && !is_docs("/api/v1/docs"));
        assert!(is_api("/api/v1/auth/login") && is_api("/v1/chat/completions"));
        assert!(!is_api("/healthz") && !is_api("/files/1") && !is_api("/v1"));
    }
}
