using LargeFolios.FaultPath;
using LargeFolios.PageTables;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>The system calls that shape an address space: mmap, munmap and madvise, with the pages each unmapped.</summary>
internal sealed class MappingStats
{
    /// <summary>mmap calls (Mmap).</summary>
    public long Mmaps { get; set; }

    /// <summary>Bytes they mapped.</summary>
    public ulong MmapBytes { get; set; }

    /// <summary>mmap calls by protection (their VM_READ, VM_WRITE and VM_EXEC bits).</summary>
    public Tally<VmaFlags> MmapsByProtection { get; } = new();

    /// <summary>Bytes mapped, by protection.</summary>
    public Tally<VmaFlags> MmapBytesByProtection { get; } = new();

    /// <summary>munmap calls (Munmap).</summary>
    public long Munmaps { get; set; }

    /// <summary>Bytes they unmapped.</summary>
    public ulong MunmapBytes { get; set; }

    /// <summary>Resident pages they zapped.</summary>
    public long MunmapPagesZapped { get; set; }

    /// <summary>madvise calls, by advice (Madvise).</summary>
    public Tally<MadviseAdvice> MadviseCalls { get; } = new();

    /// <summary>Pages zapped per advice: dontneed's unmapped pages, free's pages remapped to the zero page.</summary>
    public Tally<MadviseAdvice> MadvisePagesZapped { get; } = new();
}
