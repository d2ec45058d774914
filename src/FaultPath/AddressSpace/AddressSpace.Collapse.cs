using System;

namespace LargeFolios.FaultPath;

/// <summary>MADV_COLLAPSE (Linux mm/khugepaged.c <c>madvise_collapse</c>).</summary>
public sealed unsafe partial class AddressSpace
{
    private bool CollapseLocked(ulong start, ulong end) =>
        throw new NotSupportedException($"madvise collapse of 0x{start:x}..0x{end:x} is not modelled yet");
}
