//! Extractors for who is calling: [`Caller`] (any live session), [`Admin`] (role admin) and
//! [`Client`] (address and user agent).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use confab_core::Code;
use confab_users::sessions::Principal;
use confab_users::{ClientInfo, Role, UsersError};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl Caller {
    /// Who a relayed request's usage record and charge belong to.
    pub fn usage(&self) -> confab_chats::completions::Caller {
        confab_chats::completions::Caller {
            user_id: self.0.user.id,
            api_key_id: None,
        }
    }
}

/// An authenticated caller whose role is admin now (checked against the database).
pub struct Admin(pub Principal);

/// Where the request came from.
pub struct Client(pub ClientInfo);

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::new(Code::Internal, "internal server error"))
}

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(UsersError::MissingToken)?
        .to_str()
        .map_err(|_| UsersError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(UsersError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(UsersError::InvalidToken.into());
    }
    Ok(token.trim().to_owned())
}

async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let state = state(&req)?;
    let token = bearer_token(&req)?;
    Ok(state.accounts.authenticate(&state.db, &token).await?)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Caller) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(req).await?;
            if principal.user.role != Role::Admin {
                return Err(ApiError::new(Code::Forbidden, "this route is for admins"));
            }
            Ok(Admin(principal))
        })
    }
}

impl FromRequest for Client {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Client(client_info(req))))
    }
}

fn client_info(req: &HttpRequest) -> ClientInfo {
    let trust_forwarded = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.trust_forwarded_for);
    // Only a proxy we trust may tell us the client's address; otherwise a client could pick
    // its own and escape per-IP limits.
    let forwarded = trust_forwarded
        .then(|| req.headers().get("x-forwarded-for"))
        .flatten()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(|first| first.trim().parse::<IpAddr>().ok());
    let ip = forwarded.or_else(|| req.peer_addr().map(|addr| addr.ip()));
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    ClientInfo {
        ip: ip.map(|ip| ip.to_string()),
        user_agent,
    }
}
