//! SASL DIGEST-MD5 (RFC 2831) as the JDK runs it for ZooKeeper. The
//! server side (`DigestMD5Server`): protocol `zookeeper`, server name and
//! only realm `zk-sasl-md5` on the client port (`zookeeper-quorum` and
//! `zk-quorum-sasl-md5` between servers), quality of protection `auth`
//! only (no integrity or confidentiality layer), `md5-sess`, UTF-8. The
//! client side (`DigestMD5Client`), for a server that authenticates to
//! another (quorum SASL).
//!
//! Two steps: an empty first token is answered with a challenge; the
//! client's digest response is checked and answered with `rspauth`, which
//! the client checks in turn. Pure logic: the caller gives the nonces and
//! looks passwords up.

use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// The JDK's cap on a digest response (`MAX_RESPONSE_LENGTH`).
pub const MAX_RESPONSE_LENGTH: usize = 4096;

/// Why an exchange failed; the message is the log line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest response length {0} (at most {MAX_RESPONSE_LENGTH})")]
    TooLong(usize),
    #[error("digest response format violation: {0}")]
    Format(String),
    #[error("cannot acquire password for {user} in realm {realm}")]
    NoPassword { user: String, realm: String },
    #[error("digest response of {0} does not match: wrong password")]
    Mismatch(String),
    #[error("authentication already completed")]
    Completed,
    #[error("the server's rspauth does not match: it does not know the password")]
    ServerNotProven,
}

/// What a step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this and wait for the client's response.
    Challenge(Vec<u8>),
    /// Authenticated: send `token` (rspauth).
    Done {
        token: Vec<u8>,
        /// The user name the client proved (authentication id).
        authcid: String,
        /// The id it asked to act as (its own name unless it sent one).
        authzid: String,
    },
}

#[derive(Debug)]
enum State {
    Start,
    Challenged,
    Finished,
}

/// One client's exchange.
#[derive(Debug)]
pub struct DigestMd5Server {
    protocol: &'static str,
    server: &'static str,
    nonce: String,
    state: State,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// A name or password as the JDK hashes it with `charset=utf-8`:
/// ISO 8859-1 when every character fits, UTF-8 otherwise.
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 0x100) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

/// Parses `key=value` or `key="quoted \" value"` directives, separated
/// by commas, as `DigestMD5Base.parseDirectives` does. A repeated
/// directive is an error.
fn directives(b: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while i < b.len() {
        while i < b.len() && (ws(b[i]) || b[i] == b',') {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && !ws(b[i]) && b[i] != b',' {
            i += 1;
        }
        let key = String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase();
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(format!("directive key {key:?} has no value"));
        }
        i += 1;
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'"' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("unmatched quote in {key}")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        value.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && b[i] != b',' && !ws(b[i]) {
                value.push(b[i]);
                i += 1;
            }
        }
        while i < b.len() && ws(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] != b',' {
            return Err(format!("expected , after {key}"));
        }
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("peer sent more than one {key} directive"));
        }
    }
    Ok(out)
}

/// RFC 2831's hashes for one exchange (`md5-sess`): H(A1) from the
/// credentials and nonces, then KD for the client's `response` and the
/// server's `rspauth`. Both sides use them.
struct Hashes<'a> {
    ha1: String,
    nonce: &'a [u8],
    nc: &'a [u8],
    cnonce: &'a [u8],
    qop: &'a [u8],
}

impl<'a> Hashes<'a> {
    /// `credentials`: user, realm and password, encoded as the charset
    /// says.
    fn new(
        credentials: &[&[u8]; 3],
        nonce: &'a [u8],
        cnonce: &'a [u8],
        authzid: Option<&[u8]>,
        nc: &'a [u8],
        qop: &'a [u8],
    ) -> Hashes<'a> {
        let [user, realm, pw] = credentials;
        let inner = md5(&[user, b":", realm, b":", pw]);
        let mut a1: Vec<&[u8]> = vec![&inner, b":", nonce, b":", cnonce];
        if let Some(z) = authzid {
            a1.push(b":");
            a1.push(z);
        }
        Hashes {
            ha1: hex(&md5(&a1)),
            nonce,
            nc,
            cnonce,
            qop,
        }
    }

    fn kd(&self, a2: &[&[u8]]) -> String {
        let ha2 = hex(&md5(a2));
        hex(&md5(&[
            self.ha1.as_bytes(),
            b":",
            self.nonce,
            b":",
            self.nc,
            b":",
            self.cnonce,
            b":",
            self.qop,
            b":",
            ha2.as_bytes(),
        ]))
    }

    /// The client's `response` directive.
    fn response(&self, uri: &[u8]) -> String {
        self.kd(&[b"AUTHENTICATE:", uri])
    }

    /// The server's `rspauth`.
    fn rspauth(&self, uri: &[u8]) -> String {
        self.kd(&[b":", uri])
    }
}

/// Where a client's exchange is.
#[derive(Debug)]
enum ClientState {
    Start,
    /// The response sent; the server's `rspauth` must be this.
    Responded {
        rspauth: String,
    },
    Finished,
}

/// What a client's step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStep {
    /// Send this and wait for the server's answer.
    Respond(Vec<u8>),
    /// The server proved it knows the password: authenticated.
    Done,
}

/// The client side, as the JDK's `DigestMD5Client` answers a ZooKeeper
/// server: no initial response, `qop=auth`, `charset=utf-8`, the first
/// realm the server offers, `digest-uri` of protocol and server name.
#[derive(Debug)]
pub struct DigestMd5Client {
    protocol: &'static str,
    server: &'static str,
    user: String,
    password: String,
    cnonce: String,
    state: ClientState,
}

/// `"` and `\` escaped, for a quoted directive value.
fn quoted(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

impl DigestMd5Client {
    /// `cnonce`: fresh random text.
    pub fn new(
        protocol: &'static str,
        server: &'static str,
        user: &str,
        password: &str,
        cnonce: String,
    ) -> DigestMd5Client {
        DigestMd5Client {
            protocol,
            server,
            user: user.to_string(),
            password: password.to_string(),
            cnonce,
            state: ClientState::Start,
        }
    }

    /// Takes the server's challenge, then its `rspauth`.
    pub fn step(&mut self, token: &[u8]) -> Result<ClientStep, DigestError> {
        match std::mem::replace(&mut self.state, ClientState::Finished) {
            ClientState::Start => {
                let (response, rspauth) = self.respond(token)?;
                self.state = ClientState::Responded { rspauth };
                Ok(ClientStep::Respond(response))
            }
            ClientState::Responded { rspauth } => {
                let d = directives(token).map_err(DigestError::Format)?;
                match d.get("rspauth") {
                    Some(r) if r.eq_ignore_ascii_case(rspauth.as_bytes()) => Ok(ClientStep::Done),
                    _ => Err(DigestError::ServerNotProven),
                }
            }
            ClientState::Finished => Err(DigestError::Completed),
        }
    }

    fn respond(&self, challenge: &[u8]) -> Result<(Vec<u8>, String), DigestError> {
        if challenge.len() > MAX_RESPONSE_LENGTH {
            return Err(DigestError::TooLong(challenge.len()));
        }
        let fmt = |m: &str| DigestError::Format(m.to_string());
        let d = directives(challenge).map_err(DigestError::Format)?;
        let text = |k: &str| d.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
        let nonce = text("nonce").ok_or_else(|| fmt("the challenge has no nonce"))?;
        if let Some(q) = text("qop") {
            if !q.split(',').any(|o| o.trim() == "auth") {
                return Err(DigestError::Format(format!(
                    "the server offers qop {q:?}, not auth"
                )));
            }
        }
        match text("algorithm") {
            Some(a) if a.eq_ignore_ascii_case("md5-sess") => {}
            _ => return Err(fmt("the challenge's algorithm is not md5-sess")),
        }
        let utf8 = d
            .get("charset")
            .is_some_and(|c| c.eq_ignore_ascii_case(b"utf-8"));
        let enc = |s: &str| {
            if utf8 {
                latin1_or_utf8(s)
            } else {
                s.chars().map(|c| c as u8).collect()
            }
        };
        let realm = text("realm").unwrap_or_default();
        let uri = format!("{}/{}", self.protocol, self.server);
        let h = Hashes::new(
            &[&enc(&self.user), &enc(&realm), &enc(&self.password)],
            nonce.as_bytes(),
            self.cnonce.as_bytes(),
            None,
            b"00000001",
            b"auth",
        );
        let mut out = String::new();
        if utf8 {
            out.push_str("charset=utf-8,");
        }
        out.push_str(&format!(
            "username=\"{}\",realm=\"{}\",nonce=\"{}\",nc=00000001,cnonce=\"{}\",digest-uri=\"{uri}\",maxbuf=65536,response={},qop=auth",
            quoted(&self.user),
            quoted(&realm),
            quoted(&nonce),
            quoted(&self.cnonce),
            h.response(uri.as_bytes()),
        ));
        Ok((out.into_bytes(), h.rspauth(uri.as_bytes())))
    }
}

impl DigestMd5Server {
    /// ZooKeeper's client-port server: `Sasl.createSaslServer("DIGEST-MD5",
    /// "zookeeper", "zk-sasl-md5", ...)`. `nonce`: fresh random text.
    pub fn zookeeper(nonce: String) -> DigestMd5Server {
        DigestMd5Server::new("zookeeper", "zk-sasl-md5", nonce)
    }

    pub fn new(protocol: &'static str, server: &'static str, nonce: String) -> DigestMd5Server {
        DigestMd5Server {
            protocol,
            server,
            nonce,
            state: State::Start,
        }
    }

    /// Takes the client's token. `password` looks a user's password up
    /// (`None`: no such user).
    pub fn step(
        &mut self,
        token: &[u8],
        password: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Step, DigestError> {
        match self.state {
            State::Start => {
                // The JDK (17) ignores a first token that is not empty:
                // checked against ZooKeeper 3.8 (tests/py/test_sasl.py).
                self.state = State::Challenged;
                Ok(Step::Challenge(
                    format!(
                        "realm=\"{}\",nonce=\"{}\",charset=utf-8,algorithm=md5-sess",
                        self.server, self.nonce
                    )
                    .into_bytes(),
                ))
            }
            State::Challenged => {
                self.state = State::Finished;
                self.check(token, password)
            }
            State::Finished => Err(DigestError::Completed),
        }
    }

    fn check(
        &self,
        token: &[u8],
        password: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Step, DigestError> {
        if token.len() > MAX_RESPONSE_LENGTH {
            return Err(DigestError::TooLong(token.len()));
        }
        let fmt = |m: &str| DigestError::Format(m.to_string());
        let d = directives(token).map_err(DigestError::Format)?;
        let utf8 = match d.get("charset") {
            None => false,
            Some(c) if c.eq_ignore_ascii_case(b"utf-8") => true,
            Some(_) => return Err(fmt("incompatible charset value")),
        };
        let text = |k: &str| -> Option<String> {
            d.get(k).map(|v| {
                if utf8 {
                    String::from_utf8_lossy(v).into_owned()
                } else {
                    v.iter().map(|&c| c as char).collect()
                }
            })
        };
        let user = text("username").ok_or_else(|| fmt("missing username"))?;
        let realm = text("realm").unwrap_or_default();
        if realm != self.server {
            return Err(DigestError::Format(format!("nonexistent realm {realm:?}")));
        }
        if d.get("nonce").map(Vec::as_slice) != Some(self.nonce.as_bytes()) {
            return Err(fmt("mismatched nonce"));
        }
        let cnonce = d.get("cnonce").ok_or_else(|| fmt("missing cnonce"))?;
        let nc = d.get("nc").ok_or_else(|| fmt("missing nonce count"))?;
        let nc_value = std::str::from_utf8(nc)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok());
        if nc_value != Some(1) {
            return Err(fmt("nonce count does not match"));
        }
        let qop = d.get("qop").cloned().unwrap_or_else(|| b"auth".to_vec());
        if qop != b"auth" {
            return Err(DigestError::Format(format!(
                "invalid qop {:?}: this server offers auth only",
                String::from_utf8_lossy(&qop)
            )));
        }
        let uri = d
            .get("digest-uri")
            .ok_or_else(|| fmt("missing digest-uri"))?;
        let want_uri = format!("{}/{}", self.protocol, self.server);
        if !uri.eq_ignore_ascii_case(want_uri.as_bytes()) {
            return Err(DigestError::Format(format!(
                "mismatched digest-uri {:?}: expected {want_uri}",
                String::from_utf8_lossy(uri)
            )));
        }
        let response = d.get("response").ok_or_else(|| fmt("missing response"))?;
        let authzid = d.get("authzid");
        let pw = password(&user).ok_or_else(|| DigestError::NoPassword {
            user: user.clone(),
            realm: realm.clone(),
        })?;
        let enc = |s: &str| {
            if utf8 {
                latin1_or_utf8(s)
            } else {
                s.chars().map(|c| c as u8).collect()
            }
        };
        let h = Hashes::new(
            &[&enc(&user), &enc(&realm), &enc(&pw)],
            self.nonce.as_bytes(),
            cnonce,
            authzid.map(Vec::as_slice),
            nc,
            &qop,
        );
        if !h.response(uri).as_bytes().eq_ignore_ascii_case(response) {
            return Err(DigestError::Mismatch(user));
        }
        let rspauth = h.rspauth(uri);
        let authzid = match authzid {
            Some(z) => text("authzid").unwrap_or_else(|| String::from_utf8_lossy(z).into()),
            None => user.clone(),
        };
        Ok(Step::Done {
            token: format!("rspauth={rspauth}").into_bytes(),
            authcid: user,
            authzid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side of RFC 2831, written out separately from the
    /// server's code (a second reading of the RFC).
    fn client_response(
        challenge: &[u8],
        user: &str,
        pw: &str,
        uri: &str,
        authzid: Option<&str>,
    ) -> (Vec<u8>, String) {
        let d = directives(challenge).unwrap();
        let realm = String::from_utf8(d["realm"].clone()).unwrap();
        let nonce = String::from_utf8(d["nonce"].clone()).unwrap();
        let cnonce = "OA6MHXh6VqTrRk";
        let h = |s: &[u8]| {
            let mut m = Md5::new();
            m.update(s);
            m.finalize().to_vec()
        };
        let hx = |s: &[u8]| hex(&h(s));
        let mut a1 = h(format!("{user}:{realm}:{pw}").as_bytes());
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        if let Some(z) = authzid {
            a1.extend_from_slice(format!(":{z}").as_bytes());
        }
        let ha1 = hx(&a1);
        let resp = |a2: &str| {
            hx(format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{}", hx(a2.as_bytes())).as_bytes())
        };
        let mut out = format!(
            "charset=utf-8,username=\"{user}\",realm=\"{realm}\",nonce=\"{nonce}\",nc=00000001,cnonce=\"{cnonce}\",digest-uri=\"{uri}\",maxbuf=65536,response={},qop=auth",
            resp(&format!("AUTHENTICATE:{uri}"))
        );
        if let Some(z) = authzid {
            out.push_str(&format!(",authzid=\"{z}\""));
        }
        (
            out.into_bytes(),
            format!("rspauth={}", resp(&format!(":{uri}"))),
        )
    }

    fn users(u: &str) -> Option<String> {
        match u {
            "bob" => Some("bobsecret".into()),
            "super" => Some("adminsecret".into()),
            _ => None,
        }
    }

    fn challenge(s: &mut DigestMd5Server) -> Vec<u8> {
        match s.step(b"", &users).unwrap() {
            Step::Challenge(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_right_password_authenticates_and_proves_the_server() {
        let mut s = DigestMd5Server::zookeeper("n0nce+/x".into());
        let c = challenge(&mut s);
        assert_eq!(
            c,
            b"realm=\"zk-sasl-md5\",nonce=\"n0nce+/x\",charset=utf-8,algorithm=md5-sess"
        );
        let (resp, rspauth) =
            client_response(&c, "bob", "bobsecret", "zookeeper/zk-sasl-md5", None);
        match s.step(&resp, &users).unwrap() {
            Step::Done {
                token,
                authcid,
                authzid,
            } => {
                assert_eq!(String::from_utf8(token).unwrap(), rspauth);
                assert_eq!((authcid.as_str(), authzid.as_str()), ("bob", "bob"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.step(b"", &users), Err(DigestError::Completed));
    }

    #[test]
    fn an_authzid_is_kept_and_hashed() {
        let mut s = DigestMd5Server::zookeeper("abc".into());
        let c = challenge(&mut s);
        let (resp, _) = client_response(
            &c,
            "bob",
            "bobsecret",
            "ZooKeeper/ZK-SASL-MD5",
            Some("alice"),
        );
        match s.step(&resp, &users).unwrap() {
            Step::Done {
                authzid, authcid, ..
            } => {
                assert_eq!((authcid.as_str(), authzid.as_str()), ("bob", "alice"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_are_refused() {
        let cases: Vec<(&str, &str, &str, DigestError)> = vec![
            (
                "bob",
                "wrong",
                "zookeeper/zk-sasl-md5",
                DigestError::Mismatch("bob".into()),
            ),
            (
                "eve",
                "x",
                "zookeeper/zk-sasl-md5",
                DigestError::NoPassword {
                    user: "eve".into(),
                    realm: "zk-sasl-md5".into(),
                },
            ),
        ];
        for (u, p, uri, want) in cases {
            let mut s = DigestMd5Server::zookeeper("abc".into());
            let c = challenge(&mut s);
            let (resp, _) = client_response(&c, u, p, uri, None);
            assert_eq!(s.step(&resp, &users), Err(want));
        }
        let mut s = DigestMd5Server::zookeeper("abc".into());
        let c = challenge(&mut s);
        let (resp, _) = client_response(&c, "bob", "bobsecret", "zookeeper/other", None);
        assert!(matches!(s.step(&resp, &users), Err(DigestError::Format(_))));
        // An initial response is ignored, as the JDK does.
        let mut s = DigestMd5Server::zookeeper("abc".into());
        assert!(matches!(s.step(b"x", &users), Ok(Step::Challenge(_))));
        // Garbage, a repeated directive, a long token.
        for bad in [
            &b"\xff\x00garbage"[..],
            b"username=\"bob\",username=\"bob\"",
            b"username=\"unclosed",
            b"username",
            &[b'a'; MAX_RESPONSE_LENGTH + 1][..],
        ] {
            let mut s = DigestMd5Server::zookeeper("abc".into());
            challenge(&mut s);
            assert!(s.step(bad, &users).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tampered_fields_are_refused() {
        let mut s = DigestMd5Server::zookeeper("abc".into());
        let c = challenge(&mut s);
        let (resp, _) = client_response(&c, "bob", "bobsecret", "zookeeper/zk-sasl-md5", None);
        let resp = String::from_utf8(resp).unwrap();
        for (from, to) in [
            ("nonce=\"abc\"", "nonce=\"abd\""),
            ("nc=00000001", "nc=00000002"),
            ("realm=\"zk-sasl-md5\"", "realm=\"other\""),
            ("qop=auth", "qop=auth-conf"),
            ("charset=utf-8", "charset=latin1"),
        ] {
            let mut s = DigestMd5Server::zookeeper("abc".into());
            challenge(&mut s);
            let bad = resp.replace(from, to);
            assert!(s.step(bad.as_bytes(), &users).is_err(), "{to}");
        }
    }

    #[test]
    fn the_client_answers_rfc_2831s_example() {
        let mut c = DigestMd5Client::new(
            "imap",
            "elwood.innosoft.com",
            "chris",
            "secret",
            "OA6MHXh6VqTrRk".into(),
        );
        let challenge = b"realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8";
        let ClientStep::Respond(r) = c.step(challenge).unwrap() else {
            panic!("no response")
        };
        let d = directives(&r).unwrap();
        assert_eq!(d["response"], b"d388dad90d4bbd760a152321f2143af7");
        assert_eq!(d["digest-uri"], b"imap/elwood.innosoft.com");
        assert_eq!(d["nc"], b"00000001");
        assert_eq!(
            c.step(b"rspauth=ea40f60335c427b5527b84dbabcdfffd"),
            Ok(ClientStep::Done)
        );
        assert_eq!(c.step(b""), Err(DigestError::Completed));
    }

    #[test]
    fn client_and_server_agree_and_a_wrong_side_is_caught() {
        let quorum = |pw: &str| {
            DigestMd5Client::new(
                "zookeeper-quorum",
                "zk-quorum-sasl-md5",
                "peer \"1\"",
                pw,
                "cn0nce".into(),
            )
        };
        let users = |u: &str| (u == "peer \"1\"").then(|| "s3cret".to_string());
        // The right password: both sides are satisfied.
        let mut s = DigestMd5Server::new("zookeeper-quorum", "zk-quorum-sasl-md5", "n".into());
        let mut c = quorum("s3cret");
        let Ok(Step::Challenge(ch)) = s.step(b"", &users) else {
            panic!()
        };
        let Ok(ClientStep::Respond(r)) = c.step(&ch) else {
            panic!()
        };
        let Ok(Step::Done { token, authcid, .. }) = s.step(&r, &users) else {
            panic!()
        };
        assert_eq!(authcid, "peer \"1\"");
        assert_eq!(c.step(&token), Ok(ClientStep::Done));
        // A wrong password: the server refuses.
        let mut s = DigestMd5Server::new("zookeeper-quorum", "zk-quorum-sasl-md5", "n".into());
        let mut c = quorum("wrong");
        let Ok(Step::Challenge(ch)) = s.step(b"", &users) else {
            panic!()
        };
        let Ok(ClientStep::Respond(r)) = c.step(&ch) else {
            panic!()
        };
        assert!(matches!(s.step(&r, &users), Err(DigestError::Mismatch(_))));
        // A server that does not know the password cannot prove itself.
        let mut c = quorum("s3cret");
        c.step(b"realm=\"zk-quorum-sasl-md5\",nonce=\"n\",charset=utf-8,algorithm=md5-sess")
            .unwrap();
        assert_eq!(
            c.step(b"rspauth=00000000000000000000000000000000"),
            Err(DigestError::ServerNotProven)
        );
        // Challenges a JDK client refuses.
        for bad in [
            &b"nonce=\"n\",algorithm=md5"[..],
            b"realm=\"r\",algorithm=md5-sess",
            b"nonce=\"n\",qop=\"auth-conf\",algorithm=md5-sess",
            b"\xff\xfe",
        ] {
            assert!(quorum("x").step(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn directives_parse_quotes_escapes_and_spaces() {
        let d = directives(b" a=1 , b=\"x\\\"y,z\",,C = \"\" ").unwrap();
        assert_eq!(d["a"], b"1");
        assert_eq!(d["b"], b"x\"y,z");
        assert_eq!(d["c"], b"");
    }
}
