//! Who a client is and how its bytes are protected: key and trust stores
//! (`keystore`), the rustls server configuration built from the `ssl.*`
//! settings (`tls`), and the `x509` ACL id of a client certificate
//! (`x509`). The drivers (`server/`) run the handshakes; this module reads
//! the store files and holds no connection state.

pub mod keystore;
pub mod peername;
pub mod tls;
pub mod x509;
