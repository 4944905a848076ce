//! Extractors for who is calling: [`Caller`] (a signed-in session), [`Consumer`] (a session or
//! an API key, for the routes keys may use), [`Admin`] (role admin) and [`Client`] (address and
//! user agent).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use confab_core::Code;
use confab_keys::api_keys::{self, Day, KeyGrant};
use confab_users::sessions::Principal;
use confab_users::{ClientInfo, Role, UsersError};

use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in caller of a request (an access token, never an API key).
pub struct Caller(pub Principal);

/// Who calls a route API keys may use (`/v1`, chats, images): a signed-in user, or a key with
/// its grant (allowed models, chat binding) already checked and the request counted.
pub struct Consumer {
    pub user_id: i64,
    pub key: Option<Arc<KeyGrant>>,
}

impl Consumer {
    /// Who a relayed request's usage record and charge belong to.
    pub fn usage(&self) -> confab_chats::completions::Caller {
        confab_chats::completions::Caller {
            user_id: self.user_id,
            key: self.key.clone(),
        }
    }

    /// Refuses a key bound to a chat on a route outside that chat.
    pub fn unbound(&self) -> Result<(), ApiError> {
        match self.key.as_ref().and_then(|key| key.chat_id) {
            Some(chat_id) => Err(ApiError::new(
                Code::ChatNotAllowed,
                format!("this API key may only be used in chat {chat_id}"),
            )),
            None => Ok(()),
        }
    }

    /// Refuses a key bound to another chat than `chat_id`.
    pub fn in_chat(&self, chat_id: i64) -> Result<(), ApiError> {
        match self.key.as_ref().and_then(|key| key.chat_id) {
            Some(bound) if bound != chat_id => Err(ApiError::new(
                Code::ChatNotAllowed,
                format!("this API key may only be used in chat {bound}"),
            )),
            _ => Ok(()),
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
    if api_keys::is_api_key(&token) {
        return Err(ApiError::new(
            Code::ApiKeyNotAllowed,
            "API keys work on /v1, chat and image routes; sign in to manage keys, the account or the site",
        ));
    }
    Ok(state.accounts.authenticate(&state.db, &token).await?)
}

async fn consume(req: HttpRequest) -> Result<Consumer, ApiError> {
    let state = state(&req)?;
    let token = bearer_token(&req)?;
    if !api_keys::is_api_key(&token) {
        let principal = state.accounts.authenticate(&state.db, &token).await?;
        return Ok(Consumer {
            user_id: principal.user.id,
            key: None,
        });
    }
    let now = chrono::Utc::now();
    let site = state.accounts.site_settings(&state.db).await?;
    let ip = client_info(&req)
        .ip
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    let day = day_in(site.tz(), now);
    let grant = state
        .api_keys
        .authenticate(&state.db, &token, ip, &day, now)
        .await?;
    Ok(Consumer {
        user_id: grant.user_id,
        key: Some(Arc::new(grant)),
    })
}

/// The calendar day `now` falls on in the site's time zone, and how long it has left.
pub fn day_in(tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> Day {
    let local = now.with_timezone(&tz);
    let date = local.date_naive();
    let seconds_left = date
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .and_then(|midnight| midnight.and_local_timezone(tz).earliest())
        .map_or(86_400, |midnight| {
            u64::try_from((midnight.with_timezone(&chrono::Utc) - now).num_seconds()).unwrap_or(1)
        });
    Day {
        date: date.format("%Y-%m-%d").to_string(),
        seconds_left,
    }
}

impl FromRequest for Consumer {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(consume(req))
    }
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
