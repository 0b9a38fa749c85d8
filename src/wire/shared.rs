//! [`SharedBytes`]: a cheap-to-clone view into a buffer that several owners share.
//!
//! A produce request is read from the socket once, into one buffer. The record batches in it are
//! then *stored* as views into that buffer — no second copy — and a fetch sends the same views
//! to consumers. The buffer is freed when the last view goes away.

use std::ops::{Deref, Range};
use std::sync::Arc;

#[derive(Clone)]
pub struct SharedBytes {
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl SharedBytes {
    /// Takes ownership of a buffer (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> SharedBytes {
        let end = bytes.len();
        SharedBytes { buf: Arc::new(bytes), start: 0, end }
    }

    /// A sub-range of this view (positions relative to it); `None` if out of bounds.
    pub fn slice(&self, range: Range<usize>) -> Option<SharedBytes> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(SharedBytes { buf: Arc::clone(&self.buf), start: self.start + range.start, end: self.start + range.end })
    }

    /// The view of `part`, a slice borrowed from this view (as a [`Reader`](super::Reader) over
    /// it returns); `None` if `part` does not lie inside it.
    pub fn view_of(&self, part: &[u8]) -> Option<SharedBytes> {
        let base = self.as_ptr() as usize;
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        self.slice(at..at + part.len())
    }
}

impl Deref for SharedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl std::fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBytes({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_share_one_buffer() {
        let all = SharedBytes::from_vec((0u8..10).collect());
        let mid = all.slice(2..8).unwrap();
        assert_eq!(&mid[..], &[2, 3, 4, 5, 6, 7]);
        let inner = mid.slice(1..3).unwrap();
        assert_eq!(&inner[..], &[3, 4]);
        assert_eq!(&all.view_of(&mid[1..3]).unwrap()[..], &[3, 4]);
        assert!(mid.slice(5..7).is_none());
        assert!(mid.view_of(&all[0..2]).is_none());
        let other = vec![1u8, 2];
        assert!(all.view_of(&other).is_none());
    }
}
