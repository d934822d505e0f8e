//! Kerberos through the system's GSS-API library (MIT's
//! `libgssapi_krb5.so.2`, Debian's `libgssapi-krb5-2`), loaded at run time
//! so that corral builds and runs without it when no JAAS section asks for
//! Kerberos. Owns the library handle, one acceptor context per exchange a
//! peer starts and one initiator context per exchange corral starts; the
//! SASL GSSAPI steps (RFC 4752) are in `sasl`.
//!
//! An acceptor uses either the keytab registered at start-up
//! (`krb5_gss_register_acceptor_identity`, the client port's JAAS
//! `keyTab`) or a keytab of its own (`gss_acquire_cred_from` with a
//! `keytab` in the credential store, the quorum's), and checks that the
//! peer asked for the configured principal. Accepting reads the replay
//! cache, a small file write per exchange, on the caller's executor.
//!
//! An initiator (a quorum learner) takes its credential from a keytab
//! (`client_keytab` in the credential store, with a process-wide memory
//! ticket cache so that a ticket-granting ticket serves many exchanges).
//! Its first step talks to the KDC: callers run initiator steps on a
//! blocking pool, never on an executor.

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

const GSS_C_INITIATE: c_int = 1;
const GSS_C_ACCEPT: c_int = 2;
const GSS_C_MUTUAL_FLAG: u32 = 2;
const GSS_C_CONF_FLAG: u32 = 16;
const GSS_C_INTEG_FLAG: u32 = 32;
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
/// `gss_key_value_element_desc`.
#[repr(C)]
struct KeyValue {
    key: *const std::ffi::c_char,
    value: *const std::ffi::c_char,
}

/// `gss_key_value_set_desc`.
#[repr(C)]
struct KeyValueSet {
    count: u32,
    elements: *const KeyValue,
}

type AcquireCredFrom = unsafe extern "C" fn(
    *mut Minor,
    Name,
    u32,
    *mut c_void,
    c_int,
    *const KeyValueSet,
    *mut Cred,
    *mut c_void,
    *mut u32,
) -> Major;
type InitSecContext = unsafe extern "C" fn(
    *mut Minor,
    Cred,
    *mut Ctx,
    Name,
    Oid,
    u32,
    u32,
    *mut c_void,
    *mut Buffer,
    *mut Oid,
    *mut Buffer,
    *mut u32,
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
    acquire_cred_from: AcquireCredFrom,
    init: InitSecContext,
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
    /// `GSS_C_NT_HOSTBASED_SERVICE`.
    nt_service: Oid,
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
    macro_rules! oid {
        ($name:literal) => {
            // SAFETY: the name types are `gss_OID` variables.
            unsafe {
                **lib
                    .get::<*mut Oid>($name)
                    .map_err(|e| format!("{LIBRARY}: no {}: {e}", String::from_utf8_lossy($name)))?
            }
        };
    }
    let nt_principal: Oid = oid!(b"GSS_KRB5_NT_PRINCIPAL_NAME");
    let nt_service: Oid = oid!(b"GSS_C_NT_HOSTBASED_SERVICE");
    Ok(Lib {
        import_name: sym!(b"gss_import_name"),
        acquire_cred: sym!(b"gss_acquire_cred"),
        acquire_cred_from: sym!(b"gss_acquire_cred_from"),
        init: sym!(b"gss_init_sec_context"),
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
        nt_service,
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
        self.import_as(principal, self.nt_principal)
    }

    fn import_as(&self, text: &str, kind: Oid) -> Result<Name, GssError> {
        let (mut minor, mut name) = (0, std::ptr::null_mut());
        let mut b = input(text.as_bytes());
        // SAFETY: `b` points into `text`, alive for the call.
        let major = unsafe { (self.import_name)(&mut minor, &mut b, kind, &mut name) };
        if failed(major) {
            return Err(self.status(&format!("name {text:?}"), major, minor));
        }
        Ok(name)
    }

    /// A credential for `principal` from the credential store `store`
    /// (`gss_acquire_cred_from`).
    fn acquire_from(
        &self,
        principal: &str,
        usage: c_int,
        store: &[(&str, &str)],
    ) -> Result<Cred, GssError> {
        let texts = store
            .iter()
            .map(|(k, v)| Ok((CString::new(*k)?, CString::new(*v)?)))
            .collect::<Result<Vec<_>, std::ffi::NulError>>()
            .map_err(|_| GssError(format!("credential store {store:?}: a NUL")))?;
        let elements: Vec<KeyValue> = texts
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = KeyValueSet {
            count: elements.len() as u32,
            elements: elements.as_ptr(),
        };
        let name = self.import(principal)?;
        let (mut minor, mut cred) = (0, std::ptr::null_mut());
        // SAFETY: `set` points at `elements` and `texts`, alive for the
        // call (the library copies what it keeps); `name` is live; the
        // rest are out-parameters or null (default mechanisms).
        let major = unsafe {
            (self.acquire_cred_from)(
                &mut minor,
                name,
                0,
                std::ptr::null_mut(),
                usage,
                &set,
                &mut cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        self.drop_name(name);
        if failed(major) {
            return Err(self.status(&format!("credential for {principal}"), major, minor));
        }
        Ok(cred)
    }

    fn drop_cred(&self, mut cred: Cred) {
        if !cred.is_null() {
            let mut minor = 0;
            // SAFETY: a credential the library gave out, released once.
            unsafe { (self.release_cred)(&mut minor, &mut cred) };
        }
    }

    /// Wraps `msg` with integrity only (`conf_req` 0).
    fn wrap(&self, ctx: Ctx, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        let (mut minor, mut out) = (0, empty());
        let mut inp = input(msg);
        // SAFETY: an established context; out-parameters.
        let major = unsafe {
            (self.wrap)(
                &mut minor,
                ctx,
                0,
                0,
                &mut inp,
                std::ptr::null_mut(),
                &mut out,
            )
        };
        let wrapped = self.take(&mut out);
        if failed(major) {
            return Err(self.status("wrap", major, minor));
        }
        Ok(wrapped)
    }

    fn unwrap(&self, ctx: Ctx, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        let (mut minor, mut out) = (0, empty());
        let mut inp = input(msg);
        // SAFETY: an established context; out-parameters.
        let major = unsafe {
            (self.unwrap)(
                &mut minor,
                ctx,
                &mut inp,
                &mut out,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let plain = self.take(&mut out);
        if failed(major) {
            return Err(self.status("unwrap", major, minor));
        }
        Ok(plain)
    }

    /// A context's initiator (`source`) or acceptor principal.
    fn context_name(&self, ctx: Ctx, source: bool) -> Result<String, GssError> {
        let (mut minor, mut name) = (0, std::ptr::null_mut());
        let (src, targ): (*mut Name, *mut Name) = if source {
            (&mut name, std::ptr::null_mut())
        } else {
            (std::ptr::null_mut(), &mut name)
        };
        // SAFETY: a live, established context; unwanted outputs are null.
        let major = unsafe {
            (self.inquire)(
                &mut minor,
                ctx,
                src,
                targ,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if failed(major) {
            return Err(self.status("inquire context", major, minor));
        }
        let t = self.name_text(name);
        self.drop_name(name);
        t
    }

    fn delete(&self, ctx: &mut Ctx) {
        if !ctx.is_null() {
            let mut minor = 0;
            // SAFETY: a context the library gave out, deleted once.
            unsafe { (self.delete_ctx)(&mut minor, ctx, std::ptr::null_mut()) };
        }
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

/// Checks that `keytab` holds `principal`'s key for accepting, without
/// touching the process-wide acceptor keytab: run at start-up.
pub fn check_acceptor_keytab(keytab: &str, principal: &str) -> Result<(), GssError> {
    let l = lib()?;
    let cred = l.acquire_from(principal, GSS_C_ACCEPT, &[("keytab", keytab)])?;
    l.drop_cred(cred);
    Ok(())
}

/// The process's memory ticket cache for initiators: the ticket-granting
/// ticket got from a client keytab serves every later exchange.
fn initiator_ccache() -> String {
    format!("MEMORY:corral-initiator-{}", std::process::id())
}

/// Checks that an initiator credential for `principal` can be had from
/// `keytab` (this may ask the KDC for a ticket, as the JDK's
/// `Krb5LoginModule` does at login): run at start-up, off any executor.
pub fn check_initiator_keytab(keytab: &str, principal: &str) -> Result<(), GssError> {
    let l = lib()?;
    let ccache = initiator_ccache();
    let cred = l.acquire_from(
        principal,
        GSS_C_INITIATE,
        &[("client_keytab", keytab), ("ccache", &ccache)],
    )?;
    l.drop_cred(cred);
    Ok(())
}

/// One exchange's acceptor context.
pub struct Acceptor {
    ctx: Ctx,
    /// The principal the client must have asked for.
    principal: String,
    /// A keytab of this acceptor's own (else the registered one).
    keytab: Option<String>,
    /// The credential from `keytab`, once acquired.
    cred: Cred,
}

// The context and credential are used by one thread at a time, which MIT's
// library allows; nothing else refers to them.
unsafe impl Send for Acceptor {}

/// What a context step gives.
pub enum Accepted {
    /// Send this token; more steps follow.
    Continue(Vec<u8>),
    /// Established: send `token` (possibly empty); `peer` is the client's
    /// principal.
    Done { token: Vec<u8>, peer: String },
}

impl Acceptor {
    /// An acceptor with the keytab registered at start-up.
    pub fn new(principal: &str) -> Acceptor {
        Acceptor {
            ctx: std::ptr::null_mut(),
            principal: principal.to_string(),
            keytab: None,
            cred: std::ptr::null_mut(),
        }
    }

    /// An acceptor with a keytab of its own.
    pub fn with_keytab(principal: &str, keytab: &str) -> Acceptor {
        let mut a = Acceptor::new(principal);
        a.keytab = Some(keytab.to_string());
        a
    }

    /// Takes one client token.
    pub fn step(&mut self, token: &[u8]) -> Result<Accepted, GssError> {
        let l = lib()?;
        if let (Some(k), true) = (&self.keytab, self.cred.is_null()) {
            self.cred = l.acquire_from(&self.principal, GSS_C_ACCEPT, &[("keytab", k)])?;
        }
        let (mut minor, mut src, mut out) = (0, std::ptr::null_mut(), empty());
        let mut inp = input(token);
        // SAFETY: `self.ctx` is null or this exchange's live context;
        // `self.cred` is null (the default credential: the registered
        // keytab) or this acceptor's live credential; the other arguments
        // are out-parameters or null (no channel bindings, no mechanism or
        // flags wanted).
        let major = unsafe {
            (l.accept)(
                &mut minor,
                &mut self.ctx,
                self.cred,
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
        let target = l.context_name(self.ctx, false)?;
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

    /// Wraps `msg` with integrity only (`conf_req` 0).
    pub fn wrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        lib()?.wrap(self.ctx, msg)
    }

    pub fn unwrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        lib()?.unwrap(self.ctx, msg)
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        if let Ok(l) = lib() {
            l.delete(&mut self.ctx);
            l.drop_cred(std::mem::replace(&mut self.cred, std::ptr::null_mut()));
        }
    }
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("principal", &self.principal)
            .field("keytab", &self.keytab)
            .field("established", &!self.ctx.is_null())
            .finish()
    }
}

/// One exchange's initiator context: `principal` (its key in `keytab`)
/// to the host-based service `target` (`service@host`). Every step may
/// block on the KDC: run them on a blocking pool.
pub struct Initiator {
    ctx: Ctx,
    cred: Cred,
    target: Name,
    principal: String,
    keytab: String,
    target_text: String,
}

// As for `Acceptor`: one thread at a time, nothing else refers to them.
unsafe impl Send for Initiator {}

/// What an initiator step gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Initiated {
    /// Send this token; the acceptor answers with another.
    Continue(Vec<u8>),
    /// Established: send `token` unless it is empty.
    Done(Vec<u8>),
}

impl Initiator {
    pub fn new(keytab: &str, principal: &str, target: &str) -> Initiator {
        Initiator {
            ctx: std::ptr::null_mut(),
            cred: std::ptr::null_mut(),
            target: std::ptr::null_mut(),
            principal: principal.to_string(),
            keytab: keytab.to_string(),
            target_text: target.to_string(),
        }
    }

    /// Takes the acceptor's token (empty for the first step). Mutual
    /// authentication is asked for, so the acceptor answers the first.
    pub fn step(&mut self, token: &[u8]) -> Result<Initiated, GssError> {
        let l = lib()?;
        if self.cred.is_null() {
            let ccache = initiator_ccache();
            self.cred = l.acquire_from(
                &self.principal,
                GSS_C_INITIATE,
                &[("client_keytab", &self.keytab), ("ccache", &ccache)],
            )?;
        }
        if self.target.is_null() {
            self.target = l.import_as(&self.target_text, l.nt_service)?;
        }
        let (mut minor, mut out) = (0, empty());
        let mut inp = input(token);
        // SAFETY: a live credential and target name; `self.ctx` is null or
        // this exchange's live context; no channel bindings; the default
        // mechanism (Kerberos); unwanted outputs are null.
        let major = unsafe {
            (l.init)(
                &mut minor,
                self.cred,
                &mut self.ctx,
                self.target,
                std::ptr::null_mut(),
                GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | GSS_C_CONF_FLAG,
                0,
                std::ptr::null_mut(),
                &mut inp,
                std::ptr::null_mut(),
                &mut out,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let out = l.take(&mut out);
        if failed(major) {
            return Err(l.status(&format!("initiate to {}", self.target_text), major, minor));
        }
        if major & GSS_S_CONTINUE_NEEDED != 0 {
            Ok(Initiated::Continue(out))
        } else {
            Ok(Initiated::Done(out))
        }
    }

    /// The initiator's own principal, with its realm, as the acceptor
    /// sees it: the context must be established.
    pub fn source(&self) -> Result<String, GssError> {
        lib()?.context_name(self.ctx, true)
    }

    /// Wraps `msg` with integrity only (`conf_req` 0).
    pub fn wrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        lib()?.wrap(self.ctx, msg)
    }

    pub fn unwrap(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        lib()?.unwrap(self.ctx, msg)
    }
}

impl Drop for Initiator {
    fn drop(&mut self) {
        if let Ok(l) = lib() {
            l.delete(&mut self.ctx);
            l.drop_cred(std::mem::replace(&mut self.cred, std::ptr::null_mut()));
            l.drop_name(std::mem::replace(&mut self.target, std::ptr::null_mut()));
        }
    }
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("principal", &self.principal)
            .field("target", &self.target_text)
            .field("established", &!self.ctx.is_null())
            .finish()
    }
}
