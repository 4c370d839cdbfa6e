//! `segtui._core`: a thin PyO3 layer over `segtui-core`.
//!
//! It only converts types: columns arrive as buffer-protocol objects (numpy arrays, pyarrow
//! buffers) and leave as [`columns::Column`] objects that expose the Rust vector through the
//! buffer protocol, so neither direction builds a Python object per row. Every long call
//! releases the GIL.

use pyo3::prelude::*;

mod columns;
mod engine_py;
mod history_py;
mod import_py;
mod rules_py;
mod store_py;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", segtui_core::schema::latest_version())?;
    m.add_function(wrap_pyfunction!(schema_migrations, m)?)?;
    m.add_class::<columns::Column>()?;
    import_py::register(m)?;
    engine_py::register(m)?;
    store_py::register(m)?;
    history_py::register(m)?;
    rules_py::register(m)?;
    Ok(())
}

/// The store's forward migrations as `[(version, sql), ...]`, oldest first.
#[pyfunction]
fn schema_migrations() -> Vec<(i64, &'static str)> {
    segtui_core::schema::MIGRATIONS.to_vec()
}
