//! Frames in parallel: the clip's frames are cut into chunks, and worker threads take chunks
//! in turn. The CNN part of a clip is independent per frame, so this is where ebr uses the
//! machine's cores (benches/frames_vs_gemm_threads.rs measured it against sgemm's own threads).
//!
//! The result of a chunk does not depend on which thread ran it, and the results come back in
//! frame order, so the output is the same for any number of threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Frames `first..first + len` of a clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub first: usize,
    pub len: usize,
}

/// Cuts `frames` into chunks of at most `size` frames (the last may be shorter).
pub fn chunks(frames: usize, size: usize) -> Vec<Chunk> {
    let size = size.max(1);
    (0..frames.div_ceil(size))
        .map(|k| Chunk {
            first: k * size,
            len: size.min(frames - k * size),
        })
        .collect()
}

/// The number of worker threads to use: `requested`, or the machine's cores when 0.
pub fn worker_count(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// Runs `work` on every chunk with up to `threads` threads; returns the results in chunk order.
pub fn map_chunks<R: Send>(
    chunks: &[Chunk],
    threads: usize,
    work: impl Fn(Chunk) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, chunks.len().max(1));
    if threads == 1 {
        return chunks.iter().map(|&c| work(c)).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..chunks.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= chunks.len() {
                    break;
                }
                let result = work(chunks[k]);
                results.lock().expect("a worker panicked")[k] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .expect("a worker panicked")
        .into_iter()
        .map(|r| r.expect("every chunk ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_frames_once_in_order() {
        assert_eq!(
            chunks(7, 3),
            vec![
                Chunk { first: 0, len: 3 },
                Chunk { first: 3, len: 3 },
                Chunk { first: 6, len: 1 }
            ]
        );
        assert_eq!(chunks(0, 4), vec![]);
        assert_eq!(
            chunks(2, 0),
            vec![Chunk { first: 0, len: 1 }, Chunk { first: 1, len: 1 }]
        );
    }

    #[test]
    fn results_come_back_in_chunk_order_for_any_thread_count() {
        let cs = chunks(23, 2);
        let want: Vec<usize> = cs.iter().map(|c| c.first * 10 + c.len).collect();
        for threads in [1, 2, 5, 64] {
            assert_eq!(map_chunks(&cs, threads, |c| c.first * 10 + c.len), want);
        }
    }
}
