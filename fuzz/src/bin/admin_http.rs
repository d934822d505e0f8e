//! The AdminServer's HTTP request-head parser (`corral::admin::http`),
//! and the percent-decoding it uses.
use corral::admin::http;

corral_fuzz::target!(|data: &[u8]| {
    if let Ok(r) = http::parse_head(data) {
        assert!(r.path.starts_with('/') || data.contains(&b'%'));
        for key in ["path", "traceMask", "command"] {
            let _ = r.arg(key);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = http::decode(s, true);
        let _ = http::decode(s, false);
    }
});
