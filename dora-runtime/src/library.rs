//! Loading operator libraries: Rust operators (`register_operator!`) and C
//! operators export the same three functions, so one loader serves both.

use std::path::{Path, PathBuf};

use dora_operator_api::abi::{
    DoraDropOperator, DoraInitOperator, DoraOnEvent, DROP_SYMBOL, INIT_SYMBOL, ON_EVENT_SYMBOL,
};

/// Why an operator library could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot load the operator library {path}: {reason}; check the path (relative to the dataflow's folder) and that the library was built")]
    Open { path: PathBuf, reason: String },
    #[error("the operator library {path} does not export `{symbol}`; a Rust operator calls `register_operator!(MyOperator)` in a `cdylib` crate, a C operator defines the three functions of dora.h")]
    MissingSymbol { path: PathBuf, symbol: &'static str },
}

/// A loaded operator library and its three functions.
pub struct Library {
    pub init: DoraInitOperator,
    pub on_event: DoraOnEvent,
    pub drop: DoraDropOperator,
    pub path: PathBuf,
    // Kept last: the functions above point into it. `None` for operators
    // that are not loaded from a library (Python ones).
    _library: Option<libloading::Library>,
}

impl Library {
    pub fn load(path: &Path) -> Result<Library, LoadError> {
        // SAFETY: loading runs the library's initialisers; an operator
        // library is trusted code, named by the dataflow's author.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let missing = |symbol| LoadError::MissingSymbol {
            path: path.to_owned(),
            symbol,
        };
        // SAFETY: the ABI fixes the type of each symbol; the pointers are
        // used only while `library` is loaded (it is kept beside them).
        unsafe {
            let init = *library
                .get::<DoraInitOperator>(INIT_SYMBOL.as_bytes())
                .map_err(|_| missing(INIT_SYMBOL))?;
            let on_event = *library
                .get::<DoraOnEvent>(ON_EVENT_SYMBOL.as_bytes())
                .map_err(|_| missing(ON_EVENT_SYMBOL))?;
            let drop = *library
                .get::<DoraDropOperator>(DROP_SYMBOL.as_bytes())
                .map_err(|_| missing(DROP_SYMBOL))?;
            Ok(Library {
                init,
                on_event,
                drop,
                path: path.to_owned(),
                _library: Some(library),
            })
        }
    }

    /// An operator kind served by functions of this process (Python
    /// operators, by the Python package), named by `path` in messages.
    pub fn from_functions(
        path: &Path,
        init: DoraInitOperator,
        on_event: DoraOnEvent,
        drop: DoraDropOperator,
    ) -> Library {
        Library {
            init,
            on_event,
            drop,
            path: path.to_owned(),
            _library: None,
        }
    }
}
