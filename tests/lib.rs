//! Test support shared by the black-box tests in `api/` and the soak benchmark: a fake model
//! provider speaking the providers' wire formats, and the soak driver.

pub mod fake_gateways;
pub mod fake_upstream;
pub mod soak;
