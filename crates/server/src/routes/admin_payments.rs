//! The admin's side of payments: products, payment channels (secrets write-only) and orders.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use confab_core::PageRequest;
use confab_payments::channels::{self, Channel, ChannelPatch, NewChannel};
use confab_payments::orders::{self, AdminOrder, OrderFilter};
use confab_payments::products::{self, NewProduct, Product, ProductPatch};
use confab_payments::refunds::{NewRefund, RefundAsk, Refunded};
use confab_store::entity::payment_order::OrderStatus;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Json, Query};
use crate::routes::chats::PageQuery;
use crate::routes::views::page_schema;
use crate::state::AppState;

page_schema!(
    /// A page of products.
    ProductPage,
    Product
);
page_schema!(
    /// A page of payment channels.
    ChannelPage,
    Channel
);
page_schema!(
    /// A page of orders, as admins see them.
    AdminOrderPage,
    AdminOrder
);

/// Which orders to list or export (the list is paged with [`PageQuery`] beside it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminOrdersQuery {
    /// Only this user's orders.
    pub user_id: Option<i64>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only orders through this channel.
    pub channel_id: Option<i64>,
    /// Made at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Made before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

impl AdminOrdersQuery {
    fn filter(&self) -> OrderFilter {
        OrderFilter {
            user_id: self.user_id,
            status: self.status,
            channel_id: self.channel_id,
            from: self.from,
            to: self.to,
        }
    }
}

/// Every product, on sale or not.
#[utoipa::path(get, path = "/api/v1/admin/products", tag = "admin", operation_id = "adminListProducts",
    security(("bearer" = [])), params(PageQuery), responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_products(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<PageQuery>,
) -> Result<web::Json<ProductPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    Ok(web::Json(products::list(&state.db, page).await?.into()))
}

/// Create a product.
#[utoipa::path(post, path = "/api/v1/admin/products", tag = "admin", operation_id = "adminCreateProduct",
    security(("bearer" = [])), request_body = NewProduct, responses(
        (status = 201, description = "Created", body = Product),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn create_product(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Json<NewProduct>,
) -> Result<HttpResponse, ApiError> {
    let product = products::create(&state.db, body.into_inner(), Utc::now()).await?;
    Ok(HttpResponse::Created().json(product))
}

/// One product.
#[utoipa::path(get, path = "/api/v1/admin/products/{id}", tag = "admin", operation_id = "adminGetProduct",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 200, description = "The product", body = Product),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get_product(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<Product>, ApiError> {
    Ok(web::Json(products::get(&state.db, id.into_inner()).await?))
}

/// Change a product. Orders already made keep the product as it was.
#[utoipa::path(patch, path = "/api/v1/admin/products/{id}", tag = "admin", operation_id = "adminUpdateProduct",
    security(("bearer" = [])), params(("id" = i64, Path,)), request_body = ProductPatch, responses(
        (status = 200, description = "Changed", body = Product),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn update_product(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    body: Json<ProductPatch>,
) -> Result<web::Json<Product>, ApiError> {
    let product =
        products::update(&state.db, id.into_inner(), body.into_inner(), Utc::now()).await?;
    Ok(web::Json(product))
}

/// Delete a product: it leaves every list and cannot be ordered; its orders keep their snapshot.
#[utoipa::path(delete, path = "/api/v1/admin/products/{id}", tag = "admin", operation_id = "adminDeleteProduct",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn delete_product(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    products::delete(&state.db, id.into_inner(), Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every payment channel; secrets appear only as the names of the fields that are set.
#[utoipa::path(get, path = "/api/v1/admin/payment-channels", tag = "admin",
    operation_id = "adminListPaymentChannels", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of channels", body = ChannelPage),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_channels(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<PageQuery>,
) -> Result<web::Json<ChannelPage>, ApiError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let page = channels::list(&state.db, state.payments.secret_box(), page).await?;
    Ok(web::Json(page.into()))
}

/// Add a payment channel; its secrets are encrypted at rest and never shown again.
#[utoipa::path(post, path = "/api/v1/admin/payment-channels", tag = "admin",
    operation_id = "adminCreatePaymentChannel", security(("bearer" = [])), request_body = NewChannel,
    responses(
        (status = 201, description = "Created", body = Channel),
        (status = 400, description = "`invalid_request`: a missing or bad setting or secret (see `param`)", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody),
        (status = 409, description = "`channel_unavailable`: an enabled channel needs `server.public_url`", body = ErrorBody)))]
pub async fn create_channel(
    state: web::Data<AppState>,
    _admin: Admin,
    body: Json<NewChannel>,
) -> Result<HttpResponse, ApiError> {
    let channel = state
        .payments
        .create_channel(&state.db, body.into_inner(), Utc::now())
        .await?;
    Ok(HttpResponse::Created().json(channel))
}

/// One payment channel.
#[utoipa::path(get, path = "/api/v1/admin/payment-channels/{id}", tag = "admin",
    operation_id = "adminGetPaymentChannel", security(("bearer" = [])), params(("id" = i64, Path,)),
    responses(
        (status = 200, description = "The channel", body = Channel),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get_channel(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<Channel>, ApiError> {
    let channel = channels::get(&state.db, state.payments.secret_box(), id.into_inner()).await?;
    Ok(web::Json(channel))
}

/// Change a channel; `secrets` replaces only the secret fields it names.
#[utoipa::path(patch, path = "/api/v1/admin/payment-channels/{id}", tag = "admin",
    operation_id = "adminUpdatePaymentChannel", security(("bearer" = [])),
    params(("id" = i64, Path,)), request_body = ChannelPatch, responses(
        (status = 200, description = "Changed", body = Channel),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`channel_unavailable`: an enabled channel needs `server.public_url`", body = ErrorBody)))]
pub async fn update_channel(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
    body: Json<ChannelPatch>,
) -> Result<web::Json<Channel>, ApiError> {
    let channel = state
        .payments
        .update_channel(&state.db, id.into_inner(), body.into_inner(), Utc::now())
        .await?;
    Ok(web::Json(channel))
}

/// Delete a channel: no new orders go through it; notifies for its orders are still honoured.
#[utoipa::path(delete, path = "/api/v1/admin/payment-channels/{id}", tag = "admin",
    operation_id = "adminDeletePaymentChannel", security(("bearer" = [])),
    params(("id" = i64, Path,)), responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn delete_channel(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    channels::delete(&state.db, id.into_inner(), Utc::now()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Every order, newest first, filtered by user, status, channel and creation time.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", operation_id = "adminListOrders",
    security(("bearer" = [])), params(PageQuery, AdminOrdersQuery), responses(
        (status = 200, description = "A page of orders", body = AdminOrderPage),
        (status = 400, description = "`invalid_query`", body = ErrorBody),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn list_orders(
    state: web::Data<AppState>,
    _admin: Admin,
    pages: Query<PageQuery>,
    query: Query<AdminOrdersQuery>,
) -> Result<web::Json<AdminOrderPage>, ApiError> {
    let page = PageRequest::new(pages.page, pages.page_size)?;
    let filter = query.filter();
    Ok(web::Json(
        orders::list_all(&state.db, &filter, page).await?.into(),
    ))
}

/// One order with every gateway event it had.
#[utoipa::path(get, path = "/api/v1/admin/orders/{id}", tag = "admin", operation_id = "adminGetOrder",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 200, description = "The order and its events", body = AdminOrder),
        (status = 404, description = "`not_found`", body = ErrorBody)))]
pub async fn get_order(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<AdminOrder>, ApiError> {
    Ok(web::Json(
        orders::get_any(&state.db, id.into_inner()).await?,
    ))
}

/// The orders matching the filters as CSV (at most 100,000, newest first).
#[utoipa::path(get, path = "/api/v1/admin/orders/export", tag = "admin", operation_id = "adminExportOrders",
    security(("bearer" = [])), params(AdminOrdersQuery), responses(
        (status = 200, description = "`text/csv`: one line per order", content_type = "text/csv", body = String),
        (status = 403, description = "`forbidden`", body = ErrorBody)))]
pub async fn export_orders(
    state: web::Data<AppState>,
    _admin: Admin,
    query: Query<AdminOrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    let rows = orders::export_csv(state.db.clone(), query.filter()).map(|chunk| {
        chunk.map(bytes::Bytes::from).map_err(|error| {
            // The head is sent: the client sees the body cut short.
            tracing::error!(%error, "order export failed part-way");
            std::io::Error::other("the export could not be read")
        })
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"orders-{}.csv\"",
                Utc::now().format("%Y%m%d%H%M%S")
            ),
        ))
        .streaming(rows))
}

/// Refund part or all of a paid order at its gateway; then the credits (or tier days) the
/// refunded part granted are taken back as far as the balance allows.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/refund", tag = "admin", operation_id = "adminRefundOrder",
    security(("bearer" = [])), params(("id" = i64, Path,)), request_body = NewRefund, responses(
        (status = 200, description = "Refunded", body = Refunded),
        (status = 400, description = "`invalid_request` (see `param`)", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`order_not_refundable`, `refund_exceeds_paid`", body = ErrorBody),
        (status = 502, description = "`payment_gateway_error`: the gateway did not refund; nothing changed", body = ErrorBody)))]
pub async fn refund_order(
    state: web::Data<AppState>,
    Admin(principal): Admin,
    id: web::Path<i64>,
    body: Json<NewRefund>,
) -> Result<web::Json<Refunded>, ApiError> {
    let ask = RefundAsk {
        order_id: id.into_inner(),
        actor_id: principal.user.id,
        refund: body.into_inner(),
    };
    Ok(web::Json(
        state.payments.refund(&state.db, ask, Utc::now()).await?,
    ))
}

/// Ask the gateway about this order now: a paid one is fulfilled (once), an unpaid one past its
/// expiry is closed and expired.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/sync", tag = "admin", operation_id = "adminSyncOrder",
    security(("bearer" = [])), params(("id" = i64, Path,)), responses(
        (status = 200, description = "The order after the gateway's answer", body = AdminOrder),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 502, description = "`payment_gateway_error`", body = ErrorBody)))]
pub async fn sync_order(
    state: web::Data<AppState>,
    _admin: Admin,
    id: web::Path<i64>,
) -> Result<web::Json<AdminOrder>, ApiError> {
    Ok(web::Json(
        state
            .payments
            .sync_order(&state.db, id.into_inner(), Utc::now())
            .await?,
    ))
}
