namespace LargeFolios.Folios.Workloads;

/// <summary>The built-in access patterns (what each does: <see cref="Patterns.AccessPattern.For"/>).</summary>
internal enum WorkloadKind
{
    /// <summary>A store to every page, in address order: a heap or buffer being filled.</summary>
    Sequential,

    /// <summary>As many stores as the region has pages, each to a page drawn at random: about 63% of the pages written.</summary>
    Random,

    /// <summary>A store to one page every stride: a column of a matrix, one field of every large record.</summary>
    Strided,

    /// <summary>In every 2 MiB, a load of its first page, then stores to 8 random pages (1/64): a sparse table read before it is filled.</summary>
    Sparse,

    /// <summary>An allocator's life: fill, free parts with MADV_DONTNEED and MADV_FREE, reuse, munmap and mmap again, then the deferred-split shrinker.</summary>
    Mix,
}
