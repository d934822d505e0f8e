//! Who a client is and how its bytes are protected: key and trust stores
//! (`keystore`), the rustls server configuration built from the `ssl.*`
//! settings (`tls`), and the `x509` ACL id of a client certificate
//! (`x509`); SASL on the client port: the JAAS file (`jaas`), DIGEST-MD5
//! (`digest_md5`), Kerberos through the system's GSS-API library
//! (`gssapi`) and each connection's exchange and `sasl` id (`sasl`);
//! SASL between servers (`quorum_auth`).
//! The drivers (`server/`) run the handshakes; this module reads
//! the store files and holds no connection state.

pub mod digest_md5;
pub mod gssapi;
pub mod jaas;
pub mod keystore;
pub mod peername;
pub mod quorum_auth;
pub mod sasl;
pub mod tls;
pub mod x509;
