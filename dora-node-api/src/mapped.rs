//! A file mapped into memory, shared with every process that maps it: the
//! node's awake flag and its counts live in such files.

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;

/// Opens (or creates, readable by its owner only) the file at `path`,
/// makes it at least `len` bytes long, and maps its first `len` bytes for
/// reading and writing. The mapping lives until it is unmapped; the
/// returned error says which step failed.
pub(crate) fn map_file(path: &Path, len: usize) -> std::io::Result<NonNull<u8>> {
    let step = |what: &str, error: std::io::Error| {
        std::io::Error::new(error.kind(), format!("cannot {what}: {error}"))
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| step("open", e))?;
    if file.metadata().map_err(|e| step("read", e))?.len() < len as u64 {
        // Extending with zeroes is harmless if another process did it
        // first.
        file.set_len(len as u64).map_err(|e| step("size", e))?;
    }
    // SAFETY: a fresh shared mapping of a file we opened for reading and
    // writing, at least `len` bytes long; the result is checked before use.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(step("map", std::io::Error::last_os_error()));
    }
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| step("map", std::io::Error::other("null mapping")))
}
