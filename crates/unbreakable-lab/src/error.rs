//! The laboratory's errors: the core crate's [`ConfigError`], and failures of frames,
//! charts and files.

pub use unbreakable::error::{ConfigError, check_probability};

/// The laboratory's error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration was rejected when it was built.
    ///
    /// ### Handling
    /// Change the configuration as the message says; this is never transient.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Building a DataFrame or a CSV file failed.
    ///
    /// ### Handling
    /// Usually a bug in the caller (columns of different lengths) or a full disk.
    #[error("data: {0}")]
    Data(String),

    /// Drawing a chart failed.
    ///
    /// ### Handling
    /// Usually an unwritable output path or an empty data set.
    #[error("chart: {0}")]
    Chart(String),

    /// Reading or writing a file failed.
    ///
    /// ### Handling
    /// Check the path and its permissions.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<unbreakable::Error> for Error {
    fn from(e: unbreakable::Error) -> Self {
        match e {
            unbreakable::Error::Config(c) => Error::Config(c),
            unbreakable::Error::Io(io) => Error::Io(io),
            other => Error::Data(other.to_string()),
        }
    }
}

#[cfg(feature = "frames")]
impl From<polars::error::PolarsError> for Error {
    fn from(e: polars::error::PolarsError) -> Self {
        Error::Data(e.to_string())
    }
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        Error::Data(e.to_string())
    }
}
