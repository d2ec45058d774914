namespace LargeFolios.FaultPath;

/// <summary>The global THP setting, <c>/sys/kernel/mm/transparent_hugepage/enabled</c>.</summary>
public enum ThpEnabled
{
    /// <summary>THP for every anonymous VMA that does not opt out (TRANSPARENT_HUGEPAGE_FLAG).</summary>
    Always,

    /// <summary>THP only for VMAs advised with MADV_HUGEPAGE (TRANSPARENT_HUGEPAGE_REQ_MADV_FLAG); the default here.</summary>
    Madvise,

    /// <summary>No THP through this setting (sizes set to <see cref="ThpSizeEnabled.Always"/> still apply).</summary>
    Never,
}
