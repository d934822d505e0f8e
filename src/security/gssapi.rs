//! Kerberos through the system's GSS-API library (MIT's
//! `libgssapi_krb5.so.2`, Debian's `libgssapi-krb5-2`), loaded at run time
//! so that corral builds and runs without it when no JAAS section asks for
//! Kerberos. Owns the library handle and one acceptor context per client
//! exchange; the SASL GSSAPI steps (RFC 4752) are in `sasl`.
//!
//! The acceptor uses the keytab registered at start-up
//! (`krb5_gss_register_acceptor_identity`, the JAAS `keyTab`) and checks
//! that the client asked for the configured principal. Accepting reads the
//! replay cache, a small file write per exchange, on the connection's own
//! shard.

use std::ffi::{c_int, c_void, CString};
use std::sync::OnceLock;

type Minor = u32;
type Major = u32;

#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

#[repr(C)]
struct OidDesc {
    length: u32,
    elements: *mut c_void,
}

type Oid = *mut OidDesc;
type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

const GSS_C_ACCEPT: c_int = 2;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
const GSS_S_CONTINUE_NEEDED: Major = 1;
/// `GSS_ERROR`: a calling or routine error.
fn failed(major: Major) -> bool {
    major & 0xffff_0000 != 0
}

type ImportName = unsafe extern "C" fn(*mut Minor, *mut Buffer, Oid, *mut Name) -> Major;
type AcquireCred = unsafe extern "C" fn(
    *mut Minor,
    Name,
    u32,
    *mut c_void,
    c_int,
    *mut Cred,
    *mut c_void,
    *mut u32,
) -> Major;
type AcceptSecContext = unsafe extern "C" fn(
    *mut Minor,
    *mut Ctx,
    Cred,
    *mut Buffer,
    *mut c_void,
    *mut Name,
    *mut Oid,
    *mut Buffer,
    *mut u32,
    *mut u32,
    *mut Cred,
) -> Major;
type InquireContext = unsafe extern "C" fn(
    *mut Minor,
    Ctx,
    *mut Name,
    *mut Name,
    *mut u32,
    *mut Oid,
    *mut u32,
    *mut c_int,
    *mut c_int,
) -> Major;
type DisplayName = unsafe extern "C" fn(*mut Minor, Name, *mut Buffer, *mut Oid) -> Major;
type Wrap = unsafe extern "C" fn(
    *mut Minor,
    Ctx,
    c_int,
    u32,
    *mut Buffer,
    *mut c_int,
    *mut Buffer,
) -> Major;
type Unwrap =
    unsafe extern "C" fn(*mut Minor, Ctx, *mut Buffer, *mut Buffer, *mut c_int, *mut u32) -> Major;
type ReleaseBuffer = unsafe extern "C" fn(*mut Minor, *mut Buffer) -> Major;
type ReleaseName = unsafe extern "C" fn(*mut Minor, *mut Name) -> Major;
type ReleaseCred = unsafe extern "C" fn(*mut Minor, *mut Cred) -> Major;
type DeleteSecContext = unsafe extern "C" fn(*mut Minor, *mut Ctx, *mut Buffer) -> Major;
type DisplayStatus =
    unsafe extern "C" fn(*mut Minor, Major, c_int, Oid, *mut u32, *mut Buffer) -> Major;
type RegisterAcceptor = unsafe extern "C" fn(*const std::ffi::c_char) -> Major;

/// The library's entry points.
struct Lib {
    _lib: libloading::Library,
    import_name: ImportName,
    acquire_cred: AcquireCred,
    accept: AcceptSecContext,
    inquire: InquireContext,
    display_name: DisplayName,
    wrap: Wrap,
    unwrap: Unwrap,
    release_buffer: ReleaseBuffer,
    release_name: ReleaseName,
    release_cred: ReleaseCred,
    delete_ctx: DeleteSecContext,
    display_status: DisplayStatus,
    register_acceptor: RegisterAcceptor,
    /// `GSS_KRB5_NT_PRINCIPAL_NAME`.
    nt_principal: Oid,
}

// The entry points are plain functions and the OID a constant the library
// never changes: shared between threads as they are in C.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

/// The library's file name.
pub const LIBRARY: &str = "libgssapi_krb5.so.2";

/// A GSS-API failure, with the library's own words.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct GssError(pub String);

fn load() -> Result<Lib, String> {
    // SAFETY: loading the system's GSS-API library runs its initialisers,
    // which have no requirements of their caller.
    let lib = unsafe { libloading::Library::new(LIBRARY) }
        .map_err(|e| format!("cannot load {LIBRARY} (Debian: libgssapi-krb5-2): {e}"))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: each symbol is declared above with the C prototype of
            // MIT's gssapi.h.
            *unsafe { lib.get($name) }
                .map_err(|e| format!("{LIBRARY}: no {}: {e}", String::from_utf8_lossy($name)))?
        };
    }
    // SAFETY: GSS_KRB5_NT_PRINCIPAL_NAME is a `gss_OID` variable.
    let nt_principal: Oid = unsafe {
        **lib
            .get::<*mut Oid>(b"GSS_KRB5_NT_PRINCIPAL_NAME")
            .map_err(|e| format!("{LIBRARY}: no GSS_KRB5_NT_PRINCIPAL_NAME: {e}"))?
    };
    Ok(Lib {
        import_name: sym!(b"gss_import_name"),
        acquire_cred: sym!(b"gss_acquire_cred"),
        accept: sym!(b"gss_accept_sec_context"),
        inquire: sym!(b"gss_inquire_context"),
        display_name: sym!(b"gss_display_name"),
        wrap: sym!(b"gss_wrap"),
        unwrap: sym!(b"gss_unwrap"),
        release_buffer: sym!(b"gss_release_buffer"),
        release_name: sym!(b"gss_release_name"),
        release_cred: sym!(b"gss_release_cred"),
        delete_ctx: sym!(b"gss_delete_sec_context"),
        display_status: sym!(b"gss_display_status"),
        register_acceptor: sym!(b"krb5_gss_register_acceptor_identity"),
        nt_principal,
        _lib: lib,
    })
}

fn lib() -> Result<&'static Lib, GssError> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| GssError(e.clone()))
}

fn empty() -> Buffer {
    Buffer {
        length: 0,
        value: std::ptr::null_mut(),
    }
}

fn input(b: &[u8]) -> Buffer {
    Buffer {
        length: b.len(),
        value: b.as_ptr() as *mut c_void,
    }
}

impl Lib {
    /// Copies a buffer the library allocated, and frees it.
    fn take(&self, b: &mut Buffer) -> Vec<u8> {
        let out = if b.value.is_null() || b.length == 0 {
            Vec::new()
        } else {
            // SAFETY: the library returned `length` bytes at `value`.
            unsafe { std::slice::from_raw_parts(b.value as *const u8, b.length) }.to_vec()
        };
        let mut minor = 0;
        // SAFETY: `b` was filled by the library.
        unsafe { (self.release_buffer)(&mut minor, b) };
        out
    }

    /// The library's message for a status.
    fn status(&self, what: &str, major: Major, minor: Minor) -> GssError {
        let mut words = Vec::new();
        for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            if code == 0 {
                continue;
            }
            let mut ctx = 0u32;
            loop {
                let (mut m, mut b) = (0, empty());
                // SAFETY: out-parameters of the documented types.
                let r = unsafe {
                    (self.display_status)(
                        &mut m,
                        code,
                        kind,
                        std::ptr::null_mut(),
                        &mut ctx,
                        &mut b,
                    )
                };
                if failed(r) {
                    break;
                }
                words.push(String::from_utf8_lossy(&self.take(&mut b)).into_owned());
                if ctx == 0 {
                    break;
                }
            }
        }
        GssError(format!("{what}: {}", words.join("; ")))
    }

    fn import(&self, principal: &str) -> Result<Name, GssError> {
        let (mut minor, mut name) = (0, std::ptr::null_mut());
        let mut b = input(principal.as_bytes());
        // SAFETY: `b` points into `principal`, alive for the call.
        let major = unsafe { (self.import_name)(&mut minor, &mut b, self.nt_principal, &mut name) };
        if failed(major) {
            return Err(self.status(&format!("principal {principal:?}"), major, minor));
        }
        Ok(name)
    }

    fn name_text(&self, name: Name) -> Result<String, GssError> {
        let (mut minor, mut b) = (0, empty());
        // SAFETY: `name` is a live name handle.
        let major = unsafe { (self.display_name)(&mut minor, name, &mut b, std::ptr::null_mut()) };
        if failed(major) {
            return Err(self.status("display name", major, minor));
        }
        Ok(String::from_utf8_lossy(&self.take(&mut b)).into_owned())
    }

    fn drop_name(&self, mut name: Name) {
        if !name.is_null() {
            let mut minor = 0;
            // SAFETY: a name handle the library gave out, released once.
            unsafe { (self.release_name)(&mut minor, &mut name) };
        }
    }
}

/// Sets the acceptor's keytab and checks that it holds `principal`'s key:
/// run once at start-up, before any exchange.
pub fn set_up_acceptor(keytab: &str, principal: &str) -> Result<(), GssError> {
    let l = lib()?;
    let path = CString::new(keytab).map_err(|_| GssError(format!("keytab {keytab:?}: a NUL")))?;
    // SAFETY: a NUL-terminated path; the library copies it.
    let major = unsafe { (l.register_acceptor)(path.as_ptr()) };
    if failed(major) {
        return Err(l.status(&format!("keytab {keytab}"), major, 0));
    }
    let name = l.import(principal)?;
    let (mut minor, mut cred) = (0, std::ptr::null_mut());
    // SAFETY: out-parameters of the documented types; `name` is live.
    let major = unsafe {
        (l.acquire_cred)(
            &mut minor,
            name,
            0,
            std::ptr::null_mut(),
            GSS_C_ACCEPT,
            &mut cred,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    l.drop_name(name);
    if failed(major) {
        return Err(l.status(&format!("no key for {principal} in {keytab}"), major, minor));
    }
    // SAFETY: the credential just acquired, released once.
    unsafe { (l.release_cred)(&mut minor, &mut cred) };
    Ok(())
}

/// One client's acceptor context.
pub struct Acceptor {
    ctx: Ctx,
    /// The principal the client must have asked for.
    principal: String,
}

/// What a context step gives.
pub enum Accepted {
    /// Send this token; more steps follow.
    Continue(Vec<u8>),
    /// Established: send `token` (possibly empty); `peer` is the client's
    /// principal.
    Done { token: Vec<u8>, peer: String },
}

impl Acceptor {
    pub fn new(principal: &str) -> Acceptor {
        Acceptor {
            ctx: std::ptr::null_mut(),
            principal: principal.to_string(),
        }
    }

    /// Takes one client token.
    pub fn step(&mut self, token: &[u8]) -> Result<Accepted, GssError> {
        let l = lib()?;
        let (mut minor, mut src, mut out) = (0, std::ptr::null_mut(), empty());
        let mut inp = input(token);
        // SAFETY: `self.ctx` is null or this exchange's live context; the
        // other arguments are out-parameters or null (no channel bindings,
        // no mechanism or flags wanted, default credential: the keytab).
        let major = unsafe {
            (l.accept)(
                &mut minor,
                &mut self.ctx,
                std::ptr::null_mut(),
                &mut inp,
                std::ptr::null_mut(),
                &mut src,
                std::ptr::null_mut(),
                &mut out,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let token = l.take(&mut out);
        if failed(major) {
            l.drop_name(src);
            return Err(l.status("accept", major, minor));
        }
        if major & GSS_S_CONTINUE_NEEDED != 0 {
            l.drop_name(src);
            return Ok(Accepted::Continue(token));
        }
        let peer = l.name_text(src);
        l.drop_name(src);
        let target = self.target(l)?;
        // A principal configured without a realm is in the default one.
        let same = target == self.principal
            || (!self.principal.contains('@')
                && target.split_once('@').map(|(n, _)| n) == Some(self.principal.as_str()));
        if !same {
            return Err(GssError(format!(
                "the client asked for {target}, not {}",
                self.principal
            )));
        }
        Ok(Accepted::Done { token, peer: peer? })
    }

    /// The principal the client's ticket is for.
    fn target(&self, l: &Lib) -> Result<String, GssError> {
        let (mut minor, mut targ) = (0, std::ptr::null_mut());
        // SAFETY: a live, established context; unwanted outputs are null.
        let major = unsafe {
            (l.inquire)(
                &mut minor,
                self.ctx,
                std::ptr::null_mut(),
                &mut targ,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if failed(major) {
            return Err(l.status("inquire context", major, minor));
        }
        let t = l.name_text(targ);
        l.drop_name(targ);
        t
    }

    /// Wraps `msg` with integrity only (`conf_req` 0).
    pub fn wrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        let l = lib()?;
        let (mut minor, mut out) = (0, empty());
        let mut inp = input(msg);
        // SAFETY: an established context; out-parameters.
        let major = unsafe {
            (l.wrap)(
                &mut minor,
                self.ctx,
                0,
                0,
                &mut inp,
                std::ptr::null_mut(),
                &mut out,
            )
        };
        let wrapped = l.take(&mut out);
        if failed(major) {
            return Err(l.status("wrap", major, minor));
        }
        Ok(wrapped)
    }

    pub fn unwrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        let l = lib()?;
        let (mut minor, mut out) = (0, empty());
        let mut inp = input(msg);
        // SAFETY: an established context; out-parameters.
        let major = unsafe {
            (l.unwrap)(
                &mut minor,
                self.ctx,
                &mut inp,
                &mut out,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let plain = l.take(&mut out);
        if failed(major) {
            return Err(l.status("unwrap", major, minor));
        }
        Ok(plain)
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        if self.ctx.is_null() {
            return;
        }
        if let Ok(l) = lib() {
            let mut minor = 0;
            // SAFETY: this exchange's context, deleted once.
            unsafe { (l.delete_ctx)(&mut minor, &mut self.ctx, std::ptr::null_mut()) };
        }
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("principal", &self.principal)
            .field("established", &!self.ctx.is_null())
            .finish()
    }
}
