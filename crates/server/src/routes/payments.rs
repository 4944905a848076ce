//! Buying: the products on sale, the channels to pay through, a user's orders, and the gateways'
//! notifies (`/api/v1/payments/{channel_id}/notify`, GET or POST as each gateway sends them).

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use confab_core::PageRequest;
use confab_payments::channels::{self, PublicChannel};
use confab_payments::gateways::Notify;
use confab_payments::orders::{self, Checkout, NewOrder, Order};
use confab_payments::products::{self, Product};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Caller, Client};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::chats::PageQuery;
use crate::routes::views::page_schema;
use crate::state::AppState;

page_schema!(
    /// A page of orders.
    OrderPage,
    Order
);

/// The products on sale, in display order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    /// The products on sale, in sort order.
    pub items: Vec<Product>,
}

/// The payment channels a client may offer, in display order.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentChannelList {
    /// The enabled channels, in sort order.
    pub items: Vec<PublicChannel>,
}

/// What is on sale.
#[utoipa::path(get, path = "/api/v1/products", tag = "payments", operation_id = "listProducts",
    responses((status = 200, description = "Products on sale", body = ProductList)))]
pub async fn list_products(state: web::Data<AppState>) -> Result<web::Json<ProductList>, ApiError> {
    Ok(web::Json(ProductList {
        items: products::on_sale(&state.db).await?,
    }))
}

/// The enabled payment channels and the pay types each takes.
#[utoipa::path(get, path = "/api/v1/payment-channels", tag = "payments",
    operation_id = "listPaymentChannels",
    responses((status = 200, description = "Enabled channels", body = PaymentChannelList)))]
pub async fn list_channels(
    state: web::Data<AppState>,
) -> Result<web::Json<PaymentChannelList>, ApiError> {
    Ok(web::Json(PaymentChannelList {
        items: channels::public(&state.db).await?,
    }))
}

/// Order a product: the payment is started at the gateway, and the answer carries what to show
/// (a QR code's content or a pay URL) and when the order expires. Poll `GET /api/v1/orders/{id}`
/// for its status.
#[utoipa::path(post, path = "/api/v1/orders", tag = "payments", operation_id = "createOrder",
    security(("bearer" = [])), request_body = NewOrder, responses(
        (status = 201, description = "Created, pending payment", body = Order),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such product or channel", body = ErrorBody),
        (status = 409, description = "`product_unavailable`, `channel_unavailable`, `purchase_limit_reached`, `conflict` (a higher tier is active)", body = ErrorBody),
        (status = 502, description = "`payment_gateway_error`: the gateway failed; the order is kept as expired (its units released)", body = ErrorBody)))]
pub async fn create_order(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    Client(client): Client,
    body: Json<NewOrder>,
) -> Result<HttpResponse, ApiError> {
    let checkout = Checkout {
        user_id: principal.user.id,
        client_ip: client.ip,
    };
    let order = state
        .payments
        .create_order(&state.db, &checkout, body.into_inner(), Utc::now())
        .await?;
    Ok(HttpResponse::Created().json(order))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "payments", operation_id = "listOrders",
    security(("bearer" = [])), params(PageQuery),
    responses((status = 200, description = "A page of orders", body = OrderPage)))]
pub async fn list_orders(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    query: Query<PageQuery>,
) -> Result<web::Json<OrderPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = orders::list_own(&state.db, principal.user.id, page).await?;
    Ok(web::Json(page.into()))
}

/// One of the caller's orders (anyone else's is `not_found`).
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "payments", operation_id = "getOrder",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 200, description = "The order", body = Order),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get_order(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Order>, ApiError> {
    Ok(web::Json(
        orders::get_own(&state.db, principal.user.id, id.into_inner()).await?,
    ))
}

/// Give up on a pending order: it is closed at the gateway and here. A payment that still
/// arrives is honoured.
#[utoipa::path(post, path = "/api/v1/orders/{id}/close", tag = "payments", operation_id = "closeOrder",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 200, description = "Closed", body = Order),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_pending`", body = ErrorBody),
        (status = 502, description = "`payment_gateway_error`: the gateway could not close it; it stays pending", body = ErrorBody)))]
pub async fn close_order(
    state: web::Data<AppState>,
    Caller(principal): Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Order>, ApiError> {
    let order = state
        .payments
        .close_order(&state.db, principal.user.id, id.into_inner(), Utc::now())
        .await?;
    Ok(web::Json(order))
}

/// A gateway's asynchronous notify (Alipay, Epay, WeChat Pay, Stripe webhooks). Checked with
/// this channel's secrets only; answered in the gateway's own words (`success`, WeChat's JSON,
/// Stripe's 200), the success answer only after the order is paid and fulfilled.
#[utoipa::path(post, path = "/api/v1/payments/{channel_id}/notify", tag = "payments",
    operation_id = "paymentNotify", params(("channel_id" = i64, Path,)),
    request_body(content = String, description = "As the gateway sends it: a form, JSON, or nothing (GET)"),
    responses(
        (status = 200, description = "Accepted, in the gateway's format (`success` as text, or the JSON the gateway expects)",
            content((String = "text/plain"), (Object = "application/json"))),
        (status = 400, description = "Refused, in the gateway's format (its failure answer)",
            content((String = "text/plain"), (Object = "application/json"))),
        (status = 404, description = "`not_found`: no such channel",
            content((ErrorBody = "application/json"), (String = "text/plain")))))]
pub async fn notify(
    state: web::Data<AppState>,
    req: HttpRequest,
    channel_id: web::Path<i64>,
    body: web::Bytes,
) -> HttpResponse {
    let notify = Notify {
        method: req.method().as_str().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                value
                    .to_str()
                    .ok()
                    .map(|value| (name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    };
    let reply = state
        .payments
        .notify(&state.db, channel_id.into_inner(), &notify, Utc::now())
        .await;
    let status = actix_web::http::StatusCode::from_u16(reply.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(reply.content_type)
        .body(reply.body)
}

/// The same notify sent as a GET with the parameters in the query (Epay does this).
#[utoipa::path(get, path = "/api/v1/payments/{channel_id}/notify", tag = "payments",
    operation_id = "paymentNotifyGet", params(("channel_id" = i64, Path,)), responses(
        (status = 200, description = "Accepted, in the gateway's format (`success` as text, or the JSON the gateway expects)",
            content((String = "text/plain"), (Object = "application/json"))),
        (status = 400, description = "Refused, in the gateway's format (its failure answer)",
            content((String = "text/plain"), (Object = "application/json"))),
        (status = 404, description = "`not_found`: no such channel",
            content((ErrorBody = "application/json"), (String = "text/plain")))))]
pub async fn notify_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    channel_id: web::Path<i64>,
) -> HttpResponse {
    notify(state, req, channel_id, web::Bytes::new()).await
}
