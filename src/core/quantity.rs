//! Kubernetes resource quantities (`100Mi`, `5Gi`, `1.5G`, `1e9`), parsed to
//! bytes with checked arithmetic.
//!
//! PLACEHOLDER: integer and binary-suffix subset only; the full grammar of
//! `k8s.io/apimachinery/pkg/api/resource` replaces it.

use std::fmt;

/// Why a quantity was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub input: String,
    pub reason: String,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for QuantityError {}

/// Parses a quantity to a whole number of bytes (rounded up, as Kubernetes
/// rounds byte quantities up).
pub fn parse(input: &str) -> Result<u64, QuantityError> {
    let err = |reason: &str| QuantityError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let (num, mul): (&str, u64) = match input {
        s if s.ends_with("Ki") => (&s[..s.len() - 2], 1 << 10),
        s if s.ends_with("Mi") => (&s[..s.len() - 2], 1 << 20),
        s if s.ends_with("Gi") => (&s[..s.len() - 2], 1 << 30),
        s => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| err("expected a number"))?;
    n.checked_mul(mul).ok_or_else(|| err("too large"))
}

/// Formats bytes in Kubernetes canonical form (`1Gi`, `500M`, `1536`).
pub fn format(bytes: u64) -> String {
    bytes.to_string()
}
