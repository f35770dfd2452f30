//! Several processes as one engine, over MPI (the `mpi` feature).
//!
//! Every rank runs the same circuit on the same inputs. A wave's bootstraps
//! are dealt out in contiguous blocks, one per rank; each rank runs its
//! block on its own threads (rayon) and the results are all-gathered, so
//! after every wave each rank holds every ciphertext, as a single process
//! would. The leveled ops between waves are repeated on every rank: they
//! cost microseconds, and repeating them saves sending their results. A
//! bootstrap is deterministic, so the trained weights are the same bits
//! whatever the number of ranks.
//!
//! What travels: each result once to every other rank (serialized
//! ciphertexts, about 16 KiB each at 4 bits), and once per job the bytes
//! rank 0 read from disk ([`Cluster::share`]). [`Traffic`] counts both and
//! the time they take.

use std::sync::Mutex;
use std::time::Instant;

use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;
use tfhe::shortint::Ciphertext;

use crate::exec::{in_batches, Batch, Spread};

/// Bytes in one MPI message at most: counts are C `int`s.
const MAX_MESSAGE: usize = 1 << 30;

/// What one rank spent on the exchange, since the cluster started.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    /// Bytes of results this rank contributed, times the ranks that
    /// receive them: the least any all-gather must move.
    pub bytes_sent: u64,
    /// Bootstraps this rank ran.
    pub bootstraps: u64,
    /// Seconds in serialization, the all-gathers (waiting for slower
    /// ranks included) and deserialization.
    pub comm_secs: f64,
    /// Seconds running this rank's share of the bootstraps.
    pub compute_secs: f64,
    /// Bytes of the job and checkpoints rank 0 shared (counted on rank 0).
    pub setup_bytes: u64,
}

/// The MPI world, used as one engine. Created once per process; MPI is
/// finalized when it is dropped.
pub struct Cluster {
    world: SimpleCommunicator,
    /// The thread that initialized MPI: the only one that may call it.
    owner: std::thread::ThreadId,
    traffic: Mutex<Traffic>,
    // Dropped last: finalizes MPI.
    _universe: Universe,
}

// SAFETY: MPI is initialized at `Threading::Funneled`: only the thread that
// initialized it may call it. The engine is shared with rayon's threads
// (which need `Sync`), but they only run bootstraps; every MPI call goes
// through `world()`, which checks the calling thread at run time.
unsafe impl Sync for Cluster {}

/// Why a rank other than 0 stops: rank 0 failed while reading what it
/// shares, and has said why itself.
#[derive(Debug)]
pub struct RootFailed;

impl Cluster {
    /// Initializes MPI (only the main thread calls it; rayon's threads
    /// never do). `None` if MPI was initialized already.
    pub fn init() -> Option<Cluster> {
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)?;
        let world = universe.world();
        Some(Cluster {
            world,
            owner: std::thread::current().id(),
            traffic: Mutex::new(Traffic::default()),
            _universe: universe,
        })
    }

    /// The communicator, for the thread that owns MPI only.
    fn world(&self) -> &SimpleCommunicator {
        assert_eq!(std::thread::current().id(), self.owner, "MPI is called from the thread that initialized it only");
        &self.world
    }

    pub fn rank(&self) -> usize {
        self.world().rank() as usize
    }

    pub fn size(&self) -> usize {
        self.world().size() as usize
    }

    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// This rank's traffic so far.
    pub fn traffic(&self) -> Traffic {
        *self.traffic.lock().expect("traffic lock")
    }

    /// Every rank's traffic, in rank order, on every rank (a collective:
    /// all ranks must call it).
    pub fn all_traffic(&self) -> Vec<Traffic> {
        let t = self.traffic();
        let mine = [t.bytes_sent as f64, t.bootstraps as f64, t.comm_secs, t.compute_secs, t.setup_bytes as f64];
        let mut all = vec![0f64; 5 * self.size()];
        self.world().all_gather_into(&mine[..], &mut all[..]);
        all.chunks(5)
            .map(|c| Traffic {
                bytes_sent: c[0] as u64,
                bootstraps: c[1] as u64,
                comm_secs: c[2],
                compute_secs: c[3],
                setup_bytes: c[4] as u64,
            })
            .collect()
    }

    /// Rank 0's bytes on every rank (a collective). Rank 0 passes what it
    /// read, or why it could not; the others pass `None`. When rank 0
    /// failed, it gets its own error back and every other rank gets
    /// [`RootFailed`].
    pub fn share(&self, mine: Option<Result<Vec<u8>, String>>) -> Result<Vec<u8>, Result<String, RootFailed>> {
        let t = Instant::now();
        let root = self.world().process_at_rank(0);
        // A header: 0 and the length, or 1 when rank 0 failed.
        let mut head = match &mine {
            Some(Ok(b)) => [0u64, b.len() as u64],
            Some(Err(_)) => [1, 0],
            None => [0, 0],
        };
        root.broadcast_into(&mut head[..]);
        if head[0] != 0 {
            return Err(match mine {
                Some(Err(e)) => Ok(e),
                _ => Err(RootFailed),
            });
        }
        let mut bytes = match mine {
            Some(Ok(b)) => b,
            _ => vec![0u8; head[1] as usize],
        };
        for piece in bytes.chunks_mut(MAX_MESSAGE) {
            root.broadcast_into(piece);
        }
        let mut tr = self.traffic.lock().expect("traffic lock");
        if self.is_root() {
            tr.setup_bytes += bytes.len() as u64 * (self.size() as u64 - 1);
        }
        tr.comm_secs += t.elapsed().as_secs_f64();
        Ok(bytes)
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) {
        self.world().barrier();
    }

    /// Ends every rank's process (after an error only rank 0 saw, such as
    /// a failed checkpoint write, so that no rank waits forever).
    pub fn abort(&self, code: i32) -> ! {
        self.world().abort(code)
    }
}

/// The `[lo, hi)` block of `len` jobs that rank `r` of `n` runs.
fn block(len: usize, n: usize, r: usize) -> (usize, usize) {
    (len * r / n, len * (r + 1) / n)
}

impl Spread for Cluster {
    fn processes(&self) -> usize {
        self.size()
    }

    fn run_jobs(&self, jobs: usize, bootstraps: u64, batch: &Batch<'_>) -> Vec<Vec<Ciphertext>> {
        let (n, r) = (self.size(), self.rank());
        if n == 1 {
            return in_batches(0..jobs, batch);
        }
        // Large waves go in slices, so that one all-gather stays under
        // MPI's message limit (a result is at most a few tens of KiB).
        let slice = (MAX_MESSAGE / (n * (64 << 10))).max(1) * n;
        let mut out = Vec::with_capacity(jobs);
        for start in (0..jobs).step_by(slice) {
            let len = slice.min(jobs - start);
            let (lo, hi) = block(len, n, r);
            let t = Instant::now();
            let mine: Vec<Vec<Ciphertext>> = in_batches(start + lo..start + hi, batch);
            let computed = Instant::now();
            let bytes = bincode::serialize(&mine).expect("ciphertexts serialize to memory");
            let mut counts = vec![0 as Count; n];
            self.world().all_gather_into(&(bytes.len() as Count), &mut counts[..]);
            let displs: Vec<Count> = counts.iter().scan(0, |acc, &c| Some(std::mem::replace(acc, *acc + c))).collect();
            let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
            {
                let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
                self.world().all_gather_varcount_into(&bytes[..], &mut part);
            }
            let mut mine = Some(mine);
            for k in 0..n {
                if k == r {
                    out.extend(mine.take().expect("own block once"));
                } else {
                    let (d, c) = (displs[k] as usize, counts[k] as usize);
                    let theirs: Vec<Vec<Ciphertext>> =
                        bincode::deserialize(&all[d..d + c]).expect("a rank of this job sent its results");
                    out.extend(theirs);
                }
            }
            let mut tr = self.traffic.lock().expect("traffic lock");
            tr.bytes_sent += bytes.len() as u64 * (n as u64 - 1);
            tr.bootstraps += (hi - lo) as u64 * bootstraps;
            tr.compute_secs += (computed - t).as_secs_f64();
            tr.comm_secs += computed.elapsed().as_secs_f64();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::block;

    #[test]
    fn blocks_cover_every_job_once_in_order() {
        for len in 0..40 {
            for n in 1..6 {
                let blocks: Vec<_> = (0..n).map(|r| block(len, n, r)).collect();
                assert_eq!(blocks[0].0, 0);
                assert_eq!(blocks[n - 1].1, len);
                for w in blocks.windows(2) {
                    assert_eq!(w[0].1, w[1].0);
                }
                // Balanced: sizes differ by at most one.
                let sizes: Vec<_> = blocks.iter().map(|(a, b)| b - a).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            }
        }
    }
}
