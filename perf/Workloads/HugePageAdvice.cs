namespace LargeFolios.Folios.Workloads;

/// <summary>The madvise a workload gives its whole mapping before it touches it.</summary>
internal enum HugePageAdvice
{
    /// <summary>None: the VMA follows the policy's always sizes (and inherit under global always).</summary>
    None,

    /// <summary>MADV_HUGEPAGE (VM_HUGEPAGE): the madvise sizes, and inherit under global madvise, apply too.</summary>
    HugePage,

    /// <summary>MADV_NOHUGEPAGE (VM_NOHUGEPAGE): no THP of any size, whatever the policy.</summary>
    NoHugePage,
}
