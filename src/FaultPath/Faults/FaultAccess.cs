namespace LargeFolios.FaultPath;

/// <summary>The access that faulted (Linux <c>FAULT_FLAG_WRITE</c> set or not).</summary>
public enum FaultAccess
{
    /// <summary>A load.</summary>
    Read,

    /// <summary>A store (<c>FAULT_FLAG_WRITE</c>).</summary>
    Write,
}
