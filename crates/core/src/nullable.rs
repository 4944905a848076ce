//! Partial updates: tells a field sent as `null` from one left out.

use serde::{Deserialize, Deserializer};

/// For `#[serde(default, deserialize_with = "confab_core::nullable")]` on an
/// `Option<Option<T>>`: absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`.
pub fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}
