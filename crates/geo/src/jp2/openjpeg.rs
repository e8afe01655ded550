//! The one place that talks to the `openjp2` decoder (a Rust port of OpenJPEG with a C-like
//! API). Everything unsafe in chronomap's JPEG 2000 support is here: the stream callbacks
//! through which the decoder pulls codestream bytes from a [`StreamSource`] with positioned
//! reads, and the message callback that collects its error messages.
//!
//! One decoder is made for each call of [`decode`] and dropped before it returns, so the
//! raw pointers handed to the decoder never outlive the values they point to, and nothing
//! is shared between threads. A panic inside the decoder (it has assertions that malformed
//! data can reach) is caught and reported as a failure, as a last line of defence; the
//! caller turns every failure into a typed error.

use std::ffi::{CStr, c_char, c_void};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

use openjp2::openjpeg::{
    OPJ_CODEC_J2K, opj_dparameters_t, opj_stream_create, opj_stream_set_read_function,
    opj_stream_set_seek_function, opj_stream_set_skip_function, opj_stream_set_user_data,
    opj_stream_set_user_data_length,
};
use openjp2::{Codec, Stream};

/// Bytes of the decoder's read buffer: large reads (tile-part data) bypass it.
const STREAM_BUFFER: usize = 64 << 10;

/// A codestream the decoder reads from, by positioned reads.
pub(crate) trait StreamSource {
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` from `offset` (which with `buf.len()` stays within [`len`](Self::len)).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// What to decode: a region of the reference grid at full resolution (`x0..x1`, `y0..y1`),
/// output at resolution reduced `reduce` times (each halving).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Area {
    pub(crate) x0: u32,
    pub(crate) y0: u32,
    pub(crate) x1: u32,
    pub(crate) y1: u32,
    pub(crate) reduce: u32,
}

/// One decoded component: its size and samples, row-major.
pub(crate) struct Plane<'a> {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) samples: &'a [i32],
}

/// The read position of a stream and the first I/O error met.
struct StreamState<'a> {
    src: &'a dyn StreamSource,
    pos: u64,
    io_error: Option<io::Error>,
}

/// Decoder messages.
#[derive(Default)]
struct Messages {
    errors: Vec<String>,
    warnings: Vec<String>,
}

unsafe extern "C" fn read_fn(buf: *mut c_void, n: usize, user: *mut c_void) -> usize {
    // SAFETY: `user` is the `StreamState` that `decode` boxed and registered with this
    // stream; it outlives the stream, and the decoder calls back only from the thread that
    // runs `decode`, so this is the only reference to it while the callback runs.
    let st = unsafe { &mut *(user as *mut StreamState<'_>) };
    let left = st.src.len().saturating_sub(st.pos);
    let k = (n as u64).min(left) as usize;
    if k == 0 || buf.is_null() {
        return 0; // end of stream
    }
    // SAFETY: the decoder passes a buffer of `n >= k` writable, initialised bytes (its
    // `BufReader`'s buffer, or the slice it reads into) that nothing else uses during the
    // call.
    let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, k) };
    match st.src.read_at(out, st.pos) {
        Ok(()) => {
            st.pos += k as u64;
            k
        }
        Err(e) => {
            st.io_error.get_or_insert(e);
            usize::MAX // the decoder's "(size_t)-1": a read error
        }
    }
}

unsafe extern "C" fn skip_fn(n: i64, user: *mut c_void) -> i64 {
    // SAFETY: as in `read_fn`.
    let st = unsafe { &mut *(user as *mut StreamState<'_>) };
    match i64::try_from(st.pos).ok().and_then(|p| p.checked_add(n)) {
        Some(p) if p >= 0 => {
            st.pos = p as u64;
            n
        }
        _ => -1,
    }
}

unsafe extern "C" fn seek_fn(offset: i64, user: *mut c_void) -> i32 {
    // SAFETY: as in `read_fn`.
    let st = unsafe { &mut *(user as *mut StreamState<'_>) };
    match u64::try_from(offset) {
        Ok(p) if p <= st.src.len() => {
            st.pos = p;
            1
        }
        _ => 0,
    }
}

unsafe extern "C" fn message_fn(msg: *const c_char, user: *mut c_void) {
    if msg.is_null() || user.is_null() {
        return;
    }
    // SAFETY: `user` is the `Vec<String>` inside the boxed `Messages` that `decode`
    // registered; it outlives the codec and is not otherwise used while the codec runs.
    // `msg` is a NUL-terminated string the decoder keeps alive during the call.
    let (list, text) = unsafe {
        (
            &mut *(user as *mut Vec<String>),
            CStr::from_ptr(msg).to_string_lossy(),
        )
    };
    if list.len() < 16 {
        list.push(text.trim().to_string());
    }
}

/// A stream over `src` for the decoder, reading from `state`.
fn make_stream(state: &mut StreamState<'_>) -> Box<Stream> {
    let len = state.src.len();
    // SAFETY: `opj_stream_create` returns a pointer from `Box::into_raw(Box<Stream>)`
    // (never null); the setters only store the callbacks, the user-data pointer (no free
    // function: `state` is owned by the caller and outlives the stream) and the length.
    // Turning the pointer back into the `Box` it came from gives it one owner, which
    // drops it as `opj_stream_destroy` would.
    unsafe {
        let raw = opj_stream_create(STREAM_BUFFER, 1);
        opj_stream_set_read_function(raw, Some(read_fn));
        opj_stream_set_skip_function(raw, Some(skip_fn));
        opj_stream_set_seek_function(raw, Some(seek_fn));
        opj_stream_set_user_data(raw, state as *mut StreamState<'_> as *mut c_void, None);
        opj_stream_set_user_data_length(raw, len);
        Box::from_raw(raw as *mut Stream)
    }
}

/// Decodes `area` of the codestream `src` and hands each component to `sink` (component
/// index, plane), in component order.
///
/// # Errors
/// The decoder's messages (or the I/O error, or the panic message) when the codestream is
/// malformed, truncated or cannot be decoded at that reduction.
pub(crate) fn decode(
    src: &dyn StreamSource,
    area: Area,
    sink: &mut dyn FnMut(usize, Plane<'_>),
) -> Result<(), String> {
    let run = catch_unwind(AssertUnwindSafe(|| decode_inner(src, area, sink)));
    match run {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(format!("the decoder panicked ({what})"))
        }
    }
}

fn decode_inner(
    src: &dyn StreamSource,
    area: Area,
    sink: &mut dyn FnMut(usize, Plane<'_>),
) -> Result<(), String> {
    // Declared before the stream and codec that point to them, so dropped after them.
    let mut messages = Box::new(Messages::default());
    let mut state = Box::new(StreamState {
        src,
        pos: 0,
        io_error: None,
    });
    let result = (|| {
        let mut stream = make_stream(&mut state);
        let mut codec = Codec::new_decoder(OPJ_CODEC_J2K).ok_or("creating a decoder")?;
        codec.set_error_handler(
            Some(message_fn),
            &mut messages.errors as *mut Vec<String> as *mut c_void,
        );
        codec.set_warning_handler(
            Some(message_fn),
            &mut messages.warnings as *mut Vec<String> as *mut c_void,
        );
        run_codec(&mut codec, &mut stream, area, sink)
        // codec, then stream, dropped here
    })();
    result.map_err(|step| {
        let mut detail = format!("{step} failed");
        if let Some(e) = &state.io_error {
            detail += &format!(": read error: {e}");
        }
        let notes = if messages.errors.is_empty() {
            &messages.warnings
        } else {
            &messages.errors
        };
        if !notes.is_empty() {
            detail += &format!(": {}", notes.join("; "));
        }
        detail
    })
}

fn run_codec(
    codec: &mut Codec,
    stream: &mut Stream,
    area: Area,
    sink: &mut dyn FnMut(usize, Plane<'_>),
) -> Result<(), &'static str> {
    let mut params = opj_dparameters_t {
        cp_reduce: area.reduce,
        ..Default::default()
    };
    if codec.setup_decoder(&mut params) == 0 {
        return Err("setting up the decoder");
    }
    let mut image = codec.read_header(stream).ok_or("reading the main header")?;
    let (x0, y0, x1, y1) = (
        i32::try_from(area.x0).map_err(|_| "the area")?,
        i32::try_from(area.y0).map_err(|_| "the area")?,
        i32::try_from(area.x1).map_err(|_| "the area")?,
        i32::try_from(area.y1).map_err(|_| "the area")?,
    );
    if codec.set_decode_area(&mut image, x0, y0, x1, y1) == 0 {
        return Err("setting the decode area");
    }
    if codec.decode(stream, &mut image) == 0 {
        return Err("decoding");
    }
    let comps = image.comps().ok_or("decoding (no components)")?;
    for (i, c) in comps.iter().enumerate() {
        let samples = c.data().ok_or("decoding (a component without data)")?;
        sink(
            i,
            Plane {
                width: c.w as usize,
                height: c.h as usize,
                samples,
            },
        );
    }
    Ok(())
}
