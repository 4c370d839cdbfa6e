//! Columns across the boundary, without a Python object per row.
//!
//! In: numeric columns are any C-contiguous buffer-protocol object of the right item type
//! (a numpy array, `polars.Series.to_numpy()`, a pyarrow buffer); a text column is the three
//! buffers of a pyarrow `large_string` array plus its offset and length (see
//! `segtui._columns.text_column`). Slices borrow the Python memory for the duration of the
//! call: nothing is copied.
//!
//! Out: a [`Column`] owns a Rust `Vec` and lends it to Python through the buffer protocol,
//! so `pyarrow.py_buffer(col)` and `numpy.frombuffer(col)` wrap it without copying.

use pyo3::buffer::{Element, PyBuffer};
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_int, c_void, CString};

/// A borrowed, read-only view of a numeric buffer. Keeps the `PyBuffer` alive.
pub struct NumView<T: Element> {
    buf: PyBuffer<T>,
}

impl<T: Element + Copy> NumView<T> {
    pub fn new(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let buf = PyBuffer::<T>::get(obj).map_err(|e| {
            PyValueError::new_err(format!("column {name}: expected a contiguous buffer: {e}"))
        })?;
        if !buf.is_c_contiguous() {
            return Err(PyValueError::new_err(format!(
                "column {name}: buffer is not C-contiguous"
            )));
        }
        Ok(Self { buf })
    }

    /// The data as a slice. Valid while `self` lives; the GIL need not be held because the
    /// exporter keeps the memory pinned until the buffer is released.
    pub fn as_slice(&self) -> &[T] {
        let n = self.buf.item_count();
        if n == 0 {
            return &[];
        }
        // SAFETY: the buffer is C-contiguous, of item type T (checked by PyBuffer::get), and
        // pinned by the exporter until `self.buf` is dropped.
        unsafe { std::slice::from_raw_parts(self.buf.buf_ptr() as *const T, n) }
    }
}

/// A borrowed pyarrow `large_string` array: validity bitmap (optional), i64 offsets, bytes.
pub struct TextView {
    validity: Option<PyBuffer<u8>>,
    offsets: PyBuffer<i64>,
    data: PyBuffer<u8>,
    offset: usize,
    len: usize,
}

impl TextView {
    /// `spec` is the tuple `(validity | None, offsets, data, offset, length)`.
    pub fn new(spec: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let (validity, offsets, data, offset, len): (
            Option<Bound<'_, PyAny>>,
            Bound<'_, PyAny>,
            Option<Bound<'_, PyAny>>,
            usize,
            usize,
        ) = spec.extract().map_err(|e| {
            PyValueError::new_err(format!(
                "column {name}: expected (validity, offsets, data, offset, length): {e}"
            ))
        })?;
        let validity = match validity {
            Some(v) => Some(PyBuffer::<u8>::get(&v)?),
            None => None,
        };
        let offsets = PyBuffer::<i64>::get(&offsets)?;
        let data = match data {
            Some(d) => PyBuffer::<u8>::get(&d)?,
            None => PyBuffer::<u8>::get(&pyo3::types::PyBytes::new(spec.py(), b"").into_any())?,
        };
        if offsets.item_count() < offset + len + 1 {
            return Err(PyValueError::new_err(format!(
                "column {name}: offsets buffer shorter than offset + length + 1"
            )));
        }
        Ok(Self { validity, offsets, data, offset, len })
    }

    pub fn borrow(&self) -> TextSlice<'_> {
        let offs = unsafe {
            std::slice::from_raw_parts(self.offsets.buf_ptr() as *const i64, self.offsets.item_count())
        };
        let data: &[u8] = if self.data.item_count() == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(self.data.buf_ptr() as *const u8, self.data.item_count()) }
        };
        let validity = self.validity.as_ref().map(|v| unsafe {
            std::slice::from_raw_parts(v.buf_ptr() as *const u8, v.item_count())
        });
        TextSlice { validity, offsets: offs, data, offset: self.offset, len: self.len }
    }
}

/// A plain-Rust view of a text column, safe to send into `py.detach`.
#[derive(Clone, Copy)]
pub struct TextSlice<'a> {
    validity: Option<&'a [u8]>,
    offsets: &'a [i64],
    data: &'a [u8],
    offset: usize,
    len: usize,
}

impl<'a> TextSlice<'a> {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Value `i` as raw bytes (arrow strings are UTF-8 already), `None` when null.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let j = self.offset + i;
        if let Some(v) = self.validity {
            if v[j >> 3] & (1u8 << (j & 7)) == 0 {
                return None;
            }
        }
        let (a, b) = (self.offsets[j] as usize, self.offsets[j + 1] as usize);
        Some(&self.data[a..b])
    }
}

/// An owned column handed to Python through the buffer protocol.
#[pyclass(module = "segtui._core", frozen)]
pub struct Column {
    data: Data,
    /// Give the memory to the engine's buffer pool when Python frees the column.
    recycle: bool,
}

/// A scoring result's column goes back to the engine's buffer pool when Python frees it, so
/// the next run (the next date of a series) writes into pages already mapped. Other columns
/// (reads of the store, listings) are simply freed: a long-lived process that only reads
/// should not hold idle buffers.
impl Drop for Column {
    fn drop(&mut self) {
        if !self.recycle {
            return;
        }
        use segtui_core::engine::mem::give_vec;
        match &mut self.data {
            Data::I64(v) => give_vec(std::mem::take(v)),
            Data::I32(v) => give_vec(std::mem::take(v)),
            Data::U32(v) => give_vec(std::mem::take(v)),
            Data::U8(v) => give_vec(std::mem::take(v)),
            Data::F64(v) => give_vec(std::mem::take(v)),
        }
    }
}

enum Data {
    I64(Vec<i64>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    U8(Vec<u8>),
    F64(Vec<f64>),
}

impl Data {
    fn raw(&self) -> (*const u8, usize, usize, &'static str, &'static str) {
        // (pointer, item count, item size, struct format, dtype name)
        match self {
            Data::I64(v) => (v.as_ptr() as *const u8, v.len(), 8, "q", "int64"),
            Data::I32(v) => (v.as_ptr() as *const u8, v.len(), 4, "i", "int32"),
            Data::U32(v) => (v.as_ptr() as *const u8, v.len(), 4, "I", "uint32"),
            Data::U8(v) => (v.as_ptr(), v.len(), 1, "B", "uint8"),
            Data::F64(v) => (v.as_ptr() as *const u8, v.len(), 8, "d", "float64"),
        }
    }
}

impl From<Vec<i64>> for Column {
    fn from(v: Vec<i64>) -> Self {
        Column { data: Data::I64(v), recycle: false }
    }
}
impl From<Vec<i32>> for Column {
    fn from(v: Vec<i32>) -> Self {
        Column { data: Data::I32(v), recycle: false }
    }
}
impl From<Vec<u32>> for Column {
    fn from(v: Vec<u32>) -> Self {
        Column { data: Data::U32(v), recycle: false }
    }
}
impl From<Vec<u8>> for Column {
    fn from(v: Vec<u8>) -> Self {
        Column { data: Data::U8(v), recycle: false }
    }
}
impl From<Vec<f64>> for Column {
    fn from(v: Vec<f64>) -> Self {
        Column { data: Data::F64(v), recycle: false }
    }
}

impl Column {
    /// The same column, its memory given to the engine's buffer pool when freed.
    pub fn recycled(mut self) -> Self {
        self.recycle = true;
        self
    }
}

#[pymethods]
impl Column {
    fn __len__(&self) -> usize {
        self.data.raw().1
    }

    /// The element type: int64, int32, uint32, uint8 or float64.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.data.raw().4
    }

    fn __repr__(&self) -> String {
        let (_, n, _, _, dtype) = self.data.raw();
        format!("Column(dtype={dtype}, len={n})")
    }

    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("View is null"));
        }
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("Column is read-only"));
        }
        let (ptr, n, itemsize, format, _) = slf.get().data.raw();
        unsafe {
            (*view).buf = ptr as *mut c_void;
            (*view).len = (n * itemsize) as isize;
            (*view).readonly = 1;
            (*view).itemsize = itemsize as isize;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                CString::new(format).unwrap().into_raw()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            // shape and strides point into a per-view allocation we free in releasebuffer.
            let dims = Box::into_raw(Box::new([n as isize, itemsize as isize]));
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                (*dims).as_mut_ptr()
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                (*dims).as_mut_ptr().add(1)
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = dims as *mut c_void;
            (*view).obj = slf.into_any().into_ptr();
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, view: *mut ffi::Py_buffer) {
        unsafe {
            if !(*view).format.is_null() {
                drop(CString::from_raw((*view).format));
            }
            if !(*view).internal.is_null() {
                drop(Box::from_raw((*view).internal as *mut [isize; 2]));
            }
        }
    }
}
