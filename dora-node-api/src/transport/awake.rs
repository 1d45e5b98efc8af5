//! Wake-ups only for nodes that may be asleep.
//!
//! A notify is a system call, and one per message caps a sender at well
//! under a million small messages a second. So every node has a flag in
//! shared memory that says "I am awake and will look at my inputs before
//! I sleep again"; senders skip the notify while it is set.
//!
//! No wake-up can be lost. The receiver clears the flag, then looks at its
//! inputs once more, then sleeps; the sender publishes, then reads the
//! flag. A sequentially consistent fence between the two steps on each
//! side means that either the receiver's last look sees the message or
//! the sender sees the cleared flag and notifies. A fresh flag is clear,
//! so a sender notifies until the receiver says otherwise.

use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};

use crate::error::TransportError;

/// The size of the mapping; one page would do, this is what is needed.
const LEN: usize = std::mem::size_of::<AtomicU32>();

/// Where the flags of run `dataflow_id` live; see `remove_run_files`.
pub(crate) fn file_prefix(dataflow_id: &str) -> String {
    format!("dora-{dataflow_id}.")
}

/// The awake flag of the node whose wake-up channel is `wakeup`.
pub(crate) struct AwakeFlag {
    word: NonNull<AtomicU32>,
}

// SAFETY: the flag is a word of shared memory that every process and
// thread only ever reads and writes atomically, and the mapping lives as
// long as the handle.
unsafe impl Send for AwakeFlag {}
// SAFETY: as above.
unsafe impl Sync for AwakeFlag {}

impl AwakeFlag {
    /// Opens the flag, creating it (clear) if it does not exist yet:
    /// senders and the receiver may come in either order.
    pub(crate) fn open(dataflow_id: &str, wakeup: &str) -> Result<AwakeFlag, TransportError> {
        let channel = wakeup
            .strip_prefix(&format!("dora/{dataflow_id}/"))
            .unwrap_or(wakeup);
        let path = format!(
            "/dev/shm/{}{}.awake",
            file_prefix(dataflow_id),
            channel.replace('/', ".")
        );
        let word = crate::mapped::map_file(std::path::Path::new(&path), LEN)
            .map_err(|e| TransportError::new(format!("the awake flag {path}"), e))?
            .cast::<AtomicU32>();
        Ok(AwakeFlag { word })
    }

    fn word(&self) -> &AtomicU32 {
        // SAFETY: the mapping lives as long as `self`, is page aligned and
        // is only ever accessed atomically.
        unsafe { self.word.as_ref() }
    }

    /// Receiver: it will look at its inputs before it next sleeps.
    pub(crate) fn set_awake(&self) {
        self.word().store(1, Ordering::Relaxed);
    }

    /// Receiver, before its last look at its inputs and then sleeping.
    pub(crate) fn set_may_sleep(&self) {
        self.word().store(0, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Sender, after publishing: whether the receiver needs a notify.
    pub(crate) fn needs_notify(&self) -> bool {
        fence(Ordering::SeqCst);
        self.word().load(Ordering::Relaxed) == 0
    }
}

impl Drop for AwakeFlag {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe {
            libc::munmap(self.word.as_ptr().cast(), LEN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_flag_see_each_other() {
        let run = format!("awaketest{}", std::process::id());
        {
            let receiver = AwakeFlag::open(&run, "dora/x/n/wakeup").unwrap();
            let sender = AwakeFlag::open(&run, "dora/x/n/wakeup").unwrap();
            assert!(sender.needs_notify(), "a fresh flag must ask for notifies");
            receiver.set_awake();
            assert!(!sender.needs_notify());
            receiver.set_may_sleep();
            assert!(sender.needs_notify());
        }
        crate::transport::remove_run_files(&run).unwrap();
        let left = std::fs::read_dir("/dev/shm")
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                name.to_string_lossy().contains(&run)
            })
            .count();
        assert_eq!(left, 0);
    }
}
