//! The configuration error type.

use std::path::PathBuf;

/// Why the configuration could not be loaded or is not acceptable.
///
/// Every variant names what the operator has to fix: the file, the key or
/// the environment variable, and the offending value where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A configuration file could not be read (missing, permission, ...).
    #[error("cannot read config file {}", path.display())]
    Unreadable {
        /// The file that was asked for.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },

    /// A configuration file is not valid JSON, or its top level is not a
    /// JSON object (`{ "KEY": value, ... }`).
    #[error("config file {} is not a JSON object of settings (line {line}, column {column}): {msg}", path.display())]
    NotJson {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser found.
        msg: String,
    },

    /// A key has a value of the wrong type (e.g. a string for a port).
    #[error("{source_name}: key {key}: {msg}")]
    WrongType {
        /// Where the value came from, e.g. `config file /etc/peer.json`.
        source_name: String,
        /// The configuration key, e.g. `PORT_PEER`.
        key: String,
        /// What was found and what was expected.
        msg: String,
    },

    /// An environment variable named like a key holds a value that cannot
    /// be converted to that key's type.
    #[error("environment variable {key}={value:?}: {msg}")]
    BadEnv {
        /// The environment variable (same name as the configuration key).
        key: String,
        /// Its value.
        value: String,
        /// What was expected.
        msg: String,
    },

    /// A value has the right type but is out of range or inconsistent.
    #[error("invalid config value for {key}: {msg}")]
    Invalid {
        /// The configuration key.
        key: String,
        /// What is wrong and what is allowed.
        msg: String,
    },
}
