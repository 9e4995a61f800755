//! The registry of live handles: how a pointer the caller hands back is checked before
//! anything behind it is touched.
//!
//! Every handle the library returns (database, transaction, iterator, batch, server,
//! query result, error) is the address of a small allocation (a "shell") owned by this
//! registry, which maps the address to the object behind it. A call looks the address up
//! and gets a counted reference to the object, so a handle freed on one thread while in
//! use on another stays valid until the call finishes; a pointer that is not a live
//! handle of the expected kind is never dereferenced.
//!
//! A freed handle's shell is kept in a quarantine of the last [`QUARANTINE`] frees: its
//! address cannot be reused by a new handle meanwhile, and using it gives `Closed`.
//! After that it is released and the address may be reused (the caller's use-after-free
//! may then alias a newer handle; it still never touches freed memory).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock};

use parking_lot::{Mutex, RwLock};

use crate::error::{Error, Result};

/// How many freed handles are remembered (and their addresses kept from reuse).
pub(crate) const QUARANTINE: usize = 4096;

/// Number of independently locked parts of the registry.
const SHARDS: usize = 16;

/// A type that lives behind a C handle.
pub trait Handle: Any + Send + Sync {
    /// The C type name, used in error messages (`"sochdb_db"`).
    const KIND: &'static str;
    /// The opaque C type the handle points to.
    type C;
}

/// One registered handle.
struct Entry {
    /// The C type name of the object.
    kind: &'static str,
    /// The object; `None` once freed (the entry is then in quarantine).
    obj: Option<Arc<dyn Any + Send + Sync>>,
    /// The allocation whose address is the handle; dropping it frees the address.
    _shell: Box<u64>,
}

/// Hashes addresses (already unique; 16-byte aligned) with one multiplication.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Map = HashMap<usize, Entry, BuildHasherDefault<AddrHasher>>;

/// The registry: sharded maps plus the quarantine of freed addresses.
struct Registry {
    /// Address to entry, split by address to spread lock traffic.
    shards: Vec<RwLock<Map>>,
    /// Freed addresses, oldest first. Lock order: quarantine before any shard.
    quarantine: Mutex<VecDeque<usize>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    shards: (0..SHARDS).map(|_| RwLock::new(Map::default())).collect(),
    quarantine: Mutex::new(VecDeque::with_capacity(QUARANTINE)),
});

fn shard(addr: usize) -> &'static RwLock<Map> {
    &REGISTRY.shards[(addr >> 4) % SHARDS]
}

/// Registers `obj` and returns its handle (never NULL).
pub fn register<T: Handle>(obj: T) -> *mut T::C {
    register_arc(Arc::new(obj))
}

/// Registers an already shared object and returns its handle (never NULL).
pub fn register_arc<T: Handle>(obj: Arc<T>) -> *mut T::C {
    let shell = Box::new(0u64);
    let addr = &*shell as *const u64 as usize;
    let entry = Entry {
        kind: T::KIND,
        obj: Some(obj as Arc<dyn Any + Send + Sync>),
        _shell: shell,
    };
    shard(addr).write().insert(addr, entry);
    addr as *mut T::C
}

/// The object behind a handle of kind `T`.
///
/// Errors: `InvalidArgument` for NULL, for a pointer that is no live handle, or for a
/// handle of another kind; `Closed` for a handle of this kind that was freed.
pub fn get<T: Handle>(ptr: *const T::C) -> Result<Arc<T>> {
    let addr = check_null::<T>(ptr)?;
    let map = shard(addr).read();
    match map.get(&addr) {
        Some(Entry {
            kind,
            obj: Some(obj),
            ..
        }) => {
            if *kind != T::KIND {
                return Err(wrong_kind::<T>(kind));
            }
            let obj = Arc::clone(obj);
            drop(map);
            downcast(obj)
        }
        Some(Entry {
            kind, obj: None, ..
        }) => Err(freed::<T>(kind)),
        None => Err(unknown::<T>(addr)),
    }
}

/// Unregisters a handle of kind `T` and returns its object, for the caller to release.
/// The address goes into quarantine. Errors as [`get`].
pub fn take<T: Handle>(ptr: *const T::C) -> Result<Arc<T>> {
    let addr = check_null::<T>(ptr)?;
    let obj = {
        let mut map = shard(addr).write();
        match map.get_mut(&addr) {
            Some(entry) if entry.obj.is_some() => {
                if entry.kind != T::KIND {
                    return Err(wrong_kind::<T>(entry.kind));
                }
                entry.obj.take()
            }
            Some(entry) => return Err(freed::<T>(entry.kind)),
            None => return Err(unknown::<T>(addr)),
        }
    };
    quarantine(addr);
    match obj {
        Some(obj) => downcast(obj),
        None => Err(Error::Internal(format!(
            "{} handle vanished while being freed",
            T::KIND
        ))),
    }
}

/// Releases the object behind an owner handle embedded in a struct the caller holds (a
/// row, a query result): NULL and an owner already released are ignored; any other
/// invalid pointer is an error.
pub fn release_owner<T: Handle>(owner: *const T::C) -> Result<()> {
    if owner.is_null() {
        return Ok(());
    }
    match take::<T>(owner) {
        Ok(obj) => drop(obj),
        Err(Error::Closed(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

fn quarantine(addr: usize) {
    let mut q = REGISTRY.quarantine.lock();
    q.push_back(addr);
    while q.len() > QUARANTINE {
        if let Some(old) = q.pop_front() {
            // Dropping the entry drops its shell: the address may now be reused.
            shard(old).write().remove(&old);
        }
    }
}

fn check_null<T: Handle>(ptr: *const T::C) -> Result<usize> {
    if ptr.is_null() {
        return Err(Error::InvalidArgument(format!(
            "the {} handle is NULL",
            T::KIND
        )));
    }
    Ok(ptr as usize)
}

fn downcast<T: Handle>(obj: Arc<dyn Any + Send + Sync>) -> Result<Arc<T>> {
    obj.downcast::<T>().map_err(|_| {
        Error::Internal(format!(
            "registry entry of kind {} holds another type",
            T::KIND
        ))
    })
}

fn wrong_kind<T: Handle>(kind: &str) -> Error {
    Error::InvalidArgument(format!(
        "expected a {} handle, got a {kind} handle",
        T::KIND
    ))
}

fn freed<T: Handle>(kind: &str) -> Error {
    if kind == T::KIND {
        Error::Closed(format!("the {kind} handle was already closed or freed"))
    } else {
        Error::InvalidArgument(format!(
            "expected a {} handle, got a freed {kind} handle",
            T::KIND
        ))
    }
}

fn unknown<T: Handle>(addr: usize) -> Error {
    Error::InvalidArgument(format!(
        "{addr:#x} is not a live {} handle (never returned by the library, or freed long ago)",
        T::KIND
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Status;

    #[derive(Debug)]
    struct A(u32);
    impl Handle for A {
        const KIND: &'static str = "test_a";
        type C = u8;
    }
    #[derive(Debug)]
    struct B;
    impl Handle for B {
        const KIND: &'static str = "test_b";
        type C = u8;
    }

    #[test]
    fn lookup_checks_liveness_and_kind() {
        let a = register(A(7));
        let b = register(B);
        assert_eq!(get::<A>(a).unwrap().0, 7);
        assert!(get::<B>(b).is_ok());
        let e = get::<B>(a).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert!(
            e.to_string()
                .contains("expected a test_b handle, got a test_a")
        );
        let e = get::<A>(std::ptr::null()).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        let local = 0u8;
        let e = get::<A>(&local).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert!(e.to_string().contains("not a live test_a handle"));

        let obj = take::<A>(a).unwrap();
        assert_eq!(obj.0, 7);
        assert_eq!(get::<A>(a).unwrap_err().status(), Status::Closed);
        assert_eq!(take::<A>(a).unwrap_err().status(), Status::Closed);
        assert_eq!(get::<B>(a).unwrap_err().status(), Status::InvalidArgument);
        take::<B>(b).unwrap();
    }

    #[test]
    fn an_object_outlives_its_handle_while_in_use() {
        let a = register(A(1));
        let held = get::<A>(a).unwrap();
        drop(take::<A>(a).unwrap());
        assert_eq!(held.0, 1);
    }

    #[test]
    fn addresses_are_not_reused_while_quarantined() {
        let first = register(A(0));
        take::<A>(first).unwrap();
        let mut seen = Vec::new();
        for i in 0..64 {
            let h = register(A(i));
            assert_ne!(h, first);
            seen.push(h);
        }
        assert_eq!(get::<A>(first).unwrap_err().status(), Status::Closed);
        for h in seen {
            take::<A>(h).unwrap();
        }
    }

    #[test]
    fn concurrent_register_lookup_take() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let h = register(A(t * 10_000 + i));
                        assert_eq!(get::<A>(h).unwrap().0, t * 10_000 + i);
                        take::<A>(h).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
