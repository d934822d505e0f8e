//! ZooKeeper's path rules (`PathUtils.validatePath`). Pure logic.

/// Whether `path` is a valid znode path.
pub fn valid(path: &str) -> bool {
    let b = path.as_bytes();
    if b.is_empty() || b[0] != b'/' {
        return false;
    }
    if b.len() == 1 {
        return true;
    }
    if b[b.len() - 1] == b'/' {
        return false;
    }
    for seg in path[1..].split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return false;
        }
    }
    // Java checks UTF-16 code units: supplementary characters are
    // surrogates there, so they are refused as well.
    !path.chars().any(|c| {
        let c = c as u32;
        c == 0
            || (1..=0x1f).contains(&c)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
            || c > 0xffff
    })
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn zookeeper_rules() {
        for ok in ["/", "/a", "/a/b", "/a.b", "/..a", "/a..", "/.a/b", "/é"] {
            assert!(valid(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\u{0}b",
            "/a\u{1}",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{1f600}",
            "/\u{fff0}",
        ] {
            assert!(!valid(bad), "{bad:?}");
        }
    }
}
