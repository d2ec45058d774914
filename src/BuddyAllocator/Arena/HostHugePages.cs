namespace LargeFolios.BuddyAllocator;

/// <summary>
/// How the host kernel should back the arena's own memory (Linux only; ignored elsewhere). This is
/// about the real machine the library runs on, not the modelled one: researchers who measure
/// TLB effects want to choose it.
/// </summary>
public enum HostHugePages
{
    /// <summary>Leave the host's THP policy as it is.</summary>
    Default,

    /// <summary><c>madvise(MADV_HUGEPAGE)</c>: ask for transparent huge pages.</summary>
    Always,

    /// <summary><c>madvise(MADV_NOHUGEPAGE)</c>: base pages only.</summary>
    Never,
}
