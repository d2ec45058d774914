namespace LargeFolios.FaultPath;

/// <summary>A per-size THP setting, <c>/sys/kernel/mm/transparent_hugepage/hugepages-&lt;size&gt;kB/enabled</c>.</summary>
public enum ThpSizeEnabled
{
    /// <summary>This size for every anonymous VMA that does not opt out, whatever the global setting (huge_anon_orders_always).</summary>
    Always,

    /// <summary>Follow the global setting (huge_anon_orders_inherit); the kernel's default for the PMD size.</summary>
    Inherit,

    /// <summary>This size only for VMAs advised with MADV_HUGEPAGE (huge_anon_orders_madvise).</summary>
    Madvise,

    /// <summary>Never this size; the kernel's default for every size below the PMD size.</summary>
    Never,
}
