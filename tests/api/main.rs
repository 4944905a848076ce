//! All black-box tests compile into this one binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub(crate) use confab_tests::fake_upstream;
mod helpers;
mod redis_server;
mod smtp_sink;

mod accounts;
mod admin;
mod api_keys;
mod chats;
mod check_ins;
mod cluster;
mod cors;
mod crash;
mod credits;
mod cut_streams;
mod drain;
mod errors;
mod headers;
mod images;
mod kill;
mod limits;
mod logs;
mod messages;
mod metering;
mod metrics;
mod openai_sdk;
mod openapi;
mod order_limits;
mod payment_admin;
mod payments;
mod public_urls;
mod redemptions;
mod reports;
mod sessions;
mod shared_limits;
mod soak;
mod throttles;
mod tiers;
mod tokens;
