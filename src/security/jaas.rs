//! The JAAS login configuration file (`java.security.auth.login.config`),
//! in the syntax of Java's `ConfigFile`:
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! Sections of login modules, each a class name, a control flag and
//! `name=value` options; `//` and `/* */` comments; quoted strings with
//! backslash escapes; `${property}` expanded from the system properties.
//! Pure parsing: the caller reads the file.

use std::collections::BTreeMap;

/// One login module line of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub class: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

/// A parsed file: its sections by name, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jaas {
    pub sections: Vec<(String, Vec<Entry>)>,
}

impl Jaas {
    /// The entries of section `name`, as Java's `getAppConfigurationEntry`
    /// finds it (a repeated section adds its entries to the first).
    pub fn section(&self, name: &str) -> Option<Vec<&Entry>> {
        let found: Vec<&Entry> = self
            .sections
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, e)| e.iter())
            .collect();
        self.sections
            .iter()
            .any(|(n, _)| n == name)
            .then_some(found)
    }
}

/// A syntax error, with the line it is on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {msg}")]
pub struct JaasError {
    pub line: usize,
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
}

fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, JaasError> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut it = text.chars().peekable();
    let err = |line, msg: &str| JaasError {
        line,
        msg: msg.to_string(),
    };
    while let Some(c) = it.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if it.peek() == Some(&'/') => {
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if it.peek() == Some(&'*') => {
                it.next();
                let start = line;
                let mut prev = ' ';
                let mut closed = false;
                for c in it.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    return Err(err(start, "a /* comment is not closed"));
                }
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = it.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match it.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(n) => s.push(n),
                            None => break,
                        },
                        // Java's StreamTokenizer ends a quoted string at
                        // the end of its line.
                        '\n' => break,
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(err(start, "a quoted string is not closed on its line"));
                }
                out.push((Tok::Quoted(s), start));
            }
            '{' | '}' | ';' | '=' => out.push((Tok::Punct(c), line)),
            c => {
                let mut s = String::from(c);
                while let Some(&n) = it.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '=' | '"') {
                        break;
                    }
                    s.push(n);
                    it.next();
                }
                out.push((Tok::Word(s), line));
            }
        }
    }
    Ok(out)
}

/// Expands `${name}` from `props`; `${/}` is the file separator. An
/// unknown property is an error, as Java's `PropertyExpander` makes it.
fn expand(s: &str, props: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let Some(end) = rest[at..].find('}') else {
            out.push_str(&rest[at..]);
            return Ok(out);
        };
        let name = &rest[at + 2..at + end];
        match (name, props.get(name)) {
            ("/", _) => out.push('/'),
            (_, Some(v)) => out.push_str(v),
            (_, None) => return Err(format!("unable to expand ${{{name}}}: no such property")),
        }
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

const FLAGS: [&str; 4] = ["required", "requisite", "sufficient", "optional"];

/// Parses a JAAS file; `props` are the system properties `${...}` expands.
pub fn parse(text: &str, props: &BTreeMap<String, String>) -> Result<Jaas, JaasError> {
    let toks = tokens(text)?;
    let mut i = 0;
    let mut jaas = Jaas::default();
    let last_line = toks.last().map_or(1, |t| t.1);
    let at = |i: usize| toks.get(i).map_or(last_line, |t| t.1);
    let fail = |line: usize, msg: String| JaasError { line, msg };
    let word = |i: usize| match toks.get(i) {
        Some((Tok::Word(w), _)) | Some((Tok::Quoted(w), _)) => Some(w.clone()),
        _ => None,
    };
    let punct = |i: usize, c: char| matches!(toks.get(i), Some((Tok::Punct(p), _)) if *p == c);
    while i < toks.len() {
        let Some(name) = word(i) else {
            return Err(fail(at(i), "expected a section name".into()));
        };
        i += 1;
        if !punct(i, '{') {
            return Err(fail(at(i), format!("expected {{ after {name}")));
        }
        i += 1;
        let mut entries = Vec::new();
        while !punct(i, '}') {
            let Some(class) = word(i) else {
                return Err(fail(
                    at(i),
                    format!("expected a login module class in {name}"),
                ));
            };
            i += 1;
            let flag = word(i).unwrap_or_default();
            if !FLAGS.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
                return Err(fail(
                    at(i),
                    format!("invalid control flag {flag:?} (required, requisite, sufficient or optional)"),
                ));
            }
            i += 1;
            let mut options = BTreeMap::new();
            while !punct(i, ';') {
                let Some(key) = word(i) else {
                    return Err(fail(at(i), format!("expected an option or ; in {name}")));
                };
                if !punct(i + 1, '=') {
                    return Err(fail(at(i), format!("expected = after {key}")));
                }
                let Some(value) = word(i + 2) else {
                    return Err(fail(at(i), format!("expected a value for {key}")));
                };
                let value = expand(&value, props).map_err(|m| fail(at(i), m))?;
                options.insert(key, value);
                i += 3;
            }
            i += 1;
            entries.push(Entry {
                class,
                flag: flag.to_ascii_lowercase(),
                options,
            });
        }
        i += 1;
        if !punct(i, ';') {
            return Err(fail(at(i), format!("expected ; after the end of {name}")));
        }
        i += 1;
        jaas.sections.push((name, entries));
    }
    Ok(jaas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Jaas, JaasError> {
        let props = BTreeMap::from([("user.home".to_string(), "/home/zk".to_string())]);
        parse(text, &props)
    }

    #[test]
    fn reads_the_server_section_zookeeper_documents() {
        let j = p(r#"
            // ZooKeeper's server side
            Server {
                org.apache.zookeeper.server.auth.DigestLoginModule required
                user_super="adminsecret"
                user_bob="bob\"secret";
            };
            /* a client section,
               over two lines */
            Client { org.apache.zookeeper.server.auth.DigestLoginModule Required
                username="bob" password="${user.home}/pw"; };
        "#)
        .unwrap();
        let s = j.section("Server").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].class,
            "org.apache.zookeeper.server.auth.DigestLoginModule"
        );
        assert_eq!(s[0].options["user_super"], "adminsecret");
        assert_eq!(s[0].options["user_bob"], "bob\"secret");
        let c = j.section("Client").unwrap();
        assert_eq!(c[0].flag, "required");
        assert_eq!(c[0].options["password"], "/home/zk/pw");
        assert!(j.section("QuorumServer").is_none());
    }

    #[test]
    fn kerberos_entries_keep_unquoted_values() {
        let j = p(
            "Server { com.sun.security.auth.module.Krb5LoginModule required\n\
                   useKeyTab=true keyTab=\"/etc/zk.keytab\" storeKey=true\n\
                   principal=\"zookeeper/host@EXAMPLE.COM\"; };",
        )
        .unwrap();
        let e = &j.section("Server").unwrap()[0];
        assert_eq!(e.options["useKeyTab"], "true");
        assert_eq!(e.options["principal"], "zookeeper/host@EXAMPLE.COM");
    }

    #[test]
    fn broken_files_name_the_line() {
        for (text, line) in [
            ("Server {\n x required a=\"b\"\n", 2),
            ("Server {\n x mandatory;\n};", 2),
            ("Server {\n x required a=\"unclosed\n };", 2),
            ("Server {\n x required a=\"${nope}\"; };", 2),
            ("Server {\n x required; }\n", 2),
            ("/* never closed\n Server { };", 1),
            ("Server x required; };", 1),
        ] {
            let e = p(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn an_empty_section_exists() {
        let j = p("Server { };").unwrap();
        assert_eq!(j.section("Server").unwrap().len(), 0);
    }
}
