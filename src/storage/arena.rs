//! A bump allocator for the memtable: memory is handed out in 8-byte aligned pieces from
//! large chunks and is freed only all at once, when the arena is dropped.
//!
//! The memtable keeps each entry (its links, key and value) in one piece, so a skip list
//! step touches one allocation instead of three, inserting costs no call into the
//! general allocator, and dropping a memtable frees a few chunks instead of every entry.
//!
//! Chunks are held as raw pointers and never moved, so pointers into them stay valid for
//! the arena's whole life; the arena never makes a reference to chunk memory itself,
//! which leaves the pieces entirely to their users.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every piece (and of every chunk).
pub const ALIGN: usize = 8;
/// Size of the first chunk.
const FIRST_CHUNK: usize = 8 << 10;
/// Chunks double in size up to this.
const MAX_CHUNK: usize = 2 << 20;

/// One chunk of memory.
struct Chunk {
    /// Its start (allocated with `layout`).
    ptr: NonNull<u8>,
    /// Its size and alignment.
    layout: Layout,
}

/// The allocator; see the module documentation.
pub struct Arena {
    /// Every chunk, oldest first; the last one is the one being filled, except that a
    /// piece too large for a regular chunk gets a chunk of its own, inserted before it.
    chunks: Vec<Chunk>,
    /// Bytes of the last chunk already handed out.
    used: usize,
    /// Size of the next regular chunk.
    next_chunk: usize,
    /// Bytes handed out in all (padding to the alignment included).
    allocated: usize,
    /// Bytes of all chunks (for the tests' accounting checks).
    #[cfg_attr(not(test), allow(dead_code))]
    reserved: usize,
}

// SAFETY: the arena owns its chunks exclusively (nothing else frees them) and holds no
// reference into them; moving it to another thread moves only that ownership.
unsafe impl Send for Arena {}
// SAFETY: every method that touches the chunks takes `&mut self`; `&self` methods read
// only plain counters.
unsafe impl Sync for Arena {}

impl Default for Arena {
    fn default() -> Self {
        Arena::new()
    }
}

impl Arena {
    /// An empty arena; its first chunk is made by the first allocation.
    pub fn new() -> Arena {
        Arena {
            chunks: Vec::new(),
            used: 0,
            next_chunk: FIRST_CHUNK,
            allocated: 0,
            reserved: 0,
        }
    }

    /// Bytes handed out so far (each request rounded up to [`ALIGN`]).
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// A piece of `size` bytes (at least 1), aligned to [`ALIGN`], uninitialised, valid
    /// until the arena is dropped. Aborts like any allocation when memory runs out.
    pub fn alloc(&mut self, size: usize) -> NonNull<u8> {
        let size = size.max(1).next_multiple_of(ALIGN);
        self.allocated += size;
        if let Some(last) = self.chunks.last()
            && last.layout.size() - self.used >= size
        {
            // SAFETY: `used + size` is within the chunk, so the offset stays inside
            // the same allocation.
            let p = unsafe { last.ptr.add(self.used) };
            self.used += size;
            return p;
        }
        if size > self.next_chunk / 4 {
            // A piece this large would waste much of a regular chunk: give it a chunk
            // of its own, kept before the chunk being filled so that chunk goes on.
            let chunk = Self::new_chunk(size);
            self.reserved += size;
            let p = chunk.ptr;
            let at = self.chunks.len().saturating_sub(1);
            self.chunks.insert(at, chunk);
            if self.chunks.len() == 1 {
                // It is the only chunk: mark it full.
                self.used = size;
            }
            return p;
        }
        let chunk = Self::new_chunk(self.next_chunk);
        self.reserved += self.next_chunk;
        self.next_chunk = (self.next_chunk * 2).min(MAX_CHUNK);
        let p = chunk.ptr;
        self.chunks.push(chunk);
        self.used = size;
        p
    }

    /// Allocates a chunk of `size` bytes (a multiple of [`ALIGN`], at least 1).
    fn new_chunk(size: usize) -> Chunk {
        let layout = match Layout::from_size_align(size, ALIGN) {
            Ok(l) => l,
            // Only a size near usize::MAX fails here; no memory could satisfy it.
            Err(_) => alloc::handle_alloc_error(Layout::new::<u64>()),
        };
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            alloc::handle_alloc_error(layout)
        };
        Chunk { ptr, layout }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for c in self.chunks.drain(..) {
            // SAFETY: every chunk was allocated by `new_chunk` with exactly this layout
            // and is freed once, here.
            unsafe { alloc::dealloc(c.ptr.as_ptr(), c.layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_aligned_disjoint_and_keep_their_bytes() {
        let mut a = Arena::new();
        let mut pieces: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
        // Small pieces across several chunks, and large ones that get their own chunk.
        let sizes = (0..3000usize)
            .map(|i| match i % 500 {
                0 => 300_000,
                1 => FIRST_CHUNK,
                _ => i % 97,
            })
            .collect::<Vec<_>>();
        for (i, &size) in sizes.iter().enumerate() {
            let p = a.alloc(size);
            assert_eq!(p.as_ptr() as usize % ALIGN, 0);
            let fill = (i % 251) as u8;
            // SAFETY: the piece is `size.max(1)` bytes long and owned by this test.
            unsafe { std::ptr::write_bytes(p.as_ptr(), fill, size) };
            pieces.push((p, size, fill));
        }
        for &(p, size, fill) in &pieces {
            // SAFETY: as above; the arena is still alive.
            let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
            assert!(bytes.iter().all(|&b| b == fill), "a piece was overwritten");
        }
        let mut spans: Vec<(usize, usize)> = pieces
            .iter()
            .map(|&(p, s, _)| (p.as_ptr() as usize, s.max(1)))
            .collect();
        spans.sort_unstable();
        for w in spans.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "pieces overlap");
        }
        let want: usize = sizes
            .iter()
            .map(|s| s.max(&1).next_multiple_of(ALIGN))
            .sum();
        assert_eq!(a.allocated(), want);
        let chunks: usize = a.chunks.iter().map(|c| c.layout.size()).sum();
        assert_eq!(a.reserved, chunks);
        assert!(a.reserved >= a.allocated());
    }

    #[test]
    fn a_large_first_piece_leaves_room_for_the_next_chunk() {
        let mut a = Arena::new();
        let big = a.alloc(1 << 20);
        let small = a.alloc(16);
        assert_ne!(big, small);
        let small2 = a.alloc(16);
        // The second small piece comes from the same regular chunk, right after.
        assert_eq!(small2.as_ptr() as usize, small.as_ptr() as usize + 16);
    }
}
