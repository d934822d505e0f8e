//! JSON in the layout ZooKeeper's AdminServer writes (Jackson's
//! `INDENT_OUTPUT`): two-space indents, `"key" : value`, arrays inline as
//! `[ a, b ]`, empty containers as `{ }` and `[ ]`, doubles as Java prints
//! them (`0.0`, `6.8333`). Pure: a `serde_json::Value` in, text out.

use crate::protocol::fourlw::java_double;
use serde_json::Value;
use std::fmt::Write;

/// `v` as Jackson's default pretty printer lays it out.
pub fn pretty(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, 0);
    s
}

fn indent(s: &mut String, level: usize) {
    for _ in 0..level {
        s.push_str("  ");
    }
}

fn write_value(s: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => s.push_str("null"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_f64() {
                s.push_str(&java_double(n.as_f64().unwrap_or(0.0)));
            } else {
                let _ = write!(s, "{n}");
            }
        }
        Value::String(t) => write_str(s, t),
        Value::Array(items) => {
            if items.is_empty() {
                s.push_str("[ ]");
                return;
            }
            // Jackson's array indenter is inline: elements do not nest.
            s.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_value(s, item, level);
            }
            s.push_str(" ]");
        }
        Value::Object(map) => {
            if map.is_empty() {
                s.push_str("{ }");
                return;
            }
            s.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push('\n');
                indent(s, level + 1);
                write_str(s, k);
                s.push_str(" : ");
                write_value(s, item, level + 1);
            }
            s.push('\n');
            indent(s, level);
            s.push('}');
        }
    }
}

fn write_str(s: &mut String, t: &str) {
    // serde_json escapes as Jackson does: `"`, `\`, and control characters.
    s.push_str(&Value::String(t.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lays_out_as_jackson() {
        let v = json!({
            "connections": [{"remote_socket_address": "127.0.0.1:1", "interest_ops": 1}],
            "secure_connections": [],
            "m": {},
            "ids": [1, 2],
            "avg": 6.8333,
            "zero": 0.0,
            "s": "a\"b\n",
            "command": "connections",
            "error": null
        });
        assert_eq!(
            pretty(&v),
            "{\n  \"connections\" : [ {\n    \"remote_socket_address\" : \"127.0.0.1:1\",\n    \
             \"interest_ops\" : 1\n  } ],\n  \"secure_connections\" : [ ],\n  \"m\" : { },\n  \
             \"ids\" : [ 1, 2 ],\n  \"avg\" : 6.8333,\n  \"zero\" : 0.0,\n  \"s\" : \"a\\\"b\\n\",\n  \
             \"command\" : \"connections\",\n  \"error\" : null\n}"
        );
        assert_eq!(pretty(&json!({})), "{ }");
    }
}
