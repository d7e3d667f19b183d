//! Process-wide allocator settings.

/// Makes glibc's malloc serve every thread from one arena.
///
/// By default glibc gives threads their own arenas, and memory freed into one arena is not
/// reused by allocations in another. The layer workers allocate each layer's entry list, and
/// the main thread frees those lists while it builds the squashed tree and the SBOM, so peak
/// RSS held both phases at once. With one arena, on the 2.3 GB benchmark image, peak RSS fell
/// from 245 MiB to 156 MiB and on the 150 MB image from 56 MiB to 39 MiB, with no change in
/// wall time (docs/BENCHMARKS.md). The threads rarely allocate at the same time: chunk
/// buffers are reused, so contention on the one arena lock is low.
///
/// It also serves every allocation of `MMAP_THRESHOLD` or more with its own mapping, which
/// goes back to the kernel as soon as it is freed. glibc starts at 128 KiB, but it raises the
/// threshold to the size of each mapped block freed, up to 32 MiB. The per-layer entry lists
/// and the path tree's arrays (1 to 30 MB each on a large image) then came from the heap, and
/// freed blocks stayed resident between the walk, the squash and the catalog. With the
/// threshold fixed, peak RSS on the 2.3 GB benchmark image fell from 95 to 69 MiB. The 256 KiB
/// chunk buffers stay below it: mapping each of them anew cost a third more wall time.
///
/// Fixing the mmap threshold also stops glibc from adjusting its trim threshold, which then
/// stays at 128 KiB. The top of the heap went back to the kernel so often that system time
/// rose by half on the 150 MB image. It is set to twice the mmap threshold, the ratio glibc
/// keeps when it adjusts both itself.
///
/// Does nothing on other C libraries.
pub fn configure_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets allocator parameters. It reads no memory of ours. M_ARENA_MAX
    // takes effect for arenas created after the call and the two thresholds for allocations and
    // frees after it, so calling it before any thread is started is always sound.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD);
    }
}

/// Allocations of at least this many bytes get their own mapping: 1 MiB, four times the
/// largest chunk buffer.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;

/// Gives the free memory inside the heap back to the kernel, not only the free space at its
/// top as the trim threshold does.
///
/// Building the squashed tree frees every layer's entry list, and the small blocks among them
/// leave holes all over the heap, about 9 MB on the 2.3 GB benchmark image. Cataloging
/// allocates less than that in small blocks, so without this call the holes stay resident
/// beside the catalog's peak. The call walks the free lists once: under a millisecond here.
///
/// Does nothing on other C libraries.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim only changes the allocator's own free memory. It touches no block in
    // use, and glibc's malloc locks its arena around it, so any thread may call it any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
