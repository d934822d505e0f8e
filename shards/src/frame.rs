//! Length-prefixed frames: a 4-byte big-endian length, then that many bytes.
//!
//! [`FrameBuf`] accumulates bytes read from a socket and hands out whole
//! frames. It does no I/O and never trusts the length: a negative length or
//! one above the limit is an error, not an allocation. It grows only as
//! bytes arrive (to the size of the frame in progress), and
//! [`FrameBuf::release`] gives a large buffer back once its frame is done.

/// A problem with the framing of the byte stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    Negative(i32),
    #[error("frame length {len} is larger than the limit of {max} bytes")]
    TooLarge { len: i32, max: usize },
}

/// A growable read buffer that yields whole frames.
#[derive(Debug)]
pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

/// The buffer's size at rest; [`FrameBuf::release`] shrinks back to it.
const INITIAL: usize = 16 * 1024;

impl FrameBuf {
    /// A buffer accepting frames of at most `max` bytes.
    pub fn new(max: usize) -> FrameBuf {
        FrameBuf {
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
            max,
        }
    }

    /// The free tail to read into; at least `min` bytes long.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < min {
            // Compact first, then grow if still short.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end < min {
                // The frame in progress, exactly, when that is enough;
                // else the next power of two.
                let need = self.end + min;
                let want = match self.frame_total() {
                    Some(t) if t >= need => t,
                    _ => need.next_power_of_two(),
                };
                self.buf.resize(want, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of [`spare`](Self::spare) as filled.
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes buffered and not yet taken.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops `n` buffered bytes already taken some other way (a header
    /// that is not a frame, such as a peer's initial message).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// The first four buffered bytes, if there are four.
    pub fn peek4(&self) -> Option<[u8; 4]> {
        let p = self.pending();
        (p.len() >= 4).then(|| [p[0], p[1], p[2], p[3]])
    }

    /// Takes the next whole frame's body, if one is buffered.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let Some(head) = self.peek4() else {
            return Ok(None);
        };
        let len = i32::from_be_bytes(head);
        if len < 0 {
            return Err(FrameError::Negative(len));
        }
        if len as usize > self.max {
            return Err(FrameError::TooLarge { len, max: self.max });
        }
        let total = 4 + len as usize;
        if self.end - self.start < total {
            return Ok(None);
        }
        let body = self.start + 4..self.start + total;
        self.start += total;
        Ok(Some(&self.buf[body]))
    }

    /// The whole size (length prefix included) of the frame in progress,
    /// once its length is buffered and valid.
    fn frame_total(&self) -> Option<usize> {
        let len = i32::from_be_bytes(self.peek4()?);
        (len >= 0 && len as usize <= self.max).then(|| 4 + len as usize)
    }

    /// Whether [`next_frame`](Self::next_frame) has something to say: a
    /// whole frame, or a bad length.
    pub fn has_frame(&self) -> bool {
        match self.peek4() {
            None => false,
            Some(_) => self
                .frame_total()
                .is_none_or(|t| self.end - self.start >= t),
        }
    }

    /// Whether the frame in progress (if its length is known) fits in the
    /// buffer's size at rest: reading it needs no growth.
    pub fn fits_at_rest(&self) -> bool {
        self.frame_total().is_none_or(|t| t <= INITIAL)
    }

    /// How many whole, valid frames are buffered.
    pub fn frame_count(&self) -> usize {
        let mut at = self.start;
        let mut n = 0;
        while let Some(h) = self.buf.get(at..at + 4).filter(|_| at + 4 <= self.end) {
            let len = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            if len < 0 || len as usize > self.max || self.end - at < 4 + len as usize {
                break;
            }
            at += 4 + len as usize;
            n += 1;
        }
        n
    }

    /// The buffer's allocated size.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Gives back a buffer grown for a large frame once that frame is
    /// done: when what is buffered (and the rest of the frame it starts)
    /// fits the size at rest, it moves to a buffer of that size.
    pub fn release(&mut self) {
        if self.buf.len() <= INITIAL {
            return;
        }
        let held = self.end - self.start;
        let need = self.frame_total().unwrap_or(0).max(held);
        if need > INITIAL / 2 {
            return;
        }
        let mut buf = vec![0; INITIAL];
        buf[..held].copy_from_slice(&self.buf[self.start..self.end]);
        self.buf = buf;
        self.start = 0;
        self.end = held;
    }

    /// How many more bytes the frame in progress needs (at least 1).
    pub fn wanted(&self) -> usize {
        match self.peek4() {
            Some(h) => {
                let len = i32::from_be_bytes(h).max(0) as usize;
                (4 + len.min(self.max))
                    .saturating_sub(self.pending().len())
                    .max(1)
            }
            None => 4 - self.pending().len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(f: &mut FrameBuf, bytes: &[u8]) {
        let s = f.spare(bytes.len());
        s[..bytes.len()].copy_from_slice(bytes);
        f.filled(bytes.len());
    }

    #[test]
    fn counts_whole_frames_only() {
        let mut f = FrameBuf::new(100);
        assert_eq!(f.frame_count(), 0);
        feed(&mut f, &[0, 0, 0, 1, 7, 0, 0, 0, 2, 8, 9, 0, 0, 0, 3, 1]);
        assert_eq!(f.frame_count(), 2, "the third frame is not whole yet");
        assert_eq!(f.next_frame(), Ok(Some(&[7u8][..])));
        assert_eq!(f.frame_count(), 1);
    }

    #[test]
    fn splits_frames_across_reads() {
        let mut f = FrameBuf::new(100);
        feed(&mut f, &[0, 0, 0, 3, b'a']);
        assert_eq!(f.next_frame().unwrap(), None);
        assert_eq!(f.wanted(), 2);
        feed(&mut f, &[b'b', b'c', 0, 0, 0, 0, 0, 0]);
        assert_eq!(f.next_frame().unwrap(), Some(&b"abc"[..]));
        assert_eq!(f.next_frame().unwrap(), Some(&b""[..]));
        assert_eq!(f.next_frame().unwrap(), None);
        assert_eq!(f.pending(), &[0, 0]);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut f = FrameBuf::new(10);
        feed(&mut f, &(-1i32).to_be_bytes());
        assert_eq!(f.next_frame(), Err(FrameError::Negative(-1)));
        let mut f = FrameBuf::new(10);
        feed(&mut f, &11i32.to_be_bytes());
        assert!(matches!(
            f.next_frame(),
            Err(FrameError::TooLarge { len: 11, .. })
        ));
    }

    #[test]
    fn gives_a_large_buffer_back_once_its_frame_is_done() {
        let mut f = FrameBuf::new(1 << 20);
        let body = vec![7u8; 500_000];
        feed(&mut f, &(body.len() as i32).to_be_bytes());
        for chunk in body.chunks(4096) {
            feed(&mut f, chunk);
        }
        // Grown to the frame, not past it to the next power of two.
        assert!(f.capacity() < 600_000, "{}", f.capacity());
        // The frame is not done yet: nothing is given back.
        f.release();
        assert!(f.capacity() >= 500_004);
        // A small frame's start is buffered behind it.
        feed(&mut f, &[0, 0, 0, 3, b'a']);
        assert!(f.has_frame());
        assert_eq!(f.next_frame().unwrap().map(|b| b.len()), Some(500_000));
        assert!(!f.has_frame());
        f.release();
        assert_eq!(f.capacity(), INITIAL);
        feed(&mut f, b"bc");
        assert!(f.has_frame());
        assert_eq!(f.next_frame().unwrap(), Some(&b"abc"[..]));
        // A partial large frame keeps its room.
        feed(&mut f, &(400_000i32).to_be_bytes());
        feed(&mut f, &[1; 10]);
        f.release();
        assert_eq!(f.capacity(), INITIAL);
        feed(&mut f, &[1; 20_000]);
        assert!(f.capacity() >= 20_014);
        f.release();
        assert!(f.capacity() >= 20_014);
    }

    #[test]
    fn grows_for_large_frames() {
        let mut f = FrameBuf::new(1 << 20);
        let body = vec![7u8; 100_000];
        feed(&mut f, &(body.len() as i32).to_be_bytes());
        for chunk in body.chunks(1000) {
            feed(&mut f, chunk);
        }
        assert_eq!(f.next_frame().unwrap().map(|b| b.len()), Some(100_000));
    }
}
