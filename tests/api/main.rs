//! All black-box tests compile into this one binary.

mod helpers;
mod smtp_sink;

mod accounts;
mod admin;
mod errors;
mod openapi;
mod sessions;
mod tokens;
