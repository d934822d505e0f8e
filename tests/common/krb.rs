//! A throw-away MIT Kerberos KDC for the tests (`tests/krb/kdc.sh`):
//! realm EXAMPLE.COM on a free loopback port, its `krb5.conf` and the
//! keytabs of its principals in a temporary directory. Stopped when
//! dropped. A missing tool fails the test, loudly.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Kdc {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Kdc {
    /// Starts the KDC; panics with kdc.sh's words if it cannot.
    pub fn start() -> Kdc {
        let dir = tempfile::Builder::new()
            .prefix("corral-kdc-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/krb/kdc.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir.path().join("kdc"))
            .arg(port.to_string())
            .output()
            .expect("run bash tests/krb/kdc.sh");
        assert!(
            out.status.success(),
            "tests/krb/kdc.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Kdc { dir, port }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("kdc")
    }

    /// The `krb5.conf` naming this KDC.
    pub fn conf(&self) -> PathBuf {
        self.path().join("krb5.conf")
    }

    /// The keytab of `principal` (without the realm).
    pub fn keytab(&self, principal: &str) -> PathBuf {
        self.path()
            .join(format!("{}.keytab", principal.replace('/', "_")))
    }

    /// A JAAS `Krb5LoginModule` section logging in as `principal` (in
    /// EXAMPLE.COM) with its keytab.
    pub fn jaas_section(&self, section: &str, principal: &str) -> String {
        format!(
            "{section} {{\n    com.sun.security.auth.module.Krb5LoginModule required\n    \
             useKeyTab=true\n    keyTab=\"{}\"\n    storeKey=true\n    useTicketCache=false\n    \
             principal=\"{principal}@EXAMPLE.COM\";\n}};\n",
            self.keytab(principal).display()
        )
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.path().join("kdc.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}
