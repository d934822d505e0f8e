//! Values with Java's semantics: `Integer.parseInt`/`Long.decode` numbers
//! and their ranges, ports, strict booleans and IP addresses, each returning
//! the message a `ConfigError` will carry.

use super::*;

pub(super) enum NumError {
    NotANumber,
    OutOfRange,
}

/// `Integer.parseInt`/`Long.parseLong`: optional sign, decimal digits.
pub(super) fn java_decimal(s: &str) -> Result<i64, NumError> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumError::NotANumber);
    }
    t.parse::<i64>().map_err(|_| NumError::OutOfRange)
}

/// `Integer.decode` (used by `Integer.getInteger`/`Long.getLong`): also
/// accepts `0x`/`0X`/`#` hex and leading-zero octal.
pub(super) fn java_decode(s: &str) -> Result<i64, NumError> {
    let t = s.trim();
    let (neg, rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (radix, digits) = if let Some(r) = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))
        .or_else(|| rest.strip_prefix('#'))
    {
        (16, r)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(NumError::NotANumber);
    }
    let magnitude = i64::from_str_radix(digits, radix).map_err(|_| NumError::OutOfRange)?;
    Ok(if neg { -magnitude } else { magnitude })
}

pub(super) fn check_range(
    parsed: Result<i64, NumError>,
    raw: &str,
    lo: i64,
    hi: i64,
) -> Result<i64, String> {
    match parsed {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        Ok(_) | Err(NumError::OutOfRange) => Err(format!(
            "{} is out of range (allowed: {lo} to {hi})",
            raw.trim()
        )),
        Err(NumError::NotANumber) => Err(format!("\"{raw}\" is not a number")),
    }
}

pub(super) fn decimal_in(raw: &str, lo: i64, hi: i64) -> Result<i64, String> {
    check_range(java_decimal(raw), raw, lo, hi)
}

pub(super) fn decode_in(raw: &str, lo: i64, hi: i64) -> Result<i64, String> {
    check_range(java_decode(raw), raw, lo, hi)
}

pub(super) const INT_MAX: i64 = i32::MAX as i64;
pub(super) const INT_MIN: i64 = i32::MIN as i64;

pub(super) fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

pub(super) fn to_u64(n: i64) -> u64 {
    u64::try_from(n.max(0)).unwrap_or(0)
}

pub(super) fn port(raw: &str) -> Result<u16, String> {
    match java_decimal(raw) {
        Ok(n) => u16::try_from(n)
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{} is not a valid port (1 to 65535)", raw.trim())),
        Err(_) => Err(format!("\"{raw}\" is not a port number")),
    }
}

/// `QuorumPeerConfig.parseBoolean`: `true`/`false`, any case.
pub(super) fn strict_bool(raw: &str) -> Result<bool, String> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("\"{raw}\" is not true or false"))
    }
}

/// An IP literal (optionally in brackets) or `localhost`. Host names are not
/// resolved here: that would be I/O.
pub(super) fn ip_addr(raw: &str) -> Result<IpAddr, String> {
    let t = raw.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    if inner.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    inner.parse::<IpAddr>().map_err(|_| {
        format!(
            "\"{raw}\" is not an IP address (corral does not resolve host names here; \
             use e.g. 0.0.0.0 or 127.0.0.1)"
        )
    })
}
